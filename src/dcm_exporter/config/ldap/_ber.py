"""RFC 4511 ``SearchResultEntry`` messages decoded in one pass, and attribute values as the LDIF codec gives them.

Pure Python (no ldap3): the connection (:mod:`dcm_exporter.config.ldap.connection`) hands every plain entry of a
search to :func:`decode_search_entry` and anything unusual back to ldap3's own decoder.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["decode_search_entry", "decode_value"]

Value: TypeAlias = str | bytes


def decode_value(name: str, raw: bytes) -> Value:
    """A value as the LDIF codec gives it: ``str`` for UTF-8 text, ``bytes`` otherwise or with ``;binary``."""
    if ";binary" in name.lower():
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


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
