"""Distinguished names: RFC 4514 escaping and parsing, and dcm4che's DN layout.

A leaf module: it imports nothing from the package but :mod:`dcm_exporter.errors`, so the models, the codecs
and the LDAP store all take DNs from here.

The layout (base DN configurable, default ``dc=dcm4che,dc=org``)::

    cn=DICOM Configuration,<base DN>
      cn=Devices                                     devices_dn()
        dicomDeviceName=<dev>                        device_dn()
          dicomAETitle=<AET>, dcmExporterID=<id>, dcmQueueName=<q>, cn=<rule>, ...   child_dn()
      cn=Unique AE Titles Registry                   ae_title_registry_dn()
      cn=Unique Web Application Names Registry       web_app_registry_dn()

Examples:
    >>> device_dn("dcm4chee-arc")
    'dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org'
    >>> child_dn(EXPORTER_RDN, "Forward, to X", device_dn("arc"))
    'dcmExporterID=Forward\\\\, to X,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org'
    >>> normalize_dn("dicomAETitle=STORESCP , cn=Unique AE Titles Registry") == normalize_dn(
    ...     "DICOMAETITLE=storescp,CN=unique ae titles registry")
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dcm_exporter.errors import ConfigurationError

__all__ = [
    "AE_RDN",
    "CONFIGURATION_ROOT",
    "DEFAULT_BASE_DN",
    "DEVICE_RDN",
    "EXPORTER_RDN",
    "NAME_RDN",
    "QUEUE_RDN",
    "STORAGE_RDN",
    "WEB_APP_RDN",
    "RDN",
    "ae_title_registry_dn",
    "child_dn",
    "configuration_dn",
    "device_dn",
    "devices_dn",
    "dn_depth",
    "escape_rdn_value",
    "join_rdns",
    "normalize_dn",
    "normalized_rdns",
    "parent_dn",
    "parse_dn",
    "parse_plain_rdn",
    "rdn_value",
    "split_first_rdn",
    "web_app_registry_dn",
]

DEFAULT_BASE_DN = "dc=dcm4che,dc=org"
"""dcm4che's default base DN."""
CONFIGURATION_ROOT = "cn=DICOM Configuration"
"""The RDN of the configuration root below the base DN."""

DEVICE_RDN = "dicomDeviceName"
AE_RDN = "dicomAETitle"
EXPORTER_RDN = "dcmExporterID"
QUEUE_RDN = "dcmQueueName"
WEB_APP_RDN = "dcmWebAppName"
STORAGE_RDN = "dcmStorageID"
NAME_RDN = "cn"
"""The RDN attribute of connections, transfer capabilities and export rules (by name)."""

RDN = list[tuple[str, str]]
"""One parsed RDN: ``(attribute type, unescaped value)`` pairs (more than one for a multi-valued RDN)."""

_SPECIAL = set(',+"\\<>;=')
_NEEDS_ESCAPE = re.compile(r'[,+"\\<>;=\x00]')
_RDN_SEPARATORS = re.compile(r"[,;]")


def escape_rdn_value(value: str) -> str:
    """Escape an attribute value for use in an RDN (RFC 4514).

    Examples:
        >>> escape_rdn_value("Forward, to + STORESCP")
        'Forward\\\\, to \\\\+ STORESCP'
    """
    if _NEEDS_ESCAPE.search(value) is None and value[:1] not in (" ", "#") and value[-1:] != " ":
        return value  # the common case: nothing to escape
    out = []
    for i, ch in enumerate(value):
        if ch in _SPECIAL or ch == "\x00":
            out.append("\\" + ch if ch != "\x00" else "\\00")
        elif (i == 0 and ch in " #") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def parse_dn(dn: str) -> list[RDN]:
    r"""Split a DN into RDNs, each a list of ``(attribute type, unescaped value)`` pairs (RFC 4514).

    Examples:
        >>> parse_dn(r"cn=Forward\, to X,dicomDeviceName=a+b=c")
        [[('cn', 'Forward, to X')], [('dicomDeviceName', 'a'), ('b', 'c')]]

    Raises:
        ConfigurationError: a malformed DN.
    """
    if not dn.strip():
        return []
    if "\\" not in dn:
        plain = _parse_plain_dn(dn)
        if plain is not None:
            return plain
    return _parse_dn_general(dn)


def _parse_plain_dn(dn: str) -> list[RDN] | None:
    """The fast path of :func:`parse_dn` for a DN without any ``\\`` escape.

    Returns ``None`` for anything but a well-formed DN (an AVA without ``=`` or with an empty type, a
    trailing separator, ...); :func:`_parse_dn_general` then gives the answer, or the error, as before.
    """
    rdns: list[RDN] = []
    for part in _RDN_SEPARATORS.split(dn):
        rdn: RDN = []
        for ava in part.split("+"):
            attr, eq, value = ava.partition("=")
            attr = attr.strip()
            if not eq or not attr:
                return None
            rdn.append((attr, value.strip(" ")))
        rdns.append(rdn)
    return rdns


def _parse_dn_general(dn: str) -> list[RDN]:
    """:func:`parse_dn` for any DN, escapes included (character by character)."""
    rdns: list[RDN] = []
    current: RDN = []
    i, n = 0, len(dn)
    while i < n:
        eq = dn.find("=", i)
        if eq < 0:
            raise ConfigurationError(f"malformed DN {dn!r}: expected attribute=value at position {i}")
        attr = dn[i:eq].strip()
        if not attr or any(c in attr for c in ",+;\\"):
            raise ConfigurationError(f"malformed DN {dn!r}: bad attribute type at position {i}")
        i = eq + 1
        chars: list[tuple[str, bool]] = []  # (text, escaped)
        pending = bytearray()
        while i < n and dn[i] not in ",+;":
            ch = dn[i]
            if ch == "\\":
                pair = dn[i + 1 : i + 3]
                if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                    pending.append(int(pair, 16))
                    i += 3
                    continue
                if i + 1 >= n:
                    raise ConfigurationError(f"malformed DN {dn!r}: dangling backslash")
                if pending:
                    chars.append((pending.decode("utf-8", errors="replace"), True))
                    pending.clear()
                chars.append((dn[i + 1], True))
                i += 2
                continue
            if pending:
                chars.append((pending.decode("utf-8", errors="replace"), True))
                pending.clear()
            chars.append((ch, False))
            i += 1
        if pending:
            chars.append((pending.decode("utf-8", errors="replace"), True))
        while chars and chars[0] == (" ", False):
            chars.pop(0)
        while chars and chars[-1] == (" ", False):
            chars.pop()
        current.append((attr, "".join(t for t, _ in chars)))
        if i < n and dn[i] == "+":
            i += 1
            continue
        rdns.append(current)
        current = []
        if i < n:
            i += 1  # past , or ;
            if i >= n:
                raise ConfigurationError(f"malformed DN {dn!r}: ends with a separator")
    if current:
        rdns.append(current)
    return rdns


def split_first_rdn(dn: str) -> tuple[str, str] | None:
    """A DN without ``\\`` escapes split at its first separator: ``(first RDN, rest)`` as written.

    ``None`` when the DN has an escape or a single RDN. With :func:`parse_plain_rdn`, the fast path of a
    reader that has normalised the parent already.
    """
    if "\\" in dn:
        return None
    sep = _RDN_SEPARATORS.search(dn)
    return None if sep is None else (dn[: sep.start()], dn[sep.end() :])


def parse_plain_rdn(rdn: str) -> RDN | None:
    """One RDN without escapes or separators parsed, or ``None`` when it is not well-formed."""
    parsed = _parse_plain_dn(rdn)
    return parsed[0] if parsed is not None and len(parsed) == 1 else None


def join_rdns(rdns: Iterable[Iterable[tuple[str, str]]]) -> str:
    """The DN of parsed RDNs (values escaped): the inverse of :func:`parse_dn`."""
    return ",".join("+".join(f"{a}={escape_rdn_value(v)}" for a, v in rdn) for rdn in rdns)


def normalized_rdns(rdns: list[RDN]) -> list[str]:
    """Each RDN in the canonical form of :func:`normalize_dn` (a DN's is these joined with ``,``)."""
    out = []
    for rdn in rdns:
        if len(rdn) == 1:
            a, v = rdn[0]
            out.append(f"{a.lower()}={escape_rdn_value(v.lower())}")
        else:
            pairs = sorted((a.lower(), v.lower()) for a, v in rdn)
            out.append("+".join(f"{a}={escape_rdn_value(v)}" for a, v in pairs))
    return out


def normalize_dn(dn: str) -> str:
    """A canonical form of a DN for comparisons: types and values lower-cased, escaping normalised."""
    try:
        rdns = parse_dn(dn)
    except ConfigurationError:
        return dn.strip().lower()
    return ",".join(normalized_rdns(rdns))


def parent_dn(dn: str) -> str:
    """The DN of the parent entry ("" for a single-RDN DN)."""
    return join_rdns(parse_dn(dn)[1:])


def rdn_value(dn: str) -> str | None:
    """The value of a single-valued first RDN (``None`` for a multi-valued one or an empty DN)."""
    rdns = parse_dn(dn)
    return rdns[0][0][1] if rdns and len(rdns[0]) == 1 else None


def dn_depth(dn: str) -> int:
    """The number of RDNs (of a malformed DN: its commas plus one)."""
    try:
        return len(parse_dn(dn))
    except ConfigurationError:
        return dn.count(",") + 1


def child_dn(attribute: str, value: str, parent: str) -> str:
    """``<attribute>=<value>,<parent>`` with the value escaped (just the RDN when ``parent`` is empty)."""
    rdn = f"{attribute}={escape_rdn_value(value)}"
    return f"{rdn},{parent}" if parent else rdn


def configuration_dn(base_dn: str = DEFAULT_BASE_DN) -> str:
    """``cn=DICOM Configuration,<base DN>``."""
    return f"{CONFIGURATION_ROOT},{base_dn}"


def devices_dn(base_dn: str = DEFAULT_BASE_DN) -> str:
    """``cn=Devices,cn=DICOM Configuration,<base DN>``."""
    return f"cn=Devices,{configuration_dn(base_dn)}"


def device_dn(device_name: str, base_dn: str = DEFAULT_BASE_DN) -> str:
    """``dicomDeviceName=<name>,cn=Devices,cn=DICOM Configuration,<base DN>`` (value escaped)."""
    return child_dn(DEVICE_RDN, device_name, devices_dn(base_dn))


def ae_title_registry_dn(ae_title: str | None = None, base_dn: str = DEFAULT_BASE_DN) -> str:
    """The Unique AE Titles Registry, or with ``ae_title`` the registry entry of that AE title."""
    root = f"cn=Unique AE Titles Registry,{configuration_dn(base_dn)}"
    return root if ae_title is None else child_dn(AE_RDN, ae_title, root)


def web_app_registry_dn(name: str | None = None, base_dn: str = DEFAULT_BASE_DN) -> str:
    """The Unique Web Application Names Registry, or with ``name`` the registry entry of that name."""
    root = f"cn=Unique Web Application Names Registry,{configuration_dn(base_dn)}"
    return root if name is None else child_dn(WEB_APP_RDN, name, root)
