"""A small, strict reader of the few header values :class:`FileSystemSource` indexes (private).

:func:`scan_header` reads a bounded prefix of a DICOM Part 10 file in one ``read`` and walks its
bytes: the 128-byte preamble and ``DICM``, the File Meta Information (Explicit VR Little Endian) for
the Transfer Syntax UID, Media Storage SOP Class / Instance UID and Source Application Entity Title,
then the top-level dataset elements up to and including Series Instance UID (0020,000E), where it
stops; on the way it takes SOP Class / Instance UID, Modality (0008,0060) and the two UIDs. Sequences
on the way are stepped over (defined length: skipped; undefined length: their items are walked to the
delimiters, as pydicom does).

It handles Implicit VR Little Endian, Explicit VR Little Endian and every other transfer syntax whose
dataset is Explicit VR Little Endian (the encapsulated ones). Anything else — Deflated Explicit VR
Little Endian, Explicit VR Big Endian, no ``DICM`` magic, a Command Set group, elements out of order,
an unknown VR, an explicit/implicit VR mismatch, a length that runs past the end of the file, a
multi-valued or missing UID, a multi-valued Modality, a Specific Character Set with control
characters (pydicom fails on it) — makes it *decline* (return ``None``): the caller then reads the file
with pydicom, so whatever the scanner declines ends up exactly as before. The scanner never raises
for bad bytes: every length is bounds-checked against the bytes read, sequence nesting is limited.

When it does answer, the values are the ones ``pydicom.dcmread(path, stop_before_pixels=True)``
gives (decoded as ISO 8859-1 and stripped the same way). It does not look at anything after
(0020,000E): a file that is damaged only after the Series Instance UID is indexed from its intact
header, where pydicom would have read on.

    >>> scan_header("/nonexistent/file.dcm") is None
    True
"""

from __future__ import annotations

import os
import struct
import sys
from typing import NamedTuple

__all__ = ["PREFIX_SIZE", "Header", "parse_header", "scan_header"]

#: bytes read at first; grown (x4 each time) only when the header needed runs past it
PREFIX_SIZE = 64 * 1024
_MAX_DEPTH = 32  # sequence nesting; deeper files are left to pydicom

_EXPLICIT = struct.Struct("<HH2sH").unpack_from  # group, element, VR, 16-bit length
_IMPLICIT = struct.Struct("<HHL").unpack_from  # group, element, 32-bit length (also item tags)
_UINT32 = struct.Struct("<L").unpack_from

_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_LAST = 0x0020000E  # Series Instance UID: the last tag the index needs

# explicit VR: 2-byte length after the VR, or 2 reserved bytes and a 4-byte length (PS3.5 7.1.2)
_VR16 = frozenset(b"AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split())
_VR32 = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())

_IMPLICIT_VR_LE = "1.2.840.10008.1.2"
# transfer syntaxes whose dataset is not plain little endian bytes: left to pydicom
_DECLINED_TS = frozenset({
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.95",  # JPIP Referenced Deflate
})

# dataset tag -> slot: SOP Class UID, SOP Instance UID, Study Instance UID, Series Instance UID, Modality
_WANTED = {0x00080016: 0, 0x00080018: 1, 0x0020000D: 2, 0x0020000E: 3, 0x00080060: 4}
# the VR each of them (and Specific Character Set, which pydicom decodes while reading) must have
_CHARSET = 0x00080005
_EXPECTED_VR = {
    0x00080005: b"CS", 0x00080016: b"UI", 0x00080018: b"UI", 0x0020000D: b"UI", 0x0020000E: b"UI", 0x00080060: b"CS",
}
_PRINTABLE = bytes(range(0x20, 0x7F))
_SAFE_FIRST_META_VR = frozenset({b"OB", b"UI", b"AE", b"SH", b"LO", b"CS"})
_META_TS, _META_CLASS, _META_SOP, _META_AE = 0x00020010, 0x00020002, 0x00020003, 0x00020016


class Header(NamedTuple):
    """The values of one file that the index stores (the same tuple order as ``filesystem._read_header``)."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    source_ae_title: str | None
    modality: str | None = None


class _NeedMore(Exception):
    """The bytes read so far end before the header does (and the file may hold more)."""


class _Decline(Exception):
    """Not a file this scanner reads; the caller falls back to pydicom."""


def scan_header(path: str | os.PathLike[str], prefix_size: int = PREFIX_SIZE) -> Header | None:
    """The indexed values of the Part 10 file at ``path``, or ``None`` when the scanner declines.

    Reads ``prefix_size`` bytes in one ``read``; reads more (four times as much each round) only when
    the header runs past them. ``None`` also for a file that cannot be opened or read: the caller's
    pydicom fallback then reports it.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return None
    try:
        want = max(prefix_size, 256)
        data = os.read(fd, want)
        complete = len(data) < want  # a short read of a regular file: its end
        while True:
            try:
                return _parse(data, complete)
            except _NeedMore:
                want = min(len(data) * 3, 1 << 30)
                more = os.read(fd, want)
                complete = len(more) < want
                data += more
            except (_Decline, struct.error):
                return None
    except OSError:
        return None
    finally:
        os.close(fd)


def parse_header(data: bytes) -> Header | None:
    """:func:`scan_header` for the complete bytes of a file; ``None`` when the scanner declines."""
    try:
        return _parse(data, True)
    except (_Decline, _NeedMore, struct.error):
        return None


def _short(complete: bool) -> Exception:
    """What to raise when bytes are missing: more may come (``_NeedMore``) or the file is truncated."""
    return _Decline() if complete else _NeedMore()


def _uid(raw: bytes) -> str:
    """A UI value as pydicom's ``convert_UI`` and ``UID`` give it (decline a multi-valued one)."""
    text = raw.decode("latin-1").rstrip("\x00 ")
    if "\\" in text:
        raise _Decline
    return text.strip()


def _text(value: str | None) -> str | None:
    """The index's normalisation (``filesystem._text``): strip spaces and NULs, empty -> ``None``."""
    if value is None:
        return None
    return value.strip(" \x00") or None


def _uid_text(raw: bytes | None) -> str | None:
    """A raw UI value as text (``None`` when absent or empty)."""
    return _text(_uid(raw)) if raw is not None else None


def _parse(data: bytes, complete: bool) -> Header | None:
    n = len(data)
    if n < 132:
        raise _short(complete)
    if data[128:132] != b"DICM":
        raise _Decline

    # -- File Meta Information: always explicit VR little endian, read while the group is 0002
    pos, prev = 132, -1
    ts: str | None = None
    media_class: bytes | None = None  # decoded only when the dataset lacks its own value
    media_sop: bytes | None = None
    source_ae: str | None = None
    while True:
        if pos + 8 > n:
            raise _short(complete)
        group, elem, vr, length = _EXPLICIT(data, pos)
        if group != 2:
            break
        tag = 0x00020000 | elem
        if tag <= prev:
            raise _Decline
        if prev < 0 and vr not in _SAFE_FIRST_META_VR and not (vr == b"UL" and length == 4):
            raise _Decline  # pydicom decodes the first meta element at once and fails on a bad one
        prev = tag
        if vr in _VR16:
            start = pos + 8
        elif vr in _VR32:
            if pos + 12 > n:
                raise _short(complete)
            (length,) = _UINT32(data, pos + 8)
            if length == _UNDEFINED:
                raise _Decline
            start = pos + 12
        else:
            raise _Decline
        end = start + length
        if end > n:
            raise _short(complete)
        if tag in (_META_TS, _META_CLASS, _META_SOP):
            if vr != b"UI":
                raise _Decline
            if tag == _META_TS:
                ts = _uid(data[start:end])
            elif tag == _META_CLASS:
                media_class = data[start:end]
            else:
                media_sop = data[start:end]
        elif tag == _META_AE:
            if vr != b"AE":
                raise _Decline
            text = data[start:end].decode("latin-1")
            if "\\" in text:
                raise _Decline
            source_ae = text.strip()
        pos = end

    # -- how the dataset is encoded (pydicom's choice from the Transfer Syntax UID)
    if not ts or ts in _DECLINED_TS:
        raise _Decline
    uid_module = sys.modules.get("pydicom.uid")  # a registered private syntax brings its own encoding
    if uid_module is not None and ts in getattr(uid_module, "PrivateTransferSyntaxes", ()):
        raise _Decline
    implicit = ts == _IMPLICIT_VR_LE
    if group == 0:  # a Command Set group: pydicom reads it apart, implicit VR
        raise _Decline
    b4, b5 = data[pos + 4], data[pos + 5]
    if (0x40 < b4 < 0x5B and 0x40 < b5 < 0x5B) == implicit:
        raise _Decline  # the first element contradicts the transfer syntax: pydicom switches, with a warning

    # -- top-level dataset elements up to (0020,000E), in ascending order
    values: list[bytes | None] = [None, None, None, None, None]
    prev = -1
    while True:
        if pos + 8 > n:
            if complete:
                break  # end of file: pydicom stops here too
            raise _NeedMore
        if implicit:
            group, elem, length = _IMPLICIT(data, pos)
            tag = group << 16 | elem
            if tag > _LAST:
                break
            if tag <= prev:
                raise _Decline
            prev = tag
            start = pos + 8
            if length == _UNDEFINED:
                if not _implicit_sequence(tag, data, start, complete):
                    raise _Decline
                pos = _skip_sequence(data, start, complete, True, 0)
                continue
        else:
            group, elem, vr, length = _EXPLICIT(data, pos)
            tag = group << 16 | elem
            if tag > _LAST:
                break
            if tag <= prev:
                raise _Decline
            prev = tag
            if vr in _VR16:
                start = pos + 8
            elif vr in _VR32:
                if pos + 12 > n:
                    raise _short(complete)
                (length,) = _UINT32(data, pos + 8)
                start = pos + 12
                if length == _UNDEFINED:
                    if vr != b"SQ" and vr != b"UN":  # UN of undefined length is a sequence (PS3.5 6.2.2)
                        raise _Decline
                    pos = _skip_sequence(data, start, complete, False, 0)
                    continue
            else:
                raise _Decline
            if tag in _EXPECTED_VR and vr != _EXPECTED_VR[tag]:
                raise _Decline
        end = start + length
        if end > n:
            raise _short(complete)
        if tag == _CHARSET:
            _check_charset(data[start:end])
        slot = _WANTED.get(tag)
        if slot is not None:
            values[slot] = data[start:end]
        pos = end

    raw_class, raw_sop, raw_study, raw_series, raw_modality = values
    study = _uid_text(raw_study)
    series = _uid_text(raw_series)
    sop = _uid_text(raw_sop) or _uid_text(media_sop)  # the Media Storage UIDs: fallback for a dataset without its own
    cls = _uid_text(raw_class) or _uid_text(media_class)
    ts_text = _text(ts)
    if not (study and series and sop and cls and ts_text):
        raise _Decline  # pydicom's path reports what is missing, in its words
    modality = raw_modality.decode("latin-1") if raw_modality is not None else None
    if modality is not None and "\\" in modality:
        raise _Decline  # several values: pydicom's reading of them is the reference
    return Header(study, series, sop, cls, ts_text, _text(source_ae), _text(modality))


def _check_charset(raw: bytes) -> None:
    """Decline a Specific Character Set that pydicom fails on (it looks each term up while reading)."""
    if raw.rstrip(b" \x00").translate(None, _PRINTABLE):
        raise _Decline


def _implicit_sequence(tag: int, data: bytes, start: int, complete: bool) -> bool:
    """Whether pydicom reads an implicit VR element of undefined length as a sequence."""
    from pydicom.datadict import dictionary_VR

    try:
        return bool(dictionary_VR(tag) == "SQ")
    except KeyError:  # a private or unknown tag: a sequence if its value starts with an item
        if start + 4 > len(data):
            raise _short(complete) from None
        group, elem, _ = _IMPLICIT(data[start:start + 4] + b"\0\0\0\0")
        return bool((group << 16 | elem) == _ITEM)


def _skip_sequence(data: bytes, pos: int, complete: bool, implicit: bool, depth: int) -> int:
    """Step over the items of an undefined-length sequence; the offset after its delimiter."""
    if depth >= _MAX_DEPTH:
        raise _Decline
    n = len(data)
    while True:
        if pos + 8 > n:
            raise _short(complete)
        group, elem, length = _IMPLICIT(data, pos)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise _Decline
        if length == _UNDEFINED:
            pos = _skip_dataset(data, pos, None, complete, implicit, depth + 1)
        else:
            end = pos + length
            if end > n:
                raise _short(complete)
            pos = _skip_dataset(data, pos, end, complete, implicit, depth + 1)


def _skip_dataset(data: bytes, pos: int, end: int | None, complete: bool, implicit: bool, depth: int) -> int:
    """Step over the elements of one sequence item (up to ``end``, or to its delimitation item)."""
    n = len(data)
    if not implicit and pos + 6 <= n:
        # like pydicom: an item of an explicit VR dataset may be implicit VR (PS3.5 7.5); its first VR tells
        b4, b5 = data[pos + 4], data[pos + 5]
        implicit = not (0x40 < b4 < 0x5B and 0x40 < b5 < 0x5B)
    while True:
        if end is not None and pos >= end:
            if pos != end:
                raise _Decline  # an element ran past its item
            return pos
        if pos + 8 > n:
            raise _short(complete)
        if implicit:
            group, elem, length = _IMPLICIT(data, pos)
            vr = None
        else:
            group, elem, vr, length = _EXPLICIT(data, pos)
        tag = group << 16 | elem
        if tag == _ITEM_END:
            if end is not None:
                raise _Decline
            return pos + 8
        if group == 0xFFFE:
            raise _Decline
        if vr is None:
            start = pos + 8
            if length == _UNDEFINED:
                if not _implicit_sequence(tag, data, start, complete):
                    raise _Decline
                pos = _skip_sequence(data, start, complete, True, depth)
                continue
        elif vr in _VR16:
            start = pos + 8
        elif vr in _VR32:
            if pos + 12 > n:
                raise _short(complete)
            (length,) = _UINT32(data, pos + 8)
            start = pos + 12
            if length == _UNDEFINED:
                if vr != b"SQ" and vr != b"UN":
                    raise _Decline
                pos = _skip_sequence(data, start, complete, False, depth)
                continue
        else:
            raise _Decline
        pos = start + length
        if pos > n:
            raise _short(complete)
        if tag == _CHARSET:  # pydicom decodes it in every item it parses
            if vr is not None and vr != b"CS":
                raise _Decline
            _check_charset(data[start:pos])
