"""Pure DIMSE / DICOM upper-layer framing used by the ``dicom:`` fast path.

Nothing here touches a socket: these functions build and parse bytes, so they are unit-tested
on their own (``tests/unit/test_dimse*.py``).

- :func:`read_part10_meta` reads a Part 10 file's preamble and File Meta Information group and
  tells where the data set starts, so the data set bytes can be sent without decoding them.
- :func:`check_dataset_framing` walks a data set's element headers (seeking over the values) so that a
  truncated file fails alone instead of making the peer abort the association mid-transfer.
- :func:`encode_command` builds a DIMSE command set (always Implicit VR Little Endian, PS3.7 6.3.1).
- :func:`parse_command` decodes a received command set into ``{element: raw value}``.
- :func:`pdata_pdu` and :func:`layout_pdata` frame command / data set fragments into P-DATA-TF PDUs.
- :class:`PduReader` splits a received byte stream into whole PDUs and P-DATA-TF PDVs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, Final

import attrs

__all__ = [
    "ABORT_REASONS",
    "ABORT_SOURCES",
    "PDU_A_ABORT",
    "PDU_A_ASSOCIATE_AC",
    "PDU_A_ASSOCIATE_RJ",
    "PDU_A_ASSOCIATE_RQ",
    "PDU_A_RELEASE_RP",
    "PDU_A_RELEASE_RQ",
    "PDU_P_DATA_TF",
    "Command",
    "FramingError",
    "Part10Meta",
    "PduReader",
    "Pdv",
    "a_abort_pdu",
    "a_release_pdu",
    "c_echo_rq",
    "c_store_rq",
    "check_dataset_framing",
    "decode_abort",
    "encode_command",
    "layout_pdata",
    "parse_command",
    "parse_part10_meta",
    "pdata_pdu",
    "read_part10_meta",
    "split_pdvs",
    "status_category",
]

PDU_A_ASSOCIATE_RQ: Final = 0x01
PDU_A_ASSOCIATE_AC: Final = 0x02
PDU_A_ASSOCIATE_RJ: Final = 0x03
PDU_P_DATA_TF: Final = 0x04
PDU_A_RELEASE_RQ: Final = 0x05
PDU_A_RELEASE_RP: Final = 0x06
PDU_A_ABORT: Final = 0x07

# Command Field values (PS3.7 E.1)
C_STORE_RQ: Final = 0x0001
C_STORE_RSP: Final = 0x8001
C_ECHO_RQ: Final = 0x0030
C_ECHO_RSP: Final = 0x8030
NO_DATASET: Final = 0x0101

# command elements (group 0000), by element number
AFFECTED_SOP_CLASS_UID: Final = 0x0002
COMMAND_FIELD: Final = 0x0100
MESSAGE_ID: Final = 0x0110
MESSAGE_ID_BEING_RESPONDED_TO: Final = 0x0120
PRIORITY: Final = 0x0700
COMMAND_DATA_SET_TYPE: Final = 0x0800
STATUS: Final = 0x0900
ERROR_COMMENT: Final = 0x0902
AFFECTED_SOP_INSTANCE_UID: Final = 0x1000
MOVE_ORIGINATOR_AET: Final = 0x1030
MOVE_ORIGINATOR_MESSAGE_ID: Final = 0x1031

ABORT_SOURCES: Final = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASONS: Final = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    3: "reserved",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}

_PDU_HEADER = struct.Struct(">BxL")
_PDV_HEADER = struct.Struct(">LBB")
_ELEMENT_HEADER = struct.Struct("<HHL")
PDATA_OVERHEAD: Final = _PDU_HEADER.size + _PDV_HEADER.size  # 12 bytes per fragment


class FramingError(ValueError):
    """Bytes that do not follow the DICOM upper layer or DIMSE encoding rules."""


# --- Part 10 files -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Part10Meta:
    """What the File Meta Information of a Part 10 file says, and where its data set starts."""

    dataset_offset: int
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_instance_uid: str


def _ui(value: bytes) -> str:
    return value.rstrip(b"\x00 ").decode("ascii")


_LONG_VRS = frozenset(
    (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV")
)


def parse_part10_meta(head: bytes | bytearray | memoryview, *, name: str = "<file>") -> Part10Meta | int:
    """Parse the preamble and File Meta Information group (0002) from the first bytes of a Part 10 file.

    Returns the :class:`Part10Meta`, or the number of bytes needed when ``head`` is too short to tell
    (call again with at least that many bytes). A file shorter than that is truncated.

    Raises:
        FramingError: no ``DICM`` prefix or a malformed meta group; the message names ``name``.
    """
    if len(head) < 132:
        return 132
    if bytes(head[128:132]) != b"DICM":
        raise FramingError(f"{name}: not a DICOM Part 10 file (no 'DICM' prefix after the 128-byte preamble)")
    offset = 132
    values: dict[int, bytes] = {}
    end = len(head)
    while True:
        if end - offset < 8:
            return offset + 12 + 4096
        group, element = struct.unpack_from("<HH", head, offset)
        if group != 0x0002:
            break
        vr = bytes(head[offset + 4 : offset + 6])
        if vr in _LONG_VRS:
            if end - offset < 12:
                return offset + 12 + 4096
            length = int.from_bytes(head[offset + 8 : offset + 12], "little")
            header = 12
        else:
            length = int.from_bytes(head[offset + 6 : offset + 8], "little")
            header = 8
        if length == 0xFFFFFFFF:
            raise FramingError(
                f"{name}: undefined length in File Meta Information element (0002,{element:04X})"
            )
        if end - offset < header + length:
            return offset + header + length + 4096
        values[element] = bytes(head[offset + header : offset + header + length])
        offset += header + length
    try:
        ts = _ui(values[0x0010])
    except KeyError:
        raise FramingError(f"{name}: File Meta Information lacks Transfer Syntax UID (0002,0010)") from None
    return Part10Meta(
        dataset_offset=offset,
        transfer_syntax_uid=ts,
        sop_class_uid=_ui(values.get(0x0002, b"")),
        sop_instance_uid=_ui(values.get(0x0003, b"")),
    )


def read_part10_meta(fp: BinaryIO, *, name: str = "<file>", size: int | None = None) -> Part10Meta:
    """Read the preamble and File Meta Information group of a Part 10 file from ``fp``.

    Reads a few KiB at once (one system call in the usual case) and leaves the file position at the
    first byte of the data set.

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
                # meta group runs to the end of the file: a file without a data set
                parsed = parse_part10_meta(head + b"\xff\xff\xff\xff\x00\x00\x00\x00", name=name)
                if isinstance(parsed, Part10Meta) and parsed.dataset_offset == len(head):
                    fp.seek(start + parsed.dataset_offset)
                    return parsed
                raise FramingError(f"{name}: truncated File Meta Information")
            raise FramingError(
                f"{name}: not a DICOM Part 10 file (no 'DICM' prefix after the 128-byte preamble)"
            )
        head += more


IMPLICIT_VR_LITTLE_ENDIAN_UID: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN_UID: Final = "1.2.840.10008.1.2.2"
#: transfer syntaxes whose data set is deflated: its element structure cannot be walked without inflating
DEFLATED_DATASET_UIDS: Final = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"})
_UNDEFINED: Final = 0xFFFFFFFF
_ITEM: Final = 0xE000
_ITEM_END: Final = 0xE00D
_SEQUENCE_END: Final = 0xE0DD
_MAX_DEPTH: Final = 64
_LE_EXPLICIT_HEADER = struct.Struct("<HH2sH")
_LE_U32 = struct.Struct("<L")


class _Walker:
    """Walks element headers of a data set in a seekable file, seeking over every value."""

    _CHUNK = 16384

    def __init__(self, fp: BinaryIO, end: int, *, big_endian: bool, name: str) -> None:
        self.fp = fp
        self.end = end
        self.name = name
        self.tag = struct.Struct(">HH" if big_endian else "<HH")
        self.u16 = struct.Struct(">H" if big_endian else "<H")
        self.u32 = struct.Struct(">L" if big_endian else "<L")
        self.little_endian = not big_endian
        self._buf = b""
        self._buf_start = 0

    def _header(self, pos: int, limit: int) -> bytes:
        if limit - pos < 8:
            raise FramingError(
                f"{self.name}: truncated data set: {limit - pos} byte(s) left at offset {pos}, "
                "too few for an element header"
            )
        want = min(12, limit - pos)
        off = pos - self._buf_start
        if off < 0 or off + want > len(self._buf):
            # headers before the pixel data usually sit in the first chunk: one read for all of them
            self.fp.seek(pos)
            self._buf = self.fp.read(max(want, min(self._CHUNK, limit - pos)))
            self._buf_start = pos
            off = 0
        head = self._buf[off : off + want]
        if len(head) < 8:
            raise FramingError(f"{self.name}: truncated data set: the file ends at offset {pos + len(head)}")
        return head

    def _skip_plain(self, pos: int, limit: int, implicit: bool) -> int:
        """Fast path: step over defined-length elements whose headers lie in the buffer (little endian).

        Returns where the general path must go on: an item tag, an undefined length, a value running
        past ``limit``, or a header outside the buffer.
        """
        buf = self._buf
        base = self._buf_start
        off = pos - base
        if off < 0:
            return pos
        stop = min(len(buf), limit - base) - 12
        end = limit - base
        unpack = _LE_EXPLICIT_HEADER.unpack_from
        u32 = _LE_U32.unpack_from
        long_vrs = _LONG_VRS
        while off <= stop:
            group, _element, vr, short = unpack(buf, off)
            if group == 0xFFFE:
                break
            if implicit:
                length = u32(buf, off + 4)[0]
                header = 8
            elif vr in long_vrs:
                length = u32(buf, off + 8)[0]
                header = 12
            else:
                length = short
                header = 8
            if length == _UNDEFINED or off + header + length > end:
                break
            off += header + length
        return base + off

    def elements(self, pos: int, limit: int, *, implicit: bool, in_item: bool, depth: int) -> int:
        """Walk elements from ``pos``; stop at ``limit`` or, when ``in_item``, after an Item Delimitation."""
        while pos < limit:
            if self.little_endian:
                pos = self._skip_plain(pos, limit, implicit)
                if pos >= limit:
                    break
            head = self._header(pos, limit)
            group, element = self.tag.unpack_from(head, 0)
            if group == 0xFFFE:
                if element == _ITEM_END and in_item:
                    return pos + 8
                raise FramingError(
                    f"{self.name}: malformed data set: unexpected (FFFE,{element:04X}) at offset {pos}"
                )
            vr = b""
            if implicit:
                length = self.u32.unpack_from(head, 4)[0]
                pos += 8
            else:
                vr = head[4:6]
                if vr in _LONG_VRS:
                    if len(head) < 12:
                        raise FramingError(
                            f"{self.name}: truncated data set: the header of ({group:04X},{element:04X}) "
                            f"at offset {pos} is cut off"
                        )
                    length = self.u32.unpack_from(head, 8)[0]
                    pos += 12
                else:
                    length = self.u16.unpack_from(head, 6)[0]
                    pos += 8
            if length == _UNDEFINED:
                if not implicit and vr not in (b"SQ", b"UN", b"OB", b"OW"):
                    raise FramingError(
                        f"{self.name}: malformed data set: ({group:04X},{element:04X}) {vr.decode('latin-1')} "
                        f"with undefined length at offset {pos}"
                    )
                if depth >= _MAX_DEPTH:
                    return limit  # absurdly deep: leave it to the peer
                # a sequence, or encapsulated pixel data (fragments are items of defined length)
                pos = self.items(pos, limit, implicit=implicit or vr == b"UN", depth=depth + 1,
                                 where=f"({group:04X},{element:04X})")
                continue
            if length > limit - pos:
                raise FramingError(
                    f"{self.name}: truncated data set: ({group:04X},{element:04X}) at offset {pos} declares "
                    f"{length} bytes, only {limit - pos} left"
                )
            pos += length
        if in_item:
            raise FramingError(f"{self.name}: truncated data set: an item of undefined length has no end")
        return pos

    def items(self, pos: int, limit: int, *, implicit: bool, depth: int, where: str) -> int:
        """Walk the items of an undefined-length sequence (or pixel data fragments) up to its delimiter."""
        while True:
            head = self._header(pos, limit)
            group, element = self.tag.unpack_from(head, 0)
            length = self.u32.unpack_from(head, 4)[0]
            pos += 8
            if group == 0xFFFE and element == _SEQUENCE_END:
                return pos
            if group != 0xFFFE or element != _ITEM:
                raise FramingError(
                    f"{self.name}: malformed data set: ({group:04X},{element:04X}) inside {where} at offset "
                    f"{pos - 8} where an item was expected"
                )
            if length == _UNDEFINED:
                pos = self.elements(pos, limit, implicit=implicit, in_item=True, depth=depth)
            elif length > limit - pos:
                raise FramingError(
                    f"{self.name}: truncated data set: an item of {where} at offset {pos - 8} declares "
                    f"{length} bytes, only {limit - pos} left"
                )
            else:
                pos += length


def check_dataset_framing(
    fp: BinaryIO, start: int, end: int, transfer_syntax_uid: str, *, name: str = "<file>"
) -> None:
    """Check that the data set in ``fp[start:end]`` is whole: every element fits, every sequence ends.

    Reads only element headers (seeking over the values), so the cost does not grow with pixel data.
    A deflated data set is not checked. The file position is left undefined.

    Raises:
        FramingError: a truncated or malformed data set; the message names ``name``, the element and
            the offset.
    """
    if transfer_syntax_uid in DEFLATED_DATASET_UIDS:
        return
    walker = _Walker(fp, end, big_endian=transfer_syntax_uid == EXPLICIT_VR_BIG_ENDIAN_UID, name=name)
    implicit = transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN_UID
    if not implicit and end - start >= 8:
        # tolerant like pydicom: a data set written in implicit VR under an explicit VR transfer syntax
        # (the first element has no VR letters) is walked as implicit VR
        fp.seek(start + 4)
        vr = fp.read(2)
        implicit = len(vr) == 2 and not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90)
    walker.elements(start, end, implicit=implicit, in_item=False, depth=0)


# --- command sets --------------------------------------------------------------------------------


def _even(value: bytes, pad: bytes) -> bytes:
    return value + pad if len(value) % 2 else value


def encode_command(fields: list[tuple[int, int | str]]) -> bytes:
    """Encode a DIMSE command set (group 0000, Implicit VR Little Endian) with its group length.

    ``fields`` are ``(element, value)`` pairs in ascending element order; ``int`` values are
    encoded as US, ``str`` values as UI (NUL-padded) or AE/LO text (space-padded).
    """
    body = bytearray()
    last = -1
    for element, value in fields:
        if element <= last:
            raise FramingError(f"command elements out of order at (0000,{element:04X})")
        last = element
        if isinstance(value, int):
            data = struct.pack("<H", value)
        else:
            raw = value.encode("ascii")
            pad = b"\x00" if element in (AFFECTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID) else b" "
            data = _even(raw, pad)
        body += _ELEMENT_HEADER.pack(0x0000, element, len(data))
        body += data
    return _ELEMENT_HEADER.pack(0x0000, 0x0000, 4) + struct.pack("<L", len(body)) + bytes(body)


def c_store_rq(
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    *,
    priority: int = 0,
    move_originator_aet: str | None = None,
    move_originator_message_id: int | None = None,
) -> bytes:
    """The command set of a C-STORE-RQ (PS3.7 9.3.1.1)."""
    fields: list[tuple[int, int | str]] = [
        (AFFECTED_SOP_CLASS_UID, sop_class_uid),
        (COMMAND_FIELD, C_STORE_RQ),
        (MESSAGE_ID, message_id),
        (PRIORITY, priority),
        (COMMAND_DATA_SET_TYPE, 0x0000),
        (AFFECTED_SOP_INSTANCE_UID, sop_instance_uid),
    ]
    if move_originator_aet is not None:
        fields.append((MOVE_ORIGINATOR_AET, move_originator_aet))
    if move_originator_message_id is not None:
        fields.append((MOVE_ORIGINATOR_MESSAGE_ID, move_originator_message_id))
    return encode_command(fields)


def c_echo_rq(message_id: int) -> bytes:
    """The command set of a C-ECHO-RQ (PS3.7 9.3.5.1)."""
    return encode_command(
        [
            (AFFECTED_SOP_CLASS_UID, "1.2.840.10008.1.1"),
            (COMMAND_FIELD, C_ECHO_RQ),
            (MESSAGE_ID, message_id),
            (COMMAND_DATA_SET_TYPE, NO_DATASET),
        ]
    )


@attrs.frozen
class Command:
    """A decoded command set: raw element values by element number (group 0000)."""

    elements: dict[int, bytes]

    def us(self, element: int) -> int | None:
        """An US element's value, or ``None`` when absent."""
        raw = self.elements.get(element)
        if raw is None:
            return None
        if len(raw) != 2:
            raise FramingError(f"command element (0000,{element:04X}) has length {len(raw)}, expected 2")
        return int.from_bytes(raw, "little")

    def text(self, element: int) -> str | None:
        """A text (UI/LO/AE) element's value without padding, or ``None`` when absent."""
        raw = self.elements.get(element)
        return None if raw is None else raw.rstrip(b"\x00 ").decode("ascii", "replace")

    @property
    def command_field(self) -> int | None:
        return self.us(COMMAND_FIELD)

    @property
    def status(self) -> int | None:
        return self.us(STATUS)

    @property
    def message_id_being_responded_to(self) -> int | None:
        return self.us(MESSAGE_ID_BEING_RESPONDED_TO)

    @property
    def has_dataset(self) -> bool:
        return self.us(COMMAND_DATA_SET_TYPE) not in (None, NO_DATASET)


def parse_command(data: bytes | bytearray | memoryview) -> Command:
    """Decode a command set (Implicit VR Little Endian) into a :class:`Command`."""
    view = memoryview(data)
    pos = 0
    elements: dict[int, bytes] = {}
    end = len(view)
    while pos < end:
        if end - pos < 8:
            raise FramingError(f"truncated command element header at byte {pos}")
        group, element, length = _ELEMENT_HEADER.unpack_from(view, pos)
        pos += 8
        if group != 0x0000:
            raise FramingError(f"command set holds a non-command element ({group:04X},{element:04X})")
        if length == 0xFFFFFFFF or pos + length > end:
            raise FramingError(f"command element (0000,{element:04X}) runs past the end of the command set")
        elements[element] = bytes(view[pos : pos + length])
        pos += length
    return Command(elements)


def status_category(status: int) -> str:
    """``"success"``, ``"warning"`` or ``"failure"`` for a C-STORE status, with the upstream rule.

    0x0000 is success; ``status & 0xB000 == 0xB000`` is a warning, as dcm4chee-arc's retrieve and forward
    code has it: every 0xBxxx code (0xB000, 0xB006, 0xB007 and the rest of the range) and, by that same mask,
    0xFxxx codes, which are not C-STORE statuses; everything else (0xA7xx, 0xA9xx, 0xCxxx, 0x0122, 0x0001,
    ...) counts as failed.
    """
    if status == 0x0000:
        return "success"
    if status & 0xB000 == 0xB000:
        return "warning"
    return "failure"


# --- PDUs ----------------------------------------------------------------------------------------


def pdata_pdu(context_id: int, data: bytes | bytearray | memoryview, *, command: bool, last: bool) -> bytes:
    """One P-DATA-TF PDU with a single PDV."""
    mch = (0x01 if command else 0x00) | (0x02 if last else 0x00)
    n = len(data)
    return _PDU_HEADER.pack(PDU_P_DATA_TF, n + 6) + _PDV_HEADER.pack(n + 2, context_id, mch) + bytes(data)


def layout_pdata(
    context_id: int,
    total: int,
    max_pdv_data: int,
    *,
    command: bool,
    prefix: bytes = b"",
    out: bytearray | None = None,
) -> tuple[bytearray, list[tuple[int, int]]]:
    """Lay out ``total`` payload bytes as P-DATA-TF PDUs of at most ``max_pdv_data`` payload bytes each.

    Returns a buffer with every PDU/PDV header already written and the ``(offset, length)`` of each
    payload slot, so the caller can ``readinto`` the payload straight from a file into its place:
    the data set is copied once (kernel to buffer) and sent with one ``sendall``. ``prefix`` (e.g. the
    command PDU) is placed in front, so command and data set go out in the same send. ``out`` is a
    buffer to reuse (resized to fit) instead of allocating a new one.
    """
    if max_pdv_data <= 0:
        raise FramingError(f"maximum PDV data length must be positive, got {max_pdv_data}")
    count = max(1, -(-total // max_pdv_data))
    size = len(prefix) + total + PDATA_OVERHEAD * count
    if out is None:
        buf = bytearray(size)
    else:
        buf = out
        if len(buf) > size:
            del buf[size:]
        elif len(buf) < size:
            buf.extend(bytes(size - len(buf)))
    buf[: len(prefix)] = prefix
    slots: list[tuple[int, int]] = []
    pos = len(prefix)
    remaining = total
    flag = 0x01 if command else 0x00
    for index in range(count):
        n = min(max_pdv_data, remaining)
        last = index == count - 1
        _PDU_HEADER.pack_into(buf, pos, PDU_P_DATA_TF, n + 6)
        _PDV_HEADER.pack_into(buf, pos + 6, n + 2, context_id, flag | (0x02 if last else 0x00))
        slots.append((pos + PDATA_OVERHEAD, n))
        pos += PDATA_OVERHEAD + n
        remaining -= n
    return buf, slots


def a_release_pdu(*, response: bool) -> bytes:
    """An A-RELEASE-RQ (or -RP) PDU."""
    return _PDU_HEADER.pack(PDU_A_RELEASE_RP if response else PDU_A_RELEASE_RQ, 4) + b"\x00\x00\x00\x00"


def a_abort_pdu(source: int = 0, reason: int = 0) -> bytes:
    """An A-ABORT PDU (source 0 = service-user)."""
    return _PDU_HEADER.pack(PDU_A_ABORT, 4) + bytes((0, 0, source, reason))


def decode_abort(body: bytes | bytearray | memoryview) -> str:
    """A readable description of an A-ABORT PDU body (the 4 bytes after the PDU header)."""
    if len(body) < 4:
        return "A-ABORT (malformed)"
    source, reason = body[2], body[3]
    text = f"A-ABORT from the {ABORT_SOURCES.get(source, f'source {source}')}"
    if source == 2:
        text += f": {ABORT_REASONS.get(reason, f'reason {reason}')}"
    return text


@attrs.frozen
class Pdv:
    """One presentation data value: its context, whether it is a command fragment, and the last one."""

    context_id: int
    command: bool
    last: bool
    data: bytes


class PduReader:
    """Split a byte stream into whole PDUs. Feed bytes with :meth:`feed`, take PDUs with :meth:`pdus`."""

    def __init__(self, max_pdu_length: int = 64 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._max = max_pdu_length

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def pdus(self) -> Iterator[tuple[int, bytes]]:
        """Yield each complete ``(pdu_type, body)`` received so far."""
        while len(self._buf) >= 6:
            pdu_type, length = _PDU_HEADER.unpack_from(self._buf, 0)
            if pdu_type not in range(1, 8):
                raise FramingError(f"unknown PDU type 0x{pdu_type:02X}")
            if length > self._max:
                raise FramingError(f"PDU of {length} bytes exceeds the limit of {self._max}")
            if len(self._buf) < 6 + length:
                return
            body = bytes(self._buf[6 : 6 + length])
            del self._buf[: 6 + length]
            yield pdu_type, body

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole PDU."""
        return len(self._buf)


def split_pdvs(body: bytes) -> list[Pdv]:
    """The PDVs of a P-DATA-TF PDU body."""
    pdvs: list[Pdv] = []
    pos = 0
    end = len(body)
    while pos < end:
        if end - pos < 6:
            raise FramingError("truncated PDV item header")
        length, context_id, mch = _PDV_HEADER.unpack_from(body, pos)
        if length < 2 or pos + 4 + length > end:
            raise FramingError(f"PDV item length {length} does not fit its P-DATA-TF PDU")
        pdvs.append(Pdv(context_id, bool(mch & 0x01), bool(mch & 0x02), body[pos + 6 : pos + 4 + length]))
        pos += 4 + length
    return pdvs
