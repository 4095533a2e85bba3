"""Pure helpers of the live LDAP store (no ldap3 here): filter escaping, values, schema hints, import reports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from dcm_exporter.errors import LdapError

__all__ = [
    "ImportAction",
    "ImportReport",
    "ImportResult",
    "decode_search_entry",
    "decode_value",
    "depth_sorted",
    "escape_filter_value",
    "schema_hint",
]

Value: TypeAlias = str | bytes

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


def decode_value(name: str, raw: bytes) -> Value:
    """A value as the LDIF codec gives it: ``str`` for UTF-8 text, ``bytes`` otherwise or with ``;binary``."""
    if ";binary" in name.lower():
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


# --- RFC 4511 SearchResultEntry, decoded in one pass ------------------------------------------------------


class _Unexpected(Exception):
    """Not a plain SearchResultEntry (the caller lets ldap3 decode the message)."""


def _ber_length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Length and start of the contents of the element whose tag is at ``pos``, which must end by ``end``.

    Only the definite form (RFC 4511 5.1), with at most four length octets.
    """
    first = buf[pos + 1]
    if first < 0x80:
        start, length = pos + 2, first
    else:
        count = first & 0x7F
        if not 0 < count <= 4:
            raise _Unexpected
        start = pos + 2 + count
        length = int.from_bytes(buf[pos + 2 : start], "big")
    if start + length > end:
        raise _Unexpected
    return length, start


def decode_search_entry(message: bytes) -> tuple[int, str, dict[str, list[Value]]] | None:
    """Decode one BER ``LDAPMessage`` holding a ``SearchResultEntry``: message ID, DN and attributes.

    Values come as :func:`decode_value` gives them. Returns ``None`` for every other message and for anything
    unusual — controls on the entry, an attribute without values or named twice (case-insensitively), a
    ``;range=`` option, a DN or attribute name that is not UTF-8, trailing or missing bytes — so the caller
    can hand the message to the general decoder (ldap3's) and get exactly what it gives.

    Examples:
        >>> msg = bytes.fromhex("301802010264130405 6f3d6f7267 300a3008 04016f 3103 0401c3".replace(" ", ""))
        >>> decode_search_entry(msg)  # 0xC3 alone is not UTF-8: the value stays bytes
        (2, 'o=org', {'o': [b'\\xc3']})
    """
    try:
        return _decode_search_entry(message)
    except (_Unexpected, IndexError, UnicodeDecodeError):
        return None


def _decode_search_entry(buf: bytes) -> tuple[int, str, dict[str, list[Value]]] | None:
    size = len(buf)
    if size < 2 or buf[0] != 0x30:  # LDAPMessage ::= SEQUENCE
        return None
    length, pos = _ber_length(buf, 0, size)
    if pos + length != size or buf[pos] != 0x02:  # messageID INTEGER
        raise _Unexpected
    length, start = _ber_length(buf, pos, size)
    if not 0 < length <= 4:
        raise _Unexpected
    message_id = int.from_bytes(buf[start : start + length], "big", signed=True)
    pos = start + length
    if buf[pos] != 0x64:  # [APPLICATION 4] SearchResultEntry
        return None
    length, pos = _ber_length(buf, pos, size)
    if pos + length != size:  # controls follow the entry
        raise _Unexpected
    if buf[pos] != 0x04:  # objectName LDAPDN
        raise _Unexpected
    length, start = _ber_length(buf, pos, size)
    dn = buf[start : start + length].decode("utf-8")
    pos = start + length
    if buf[pos] != 0x30:  # attributes PartialAttributeList ::= SEQUENCE OF
        raise _Unexpected
    length, pos = _ber_length(buf, pos, size)
    if pos + length != size:
        raise _Unexpected
    attributes: dict[str, list[Value]] = {}
    names: set[str] = set()
    while pos < size:
        if buf[pos] != 0x30:  # PartialAttribute ::= SEQUENCE
            raise _Unexpected
        length, pos = _ber_length(buf, pos, size)
        attribute_end = pos + length
        if buf[pos] != 0x04:  # type AttributeDescription
            raise _Unexpected
        length, start = _ber_length(buf, pos, attribute_end)
        name = buf[start : start + length].decode("utf-8")
        lower = name.lower()
        if lower in names or ";range=" in lower:
            raise _Unexpected
        names.add(lower)
        pos = start + length
        if buf[pos] != 0x31:  # vals SET OF
            raise _Unexpected
        length, pos = _ber_length(buf, pos, attribute_end)
        if pos + length != attribute_end or not length:
            raise _Unexpected
        binary = ";binary" in lower
        values: list[Value] = []
        while pos < attribute_end:
            if buf[pos] != 0x04:  # AttributeValue OCTET STRING
                raise _Unexpected
            first = buf[pos + 1]
            if first < 0x80:  # short form, inline: most values are shorter than 128 bytes
                start, length = pos + 2, first
                if start + length > attribute_end:
                    raise _Unexpected
            else:
                length, start = _ber_length(buf, pos, attribute_end)
            pos = start + length
            raw = buf[start:pos]
            if binary:
                values.append(raw)
            else:
                try:
                    values.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    values.append(raw)
        attributes[name] = values
    return message_id, dn, attributes


# --- which schema file defines what ----------------------------------------------------------------------

# object classes of dcm4che's dcm4che.ldif (the dicom* ones are in dicom.ldif, other dcm*/hl7* classes in
# dcm4chee-archive.ldif)
def _words(text: str) -> frozenset[str]:
    return frozenset(word.lower() for word in text.split())


_DCM4CHE_CLASSES = _words(
        "dcmDevice dcmNetworkAE dcmNetworkConnection dcmTransferCapability dcmAttributeCoercion dcmWebApp "
        "dcmBulkDataDescriptor dcmKeycloakClient dcmUniqueWebAppNamesRegistryRoot dcmUniqueWebAppName "
        "dcmAuditLogger dcmAuditSuppressCriteria dcmAuditRecordRepository hl7UniqueApplicationNamesRegistryRoot "
        "hl7Application hl7UniqueApplicationName dcmImageReaderFactory dcmImageReader dcmImageWriterFactory "
        "dcmImageWriter dcmCompressionRule dcmCollection"
)
# what the project's compact schema (dcm_exporter/config/schema/dcm-exporter.ldif) defines
_COMPACT_CLASSES = _words(
        "dicomConfigurationRoot dicomDevicesRoot dicomUniqueAETitlesRegistryRoot dicomUniqueAETitle dicomDevice "
        "dcmDevice dicomNetworkConnection dcmNetworkConnection dicomNetworkAE dcmNetworkAE "
        "dicomTransferCapability dcmExporter dcmQueue dcmExportRule dcmWebApp dcmUniqueWebAppNamesRegistryRoot "
        "dcmUniqueWebAppName hl7UniqueApplicationNamesRegistryRoot dcmStorage dcmTransferCapability "
        "dcmArchiveDevice dcmArchiveNetworkAE dcmArchiveAttributeCoercion2"
)
COMPACT_SCHEMA = "dcm_exporter/config/schema/dcm-exporter.ldif"


def schema_file_of(object_class: str) -> str:
    """The upstream dcm4che schema file (``../ldap/slapd/``) that defines an object class."""
    lower = object_class.lower()
    if lower.startswith("dicom"):
        return "dicom.ldif"
    if lower in _DCM4CHE_CLASSES:
        return "dcm4che.ldif"
    return "dcm4chee-archive.ldif"


def schema_hint(object_classes: Sequence[str], message: str) -> str:
    """What to load, given the classes that were sent and the server's diagnostic message.

    OpenLDAP names an unknown class by value index (``objectClass: value #1 invalid per syntax``) or by
    name; an unknown attribute type by name (``dcmFoo: attribute type undefined``).
    """
    culprit: str | None = None
    m = re.search(r"objectClass: value #(\d+)", message, re.IGNORECASE)
    if m and int(m.group(1)) < len(object_classes):
        culprit = object_classes[int(m.group(1))]
    if culprit is None:
        for c in object_classes:
            if re.search(rf"\b{re.escape(c)}\b", message, re.IGNORECASE):
                culprit = c
                break
    if culprit is not None:
        where = schema_file_of(culprit)
        also = f" (or dcm_exporter's compact schema {COMPACT_SCHEMA})" if culprit.lower() in _COMPACT_CLASSES else ""
        return (
            f"object class {culprit} is not in the server's schema: load dcm4che's {where} "
            f"into cn=schema,cn=config{also}"
        )
    m = re.search(r"^\s*([A-Za-z][\w-]*)(?:;[\w-]+)*: attribute type undefined", message)
    if m:
        attr = m.group(1)
        where = (
            "dicom.ldif" if attr.lower().startswith("dicom")
            else "dcm4che.ldif or dcm4chee-archive.ldif"
        )
        return (
            f"attribute type {attr} is not in the server's schema: load dcm4che's {where} "
            f"(dcm_exporter's compact schema {COMPACT_SCHEMA} has only the attributes dcm_exporter models)"
        )
    return (
        "the entry does not fit the server's schema: load dcm4che's dicom.ldif, dcm4che.ldif and "
        f"dcm4chee-archive.ldif, or dcm_exporter's compact schema {COMPACT_SCHEMA}"
    )


# --- LDIF import reports ---------------------------------------------------------------------------------

ImportAction: TypeAlias = Literal["added", "changed", "unchanged", "deleted", "renamed", "rejected"]


@attrs.frozen(kw_only=True)
class ImportResult:
    """What happened to one LDIF record during :meth:`LdapConfigStore.import_ldif`."""

    dn: str
    """The record's DN."""
    line: int
    """The 1-based line of its ``dn:`` line."""
    action: ImportAction
    """``added``, ``changed``, ``unchanged``, ``deleted``, ``renamed`` or ``rejected``."""
    error: LdapError | None = None
    """Why the server rejected it (``rejected`` only)."""
    attributes: tuple[str, ...] = ()
    """The attributes a ``changed`` entry had modified."""

    def __str__(self) -> str:
        text = f"line {self.line}: {self.action} {self.dn}"
        if self.attributes:
            text += f" ({', '.join(self.attributes)})"
        if self.error is not None:
            text += f": {self.error}"
        return text


@attrs.frozen(kw_only=True)
class ImportReport:
    """The per-record outcome of an LDIF import; ``complete`` is false when it stopped at a rejection."""

    filename: str
    results: tuple[ImportResult, ...]
    complete: bool = True
    """False when the import stopped at the first rejected record (``continue_on_error=False``)."""

    def _with(self, action: str) -> tuple[ImportResult, ...]:
        return tuple(r for r in self.results if r.action == action)

    @property
    def added(self) -> tuple[ImportResult, ...]:
        """Records whose entry was added."""
        return self._with("added")

    @property
    def changed(self) -> tuple[ImportResult, ...]:
        """Records that modified an existing entry."""
        return self._with("changed")

    @property
    def unchanged(self) -> tuple[ImportResult, ...]:
        """Content records whose entry already held those values."""
        return self._with("unchanged")

    @property
    def deleted(self) -> tuple[ImportResult, ...]:
        """``changetype: delete`` records carried out."""
        return self._with("deleted")

    @property
    def renamed(self) -> tuple[ImportResult, ...]:
        """``changetype: modrdn`` records carried out."""
        return self._with("renamed")

    @property
    def rejected(self) -> tuple[ImportResult, ...]:
        """Records the server refused (with the error)."""
        return self._with("rejected")

    @property
    def ok(self) -> bool:
        """Whether every record was applied."""
        return self.complete and not self.rejected

    def summary(self) -> str:
        """One line: counts per action."""
        counts = [f"{len(self._with(a))} {a}" for a in ("added", "changed", "unchanged", "deleted", "renamed",
                                                          "rejected")]
        stopped = "" if self.complete else " (stopped at the first rejection)"
        return f"{self.filename}: " + ", ".join(counts) + stopped

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(str(r) for r in self.results)])


def depth_sorted(dns: Iterable[str], *, deepest_first: bool) -> list[str]:
    """DNs sorted by their number of RDNs (escaped separators are no separators)."""
    from dcm_exporter.codecs.ldap_mapping import parse_dn

    return sorted(dns, key=lambda dn: len(parse_dn(dn)), reverse=deepest_first)
