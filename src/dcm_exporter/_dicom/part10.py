"""DICOM Part 10 files: the one walker over their bytes (private).

Everything in the package that reads a Part 10 file without pydicom goes through this module, which has
one reader of the File Meta Information (:func:`parse_part10_meta`) and one walker of data set elements
(:class:`_Walker`). The walker reads element headers only and steps over values; it has two modes:

*strict* — :func:`scan_header` / :func:`parse_header`, for the :class:`~dcm_exporter.sources.FileSystemSource`
    index. It reads a bounded prefix of the file in one ``read`` and walks the meta group and the top-level
    data set elements up to and including Series Instance UID (0020,000E), where it stops; on the way it takes
    SOP Class / Instance UID, Modality (0008,0060), the two UIDs, and from the meta group the Transfer Syntax
    UID, Media Storage SOP Class / Instance UID and Source Application Entity Title. Sequences on the way are
    stepped over (their items walked to the delimiters, as pydicom does). It handles Implicit VR Little Endian
    and every transfer syntax whose data set is Explicit VR Little Endian. Anything else — Deflated or Big
    Endian data sets, no ``DICM`` magic, a Command Set group, elements out of order, an unknown VR, an
    explicit/implicit VR mismatch, a length that runs past the end of the file, a multi-valued or missing UID,
    a multi-valued Modality, a Specific Character Set with control characters (pydicom fails on it), a header
    longer than :data:`MAX_SCAN_BYTES` — makes it *decline* (return ``None``): the caller then reads the file
    with pydicom, so whatever it declines ends up exactly as before. Every length is bounds-checked, nesting
    is limited, and it raises for two things only: an indexed attribute (the four UIDs, Modality) found twice
    — out of order before (0020,000E), or again among the top-level elements after it, to the end of the
    file — is :class:`RepeatedAttributeError` (the file is reported unreadable: pydicom would take the last
    value, a reader that stops early the first; one rule instead of two answers); a file whose rest cannot
    be walked at bounded cost is :class:`UncheckedFileError`. When it answers, the values are the ones
    ``pydicom.dcmread(path, stop_before_pixels=True)`` gives. Past (0020,000E) it only looks for such
    repeats, reading element and fragment headers and stepping over values: a file damaged only after the
    Series Instance UID is indexed from its header. :func:`check_repeats` runs the same look over the whole
    data set of a file the scanner declined (pydicom reads it), deflated ones inflated as a bounded stream.

*tolerant* — :func:`check_dataset_framing`, before the ``dicom:`` transport sends a data set as stored. It
    walks the whole data set of a seekable file in chunks (seeking over values, so the cost does not grow
    with pixel data), reads what pydicom reads (unknown VRs, implicit VR data sets under an explicit VR
    transfer syntax, Big Endian) and raises :class:`~dcm_exporter._dicom.errors.FramingError`, naming the
    file, the element and the offset, for what would make the peer abort the association mid-transfer: a
    truncated element, a sequence or item without its end.

:func:`read_part10_meta` (the transport, transcoding) and :func:`dataset_bytes` (the demo) use the meta reader.
The de-identification of Part 10 bytes (``coercion._part10_deident``), which acts on every element as it walks
(copying those it leaves alone as slices of the input), uses the meta reader with the elements' offsets
(``parse_part10_meta(elements=...)``) and :func:`element_header`, the header reader for such walkers;
:func:`read_sop_class` is the strict walker stopping after the SOP Class UID (to choose coercion rules).

    >>> scan_header("/nonexistent/file.dcm") is None
    True
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from typing import BinaryIO, Final, NamedTuple, cast

from dcm_exporter._dicom.errors import FramingError
from dcm_exporter._dicom.uids import DEFLATED_DATASET_UIDS, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

__all__ = [
    "MAX_CHECKED_HEADERS",
    "MAX_INFLATED_BYTES",
    "MAX_SCAN_BYTES",
    "PREFIX_SIZE",
    "Header",
    "Part10Meta",
    "RepeatedAttributeError",
    "UncheckedFileError",
    "check_repeats",
    "LONG_VRS",
    "SHORT_VRS",
    "UNDEFINED_LENGTH",
    "check_dataset_framing",
    "dataset_bytes",
    "element_header",
    "parse_part10_meta",
    "parse_header",
    "read_part10_meta",
    "read_sop_class",
    "scan_header",
]

#: bytes the header scanner reads at first; grown (x4 each time) only when the header runs past them
PREFIX_SIZE = 64 * 1024
#: the most the header scanner reads of one file: a header running past it is left to pydicom (which then
#: reads it with large values deferred, see ``sources.filesystem``), so a file declaring a 4 GB element
#: before the Series Instance UID costs at most this much memory
MAX_SCAN_BYTES = 16 << 20

_LE_EXPLICIT = struct.Struct("<HH2sH").unpack_from  # group, element, VR, 16-bit length
_LE_IMPLICIT = struct.Struct("<HHL").unpack_from  # group, element, 32-bit length (also item tags)
_LE_U32 = struct.Struct("<L").unpack_from
_BE_EXPLICIT = struct.Struct(">HH2sH").unpack_from
_BE_IMPLICIT = struct.Struct(">HHL").unpack_from
_BE_U32 = struct.Struct(">L").unpack_from

_UNDEFINED: Final = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_LAST: Final = 0x0020000E  # Series Instance UID: the last tag the index needs
_STRICT_DEPTH, _TOLERANT_DEPTH = 32, 64  # deeper: declined (strict), left to the peer (tolerant)
_CHUNK = 16384  # the tolerant walker's read size: the headers before the pixel data, in one read
#: element and item headers the repeat check reads after a file's header at most (a whole-slide image of
#: 200,000 tiles has about as many fragments); a file with more is reported unreadable, never indexed unchecked
MAX_CHECKED_HEADERS = 1_000_000
#: the most a deflated data set may inflate to: the check inflates it as a stream, but pydicom, which reads
#: such files for the index, inflates it whole in memory
MAX_INFLATED_BYTES = 64 << 20
_TAIL_CHUNK = 4096  # past the header the repeat check reads a page per header: fragments are stepped over

# explicit VR: 2-byte length after the VR, or 2 reserved bytes and a 4-byte length (PS3.5 7.1.2)
_VR16 = frozenset(b"AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split())
_VR32 = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
#: the explicit VRs with a 16-bit length, and those with a 32-bit one (for writers of element headers)
SHORT_VRS: Final = _VR16
LONG_VRS: Final = _VR32
#: the length of a sequence, item or encapsulated pixel data whose end is a delimiter
UNDEFINED_LENGTH: Final = _UNDEFINED

# transfer syntaxes whose data set the strict walker does not read: left to pydicom
_DECLINED_TS = frozenset({EXPLICIT_VR_BIG_ENDIAN, *DEFLATED_DATASET_UIDS})

# the top-level tags the scan looks at: the VR each must have, and its slot in the values (SOP Class UID,
# SOP Instance UID, Study Instance UID, Series Instance UID, Modality); -1: Specific Character Set, which
# pydicom decodes while reading
_CHARSET = 0x00080005
_SCANNED = {
    _CHARSET: (b"CS", -1), 0x00080016: (b"UI", 0), 0x00080018: (b"UI", 1), 0x0020000D: (b"UI", 2),
    0x0020000E: (b"UI", 3), 0x00080060: (b"CS", 4),
}
_PRINTABLE = bytes(range(0x20, 0x7F))
_SAFE_FIRST_META_VR = frozenset({b"OB", b"UI", b"AE", b"SH", b"LO", b"CS"})
_META_TS, _META_CLASS, _META_SOP, _META_AE = 0x0010, 0x0002, 0x0003, 0x0016  # element numbers of group 0002
_META_TEXT = {_META_TS: b"UI", _META_CLASS: b"UI", _META_SOP: b"UI", _META_AE: b"AE"}  # what we read, its VR


class Header(NamedTuple):
    """The values of one file that the index stores (the same tuple order as ``filesystem._read_header``)."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    source_ae_title: str | None
    modality: str | None = None


class Part10Meta(NamedTuple):
    """What the File Meta Information of a Part 10 file says, and where its data set starts.

    ``unusual`` is ``None`` for a meta group the strict walker accepts, else why it would decline the file
    (elements out of order, an unexpected VR, a multi-valued UID...): readers that only need the data set
    offset and the UIDs go on, the header scanner hands the file to pydicom.
    """

    dataset_offset: int
    transfer_syntax_uid: str
    media_class: bytes  # Media Storage SOP Class / Instance UID as stored: decoded on first use
    media_instance: bytes
    source_ae_title: str | None
    unusual: str | None
    first_group: int  # group of the first element after the meta group (0 for a Command Set; -1 at end of file)

    @property
    def sop_class_uid(self) -> str:
        """Media Storage SOP Class UID (0002,0002), ``""`` when absent."""
        return _uid(self.media_class)

    @property
    def sop_instance_uid(self) -> str:
        """Media Storage SOP Instance UID (0002,0003), ``""`` when absent."""
        return _uid(self.media_instance)


class _NeedMore(Exception):
    """The bytes read so far end before what the walker needs (and the file may hold more)."""


class _Decline(Exception):
    """Not a file the strict walker reads; the caller falls back to pydicom."""


class RepeatedAttributeError(FramingError):
    """A file that carries an attribute the index reads (the UIDs, Modality) twice: which value is meant is
    ambiguous (pydicom takes the last, a reader that stops early the first), so the file is not indexed."""


class UncheckedFileError(FramingError):
    """A file the repeat check cannot walk to its end at bounded cost (more than :data:`MAX_CHECKED_HEADERS`
    headers, sequences nested too deep, a deflated data set inflating past :data:`MAX_INFLATED_BYTES`): it
    may carry an indexed attribute twice where nothing looked, so it is not indexed."""


class _Unchecked(Exception):
    """The repeat check ran out of its bounds (the message says which)."""


def _text(value: str | None) -> str | None:
    """The index's normalisation (``filesystem._text``): strip spaces and NULs, empty -> ``None``."""
    if value is None:
        return None
    return value.strip(" \x00") or None


def _uid(raw: bytes) -> str:
    """A UI value as pydicom's ``convert_UI`` and ``UID`` give it, then normalised as the index stores it
    (leading NULs too: pydicom keeps them, the index strips them)."""
    return raw.decode("latin-1").rstrip("\x00 ").strip().strip(" \x00")


# --- the File Meta Information -------------------------------------------------------------------------


def parse_part10_meta(
    head: bytes | bytearray | memoryview,
    *,
    name: str = "<file>",
    elements: list[tuple[int, int, int]] | None = None,
) -> Part10Meta | int:
    """Read the preamble and File Meta Information group (0002) from the first bytes of a Part 10 file.

    Returns the :class:`Part10Meta`, or the number of bytes needed when ``head`` is too short to tell (call again
    with at least that many bytes; a file shorter than that is truncated). ``elements``, when given, receives
    (tag, offset of its header, offset after its value) of each meta element as it is read (for a reader that
    copies elements as they are; after a returned count it holds those read so far).

    Raises:
        FramingError: no ``DICM`` prefix, an undefined length or no Transfer Syntax UID; the message names
            ``name``.
    """
    n = len(head)
    if n < 132:
        return 132
    if not isinstance(head, bytes):
        head = bytes(head)
    if head[128:132] != b"DICM":
        raise FramingError(f"{name}: not a DICOM Part 10 file (no 'DICM' prefix after the 128-byte preamble)")
    pos, prev = 132, -1
    unusual: str | None = None
    ts = source_ae = None
    media_class = media_sop = b""
    while True:
        if pos + 8 > n:
            return pos + 12 + 4096
        group, elem, vr, length = _LE_EXPLICIT(head, pos)
        if group != 2:
            break
        if elem <= prev and unusual is None:
            unusual = f"(0002,{elem:04X}) out of order"
        if prev < 0 and vr not in _SAFE_FIRST_META_VR and not (vr == b"UL" and length == 4):
            unusual = unusual or "first meta element of an unexpected VR"  # pydicom decodes it at once, may fail
        prev = elem
        if vr in _VR32:
            if pos + 12 > n:
                return pos + 12 + 4096
            (length,) = _LE_U32(head, pos + 8)
            start = pos + 12
            if length == _UNDEFINED:
                raise FramingError(f"{name}: undefined length in File Meta Information element (0002,{elem:04X})")
        else:
            if vr not in _VR16:
                unusual = unusual or f"(0002,{elem:04X}) of unknown VR"
            start = pos + 8
        end: int = start + length
        if end > n:
            return end + 4096
        if elements is not None:
            elements.append((0x00020000 | elem, pos, end))
        expected = _META_TEXT.get(elem)
        if expected is not None:
            raw = head[start:end]
            if b"\\" in raw or vr != expected:
                unusual = unusual or f"(0002,{elem:04X}) is not one {expected.decode()} value"
            if elem == _META_TS:
                ts = _uid(raw)
            elif elem == _META_CLASS:
                media_class = raw
            elif elem == _META_SOP:
                media_sop = raw
            else:
                source_ae = raw.decode("latin-1").strip()
        pos = end
    if ts is None:
        raise FramingError(f"{name}: File Meta Information lacks Transfer Syntax UID (0002,0010)")
    return Part10Meta(pos, ts, media_class, media_sop, source_ae, unusual, group)


def read_part10_meta(fp: BinaryIO, *, name: str = "<file>") -> Part10Meta:
    """Read the File Meta Information of the Part 10 file in ``fp``; leave ``fp`` at the first data set byte.

    Reads a few KiB at once (one system call in the usual case).

    Raises:
        FramingError: not a Part 10 file, a malformed or truncated meta group; the message names ``name``.
    """
    start = fp.tell()
    head = fp.read(4096)
    while True:
        result = parse_part10_meta(head, name=name)
        if isinstance(result, Part10Meta):
            fp.seek(start + result.dataset_offset)
            return result
        more = fp.read(result - len(head))
        if not more:
            if len(head) >= 132 and head[128:132] == b"DICM":
                # the meta group runs to the end of the file: a file without a data set
                parsed = parse_part10_meta(head + b"\xff\xff\xff\xff\x00\x00\x00\x00", name=name)
                if isinstance(parsed, Part10Meta) and parsed.dataset_offset == len(head):
                    fp.seek(start + parsed.dataset_offset)
                    return parsed._replace(first_group=-1)
                raise FramingError(f"{name}: truncated File Meta Information")
            raise FramingError(f"{name}: not a DICOM Part 10 file (no 'DICM' prefix after the 128-byte preamble)")
        head += more


def dataset_bytes(data: bytes) -> bytes:
    """The data set of a Part 10 file's bytes (what travels in a C-STORE); ``data`` itself when it is no
    Part 10 file."""
    try:
        meta = parse_part10_meta(data)
    except FramingError:
        return data
    if isinstance(meta, int):  # the meta group runs to the end: no data set
        return b""
    return data[meta.dataset_offset :]


def element_header(data: bytes, pos: int, end: int, explicit: bool) -> tuple[int, bytes, int, int]:
    """The header of the little-endian element at ``pos`` of ``data`` (a data set in memory, ending at ``end``):
    (tag, VR as written or ``b""`` in implicit VR and for item tags, offset of its value, value length).

    For walkers that act on each element themselves (the de-identification of Part 10 bytes copies the
    elements it leaves alone as slices): the length is as declared, checking it against ``end`` is the caller's.

    Raises:
        FramingError: the header is cut off by ``end``, or its VR is unknown (explicit VR).
    """
    if pos + 8 > end:
        raise FramingError(f"an element header at offset {pos} is cut off")
    if not explicit:
        group, elem, length = _LE_IMPLICIT(data, pos)
        return group << 16 | elem, b"", pos + 8, length
    group, elem, vr, length = _LE_EXPLICIT(data, pos)
    if group == 0xFFFE:  # items and delimiters have no VR, whatever the syntax
        return group << 16 | elem, b"", pos + 8, _LE_U32(data, pos + 4)[0]
    if vr in _VR16:
        return group << 16 | elem, vr, pos + 8, length
    if vr in _VR32:
        if pos + 12 > end:
            raise FramingError(f"the header of ({group:04X},{elem:04X}) at offset {pos} is cut off")
        return group << 16 | elem, vr, pos + 12, _LE_U32(data, pos + 8)[0]
    raise FramingError(f"({group:04X},{elem:04X}) at offset {pos} has an unknown VR {vr!r}")


# --- the element walker --------------------------------------------------------------------------------


def _looks_implicit(b4: int, b5: int) -> bool:
    """Whether an element header's bytes 4-5 are no VR (two capital letters): implicit VR, as pydicom guesses."""
    return not (0x40 < b4 < 0x5B and 0x40 < b5 < 0x5B)


class _Walker:
    """Walks the elements of a data set, reading headers and stepping over values (see the module docstring).

    The strict walker holds the bytes read so far (``complete``: they reach the end of the file); the tolerant
    one reads ``fp`` in chunks up to ``end``.
    """

    # the strict, in-memory, little-endian walker sets only what differs (one is made per file indexed)
    base = 0
    fp: BinaryIO | None = None
    name = "<file>"
    chunk = _CHUNK
    # the repeat check (:func:`_repeat_walker`): top-level tags to watch, those met, headers left to read
    watch: dict[int, int] | None = None
    seen: set[int]
    steps = 0
    last = _LAST  # the strict top level stops after this tag
    where = ""
    explicit = staticmethod(_LE_EXPLICIT)
    implicit_header = staticmethod(_LE_IMPLICIT)
    u32 = staticmethod(_LE_U32)

    def __init__(
        self,
        strict: bool,
        data: bytes = b"",
        complete: bool = True,
        fp: BinaryIO | None = None,
        end: int | None = None,
        big_endian: bool = False,
        name: str = "<file>",
    ) -> None:
        self.strict = strict
        self.buf = data
        self.complete = complete
        self.end = len(data) if end is None else end
        self.values: list[bytes | None] = [None, None, None, None, None]
        if fp is not None:
            self.fp = fp
            self.name = name
        if big_endian:
            self.explicit, self.implicit_header, self.u32 = _BE_EXPLICIT, _BE_IMPLICIT, _BE_U32

    # -- failures: the strict walker declines (or asks for more bytes), the tolerant one says what is wrong

    def _malformed(self, message: str) -> Exception:
        return _Decline() if self.strict else FramingError(f"{self.name}: malformed data set: {message}")

    def _truncated(self, message: str) -> Exception:
        if self.strict:
            return _Decline() if self.complete else _NeedMore()
        return FramingError(f"{self.name}: truncated data set: {message}")

    def _fetch(self, pos: int, want: int) -> None:
        """Make ``want`` bytes at ``pos`` available in ``buf`` (read them when the walker reads a file)."""
        if self.fp is None or pos + want > self.end:
            left = self.end - pos
            raise self._truncated(f"{left} byte(s) left at offset {pos}, too few for an element header")
        self.fp.seek(pos)
        self.buf = self.fp.read(max(want, min(self.chunk, self.end - pos)))
        self.base = pos
        if len(self.buf) < want:
            raise self._truncated(f"the file ends at offset {pos + len(self.buf)}")

    # -- data set and items ------------------------------------------------------------------------------

    def elements(self, pos: int, end: int | None, implicit: bool, depth: int, top: bool) -> int:
        """Walk elements from ``pos`` to ``end`` (a data set or an item of defined length), or to the Item
        Delimitation (``end`` is ``None``: an item of undefined length; the strict top level: the end of the
        bytes); return the offset after them.

        ``top``: the data set's top level (strict: ascending tags, stop after (0020,000E), take the values).
        """
        strict = self.strict
        scan = strict and top  # the header scan's top level
        limit = self.end if end is None else end
        prev = -1
        explicit_header, implicit_header, u32 = self.explicit, self.implicit_header, self.u32
        watch = self.watch
        last = self.last
        buf, base = self.buf, self.base
        # the fast path needs one test per element: 8 header bytes before ``bound`` (the limit, or the end of
        # the bytes at hand); ``buf`` always starts at or before ``pos`` (the walk only moves forward)
        bound = min(limit, base + len(buf))
        while True:
            if pos + 8 > bound:
                if pos >= limit:
                    if end is not None:
                        if pos != end:
                            raise self._malformed(f"an element runs past its item at offset {pos}")
                        return pos
                    if scan:
                        if self.complete:
                            return pos  # end of file: pydicom stops here too
                        raise _NeedMore
                    raise self._truncated("an item of undefined length has no end")
                if scan and self.complete and pos + 8 > limit:
                    return pos  # a few bytes after the last element: pydicom stops here too
                self._fetch(pos, 8)
                buf, base = self.buf, self.base
                bound = min(limit, base + len(buf))
            off = pos - base
            vr: bytes | None
            if implicit:
                group, elem, length = implicit_header(buf, off)
                vr = None
            else:
                group, elem, vr, length = explicit_header(buf, off)
            tag = group << 16 | elem
            if watch is not None:
                self.steps -= 1
                if self.steps < 0:
                    raise _Unchecked(f"more than {MAX_CHECKED_HEADERS} elements and items after the header")
                if top and tag in watch:
                    if tag in self.seen:
                        raise RepeatedAttributeError(
                            f"({group:04X},{elem:04X}) appears twice, the second time at offset {pos}"
                            + self.where
                        )
                    self.seen.add(tag)
            if scan:  # an item tag is past (0020,000E) too
                if tag > last:
                    return pos  # the strict walker has what it needs
                if tag <= prev:
                    slot = _TAIL_INDEXED.get(tag)
                    if slot is not None and self.values[slot] is not None:
                        raise RepeatedAttributeError(
                            f"({group:04X},{elem:04X}) appears twice, the second time out of order at offset {pos}"
                        )
                    raise _Decline
                prev = tag
                wanted = _SCANNED.get(tag)
                if wanted is not None and vr is not None and vr != wanted[0]:
                    raise _Decline
            elif group == 0xFFFE:
                if tag == _ITEM_END and end is None:
                    return pos + 8
                raise self._malformed(f"unexpected ({group:04X},{elem:04X}) at offset {pos}")
            if vr is None or vr in _VR16:
                start = pos + 8
            elif vr in _VR32:
                if off + 12 > len(buf):
                    if pos + 12 > self.end:
                        raise self._truncated(f"the header of ({group:04X},{elem:04X}) at offset {pos} is cut off")
                    self._fetch(pos, 12)
                    buf, base = self.buf, self.base
                    bound = min(limit, base + len(buf))
                    off = pos - base
                (length,) = u32(buf, off + 8)
                start = pos + 12
            elif strict:
                raise _Decline
            else:
                start = pos + 8  # an unknown VR has a 16-bit length, as pydicom reads it
            if length == _UNDEFINED:
                if vr is None:
                    if strict and not self._implicit_sequence(tag, start):
                        raise _Decline
                # UN of undefined length is a sequence (PS3.5 6.2.2); tolerant: OB/OW encapsulated pixel data
                elif vr != b"SQ" and vr != b"UN" and (strict or (vr != b"OB" and vr != b"OW")):
                    raise self._malformed(
                        f"({group:04X},{elem:04X}) {vr.decode('latin-1')} with undefined length at offset {start}"
                    )
                if depth >= (_STRICT_DEPTH if strict else _TOLERANT_DEPTH):
                    if strict:
                        raise _Decline
                    if watch is not None:
                        raise _Unchecked(f"sequences nested more than {_TOLERANT_DEPTH} deep")
                    return self.end  # absurdly deep: leave it to the peer
                pos = self.items(start, implicit=implicit or (not strict and vr == b"UN"), depth=depth + 1,
                                 where=f"({group:04X},{elem:04X})")
                buf, base = self.buf, self.base
                bound = min(limit, base + len(buf))
                continue
            pos = start + length
            if pos > limit:
                if end is not None and end < self.end:
                    raise self._malformed(f"({group:04X},{elem:04X}) at offset {start} runs past its item")
                raise self._truncated(
                    f"({group:04X},{elem:04X}) at offset {start} declares {length} bytes, only {limit - start} left"
                )
            if scan:
                if wanted is not None:
                    slot = wanted[1]
                    if slot < 0:
                        self._check_charset(start, pos)
                    else:
                        self.values[slot] = buf[start - base:pos - base]
            elif strict and tag == _CHARSET:  # pydicom decodes it in every item it parses
                if vr is not None and vr != b"CS":
                    raise _Decline
                self._check_charset(start, pos)

    def items(self, pos: int, *, implicit: bool, depth: int, where: str) -> int:
        """Walk the items of an undefined-length sequence (or pixel data fragments) up to its delimiter."""
        strict = self.strict
        limit = self.end
        implicit_header = self.implicit_header
        counting = self.watch is not None
        while True:
            if counting:
                self.steps -= 1
                if self.steps < 0:
                    raise _Unchecked(f"more than {MAX_CHECKED_HEADERS} elements and items after the header")
            off = pos - self.base
            if off < 0 or off + 8 > len(self.buf):
                if pos + 8 > limit and not strict:
                    raise self._truncated(f"{where} has no Sequence Delimitation before the end of the file")
                self._fetch(pos, 8)
                off = 0
            group, elem, length = implicit_header(self.buf, off)
            tag = group << 16 | elem
            pos += 8
            if tag == _SEQUENCE_END:
                return pos
            if tag != _ITEM:
                raise self._malformed(
                    f"({group:04X},{elem:04X}) inside {where} at offset {pos - 8} where an item was expected"
                )
            item_implicit = implicit
            if strict or length == _UNDEFINED:
                if not implicit and strict:
                    # like pydicom: an item of an explicit VR data set may be implicit VR (PS3.5 7.5)
                    off = pos - self.base
                    if off >= 0 and off + 6 <= len(self.buf):
                        item_implicit = _looks_implicit(self.buf[off + 4], self.buf[off + 5])
                if length == _UNDEFINED:
                    pos = self.elements(pos, None, implicit=item_implicit, depth=depth, top=False)
                    continue
            if length > limit - pos:
                raise self._truncated(
                    f"an item of {where} at offset {pos - 8} declares {length} bytes, only {limit - pos} left"
                )
            if strict:
                pos = self.elements(pos, pos + length, implicit=item_implicit, depth=depth, top=False)
            else:
                pos += length  # a defined-length item is whole when its length fits

    # -- what pydicom decides while reading (strict only) --------------------------------------------------

    def _implicit_sequence(self, tag: int, start: int) -> bool:
        """Whether pydicom reads an implicit VR element of undefined length as a sequence."""
        from pydicom.datadict import dictionary_VR

        try:
            return bool(dictionary_VR(tag) == "SQ")
        except KeyError:  # a private or unknown tag: a sequence if its value starts with an item
            off = start - self.base
            if off + 4 > len(self.buf):
                raise self._truncated("") from None
            group, elem = struct.unpack_from("<HH", self.buf, off)
            return bool((group << 16 | elem) == _ITEM)

    def _check_charset(self, start: int, end: int) -> None:
        """Decline a Specific Character Set that pydicom fails on (it looks each term up while reading)."""
        if self.buf[start - self.base:end - self.base].rstrip(b" \x00").translate(None, _PRINTABLE):
            raise _Decline


# --- the header scanner (strict) -----------------------------------------------------------------------


def scan_header(path: str | os.PathLike[str], prefix_size: int = PREFIX_SIZE) -> Header | None:
    """The indexed values of the Part 10 file at ``path``, or ``None`` when the scanner declines.

    Reads ``prefix_size`` bytes in one ``read``; reads more (four times as much each round, at most
    :data:`MAX_SCAN_BYTES` in all) only when the header runs past them; past the header, element and
    fragment headers only, to the end of the file (see :func:`_check_rest`). ``None`` also for a file that
    cannot be opened or read: the caller's pydicom fallback then reports it.

    Raises:
        RepeatedAttributeError: the file carries an indexed attribute twice (see :func:`_check_rest`).
        UncheckedFileError: the rest of the file cannot be checked for that at bounded cost.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return None
    rest: io.FileIO | None = None
    try:
        want = max(prefix_size, 256)
        data = os.read(fd, want)
        complete = len(data) < want  # a short read of a regular file: its end
        if not complete:  # what the header scan does not read, the repeat check walks through
            rest = io.FileIO(fd, closefd=False)
        while True:
            try:
                return _scan(data, complete, rest, len(data) if rest is None else os.fstat(fd).st_size)
            except _NeedMore:
                if len(data) >= MAX_SCAN_BYTES:
                    return None
                want = min(len(data) * 3, MAX_SCAN_BYTES - len(data))
                os.lseek(fd, len(data), os.SEEK_SET)
                more = os.read(fd, want)
                complete = len(more) < want
                data += more
            except (RepeatedAttributeError, UncheckedFileError) as exc:
                raise type(exc)(f"{os.fspath(path)}: {exc}") from None
            except (_Decline, FramingError, struct.error):
                return None
    except OSError:
        return None
    finally:
        if rest is not None:
            rest.close()
        os.close(fd)


def parse_header(data: bytes) -> Header | None:
    """:func:`scan_header` for the complete bytes of a file; ``None`` when the scanner declines.

    Raises:
        RepeatedAttributeError: the file carries an indexed attribute twice.
        UncheckedFileError: the file cannot be checked for that at bounded cost.
    """
    try:
        return _scan(data, True, None, len(data))
    except (RepeatedAttributeError, UncheckedFileError):
        raise
    except (_Decline, _NeedMore, FramingError, struct.error):
        return None


def _strict_start(data: bytes, complete: bool) -> tuple[Part10Meta, bool]:
    """The meta group of a file the strict walker reads, and whether its data set is implicit VR."""
    meta = parse_part10_meta(data)
    if isinstance(meta, int):
        raise _Decline if complete else _NeedMore
    ts = meta.transfer_syntax_uid
    if meta.unusual is not None or not ts or ts in _DECLINED_TS:
        raise _Decline
    uid_module = sys.modules.get("pydicom.uid")  # a registered private syntax brings its own encoding
    if uid_module is not None and ts in getattr(uid_module, "PrivateTransferSyntaxes", ()):
        raise _Decline
    if meta.first_group == 0:  # a Command Set group: pydicom reads it apart, implicit VR
        raise _Decline
    pos = meta.dataset_offset
    implicit = ts == IMPLICIT_VR_LITTLE_ENDIAN
    if pos + 6 <= len(data) and _looks_implicit(data[pos + 4], data[pos + 5]) != implicit:
        raise _Decline  # the first element contradicts the transfer syntax: pydicom switches, with a warning
    return meta, implicit


def _scan(data: bytes, complete: bool, rest: BinaryIO | None, size: int) -> Header | None:
    meta, implicit = _strict_start(data, complete)
    ts = meta.transfer_syntax_uid
    pos = meta.dataset_offset
    walker = _Walker(True, data, complete)  # positional: this runs once per file indexed
    pos = walker.elements(pos, None, implicit, 0, True)

    raw_class, raw_sop, raw_study, raw_series, raw_modality = walker.values
    study = _uid_text(raw_study)
    series = _uid_text(raw_series)
    sop = _uid_text(raw_sop) or _uid_text(meta.media_instance)  # the Media Storage UIDs: for a data set without
    cls = _uid_text(raw_class) or _uid_text(meta.media_class)
    ts_text = _text(ts)
    if not (study and series and sop and cls and ts_text):
        raise _Decline  # pydicom's path reports what is missing, in its words
    modality = raw_modality.decode("latin-1") if raw_modality is not None else None
    if modality is not None and "\\" in modality:
        raise _Decline  # several values: pydicom's reading of them is the reference
    _check_rest(walker, pos, implicit, rest, size)
    return Header(study, series, sop, cls, ts_text, _text(meta.source_ae_title), _text(modality))


_TAIL_INDEXED = {tag: slot for tag, (_, slot) in _SCANNED.items() if slot >= 0}
_SOP_CLASS = 0x00080016


def read_sop_class(data: bytes) -> str | None:
    """The SOP Class UID (0008,0016) of the complete bytes of a Part 10 file, read as the header scanner reads
    it (the strict walker, stopping after it); ``None`` when the data set has none, or when the scanner would
    decline the file (then pydicom's reading is the reference)."""
    try:
        meta, implicit = _strict_start(data, True)
        walker = _Walker(True, data, True)
        walker.last = _SOP_CLASS
        walker.elements(meta.dataset_offset, None, implicit, 0, True)
        return _uid_text(walker.values[0])
    except (_Decline, _NeedMore, FramingError, struct.error):
        return None


def _repeat_walker(data: bytes, fp: BinaryIO | None, end: int, *, seen: set[int], big_endian: bool = False,
                   where: str = "") -> _Walker:
    """A tolerant walker that raises :class:`RepeatedAttributeError` when a top-level indexed attribute (one
    of ``_TAIL_INDEXED``) is met that is in ``seen`` already (it adds those it meets), and :class:`_Unchecked`
    past :data:`MAX_CHECKED_HEADERS` headers or too deep a nesting. ``data`` are bytes at hand from offset 0."""
    walker = _Walker(False, data, fp=fp, end=end, big_endian=big_endian)
    walker.chunk = _TAIL_CHUNK
    walker.watch = _TAIL_INDEXED
    walker.seen = seen
    walker.steps = MAX_CHECKED_HEADERS
    walker.where = where
    return walker


def _check_rest(walker: _Walker, pos: int, implicit: bool, fp: BinaryIO | None, size: int) -> None:
    """Walk the top-level elements after (0020,000E) to the end of the file for an indexed attribute again.

    Such an element is out of order: when the header walk already took a value for it, the file carries it
    twice and :class:`RepeatedAttributeError` says so (one rule for both readers: such a file is not indexed);
    else the file is declined (pydicom finds the value where it is). Values are stepped over (``fp`` is read
    a page per element or fragment header past the bytes at hand), so the cost grows with the number of
    elements and fragments, not with the pixel data; :class:`UncheckedFileError` past its bounds. The walk
    stops at the first element no reader could parse (truncated, malformed): nothing past it is part of the
    data set for anyone.
    """
    values = walker.values
    taken = {tag for tag, slot in _TAIL_INDEXED.items() if values[slot] is not None}
    seen = set(taken)
    tail = _repeat_walker(walker.buf, fp, size, seen=seen)
    try:
        tail.elements(pos, size, implicit, 0, True)
    except _Unchecked as exc:
        raise UncheckedFileError(f"not checked for a repeated indexed attribute: {exc}") from None
    except RepeatedAttributeError:
        raise
    except (FramingError, struct.error, OSError):
        pass
    if seen != taken:
        raise _Decline


def check_repeats(path: str | os.PathLike[str]) -> None:
    """Check a Part 10 file the header scanner declined for a top-level indexed attribute carried twice, over
    its whole data set (pydicom, which reads such files for the index, keeps the last value silently).

    Reads element and fragment headers only, stepping over values; a deflated data set is inflated as a
    stream, at most :data:`MAX_INFLATED_BYTES`. Files that are no Part 10 file, or whose data set cannot be
    walked to its end (truncated, malformed), are checked up to there: their reader reports them.

    Raises:
        RepeatedAttributeError: an indexed attribute appears twice.
        UncheckedFileError: the walk would exceed its bounds.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb", buffering=0) as raw:
            try:
                meta = read_part10_meta(raw, name=name)
            except FramingError:
                return
            ts = meta.transfer_syntax_uid
            fp: BinaryIO
            inflated = None
            if ts in DEFLATED_DATASET_UIDS:
                inflated = _Inflated(raw, meta.dataset_offset)
                fp, start, end, where = cast(BinaryIO, inflated), 0, MAX_INFLATED_BYTES + 1, " of the inflated data set"
            else:
                fp, start, end, where = raw, meta.dataset_offset, os.fstat(raw.fileno()).st_size, ""
            implicit = ts == IMPLICIT_VR_LITTLE_ENDIAN
            if not implicit:  # as pydicom: an explicit VR syntax whose data set is written in implicit VR
                fp.seek(start)
                head = fp.read(6)
                implicit = len(head) == 6 and _looks_implicit(head[4], head[5])
            walker = _repeat_walker(b"", fp, end, seen=set(), big_endian=ts == EXPLICIT_VR_BIG_ENDIAN,
                                    where=where)
            walker.base = start  # nothing at hand yet
            try:
                walker.elements(start, end, implicit, 0, True)
            except RepeatedAttributeError:
                raise
            except (FramingError, struct.error, zlib.error):
                if inflated is not None:
                    # the walk ends where the inflated data set ends (or breaks): pydicom inflates it whole,
                    # so it must end within the bound (_Unchecked when it does not)
                    inflated.seek(MAX_INFLATED_BYTES + 1)
                raise
    except RepeatedAttributeError as exc:
        raise RepeatedAttributeError(f"{name}: {exc}") from None
    except _Unchecked as exc:
        raise UncheckedFileError(f"{name}: not checked for a repeated indexed attribute: {exc}") from None
    except (FramingError, struct.error, OSError, zlib.error):
        return


class _Inflated:
    """The inflated data set of a deflated file as a file that is read forward only (``seek`` ahead and
    ``read``, as the walker does), inflating in bounded steps: at most :data:`MAX_INFLATED_BYTES` in all."""

    def __init__(self, raw: BinaryIO, offset: int) -> None:
        raw.seek(offset)
        self._raw = raw
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._data = b""  # inflated bytes from offset ``_at`` on
        self._at = 0
        self._done = False

    def _more(self) -> bool:
        if self._done:
            return False
        chunk = self._z.unconsumed_tail or self._raw.read(65536)
        if not chunk:
            self._done = True
            rest = self._z.flush()  # what the last bounded step held back (a few hundred bytes at most)
            self._data += rest
            return bool(rest)
        self._data += self._z.decompress(chunk, 1 << 20)
        if self._at + len(self._data) > MAX_INFLATED_BYTES:
            raise _Unchecked(f"the deflated data set inflates to more than {MAX_INFLATED_BYTES} bytes")
        if self._z.eof:
            self._done = True
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        if pos < self._at:  # the walker only moves forward
            raise FramingError(f"inflated data set: cannot seek back to offset {pos}")
        while pos > self._at + len(self._data):
            self._at += len(self._data)
            self._data = b""
            if not self._more():
                break
        cut = min(pos - self._at, len(self._data))
        self._data = self._data[cut:]
        self._at += cut
        return self._at

    def read(self, n: int = -1) -> bytes:
        while len(self._data) < n and self._more():
            pass
        return self._data[:n]


def _uid_text(raw: bytes | None) -> str | None:
    """A raw UI value of the data set as text (``None`` when absent or empty; declined when multi-valued)."""
    if raw is None:
        return None
    if b"\\" in raw:
        raise _Decline
    return _uid(raw) or None


# --- the framing check (tolerant) ----------------------------------------------------------------------


def check_dataset_framing(
    fp: BinaryIO, start: int, end: int, transfer_syntax_uid: str, *, name: str = "<file>"
) -> None:
    """Check that the data set in ``fp[start:end]`` is whole: every element fits, every sequence ends.

    Reads only element headers (seeking over the values). A deflated data set is not checked. The file
    position is left undefined.

    Raises:
        FramingError: a truncated or malformed data set; the message names ``name``, the element and the offset.
    """
    if transfer_syntax_uid in DEFLATED_DATASET_UIDS:
        return
    implicit = transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN
    if not implicit and end - start >= 8:
        # tolerant like pydicom: a data set written in implicit VR under an explicit VR transfer syntax
        # (the first element has no VR letters) is walked as implicit VR
        fp.seek(start + 4)
        vr = fp.read(2)
        implicit = len(vr) == 2 and _looks_implicit(vr[0], vr[1])
    walker = _Walker(strict=False, fp=fp, end=end, big_endian=transfer_syntax_uid == EXPLICIT_VR_BIG_ENDIAN,
                     name=name)
    walker.elements(start, end, implicit=implicit, depth=0, top=True)
