"""DICOM upper-layer (PDU) and DIMSE command framing.

Nothing here touches a socket: these functions build and parse bytes, so they are unit-tested
on their own (``tests/unit/test_dimse*.py``). Part 10 files are read in :mod:`.part10`.

- :func:`encode_command` builds a DIMSE command set (always Implicit VR Little Endian, PS3.7 6.3.1).
- :func:`parse_command` decodes a received command set into ``{element: raw value}``.
- :func:`pdata_pdu` and :func:`layout_pdata` frame command / data set fragments into P-DATA-TF PDUs.
- :class:`PduReader` splits a received byte stream into whole PDUs and P-DATA-TF PDVs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

import attrs

from dcm_exporter._dicom.errors import FramingError

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
    "PduReader",
    "Pdv",
    "a_abort_pdu",
    "a_release_pdu",
    "c_echo_rq",
    "c_echo_rsp",
    "c_store_rq",
    "decode_abort",
    "encode_command",
    "layout_pdata",
    "n_action_rq",
    "n_create_rq",
    "n_event_report_rsp",
    "parse_command",
    "pdata_pdu",
    "split_pdvs",
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
N_EVENT_REPORT_RQ: Final = 0x0100
N_EVENT_REPORT_RSP: Final = 0x8100
N_ACTION_RQ: Final = 0x0130
N_ACTION_RSP: Final = 0x8130
N_CREATE_RQ: Final = 0x0140
N_CREATE_RSP: Final = 0x8140
NO_DATASET: Final = 0x0101

# command elements (group 0000), by element number
AFFECTED_SOP_CLASS_UID: Final = 0x0002
REQUESTED_SOP_CLASS_UID: Final = 0x0003
COMMAND_FIELD: Final = 0x0100
MESSAGE_ID: Final = 0x0110
MESSAGE_ID_BEING_RESPONDED_TO: Final = 0x0120
PRIORITY: Final = 0x0700
COMMAND_DATA_SET_TYPE: Final = 0x0800
STATUS: Final = 0x0900
ERROR_COMMENT: Final = 0x0902
AFFECTED_SOP_INSTANCE_UID: Final = 0x1000
REQUESTED_SOP_INSTANCE_UID: Final = 0x1001
EVENT_TYPE_ID: Final = 0x1002
ACTION_TYPE_ID: Final = 0x1008
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


# --- command sets --------------------------------------------------------------------------------


_UI_ELEMENTS = frozenset(
    {AFFECTED_SOP_CLASS_UID, REQUESTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID, REQUESTED_SOP_INSTANCE_UID}
)


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
            try:
                raw = value.encode("ascii")
            except UnicodeEncodeError as exc:  # a UID taken from a hostile file
                raise FramingError(f"command element (0000,{element:04X}) {value!r} is not ASCII") from exc
            pad = b"\x00" if element in _UI_ELEMENTS else b" "
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


def c_echo_rsp(message_id: int, status: int = 0x0000) -> bytes:
    """The command set of a C-ECHO-RSP (PS3.7 9.3.5.2)."""
    return encode_command(
        [
            (AFFECTED_SOP_CLASS_UID, "1.2.840.10008.1.1"),
            (COMMAND_FIELD, C_ECHO_RSP),
            (MESSAGE_ID_BEING_RESPONDED_TO, message_id),
            (COMMAND_DATA_SET_TYPE, NO_DATASET),
            (STATUS, status),
        ]
    )


def n_action_rq(message_id: int, sop_class_uid: str, sop_instance_uid: str, action_type_id: int) -> bytes:
    """The command set of an N-ACTION-RQ with Action Information (PS3.7 10.3.4.1)."""
    return encode_command(
        [
            (REQUESTED_SOP_CLASS_UID, sop_class_uid),
            (COMMAND_FIELD, N_ACTION_RQ),
            (MESSAGE_ID, message_id),
            (COMMAND_DATA_SET_TYPE, 0x0000),
            (REQUESTED_SOP_INSTANCE_UID, sop_instance_uid),
            (ACTION_TYPE_ID, action_type_id),
        ]
    )


def n_create_rq(message_id: int, sop_class_uid: str, sop_instance_uid: str) -> bytes:
    """The command set of an N-CREATE-RQ with its Attribute List (PS3.7 10.3.5.1)."""
    return encode_command(
        [
            (AFFECTED_SOP_CLASS_UID, sop_class_uid),
            (COMMAND_FIELD, N_CREATE_RQ),
            (MESSAGE_ID, message_id),
            (COMMAND_DATA_SET_TYPE, 0x0000),
            (AFFECTED_SOP_INSTANCE_UID, sop_instance_uid),
        ]
    )


def n_event_report_rsp(
    message_id: int, sop_class_uid: str | None, sop_instance_uid: str | None, event_type_id: int | None, status: int
) -> bytes:
    """The command set of an N-EVENT-REPORT-RSP without Event Reply (PS3.7 10.3.1.2)."""
    fields: list[tuple[int, int | str]] = []
    if sop_class_uid:
        fields.append((AFFECTED_SOP_CLASS_UID, sop_class_uid))
    fields += [(COMMAND_FIELD, N_EVENT_REPORT_RSP), (MESSAGE_ID_BEING_RESPONDED_TO, message_id),
               (COMMAND_DATA_SET_TYPE, NO_DATASET), (STATUS, status)]
    if sop_instance_uid:
        fields.append((AFFECTED_SOP_INSTANCE_UID, sop_instance_uid))
    if event_type_id is not None:
        fields.append((EVENT_TYPE_ID, event_type_id))
    return encode_command(fields)


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
    def message_id(self) -> int | None:
        return self.us(MESSAGE_ID)

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
