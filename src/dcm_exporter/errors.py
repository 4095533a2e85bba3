"""The exceptions of dcm_exporter, all in one tree.

Every exception the library raises on purpose derives from :class:`DcmExporterError`.
Errors from dependencies (ldap3, :mod:`pynetdicom`, :mod:`pydicom`, :mod:`sqlite3`, psycopg,
:class:`httpx <httpx.HTTPError>`) are
translated at the one place where that dependency is used and chained with
``raise ... from exc``, so callers never need to import a dependency to catch its errors.

::

    DcmExporterError
    ├── ConfigurationError                 a configuration that cannot be used
    │   ├── UnknownAEError (LookupError)   "Unknown AE: X"
    │   ├── AENotInstalledError            "AE: X not installed"
    │   └── UnknownSchemeError             a dcmURI scheme no transport is registered for
    ├── CodecError (ValueError)            text that cannot be decoded into configuration
    │   ├── LdifError                      malformed LDIF, with file name and line number
    │   └── JsonCodecError                 malformed dcm4che device JSON, with its JSON path
    ├── LdapError                          the LDAP server refused or failed, with DN and result
    │   ├── LdapConnectionError            unreachable, TLS failure, timeout (retryable)
    │   │   └── LdapTimeoutError           no answer within the configured timeout
    │   ├── LdapBindError                  the bind (credentials) was refused
    │   ├── LdapEntryExistsError           an add hit an existing entry
    │   ├── LdapNoSuchEntryError (LookupError)  the entry (or its parent, or the base DN) does not exist
    │   └── LdapSchemaError                an object class or attribute the server's schema lacks
    ├── ScheduleSyntaxError (ValueError)   a malformed dcmSchedule / cron window, with the token
    ├── SourceError                        an instance source cannot find or open an instance
    │   └── InstanceMissingError           the instance vanished from storage (counted "missing")
    ├── ExportCanceledError                an export was canceled through its cancel token
    ├── UnsafePathError (ValueError)       a storage path built from dataset values would leave its folder
    ├── CoercionError                      an attribute coercion rule could not be applied to an instance
    ├── TransportError                     an export could not be performed; ``retryable`` says
    │   │                                  whether the queue should try again
    │   ├── ConnectionFailedError          peer unreachable or the connection dropped
    │   ├── AssociationRejectedError       A-ASSOCIATE-RJ, with the decoded reason
    │   └── TransportTimeoutError          no answer in time
    └── QueueError                         a task store or runner problem
        └── TaskNotFoundError (LookupError)
"""

from __future__ import annotations

__all__ = [
    "AENotInstalledError",
    "AssociationRejectedError",
    "CodecError",
    "CoercionError",
    "ConfigurationError",
    "ConnectionFailedError",
    "DcmExporterError",
    "ExportCanceledError",
    "InstanceMissingError",
    "JsonCodecError",
    "LdapBindError",
    "LdapConnectionError",
    "LdapEntryExistsError",
    "LdapError",
    "LdapNoSuchEntryError",
    "LdapSchemaError",
    "LdapTimeoutError",
    "LdifError",
    "QueueError",
    "ScheduleSyntaxError",
    "SourceError",
    "TaskNotFoundError",
    "TransportError",
    "TransportTimeoutError",
    "UnknownAEError",
    "UnknownSchemeError",
    "UnsafePathError",
]


class DcmExporterError(Exception):
    """Root of every exception raised by dcm_exporter on purpose."""


# --- configuration -------------------------------------------------------------------------------


class ConfigurationError(DcmExporterError):
    """A configuration that cannot be used as it is.

    ``dn`` names the LDAP entry (or JSON path) the problem was found in, when known.
    """

    def __init__(self, message: str, *, dn: str | None = None) -> None:
        self.dn = dn
        super().__init__(f"{message} (in {dn})" if dn else message)


class UnknownAEError(ConfigurationError, LookupError):
    """No network AE with this AE title is configured (dcm4che: ``Unknown AE: X``)."""

    def __init__(self, ae_title: str, hint: str = "") -> None:
        self.ae_title = ae_title
        super().__init__(f"Unknown AE: {ae_title}{hint}")


class AENotInstalledError(ConfigurationError):
    """The AE (or its device) is configured but not installed (dcm4che: ``AE: X not installed``)."""

    def __init__(self, ae_title: str) -> None:
        self.ae_title = ae_title
        super().__init__(f"AE: {ae_title} not installed")


class UnknownSchemeError(ConfigurationError, LookupError):
    """A ``dcmURI`` whose scheme has no registered transport."""

    def __init__(self, scheme: str, known: list[str] | tuple[str, ...]) -> None:
        self.scheme = scheme
        self.known = tuple(sorted(known))
        super().__init__(
            f"unknown export URI scheme {scheme!r}: known schemes are "
            + ", ".join(f"{k}:" for k in self.known)
        )


# --- codecs --------------------------------------------------------------------------------------


class CodecError(DcmExporterError, ValueError):
    """Text or data that cannot be decoded into configuration."""


class LdifError(CodecError):
    """Malformed LDIF. Carries the file name (or ``<string>``), the 1-based line number and what was expected."""

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None) -> None:
        self.filename = filename or "<string>"
        self.line = line
        self.reason = message
        where = f"{self.filename}:{line}" if line is not None else self.filename
        super().__init__(f"{where}: {message}")


class JsonCodecError(CodecError):
    """Malformed dcm4che device JSON. ``path`` is a JSON path like ``dcmDevice.dcmArchiveDevice.dcmExporter[2]``."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


# --- LDAP ----------------------------------------------------------------------------------------


class LdapError(DcmExporterError):
    """The LDAP server refused or failed an operation. ``dn`` and ``result`` say which and why."""

    retryable: bool = False

    def __init__(self, message: str, *, dn: str | None = None, result: str | None = None) -> None:
        self.dn = dn
        self.result = result
        parts = [message]
        if dn:
            parts.append(f"dn: {dn}")
        if result:
            parts.append(f"server said: {result}")
        super().__init__("; ".join(parts))


class LdapConnectionError(LdapError):
    """The LDAP server could not be reached, TLS failed, or an operation timed out."""

    retryable = True


class LdapEntryExistsError(LdapError):
    """An add operation found the entry already present."""


class LdapTimeoutError(LdapConnectionError):
    """The LDAP server did not answer within the configured timeout."""


class LdapBindError(LdapError):
    """The server refused the bind: wrong bind DN or password, or anonymous access not allowed."""


class LdapNoSuchEntryError(LdapError, LookupError):
    """The entry, its parent or the configured base DN does not exist on the server."""


class LdapSchemaError(LdapError):
    """The server's schema lacks an object class or attribute that was sent; the message says what to load."""


# --- schedules -----------------------------------------------------------------------------------


class ScheduleSyntaxError(DcmExporterError, ValueError):
    """A malformed schedule. ``token`` is the offending token and ``position`` its 0-based offset in ``text``."""

    def __init__(self, message: str, *, text: str, token: str | None = None, position: int | None = None) -> None:
        self.text = text
        self.token = token
        self.position = position
        self.reason = message
        where = f" at position {position}" if position is not None else ""
        tok = f" in token {token!r}" if token is not None else ""
        super().__init__(f"invalid schedule {text!r}{tok}{where}: {message}")


# --- sources and transports ----------------------------------------------------------------------


class SourceError(DcmExporterError):
    """An instance source cannot find or open an instance."""


class InstanceMissingError(SourceError):
    """An instance vanished from storage between finding and sending it; transports count it *missing*."""


class ExportCanceledError(DcmExporterError):
    """An export was canceled through its :class:`~dcm_exporter.export.CancelToken`."""


class UnsafePathError(DcmExporterError, ValueError):
    """A storage path assembled from dataset values would leave its storage folder (``..``, ``/``)."""


class CoercionError(DcmExporterError):
    """An attribute coercion rule could not be applied to one instance; that instance fails, the export goes on.

    ``rule`` is the rule's name (``cn``), ``uri`` its ``dcmURI``.
    """

    def __init__(self, message: str, *, rule: str | None = None, uri: str | None = None) -> None:
        self.rule = rule
        self.uri = uri
        super().__init__(message)


class TransportError(DcmExporterError):
    """An export could not be performed at all.

    ``retryable`` tells the queue whether trying again later may help (peer down, timeout) or
    not (bad configuration). Transports never retry on their own.
    """

    retryable: bool = True

    def __init__(self, message: str, *, retryable: bool | None = None, destination: str | None = None) -> None:
        if retryable is not None:
            self.retryable = retryable
        self.destination = destination
        super().__init__(message)


class ConnectionFailedError(TransportError):
    """The peer could not be reached, or the connection dropped."""


class AssociationRejectedError(TransportError):
    """The peer rejected the association (A-ASSOCIATE-RJ). ``reason`` is the decoded rejection reason."""

    def __init__(
        self, message: str, *, reason: str, destination: str | None = None, retryable: bool | None = None
    ) -> None:
        self.reason = reason
        super().__init__(message, destination=destination, retryable=retryable)


class TransportTimeoutError(TransportError):
    """The peer did not answer in time."""


# --- queue ---------------------------------------------------------------------------------------


class QueueError(DcmExporterError):
    """A task store or runner problem."""


class TaskNotFoundError(QueueError, LookupError):
    """No task with this id."""

    def __init__(self, task_id: int | str) -> None:
        self.task_id = task_id
        super().__init__(f"no export task with id {task_id}")
