"""The live LDAP configuration store: dcm4che configuration on the LDAP server a dcm4chee installation runs.

:class:`LdapConfigStore` reads the whole ``cn=DICOM Configuration`` tree into a
:class:`~dcm_exporter.models.Configuration` with one (paged) search, finds remote AEs as dcm4che does, adds,
updates and removes exporters, queues, devices and remote AEs, saves a changed configuration with the minimal
modify operations, and imports LDIF files like ``ldapadd`` / ``ldapmodify``::

    with LdapConfigStore("ldap://127.0.0.1:389", "cn=admin,dc=dcm4che,dc=org", password) as store:
        config = store.load()
        store.add_exporter(ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP",
                                              queue_name="Export1", ae_title="DCM4CHEE"))
        config = store.reload()

This is the only module that imports ``ldap3``. Every ``ldap3`` exception and every refused operation is
translated in one place (:meth:`LdapConfigStore._failure`) into the :mod:`dcm_exporter.errors` tree, with the
DN and the server's result; the bind password never appears in a log record, ``repr`` or exception.

All DNs are built with RFC 4514 escaping (:mod:`dcm_exporter.codecs.ldap_mapping`) and all filter values are
escaped as RFC 4515 says, so AE titles and exporter ids may hold ``, + " \\ < > ; = * ( )`` and non-ASCII
characters.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

import attrs

with warnings.catch_warnings():
    # ldap3 2.9 imports pyasn1's deprecated tagMap/typeMap names (pyasn1 >= 0.6.1): not ours to fix
    warnings.filterwarnings("ignore", r"(tag|type)Map is deprecated", DeprecationWarning)
    import ldap3
    from ldap3.core import exceptions as ldap3_errors
    from ldap3.strategy.sync import SyncStrategy
    from ldap3.utils.asn1 import decode_message_fast

from dcm_exporter.codecs.ldap_mapping import (
    AddEntry,
    DeleteEntry,
    LdapOperation,
    Modification,
    ModifyEntry,
    configuration_from_entries,
    device_dn,
    devices_dn,
    diff_configurations,
    diff_entries,
    entry_dn_of,
    escape_rdn_value,
    model_from_entry,
    model_to_entries,
    model_to_entry,
    normalize_dn,
    parent_dn,
    parse_dn,
    registry_entries,
)
from dcm_exporter.codecs.ldif import LdifChange, LdifEntry, LdifSource, read_ldif
from dcm_exporter.config._ldap_support import (
    ImportReport,
    ImportResult,
    decode_search_entry,
    decode_value,
    depth_sorted,
    escape_filter_value,
    schema_hint,
)
from dcm_exporter.errors import (
    ConfigurationError,
    DcmExporterError,
    LdapBindError,
    LdapConnectionError,
    LdapEntryExistsError,
    LdapError,
    LdapNoSuchEntryError,
    LdapSchemaError,
    LdapTimeoutError,
    UnknownAEError,
)
from dcm_exporter.models import (
    DEFAULT_BASE_DN,
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
    RemoteAE,
    TransferCapability,
)
from dcm_exporter.schedule import CRON_PREFIX, Schedules, warn_if_cron

__all__ = ["ImportReport", "ImportResult", "LdapConfigStore"]

_log = logging.getLogger("dcm_exporter.config.ldap")

Value: TypeAlias = str | bytes
Entry: TypeAlias = tuple[str, dict[str, list[Value]]]
_T = TypeVar("_T")

_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_BIND_REFUSED = {7, 8, 13, 48, 49, 50, 53}  # authMethodNotSupported, strongerAuthRequired, confidentiality, ...
_SCHEMA_CODES = {17, 65, 69}  # undefinedAttributeType, objectClassViolation, objectClassModsProhibited
_IA5_NOTE = "dicomAETitle, dcmExporterID and dcmQueueName are IA5 strings in dcm4che's schema: ASCII only"
_UNAVAILABLE = {51, 52}  # busy, unavailable


class _Secret:
    """Holds the bind password; its ``repr``/``str`` never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def reveal(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>" if self._value else "None"

    __str__ = __repr__


class _Tls(ldap3.Tls):  # type: ignore[misc]
    """TLS with the standard library's certificate and host name checks.

    ldap3 2.9 switches the context's host name check off and calls the deprecated ``ssl.match_hostname``
    itself; this context verifies the chain against ``ca_file`` (or the system store) and the host name
    (or IP address) of the URL, as any TLS client should.
    """

    def __init__(self, *, ca_file: str | None, verify: bool) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
        self._ca_file = ca_file
        self._verify = verify

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self._ca_file)
        if not self._verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


class _EntrySink:
    """Takes the entries of a search off ldap3's receive path and decodes them in one pass.

    ldap3 decodes every message with its general BER decoder and builds each entry twice (``attributes``
    formatted value by value, and ``raw_attributes``, both case-insensitive dicts) — about 90 % of a search
    of the 1,500-entry default configuration. While :meth:`collect` is on, the sink wraps the connection's
    ``receiving()`` (of this connection only) and keeps each ``SearchResultEntry`` of the outstanding request:
    decoded by :func:`decode_search_entry` when it is plain, else by ldap3's own decoder, in arrival order.
    Every other message (the search result with its paging cookie, references, unsolicited notifications)
    goes on to ldap3 as before. An entry that needs ldap3's range retrieval (``;range=``, Active Directory)
    and everything after it goes to ldap3 too, so entries stay in order: the sink's first, then ldap3's.
    """

    def __init__(self, conn: Any) -> None:
        self._strategy = conn.strategy
        self._receive = conn.strategy.receiving
        self._entries: list[Entry | dict[str, Any]] | None = None
        self._pass_on = False
        self._strategy.receiving = self._receiving  # this connection's strategy object only

    @staticmethod
    def attach(conn: Any) -> _EntrySink | None:
        """A sink on ``conn`` when it is the synchronous strategy this was written for (ldap3 2.9), else None."""
        strategy = conn.strategy
        if type(strategy) is not SyncStrategy or not conn.fast_decoder or not hasattr(strategy, "_outstanding"):
            return None
        return _EntrySink(conn)

    def collect(self) -> None:
        """Start keeping the entries of the next search."""
        self._entries, self._pass_on = [], False

    def take(self) -> list[Entry | dict[str, Any]]:
        """Stop keeping entries; the ones kept: ``(dn, attributes)``, or ldap3 entry dicts."""
        entries, self._entries = self._entries or [], None
        return entries

    def _receiving(self) -> list[bytes]:
        while True:
            messages: list[bytes] = self._receive()
            if self._entries is None or self._pass_on or not messages:
                return messages
            rest = [m for m in messages if not self._keep(m)]
            if rest:
                return rest
            # all were entries: the search result is still to come

    def _keep(self, message: bytes) -> bool:
        if self._pass_on or self._entries is None:
            return False
        outstanding = self._strategy._outstanding
        fast = decode_search_entry(message)
        if fast is not None:
            message_id, dn, attributes = fast
            if message_id not in outstanding:
                return False  # ldap3 reports the wrong message ID
            self._entries.append((dn, attributes))
            return True
        decoded = decode_message_fast(message)
        if decoded["protocolOp"] != 4 or decoded["messageID"] not in outstanding:
            return False
        entry: dict[str, Any] = self._strategy.decode_response_fast(decoded)
        if any(";range=" in name.lower() for name in entry.get("raw_attributes") or ()):
            self._pass_on = True
            return False
        self._entries.append(entry)
        return True


@attrs.frozen
class _Url:
    scheme: str
    host: str
    port: int

    @property
    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _parse_url(url: str) -> _Url:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        raise ConfigurationError(f"LDAP URL {url!r}: the scheme must be ldap:// or ldaps://")
    if not parts.hostname:
        raise ConfigurationError(f"LDAP URL {url!r} names no host")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise ConfigurationError(f"LDAP URL {url!r} has an invalid port") from None
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
        raise ConfigurationError(
            f"LDAP URL {url!r}: give only scheme, host and port (base DN and credentials are arguments)"
        )
    return _Url(scheme, unquote(parts.hostname), port)


def _object_classes(attributes: Mapping[str, Sequence[Value]]) -> list[str]:
    out: list[str] = []
    for name, values in attributes.items():
        if name.lower() == "objectclass":
            out.extend(v.decode() if isinstance(v, bytes) else v for v in values)
    return out


def _warn_cron(dn: str, attribute: str, values: Sequence[Value]) -> None:
    """Call :func:`warn_if_cron` when a ``dcmSchedule`` about to be written holds ``cron:`` windows."""
    if attribute.lower() != "dcmschedule":
        return
    texts = [v if isinstance(v, str) else v.decode("utf-8", "replace") for v in values]
    if any(t.startswith(CRON_PREFIX) for t in texts):
        try:
            schedules = Schedules.parse(texts)
        except (DcmExporterError, ValueError):
            return  # the server decides; a malformed value is reported when read back
        warn_if_cron(schedules, where=dn)


class LdapConfigStore:
    """dcm4che configuration on a live LDAP server (OpenLDAP with dcm4che's schema, as dcm4chee runs it).

    Args:
        url: ``ldap://host[:port]`` or ``ldaps://host[:port]``.
        bind_dn: the DN to bind as (``None``: anonymous).
        password: its password; kept out of every log, ``repr`` and exception.
        base_dn: the suffix below which ``cn=DICOM Configuration`` lives.
        start_tls: upgrade an ``ldap://`` connection with StartTLS before binding.
        ca_file: PEM file of the CA(s) to trust for LDAPS/StartTLS (default: the system store).
        verify: verify the server certificate and host name (on by default; off only for tests).
        connect_timeout: seconds to wait for the TCP (and TLS) connection.
        timeout: seconds to wait for each answer of the server (whole seconds: ldap3 rounds up).
        page_size: entries per page of a paged search (RFC 2696); also keeps below servers' size limits.
        device_name: the archive device that holds exporters and queues; by default the one device with
            object class ``dcmArchiveDevice``.

    The store opens its connection on first use (or on ``with``/:meth:`open`) and keeps it; after a dropped
    connection the next call opens a new one. Calls are serialised with a lock, so one store may be shared
    by threads.

    Raises:
        ConfigurationError: an invalid URL, a missing CA file, or StartTLS with ``ldaps://``.
    """

    def __init__(
        self,
        url: str,
        bind_dn: str | None = None,
        password: str | None = None,
        base_dn: str = DEFAULT_BASE_DN,
        *,
        start_tls: bool = False,
        ca_file: str | os.PathLike[str] | None = None,
        verify: bool = True,
        connect_timeout: float = 10.0,
        timeout: float = 30.0,
        page_size: int = 500,
        device_name: str | None = None,
    ) -> None:
        self._url = _parse_url(url)
        if start_tls and self._url.scheme == "ldaps":
            raise ConfigurationError("start_tls with an ldaps:// URL: the connection is TLS already")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigurationError(f"CA file {os.fspath(ca_file)!r} does not exist")
        if page_size < 1:
            raise ConfigurationError(f"page_size must be at least 1, got {page_size}")
        self.bind_dn = bind_dn
        self._password = _Secret(password)
        self.base_dn = base_dn
        self.start_tls = start_tls
        self.ca_file = os.fspath(ca_file) if ca_file is not None else None
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.page_size = page_size
        self.device_name = device_name
        self.round_trips = 0
        """LDAP requests sent so far (StartTLS, bind, each search page, add, modify, delete, rename)."""
        self._conn: Any = None
        self._sink: _EntrySink | None = None  # decodes search entries of self._conn
        self._lock = threading.RLock()
        self._archive_dn: str | None = None
        self._configuration: Configuration | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server URL (``scheme://host:port``)."""
        return self._url.text

    @property
    def config_root_dn(self) -> str:
        """``cn=DICOM Configuration,<base DN>``."""
        return f"cn=DICOM Configuration,{self.base_dn}"

    @property
    def configuration(self) -> Configuration | None:
        """The configuration the last :meth:`load` / :meth:`reload` returned, or ``None``."""
        return self._configuration

    def __repr__(self) -> str:
        tls = ", start_tls=True" if self.start_tls else ""
        return (
            f"LdapConfigStore(url={self.url!r}, bind_dn={self.bind_dn!r}, base_dn={self.base_dn!r}{tls}, "
            f"open={self._conn is not None})"
        )

    def open(self) -> LdapConfigStore:
        """Connect (with TLS as configured) and bind now rather than on first use.

        Raises:
            LdapConnectionError: the server cannot be reached, or TLS fails.
            LdapTimeoutError: no answer in time.
            LdapBindError: the bind was refused.
        """
        with self._lock:
            self._connection()
        return self

    def close(self) -> None:
        """Unbind and close the connection (a later call opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                _discard(conn)

    def __enter__(self) -> LdapConfigStore:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = None
        tls = _Tls(ca_file=self.ca_file, verify=self.verify)
        server = ldap3.Server(
            self._url.host,
            port=self._url.port,
            use_ssl=self._url.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.connect_timeout,
        )
        conn = ldap3.Connection(
            server,
            user=self.bind_dn,
            password=self._password.reveal(),
            auto_bind=ldap3.AUTO_BIND_NONE,
            client_strategy=ldap3.SYNC,
            receive_timeout=max(1, math.ceil(self.timeout)),  # ldap3 sets SO_RCVTIMEO in whole seconds
            raise_exceptions=False,
            check_names=False,
            auto_referrals=False,
            return_empty_attributes=False,
            read_only=False,
        )
        sink = _EntrySink.attach(conn)
        try:
            self._run(conn, "connect", None, conn.open, count=False)
            if self.start_tls:
                self._run(conn, "StartTLS", None, conn.start_tls)
            self._run(conn, "bind", self.bind_dn, conn.bind)
        except LdapError:
            _discard(conn)
            raise
        self._conn, self._sink = conn, sink
        _log.debug("bound to %s as %s", self.url, self.bind_dn or "anonymous",
                   extra={"url": self.url, "bind_dn": self.bind_dn})
        return conn

    # --- the one place ldap3 errors are translated ----------------------------------------------------------

    def _run(
        self,
        conn: Any,
        operation: str,
        dn: str | None,
        call: Callable[..., _T],
        *args: Any,
        count: bool = True,
        ok_codes: Iterable[int] = (),
        classes: Sequence[str] = (),
        **kwargs: Any,
    ) -> _T:
        """Run one ldap3 call; translate an exception or a refused result into the errors tree."""
        if count:
            self.round_trips += 1
        try:
            result = call(*args, **kwargs)
        except Exception as exc:  # every ldap3/socket/ssl error: translated here, and only here
            if self._conn is conn:
                self._conn = None
            _discard(conn)
            raise self._failure(operation, dn, exc=exc) from exc
        if result is False:
            info = conn.result or {}
            code = int(info.get("result", -1))
            if code not in set(ok_codes) | {0}:
                raise self._failure(operation, dn, result=info, classes=classes)
        return result

    def _failure(
        self,
        operation: str,
        dn: str | None,
        *,
        exc: BaseException | None = None,
        result: Mapping[str, Any] | None = None,
        classes: Sequence[str] = (),
    ) -> LdapError:
        """The :mod:`dcm_exporter.errors` exception for an ldap3 exception or a refused operation."""
        if exc is not None:
            text = str(exc) or type(exc).__name__
            timed_out = isinstance(exc, ldap3_errors.LDAPResponseTimeoutError | socket.timeout) or (
                "timed out" in text.lower()
            )
            tls_failed = isinstance(exc, ldap3_errors.LDAPStartTLSError | ssl.SSLError) or any(
                k in text for k in ("ssl", "SSL", "certificate", "CERTIFICATE")
            )
            if timed_out:
                limit = self.connect_timeout if operation in ("connect", "StartTLS") else self.timeout
                return LdapTimeoutError(
                    f"LDAP {operation} on {self.url}: no answer within {limit:g} s", dn=dn, result=text
                )
            if tls_failed:
                err = LdapConnectionError(
                    f"TLS with {self.url} failed during {operation}: check ca_file "
                    f"({self.ca_file or 'system CA store'}) and that the certificate names the host "
                    f"{self._url.host}",
                    dn=dn,
                    result=text,
                )
                err.retryable = False
                return err
            if isinstance(exc, ldap3_errors.LDAPCommunicationError | OSError):
                what = "cannot reach the LDAP server" if operation == "connect" else "lost the connection to"
                return LdapConnectionError(f"{what} {self.url} ({operation})", dn=dn, result=text)
            return LdapError(f"LDAP {operation} failed on {self.url}", dn=dn, result=text)

        info = result or {}
        code = int(info.get("result", -1))
        description = str(info.get("description") or "error")
        message = str(info.get("message") or "").strip()
        matched = str(info.get("dn") or "").strip()
        server = f"{description} ({code})" + (f": {message}" if message else "")
        if matched:
            server += f"; matched DN: {matched}"
        if operation == "bind" and code in _BIND_REFUSED:
            who = f"as {self.bind_dn}" if self.bind_dn else "anonymously"
            return LdapBindError(
                f"the LDAP server {self.url} refused the bind {who}: check the bind DN and password",
                dn=dn, result=server,
            )
        if code == 68:
            return LdapEntryExistsError(f"LDAP {operation}: the entry exists already", dn=dn, result=server)
        if code == 32:
            hint = self._missing_hint(operation, dn, matched)
            return LdapNoSuchEntryError(f"LDAP {operation}: {hint}", dn=dn, result=server)
        if code == 21 and "objectclass" in message.lower():
            return LdapSchemaError(f"LDAP {operation}: {schema_hint(classes, message)}", dn=dn, result=server)
        if code in (21, 34):
            what = "the DN" if code == 34 else "a value"
            return LdapError(
                f"LDAP {operation}: {what} does not fit its attribute's syntax ({_IA5_NOTE})", dn=dn, result=server
            )
        if code in _SCHEMA_CODES:
            return LdapSchemaError(f"LDAP {operation}: {schema_hint(classes, message)}", dn=dn, result=server)
        if code == 3:
            return LdapTimeoutError(f"LDAP {operation}: the server's time limit was exceeded", dn=dn,
                                    result=server)
        if code in _UNAVAILABLE:
            return LdapConnectionError(f"LDAP {operation}: the server is busy or unavailable", dn=dn,
                                       result=server)
        if code == 50:
            return LdapError(
                f"LDAP {operation}: {self.bind_dn or 'anonymous'} may not do this (insufficient access rights)",
                dn=dn, result=server,
            )
        if code == 66:
            return LdapError(f"LDAP {operation}: the entry still has children", dn=dn, result=server)
        return LdapError(f"LDAP {operation} refused", dn=dn, result=server)

    def _missing_hint(self, operation: str, dn: str | None, matched: str) -> str:
        base = normalize_dn(self.base_dn)
        root = normalize_dn(self.config_root_dn)
        got = normalize_dn(matched) if matched else ""
        if not got.endswith(base) or (got != base and not got.endswith("," + base)):
            return (
                f"the base DN {self.base_dn} does not exist on the server: create it (dcm4che's "
                "init-baseDN.ldif), then load init-config.ldif"
            )
        if got == base:
            return (
                f"the DICOM configuration root {self.config_root_dn} does not exist: load dcm4che's "
                "init-config.ldif (or pass the right base_dn)"
            )
        if dn and normalize_dn(dn) == root:
            return f"{self.config_root_dn} does not exist: load dcm4che's init-config.ldif"
        if operation == "add":
            return f"the parent entry does not exist (the server found only {matched})"
        return "no such entry"

    # --- primitives ---------------------------------------------------------------------------------------

    def _search(
        self,
        base: str,
        filter: str,
        scope: str,
        attributes: Sequence[str] = ("*",),
        *,
        size_limit: int = 0,
        allow_missing: bool = False,
    ) -> list[Entry]:
        """A search, paged unless ``size_limit`` is set; entries as ``(dn, {attribute: [values]})``.

        A search is only a read: when it fails on a connection opened earlier (the server restarted, an idle
        connection was cut by a firewall), it is sent once more on a new connection.
        """
        reused = self._conn is not None and not self._conn.closed
        try:
            return self._search_once(
                base, filter, scope, attributes, size_limit=size_limit, allow_missing=allow_missing
            )
        except LdapConnectionError as exc:
            if not reused or isinstance(exc, LdapTimeoutError):  # a slow server is not helped by asking twice
                raise
            _log.warning("LDAP connection to %s lost (%s); searching again on a new connection", self.url, exc,
                         extra={"url": self.url})
            return self._search_once(
                base, filter, scope, attributes, size_limit=size_limit, allow_missing=allow_missing
            )

    def _search_once(
        self,
        base: str,
        filter: str,
        scope: str,
        attributes: Sequence[str],
        *,
        size_limit: int,
        allow_missing: bool,
    ) -> list[Entry]:
        conn = self._connection()
        out: list[Entry] = []
        cookie: bytes | None = None
        paged = size_limit == 0
        while True:
            ok_codes = {32} if allow_missing else set()
            if size_limit:
                ok_codes.add(4)  # sizeLimitExceeded: we asked for at most size_limit entries
            sink = self._sink
            if sink is not None:
                sink.collect()
            try:
                self._run(
                    conn, "search", base, conn.search, base, filter,
                    search_scope=scope, attributes=list(attributes), size_limit=size_limit,
                    paged_size=self.page_size if paged else None, paged_cookie=cookie, ok_codes=ok_codes,
                )
            finally:
                kept = sink.take() if sink is not None else []
            # entries the sink kept come first, then any ldap3 kept (see _EntrySink)
            for item in [*kept, *(conn.response or ())]:
                if isinstance(item, tuple):
                    out.append(item)
                    continue
                if item.get("type") != "searchResEntry":
                    continue
                raw: Mapping[str, Sequence[bytes]] = item.get("raw_attributes") or {}
                out.append((item["dn"], {k: [decode_value(k, v) for v in vs] for k, vs in raw.items()}))
            if not paged:
                return out
            control = (conn.result.get("controls") or {}).get(_PAGED_RESULTS)
            cookie = control["value"]["cookie"] if control else None
            if not cookie:
                return out

    def _add(self, dn: str, attributes: Mapping[str, Sequence[Value]]) -> None:
        classes = _object_classes(attributes)
        for name, values in attributes.items():
            _warn_cron(dn, name, values)
        conn = self._connection()
        payload = {k: list(v) for k, v in attributes.items()}
        _log.debug("add %s", dn, extra={"dn": dn})
        self._run(conn, "add", dn, conn.add, dn, None, payload, classes=classes)

    def _delete(self, dn: str, *, allow_missing: bool = False) -> None:
        conn = self._connection()
        _log.debug("delete %s", dn, extra={"dn": dn})
        self._run(conn, "delete", dn, conn.delete, dn, ok_codes={32} if allow_missing else ())

    def _modify(self, dn: str, modifications: Sequence[Modification], classes: Sequence[str] = ()) -> None:
        kinds = {"add": ldap3.MODIFY_ADD, "delete": ldap3.MODIFY_DELETE, "replace": ldap3.MODIFY_REPLACE}
        changes: dict[str, list[tuple[str, list[Value]]]] = {}
        sent_classes = list(classes)
        for m in modifications:
            if m.operation != "delete":
                _warn_cron(dn, m.attribute, m.values)
            if m.attribute.lower() == "objectclass" and m.operation == "add":
                sent_classes.extend(str(v) for v in m.values)
            changes.setdefault(m.attribute, []).append((kinds[m.operation], list(m.values)))
        conn = self._connection()
        _log.debug("modify %s: %s", dn, ", ".join(changes), extra={"dn": dn, "attributes": list(changes)})
        self._run(conn, "modify", dn, conn.modify, dn, changes, classes=sent_classes)

    def _apply(self, op: LdapOperation) -> None:
        if isinstance(op, AddEntry):
            self._add(op.dn, op.attributes)
        elif isinstance(op, DeleteEntry):
            self._delete(op.dn)
        else:
            self._modify(op.dn, op.modifications)

    def _entry(self, dn: str) -> dict[str, list[Value]] | None:
        found = self._search(dn, "(objectClass=*)", ldap3.BASE, allow_missing=True)
        return found[0][1] if found else None

    # --- reading ------------------------------------------------------------------------------------------

    def load(self) -> Configuration:
        """Read the whole ``cn=DICOM Configuration`` tree: one paged subtree search, however many entries.

        Returns:
            A new immutable :class:`Configuration` (equal to ``Configuration.from_ldif`` of the same entries).

        Raises:
            LdapNoSuchEntryError: the base DN or ``cn=DICOM Configuration`` is missing (load
                ``init-config.ldif``).
            ConfigurationError: an entry that is not a valid model, naming its DN.
            LdapConnectionError / LdapTimeoutError / LdapBindError: as for :meth:`open`.
        """
        with self._lock:
            entries = self._search(self.config_root_dn, "(objectClass=*)", ldap3.SUBTREE)
            config = configuration_from_entries(entries, base_dn=self.base_dn)
            self._configuration = config
            _log.info("loaded %d entries (%d devices) from %s", len(entries), len(config.devices), self.url,
                      extra={"url": self.url, "entries": len(entries)})
            return config

    _context_csn: bool | None = None  # whether the server keeps contextCSN (syncprov); asked once

    def change_marker(self) -> str:
        """A cheap value that changes whenever the configuration tree changes (for live reload polling).

        The suffix's ``contextCSN`` when the server keeps one (OpenLDAP with the syncprov overlay, as replicated
        dcm4chee set-ups have): one base search. Otherwise the newest ``entryCSN`` (microsecond resolution,
        OpenLDAP) or ``modifyTimestamp`` below ``cn=DICOM Configuration`` and the number of entries: one
        subtree search returning only those operational attributes (a deleted entry changes the count).

        Raises:
            LdapError: the server cannot be asked (the caller keeps the configuration it has).
        """
        with self._lock:
            if self._context_csn is not False:
                found = self._search(self.base_dn, "(objectClass=*)", ldap3.BASE, ("contextCSN",),
                                     allow_missing=True)
                csns = [str(v) for _, found_attrs in found for k, vs in found_attrs.items() if k.lower() == "contextcsn"
                        for v in vs]
                self._context_csn = bool(csns)
                if csns:
                    return "contextCSN:" + max(csns)
            entries = self._search(self.config_root_dn, "(objectClass=*)", ldap3.SUBTREE,
                                   ("entryCSN", "modifyTimestamp"))
            newest = {"entrycsn": "", "modifytimestamp": ""}  # compared apart: their text forms differ
            for _, entry_attrs in entries:
                for key, values in entry_attrs.items():
                    name = key.lower()
                    if name in newest:
                        newest[name] = max([newest[name], *(str(v) for v in values)])
            return f"entries:{len(entries)}:{newest['entrycsn'] or newest['modifytimestamp']}"

    def reload(self) -> Configuration:
        """Read the configuration again, picking up what others changed since the last :meth:`load`.

        Returns a new :class:`Configuration`; configurations returned before stay as they were (immutable),
        so code holding one keeps a consistent view. Compare with ``==`` to see whether anything changed.
        """
        return self.load()

    def find_remote_ae(self, ae_title: str, *, require_installed: bool = True) -> RemoteAE:
        """Resolve a destination AE title to one connection, as dcm4che does, with three searches.

        The AE is found by a subtree search below ``cn=Devices`` for
        ``(&(objectclass=dicomNetworkAE)(dicomAETitle=<aet>))`` with size limit 1 (the value escaped per
        RFC 4515); its device is the parent entry; then the device with its connections, and the AE's
        transfer capabilities are read.

        Raises:
            UnknownAEError: no such AE ("Unknown AE: X").
            AENotInstalledError: the AE or its device is not installed (unless ``require_installed`` is false).
            ConfigurationError: the AE has no installed listening connection.
        """
        with self._lock:
            ae_dn, ae_attributes = self._find_ae(ae_title, ("*",))
            ddn = parent_dn(ae_dn)
            device_entries = self._search(
                ddn, "(|(objectClass=dicomDevice)(objectClass=dicomNetworkConnection))", ldap3.SUBTREE
            )
            tcs = self._search(ae_dn, "(objectClass=dicomTransferCapability)", ldap3.LEVEL)
            partial = configuration_from_entries(
                [*device_entries, (ae_dn, ae_attributes), *tcs], base_dn=self.base_dn
            )
            return partial.remote_ae(ae_title, require_installed=require_installed)

    def _find_ae(self, ae_title: str, attributes: Sequence[str]) -> Entry:
        """dcm4che's AE search (size limit 1), checked: the entry must carry exactly this AE title."""
        found = self._search(
            devices_dn(self.base_dn),
            f"(&(objectclass=dicomNetworkAE)(dicomAETitle={escape_filter_value(ae_title)}))",
            ldap3.SUBTREE,
            attributes,
            size_limit=1,
            allow_missing=True,
        )
        # a server may match more loosely than Python compares (e.g. a value cut at NUL): insist on equality
        for dn, attrs_ in found:
            titles = [v for k, vs in attrs_.items() if k.lower() == "dicomaetitle" for v in vs]
            if ae_title in titles:
                return dn, attrs_
        raise UnknownAEError(ae_title)

    # --- devices and remote AEs ---------------------------------------------------------------------------

    def add_device(self, device: Device, *, register: bool = True) -> tuple[str, ...]:
        """Add a device with everything below it, all or nothing.

        With ``register`` (the default) its AE titles (and web application names) are first added to the
        unique-name registries, as dcm4che does: an AE title registered already stops the add before
        anything else is written. When an add fails half-way, the entries added before it are deleted again.

        Returns:
            The DNs added, in order.

        Raises:
            LdapEntryExistsError: the device or a registered name exists already (nothing is left behind).
            LdapSchemaError / LdapError: the server refused an entry (nothing is left behind).
        """
        with self._lock:
            entries: list[Entry] = list(registry_entries(device, self.base_dn)) if register else []
            entries += model_to_entries(device, devices_dn(self.base_dn))
            added: list[str] = []
            try:
                for dn, attributes in entries:
                    self._add(dn, attributes)
                    added.append(dn)
            except LdapError as exc:
                left = self._undo(added)
                what = f"adding device {device.device_name} failed at entry {len(added) + 1} of {len(entries)}"
                if isinstance(exc, LdapEntryExistsError) and "Unique AE Titles Registry" in (exc.dn or ""):
                    what += " (the AE title is registered already)"
                undo = (
                    f"; removed the {len(added)} entries added before it" if not left
                    else f"; could not remove {len(left)} entries added before it: {', '.join(left)}"
                ) if added else ""
                raise type(exc)(f"{what}: {_reason(exc)}{undo}", dn=exc.dn, result=exc.result) from exc
            return tuple(added)

    def _undo(self, added: Sequence[str]) -> list[str]:
        left = []
        for dn in reversed(added):
            try:
                self._delete(dn, allow_missing=True)
            except LdapError as exc:
                _log.error("could not undo the add of %s: %s", dn, exc, extra={"dn": dn})
                left.append(dn)
        return left

    def add_remote_ae(
        self,
        ae_title: str,
        hostname: str,
        port: int,
        *,
        device_name: str | None = None,
        connection_name: str = "dicom",
        description: str | None = None,
        tls_cipher_suites: Sequence[str] = (),
        transfer_capabilities: Sequence[TransferCapability] = (),
        installed: bool = True,
    ) -> Device:
        """Configure a destination AE: a device, its connection, its AE and the AE title's registry entry.

        Like dcm4che's ``sample-device.ldif``; all or nothing (see :meth:`add_device`). ``device_name``
        defaults to the AE title in lower case.

        Returns:
            The device as written.
        """
        device = Device(
            device_name=device_name or ae_title.lower(),
            installed=installed,
            description=description,
            connections=(
                Connection(name=connection_name, hostname=hostname, port=port,
                           tls_cipher_suites=tuple(tls_cipher_suites)),
            ),
            application_entities=(
                ApplicationEntity(
                    ae_title=ae_title,
                    connection_refs=(connection_name,),
                    association_initiator=True,
                    association_acceptor=True,
                    transfer_capabilities=tuple(transfer_capabilities),
                ),
            ),
        )
        self.add_device(device)
        return device

    def remove_device(self, device_name: str) -> int:
        """Delete a device with everything below it, and its AE titles and web application names from the
        unique-name registries.

        Returns:
            The number of entries deleted.

        Raises:
            LdapNoSuchEntryError: no such device.
        """
        with self._lock:
            return self._remove_subtree(device_dn(device_name, self.base_dn))

    def _remove_subtree(self, top: str) -> int:
        entries = self._search(
            top, "(objectClass=*)", ldap3.SUBTREE, ("objectClass", "dicomAETitle", "dcmWebAppName")
        )
        by_dn = dict(entries)
        for dn in depth_sorted(by_dn, deepest_first=True):
            self._delete(dn)
        registered = 0
        for _dn, attributes in entries:
            classes = {c.lower() for c in _object_classes(attributes)}
            for name, values in attributes.items():
                if name.lower() == "dicomaetitle" and "dicomnetworkae" in classes:
                    registered += sum(self._unregister("dicomAETitle", "Unique AE Titles Registry", values))
                elif name.lower() == "dcmwebappname" and "dcmwebapp" in classes:
                    registered += sum(
                        self._unregister("dcmWebAppName", "Unique Web Application Names Registry", values)
                    )
        return len(entries) + registered

    def _unregister(self, attribute: str, registry: str, values: Iterable[Value]) -> list[int]:
        done = []
        for value in values:
            text = value if isinstance(value, str) else value.decode()
            dn = f"{attribute}={escape_rdn_value(text)},cn={registry},{self.config_root_dn}"
            before = self.round_trips
            self._delete(dn, allow_missing=True)
            done.append(1 if self.round_trips > before else 0)
        return done

    def remove_remote_ae(self, ae_title: str) -> int:
        """Remove a destination AE and its registry entry.

        Its device goes too when it holds nothing but this AE and connections (the shape
        :meth:`add_remote_ae` creates); otherwise only the AE entry and its children are deleted.

        Returns:
            The number of entries deleted (registry entries included).

        Raises:
            UnknownAEError: no such AE.
        """
        with self._lock:
            ae_dn = self._find_ae(ae_title, ("dicomAETitle",))[0]
            ddn = parent_dn(ae_dn)
            children = self._search(ddn, "(objectClass=*)", ldap3.LEVEL, ("objectClass",))
            ae_norm = normalize_dn(ae_dn)
            only_this_ae = all(
                normalize_dn(dn) == ae_norm
                or "dicomnetworkconnection" in {c.lower() for c in _object_classes(attributes)}
                for dn, attributes in children
            )
            return self._remove_subtree(ddn if only_this_ae else ae_dn)

    # --- exporters and queues -----------------------------------------------------------------------------

    def _device_dn(self, device_name: str | None) -> str:
        name = device_name or self.device_name
        if name:
            return device_dn(name, self.base_dn)
        if self._archive_dn is None:
            found = self._search(
                devices_dn(self.base_dn), "(objectClass=dcmArchiveDevice)", ldap3.LEVEL, ("1.1",),
                allow_missing=True,
            )
            if len(found) != 1:
                names = ", ".join(str(parse_dn(dn)[0][0][1]) for dn, _ in found) or "none"
                raise ConfigurationError(
                    f"cannot tell which device holds exporters and queues: {len(found)} devices with object "
                    f"class dcmArchiveDevice ({names}); pass device_name",
                    dn=devices_dn(self.base_dn),
                )
            self._archive_dn = found[0][0]
        return self._archive_dn

    def add_exporter(self, exporter: ExporterDescriptor, *, device_name: str | None = None) -> str:
        """Add an exporter entry below the archive device (``device_name`` or the store's default).

        Returns:
            The DN of the new entry.

        Raises:
            LdapEntryExistsError: an exporter with this id exists.
            LdapNoSuchEntryError: the device does not exist.
        """
        with self._lock:
            dn, attributes = model_to_entry(exporter, self._device_dn(device_name))
            self._add(dn, attributes)
            return dn

    def update_exporter(
        self, exporter: ExporterDescriptor, *, device_name: str | None = None
    ) -> tuple[Modification, ...]:
        """Change an existing exporter, sending only the attributes whose values differ.

        An exporter built without ``object_classes`` / ``extra`` (a fresh object rather than one read from
        the server) keeps the entry's object classes and unmodelled attributes.

        Returns:
            The modifications sent (empty when nothing changed: then nothing is sent).

        Raises:
            LdapNoSuchEntryError: no such exporter.
        """
        with self._lock:
            return self._update(exporter, ExporterDescriptor, self._device_dn(device_name))

    def remove_exporter(self, exporter_id: str, *, device_name: str | None = None) -> None:
        """Delete an exporter entry.

        Raises:
            LdapNoSuchEntryError: no such exporter.
        """
        with self._lock:
            self._delete(f"dcmExporterID={escape_rdn_value(exporter_id)},{self._device_dn(device_name)}")

    def add_queue(self, queue: QueueDescriptor, *, device_name: str | None = None) -> str:
        """Add a queue entry (``dcmQueue``) below the archive device.

        Returns:
            The DN of the new entry.

        Raises:
            LdapEntryExistsError: a queue with this name exists.
        """
        with self._lock:
            dn, attributes = model_to_entry(queue, self._device_dn(device_name))
            self._add(dn, attributes)
            return dn

    def update_queue(self, queue: QueueDescriptor, *, device_name: str | None = None) -> tuple[Modification, ...]:
        """Change an existing queue, sending only the changed attributes (see :meth:`update_exporter`)."""
        with self._lock:
            return self._update(queue, QueueDescriptor, self._device_dn(device_name))

    def remove_queue(self, queue_name: str, *, device_name: str | None = None) -> None:
        """Delete a queue entry.

        Raises:
            LdapNoSuchEntryError: no such queue.
        """
        with self._lock:
            self._delete(f"dcmQueueName={escape_rdn_value(queue_name)},{self._device_dn(device_name)}")

    def _update(self, model: Any, model_type: type[Any], parent: str) -> tuple[Modification, ...]:
        dn = entry_dn_of(model, parent)
        attributes = self._entry(dn)
        if attributes is None:
            raise LdapNoSuchEntryError(
                f"cannot update: no {type(model).__name__} entry at this DN (add it first)", dn=dn
            )
        current = model_from_entry(model_type, dn, attributes)
        if not model.object_classes:
            model = attrs.evolve(model, object_classes=current.object_classes)
        if not model.extra:
            model = attrs.evolve(model, extra=current.extra)
        ops = diff_entries([model_to_entry(current, parent)], [model_to_entry(model, parent)])
        sent: list[Modification] = []
        for op in ops:
            assert isinstance(op, ModifyEntry)  # same DN before and after: only modifications
            self._modify(op.dn, op.modifications, _object_classes(attributes))
            sent.extend(op.modifications)
        return tuple(sent)

    # --- whole configurations -----------------------------------------------------------------------------

    def save(self, configuration: Configuration, *, since: Configuration | None = None) -> tuple[LdapOperation, ...]:
        """Make the server hold ``configuration``, sending only what differs (as dcm4chee's merge does).

        Without ``since`` the server's current tree is read (one search) and diffed against
        ``configuration``: entries missing from it are deleted, new ones added, and changed entries get one
        modify operation with only the changed attributes. With ``since`` (the configuration the
        application loaded and then changed) only the application's own changes are sent, leaving what
        others changed on the server meanwhile alone.

        All or nothing, as far as LDAP allows (it has no multi-entry transactions here): when the server
        refuses an operation, the entries already changed by this call are put back as they were in the
        configuration the changes were computed from (the server's tree, or ``since``), and the error says
        so. Entries this call did not touch are never written.

        Returns:
            The operations sent, in order.

        Raises:
            ConfigurationError: ``configuration`` lives under another base DN.
            LdapError: the server refused an operation; the message names it and says whether the operations
                applied before it were undone (or, if undoing failed too, that the server holds part of the
                change).
        """
        if normalize_dn(configuration.base_dn) != normalize_dn(self.base_dn):
            raise ConfigurationError(
                f"the configuration lives under {configuration.base_dn}, this store under {self.base_dn}"
            )
        with self._lock:
            before = since if since is not None else self.load()
            ops = diff_configurations(before, configuration)
            for i, op in enumerate(ops):
                try:
                    self._apply(op)
                except LdapError as exc:
                    kind = type(op).__name__.replace("Entry", "").lower()
                    undo = self._undo_save(ops[:i], before) if i else ""
                    raise type(exc)(
                        f"save stopped at operation {i + 1} of {len(ops)} ({kind}): {_reason(exc)}{undo}",
                        dn=exc.dn,
                        result=exc.result,
                    ) from exc
            if ops:
                _log.info("saved %d operations to %s", len(ops), self.url, extra={"operations": len(ops)})
            return tuple(ops)

    def _undo_save(self, applied: list[LdapOperation], before: Configuration) -> str:
        """Put the entries ``applied`` touched back as they are in ``before``; a note for the error message."""
        touched = {normalize_dn(op.dn) for op in applied}
        try:
            now = self.load()
            back = [op for op in diff_configurations(now, before) if normalize_dn(op.dn) in touched]
            for op in back:
                self._apply(op)
        except LdapError as exc:
            _log.error("save: undoing %d applied operations failed: %s", len(applied), _reason(exc))
            return (
                f"; the {len(applied)} operation(s) applied before it could not be undone ({_reason(exc)}): "
                "the server holds part of the change"
            )
        _log.warning("save: undid the %d operations applied before the refusal (%d sent)", len(applied), len(back))
        return f"; the {len(applied)} operation(s) applied before it were undone"

    # --- LDIF import --------------------------------------------------------------------------------------

    def import_ldif(
        self,
        source: LdifSource,
        *,
        filename: str | None = None,
        continue_on_error: bool = False,
        update_existing: bool = False,
        allow_file_urls: bool = False,
    ) -> ImportReport:
        """Import LDIF content or change records, like ``ldapadd`` / ``ldapmodify`` or a directory tool.

        The whole input is parsed first (a syntax error sends nothing). Content records are added; with
        ``update_existing`` an entry that exists already gets the record's attributes (only the differing
        ones are sent; attributes the record does not mention are kept). Change records are carried out as
        written. The server's refusals are reported per record; the import stops at the first one unless
        ``continue_on_error`` (like ``ldapadd -c``). ``:<`` file URL values are read only with
        ``allow_file_urls`` (LDIF from a trusted operator).

        Raises:
            LdifError: malformed LDIF (nothing was sent).
            LdapConnectionError / LdapTimeoutError / LdapBindError: the import could not go on.
        """
        records = read_ldif(source, filename=filename, allow_file_urls=allow_file_urls)
        name = filename or (os.fspath(source) if isinstance(source, os.PathLike) else "<string>")
        results: list[ImportResult] = []
        complete = True
        with self._lock:
            for rec in records:
                try:
                    results.append(self._import_one(rec, update_existing))
                except (LdapConnectionError, LdapBindError):
                    raise
                except LdapError as exc:
                    results.append(ImportResult(dn=rec.dn, line=rec.line, action="rejected", error=exc))
                    if not continue_on_error:
                        complete = rec is records[-1]
                        break
        report = ImportReport(filename=name, results=tuple(results), complete=complete)
        _log.info("%s", report.summary(), extra={"filename": name})
        return report

    def _import_one(self, rec: LdifEntry | LdifChange, update_existing: bool) -> ImportResult:
        if isinstance(rec, LdifEntry) or rec.changetype == "add":
            try:
                self._add(rec.dn, rec.attributes)
                return ImportResult(dn=rec.dn, line=rec.line, action="added")
            except LdapEntryExistsError:
                if not (update_existing and isinstance(rec, LdifEntry)):
                    raise
            current = self._entry(rec.dn) or {}
            wanted = {k.lower() for k in rec.attributes}
            ops = diff_entries([(rec.dn, current)], [(rec.dn, rec.attributes)])
            mods = [
                m for op in ops if isinstance(op, ModifyEntry) for m in op.modifications
                if m.attribute.lower() in wanted and not (m.operation == "delete" and m.attribute.lower()
                                                          == "objectclass")
            ]
            if not mods:
                return ImportResult(dn=rec.dn, line=rec.line, action="unchanged")
            self._modify(rec.dn, mods, _object_classes(current))
            return ImportResult(dn=rec.dn, line=rec.line, action="changed",
                                attributes=tuple(m.attribute for m in mods))
        if rec.changetype == "delete":
            self._delete(rec.dn)
            return ImportResult(dn=rec.dn, line=rec.line, action="deleted")
        if rec.changetype == "modify":
            mods = [Modification(m.op, m.attribute, tuple(m.values)) for m in rec.modifications]
            self._modify(rec.dn, mods)
            return ImportResult(dn=rec.dn, line=rec.line, action="changed",
                                attributes=tuple(dict.fromkeys(m.attribute for m in mods)))
        conn = self._connection()
        assert rec.newrdn is not None  # the LDIF reader requires newrdn for modrdn/moddn
        self._run(conn, "modrdn", rec.dn, conn.modify_dn, rec.dn, rec.newrdn,
                  delete_old_dn=rec.deleteoldrdn, new_superior=rec.newsuperior)
        return ImportResult(dn=rec.dn, line=rec.line, action="renamed")


def _discard(conn: Any) -> None:
    """Unbind and close a connection, whatever state it is in (no socket is left for the GC to warn about)."""
    try:
        if not conn.closed:
            conn.unbind()
    except Exception:  # closing a broken connection: nothing to report
        pass
    sock = getattr(conn, "socket", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def _reason(exc: LdapError) -> str:
    """The message of an LdapError without the ``dn: ...`` / ``server said: ...`` parts it appends."""
    text = str(exc)
    for sep in ("; dn: ", "; server said: "):
        text = text.split(sep)[0]
    return text
