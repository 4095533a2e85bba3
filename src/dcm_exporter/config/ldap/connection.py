"""The connection to an LDAP server: the only module that imports ``ldap3``.

:class:`LdapConnection` opens the connection (LDAPS or StartTLS with the standard library's certificate and
host name checks), binds, and carries out searches (paged, with one-pass decoding of plain entries by
:mod:`dcm_exporter.config.ldap._ber`), adds, modifies, deletes and renames. Every ``ldap3`` exception and every
refused operation is translated here, in :meth:`LdapConnection.run`, into the :mod:`dcm_exporter.errors` tree
with the DN and the server's result; the bind password never appears in a log record, ``repr`` or exception.
Filter values are escaped as RFC 4515 says (:func:`escape_filter_value`).
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
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

from dcm_exporter.codecs.ldap_mapping import AddEntry, DeleteEntry, LdapOperation, Modification
from dcm_exporter.config.ldap._ber import decode_search_entry, decode_value
from dcm_exporter.config.ldap._schema_hints import schema_hint
from dcm_exporter.dn import configuration_dn, normalize_dn
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
)
from dcm_exporter.schedule import CRON_PREFIX, Schedules, warn_if_cron

__all__ = ["BASE", "LEVEL", "SUBTREE", "Entry", "LdapConnection", "escape_filter_value", "object_classes", "parse_url"]

_log = logging.getLogger("dcm_exporter.config.ldap")

Value: TypeAlias = str | bytes
Entry: TypeAlias = tuple[str, dict[str, list[Value]]]
_T = TypeVar("_T")

BASE: str = ldap3.BASE
"""Search scope: the base entry only."""
LEVEL: str = ldap3.LEVEL
"""Search scope: the base entry's children."""
SUBTREE: str = ldap3.SUBTREE
"""Search scope: the base entry and everything below it."""

_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_BIND_REFUSED = {7, 8, 13, 48, 49, 50, 53}  # authMethodNotSupported, strongerAuthRequired, confidentiality, ...
_SCHEMA_CODES = {17, 65, 69}  # undefinedAttributeType, objectClassViolation, objectClassModsProhibited
_IA5_NOTE = "dicomAETitle, dcmExporterID and dcmQueueName are IA5 strings in dcm4che's schema: ASCII only"
_UNAVAILABLE = {51, 52}  # busy, unavailable

# --- RFC 4515 --------------------------------------------------------------------------------------------

_FILTER_SPECIAL = {"\\": "\\5c", "*": "\\2a", "(": "\\28", ")": "\\29", "\x00": "\\00"}


def escape_filter_value(value: str | bytes) -> str:
    """Escape an assertion value for an LDAP search filter (RFC 4515).

    ``\\``, ``*``, ``(``, ``)`` and NUL become ``\\XX``; other characters (non-ASCII included) stay as they
    are and are sent UTF-8 encoded. ``bytes`` are escaped octet by octet, except printable ASCII.

    >>> escape_filter_value("a*)(cn=*")
    'a\\\\2a\\\\29\\\\28cn=\\\\2a'
    """
    if isinstance(value, bytes):
        return "".join(
            chr(b) if 0x20 < b < 0x7F and chr(b) not in _FILTER_SPECIAL else f"\\{b:02x}" for b in value
        )
    return "".join(_FILTER_SPECIAL.get(ch, ch) for ch in value)


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


def parse_url(url: str) -> _Url:
    """Scheme, host and port of an ``ldap://`` / ``ldaps://`` URL (anything more is refused)."""
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


def object_classes(attributes: Mapping[str, Sequence[Value]]) -> list[str]:
    """The ``objectClass`` values of an entry (attribute name matched case-insensitively)."""
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


class LdapConnection:
    """One kept connection to an LDAP server, opened on first use and again after it dropped.

    Not thread-safe on its own: :class:`~dcm_exporter.config.ldap.LdapConfigStore` serialises the calls.
    Arguments as for the store.
    """

    def __init__(
        self,
        url: str,
        bind_dn: str | None,
        password: str | None,
        base_dn: str,
        *,
        start_tls: bool,
        ca_file: str | None,
        verify: bool,
        connect_timeout: float,
        timeout: float,
        page_size: int,
    ) -> None:
        self._url = parse_url(url)
        if start_tls and self._url.scheme == "ldaps":
            raise ConfigurationError("start_tls with an ldaps:// URL: the connection is TLS already")
        self.bind_dn = bind_dn
        self._password = _Secret(password)
        self.base_dn = base_dn
        self.start_tls = start_tls
        self.ca_file = ca_file
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.page_size = page_size
        self.round_trips = 0
        """LDAP requests sent so far (StartTLS, bind, each search page, add, modify, delete, rename)."""
        self._conn: Any = None
        self._sink: _EntrySink | None = None  # decodes search entries of self._conn

    @property
    def url(self) -> str:
        """The server URL (``scheme://host:port``)."""
        return self._url.text

    @property
    def is_open(self) -> bool:
        """Whether a connection is held (it may still have been dropped by the server)."""
        return self._conn is not None

    def open(self) -> None:
        """Connect and bind now, unless a connection is held already."""
        self._connection()

    def close(self) -> None:
        """Unbind and close the connection (a later call opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            _discard(conn)

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
            self.run(conn, "connect", None, conn.open, count=False)
            if self.start_tls:
                self.run(conn, "StartTLS", None, conn.start_tls)
            self.run(conn, "bind", self.bind_dn, conn.bind)
        except LdapError:
            _discard(conn)
            raise
        self._conn, self._sink = conn, sink
        _log.debug("bound to %s as %s", self.url, self.bind_dn or "anonymous",
                   extra={"url": self.url, "bind_dn": self.bind_dn})
        return conn

    # --- the one place ldap3 errors are translated ----------------------------------------------------------

    def run(
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
        if code in (65, 69) and message:
            # the classes are known (else the server says 'invalid per syntax', code 21): what the entry breaks
            # is in the server's own words, e.g. "object class 'dcmArchiveDevice' requires attribute ..."
            return LdapSchemaError(f"LDAP {operation}: the server's schema refused the entry: {message}", dn=dn,
                                   result=server)
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
        root = normalize_dn(configuration_dn(self.base_dn))
        got = normalize_dn(matched) if matched else ""
        if not got.endswith(base) or (got != base and not got.endswith("," + base)):
            return (
                f"the base DN {self.base_dn} does not exist on the server: create it (dcm4che's "
                "init-baseDN.ldif), then load init-config.ldif"
            )
        if got == base:
            return (
                f"the DICOM configuration root {configuration_dn(self.base_dn)} does not exist: load dcm4che's "
                "init-config.ldif (or pass the right base_dn)"
            )
        if dn and normalize_dn(dn) == root:
            return f"{configuration_dn(self.base_dn)} does not exist: load dcm4che's init-config.ldif"
        if operation == "add":
            return f"the parent entry does not exist (the server found only {matched})"
        return "no such entry"

    # --- operations ---------------------------------------------------------------------------------------

    def search(
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
                self.run(
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

    def add(self, dn: str, attributes: Mapping[str, Sequence[Value]]) -> None:
        """Add one entry (warning when a ``dcmSchedule`` holds ``cron:`` windows dcm4chee cannot read)."""
        classes = object_classes(attributes)
        for name, values in attributes.items():
            _warn_cron(dn, name, values)
        conn = self._connection()
        payload = {k: list(v) for k, v in attributes.items()}
        _log.debug("add %s", dn, extra={"dn": dn})
        self.run(conn, "add", dn, conn.add, dn, None, payload, classes=classes)

    def delete(self, dn: str, *, allow_missing: bool = False) -> None:
        """Delete one entry (with ``allow_missing``, a missing one is no error)."""
        conn = self._connection()
        _log.debug("delete %s", dn, extra={"dn": dn})
        self.run(conn, "delete", dn, conn.delete, dn, ok_codes={32} if allow_missing else ())

    def modify(self, dn: str, modifications: Sequence[Modification], classes: Sequence[str] = ()) -> None:
        """Modify one entry; ``classes`` (its object classes) name the schema file to load on a refusal."""
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
        self.run(conn, "modify", dn, conn.modify, dn, changes, classes=sent_classes)

    def rename(self, dn: str, new_rdn: str, *, delete_old_rdn: bool, new_superior: str | None) -> None:
        """``modrdn`` / ``moddn``: give an entry a new RDN, optionally below a new parent."""
        conn = self._connection()
        _log.debug("rename %s to %s", dn, new_rdn, extra={"dn": dn})
        self.run(conn, "modrdn", dn, conn.modify_dn, dn, new_rdn, delete_old_dn=delete_old_rdn,
                 new_superior=new_superior)

    def apply(self, op: LdapOperation) -> None:
        """Carry out one operation of a diff."""
        if isinstance(op, AddEntry):
            self.add(op.dn, op.attributes)
        elif isinstance(op, DeleteEntry):
            self.delete(op.dn)
        else:
            self.modify(op.dn, op.modifications)

    def entry(self, dn: str) -> dict[str, list[Value]] | None:
        """The attributes of one entry, or ``None`` when it does not exist."""
        found = self.search(dn, "(objectClass=*)", BASE, allow_missing=True)
        return found[0][1] if found else None


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
