"""De-identification of a Part 10 file as bytes, giving exactly the bytes the pydicom path gives.

The generic path (:meth:`CoercionPlan.coerce_file`) reads the whole object with pydicom, lets
:meth:`DeIdentifier.deidentify` change the data set and writes it again: about 3 ms for a 39 KB CT, most of it
spent turning elements nobody changes into Python objects and back. This module walks the encoded data set once,
copies every element the de-identifier leaves alone as a slice of the input (runs of them as one slice, pixel
data included) and encodes only what changes. Its output is the pydicom path's, byte for byte: what pydicom's
reader and writer do to an element on the way (sorting, dropped group lengths, re-encoded sequences, the
converted SOP Class / Instance UIDs and Specific Character Set, the File Meta Information it completes) is done
here the same way, and the constant elements (dummy values, the method code sequence) are encoded by pydicom
itself once per de-identifier. ``tests/unit/test_coercion_part10.py`` compares both paths on a varied corpus.

Reading is the package's one Part 10 reader's (:mod:`dcm_exporter._dicom.part10`): its File Meta Information
reader (a meta group the header scanner would decline is declined here too) and its element header reader;
what this module adds is the de-identification as it walks, and :func:`_dicom.part10.read_sop_class` (the
header scanner's strict walker) chooses the rules by SOP Class.

Anything this walker does not reproduce exactly raises :class:`Unsupported` and the object takes the generic
path: big endian or deflated syntaxes, a change of transfer syntax, elements out of order or repeated, an
unknown VR, an item in another VR encoding or with its own character set, a UN sequence of undefined length,
a truncated or misframed element, nesting deeper than :data:`MAX_DEPTH`, a PET object. Work is linear in the
input; memory is the input plus the output.
"""

from __future__ import annotations

import functools
import re
import struct
from typing import Any

from dcm_exporter._dicom.errors import FramingError
from dcm_exporter._dicom.part10 import LONG_VRS, element_header, parse_part10_meta
from dcm_exporter._dicom.part10 import UNDEFINED_LENGTH as _UNDEFINED
from dcm_exporter._dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from dcm_exporter.coercion._file_meta import outgoing_file_meta
from dcm_exporter.coercion.deidentify import (
    _DUMMY,
    _PET_IMAGE_STORAGE,
    DeIdentificationOption,
    DeIdentifier,
    remap_uid,
)

__all__ = ["MAX_DEPTH", "Encoded", "Unsupported", "deidentify_part10"]

#: Sequences nested deeper than this take the generic path (which is then limited by Python's recursion).
MAX_DEPTH = 48

_PIXEL_DATA = 0x7FE00010
_SPECIFIC_CHARACTER_SET = 0x00080005
_SOP_CLASS_UID = 0x00080016
_SOP_INSTANCE_UID = 0x00080018
_PATIENT_ID = 0x00100020
_ISSUER_OF_PATIENT_ID = 0x00100021
_ISSUER_QUALIFIERS = 0x00100024
_PATIENT_IDENTITY_REMOVED = 0x00120062
_METHOD_CODE_SEQUENCE = 0x00120064
_LONGITUDINAL = 0x00280303
_ITEM = 0xFFFEE000
_ITEM_DELIMITER = 0xFFFEE00D
_SEQUENCE_DELIMITER = 0xFFFEE0DD

_ITEM_DELIMITATION = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_DELIMITATION = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_ITEM_TAG = b"\xfe\xff\x00\xe0"

#: one or more UIDs as pydicom reads them unchanged (no whitespace to strip, no empty value), then padding
_UIDS = re.compile(rb"([0-9.]+(?:\\[0-9.]+)*)[\x00 ]*")
_EMPTY = re.compile(rb"[\x00 ]*")

_u16 = struct.Struct("<H")
_u32 = struct.Struct("<I")

# what happens to an element (the order of dcm4che's and DeIdentifier._item's steps)
_DROP, _CONST, _UID = 1, 2, 3


class Unsupported(Exception):
    """The object has a shape this walker does not reproduce exactly: the generic path takes it."""


class Encoded:
    """The de-identified object: Part 10 bytes, where the data set starts, the UIDs as sent."""

    __slots__ = ("dataset_offset", "part10", "sop_class_uid", "sop_instance_uid", "transfer_syntax_uid")

    def __init__(
        self, part10: bytes, dataset_offset: int, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str
    ) -> None:
        self.part10 = part10
        self.transfer_syntax_uid = transfer_syntax_uid
        self.dataset_offset = dataset_offset
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


@functools.lru_cache(maxsize=4096)
def _remap(uid: str) -> str:
    # study, series and frame of reference UIDs repeat across the objects of an export
    return remap_uid(uid)


@functools.cache
def _dictionary_vr(tag: int) -> str | None:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


@functools.lru_cache(maxsize=64)
def _syntax_supported(uid: str) -> bool:
    """Little endian syntaxes pydicom reads as they are: the two uncompressed ones and the encapsulated ones."""
    if uid in (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN):
        return True
    from pydicom.uid import UID

    u = UID(uid)
    return bool(u.is_transfer_syntax and not u.is_private and u.is_compressed and u.is_little_endian) and (
        not u.is_deflated
    )


def _uid_values(value: bytes) -> list[str] | None:
    """The UIDs of a UI value as pydicom reads them, or ``None`` for an empty value; :class:`Unsupported` for
    any value pydicom would change in ways not reproduced here (whitespace, empty values, other bytes)."""
    m = _UIDS.fullmatch(value)
    if m is None:
        if _EMPTY.fullmatch(value):
            return None
        raise Unsupported("a UID value with other characters")
    return m.group(1).decode("ascii").split("\\")


def _ui_value(text: str) -> bytes:
    raw = text.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _header(tag: int, vr: bytes, length: int, explicit: bool) -> bytes:
    head = _u32.pack(((tag & 0xFFFF) << 16) | (tag >> 16))
    if not explicit:
        return head + _u32.pack(length)
    if vr in LONG_VRS:
        return head + vr + b"\x00\x00" + _u32.pack(length)
    if length > 0xFFFF:
        raise Unsupported("a value too long for its VR")  # pydicom would write it as UN
    return head + vr + _u16.pack(length)


def _ui_element(tag: int, uids: list[str] | None, explicit: bool) -> bytes:
    value = b"" if uids is None else _ui_value("\\".join(uids))
    return _header(tag, b"UI", len(value), explicit) + value


class _Tables:
    """What a de-identifier does, per tag, and its constant elements encoded by pydicom (per VR encoding)."""

    def __init__(self, deidentifier: DeIdentifier) -> None:
        o = DeIdentificationOption
        self.deidentifier = deidentifier
        self.pid_hash = deidentifier.has(o.RETAIN_PATIENT_ID_HASH)
        self.retain_dates = deidentifier.has(o.RETAIN_FULL_DATES)
        actions: dict[int, int] = {}
        for tag in deidentifier.uids:
            if _dictionary_vr(tag) != "UI":
                raise Unsupported(f"remapped tag {tag:08X} is not a UI")
            actions[tag] = _UID
        for tag in deidentifier.replace | deidentifier.dummy:
            actions[tag] = _CONST
        for tag in deidentifier.remove:
            actions[tag] = _DROP
        inserted = {_PATIENT_IDENTITY_REMOVED, _METHOD_CODE_SEQUENCE, _LONGITUDINAL}
        if inserted & actions.keys() or {_SOP_CLASS_UID, _SPECIFIC_CHARACTER_SET, _PIXEL_DATA} & actions.keys():
            raise Unsupported("the de-identifier changes an element this walker handles itself")
        self.actions = actions
        self._consts: dict[tuple[int, bool], bytes | None] = {}
        self._top: dict[bool, tuple[bytes, bytes, bytes, bytes]] = {}

    def const(self, tag: int, explicit: bool) -> bytes:
        """The element ``DeIdentifier._item`` puts in place of ``tag`` (emptied or a dummy value)."""
        key = (tag, explicit)
        if key not in self._consts:
            self._consts[key] = self._encode_const(tag, explicit)
        found = self._consts[key]
        if found is None:
            raise Unsupported(f"pydicom cannot encode the replacement of {tag:08X}")
        return found

    def _encode_const(self, tag: int, explicit: bool) -> bytes | None:
        from pydicom import config
        from pydicom.dataelem import DataElement

        vr = _dictionary_vr(tag) or "UN"
        if tag in self.deidentifier.dummy and vr not in ("SQ", "UN"):
            value: Any = _DUMMY.get(vr, "REMOVED")
        else:
            value = [] if vr == "SQ" else None
        try:
            return _write(DataElement(tag, vr, value, validation_mode=config.IGNORE), explicit)
        except Exception:  # e.g. an ambiguous VR in explicit VR: the generic path reports it
            return None

    def top(self, explicit: bool) -> tuple[bytes, bytes, bytes, bytes]:
        """Patient Identity Removed, the method code sequence (whole, and its new items alone), Longitudinal
        Temporal Information Modified, as ``DeIdentifier.deidentify`` sets them."""
        found = self._top.get(explicit)
        if found is None:
            from pydicom.dataset import Dataset

            ds = Dataset()
            ds.PatientIdentityRemoved = "YES"
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if self.retain_dates else "REMOVED"
            ds.DeidentificationMethodCodeSequence = []
            for option in self.deidentifier.options:
                item = Dataset()
                item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = option.code
                ds.DeidentificationMethodCodeSequence.append(item)
            sequence = _write(ds[_METHOD_CODE_SEQUENCE], explicit)
            found = (
                _write(ds[_PATIENT_IDENTITY_REMOVED], explicit),
                sequence,
                sequence[12 if explicit else 8 :],
                _write(ds[_LONGITUDINAL], explicit),
            )
            self._top[explicit] = found
        return found


def _write(elem: Any, explicit: bool) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = not explicit
    write_data_element(buffer, elem)
    return bytes(buffer.getvalue())


@functools.lru_cache(maxsize=256)
def _reencoded(tag: int, vr: str | None, value: bytes, explicit: bool) -> bytes:
    """An element pydicom converts on the way (e.g. Specific Character Set), as its writer writes it again."""
    from pydicom.dataelem import RawDataElement
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag

    raw = RawDataElement(Tag(tag), vr, len(value), value, 0, not explicit, True)
    ds = Dataset({Tag(tag): raw})
    ds.set_original_encoding(not explicit, True, "iso8859")
    return _write(ds[tag], explicit)


class _NoTables(_Tables):
    """No action: for walking headers only."""

    def __init__(self) -> None:
        self.actions = {}


_NO_TABLES = _NoTables()

_TABLES: dict[tuple[DeIdentificationOption, ...], _Tables | None] = {}


def _tables(deidentifier: DeIdentifier) -> _Tables:
    key = deidentifier.options
    if key not in _TABLES:
        try:
            _TABLES[key] = _Tables(deidentifier)
        except Unsupported:
            _TABLES[key] = None
    found = _TABLES[key]
    if found is None:
        raise Unsupported("options")
    return found


class _Walker:
    """One object: walks its data set and collects the output as slices of the input and new bytes."""

    def __init__(self, data: bytes, explicit: bool, tables: _Tables | None, compressed: bool = False) -> None:
        self.data = data
        self.view = memoryview(data)
        self.explicit = explicit
        self.compressed = compressed
        self.tables = tables or _NO_TABLES
        self.actions = self.tables.actions
        self.sop_class: str | None = None
        self.sop_instance: str | None = None
        self.patient_id: bytes | None = None  # Patient ID as the hash option sets it

    # --- one element's header ---

    def element(self, pos: int, end: int) -> tuple[int, bytes, int, int]:
        """(tag, VR as in the file or b"" in implicit VR, value start, length) of the element at ``pos``
        (:class:`~dcm_exporter._dicom.errors.FramingError` for a cut-off header or an unknown VR)."""
        found = element_header(self.data, pos, end, self.explicit)
        if found[2] - pos == 12 and self.data[pos + 6 : pos + 8] != b"\x00\x00":
            raise Unsupported("a long VR header pydicom would write otherwise")
        return found

    def vr_of(self, tag: int, vr: bytes) -> str | None:
        return vr.decode("ascii") if self.explicit else _dictionary_vr(tag)

    # --- data sets ---

    def dataset(
        self, pos: int, end: int | None, depth: int, out: list[Any], top: bool = False
    ) -> tuple[int, int]:
        """De-identify the data set from ``pos`` to ``end`` (``None``: up to an item delimitation item) into
        ``out``; (bytes written, position after the data set and its delimiter)."""
        if depth > MAX_DEPTH:
            raise Unsupported("nesting too deep")
        data, view, actions, explicit = self.data, self.view, self.actions, self.explicit
        limit = len(data) if end is None else end
        written = 0
        run_start = run_end = -1  # elements copied as they are, contiguous in the input
        previous = -1
        inserts: list[tuple[int, bytes]] = []
        if top:
            removed, sequence, _, longitudinal = self.tables.top(explicit)
            inserts = [(_LONGITUDINAL, longitudinal), (_METHOD_CODE_SEQUENCE, sequence),
                       (_PATIENT_IDENTITY_REMOVED, removed)]  # fmt: skip
        while True:
            if pos == limit and (end is not None or top):
                break
            start = pos
            tag, vr, vstart, length = element_header(data, pos, limit, explicit)
            if vstart - pos == 12 and data[pos + 6 : pos + 8] != b"\x00\x00":
                raise Unsupported("a long VR header pydicom would write otherwise")
            if tag == _ITEM_DELIMITER:
                if end is not None or top:
                    raise Unsupported("an item delimitation item outside an undefined-length item")
                pos = vstart
                break
            if tag >> 16 == 0xFFFE or tag <= previous:
                raise Unsupported("elements out of order, repeated, or an item where an element belongs")
            previous = tag
            if top and tag >> 16 in (0, 2):
                raise Unsupported("command or file meta elements in the data set")
            if not top and tag == _SPECIFIC_CHARACTER_SET:
                raise Unsupported("an item with its own character set")
            # where the element ends (undefined lengths: sequences and encapsulated pixel data are walked)
            sequence_items: list[Any] | None = None
            if length == _UNDEFINED:
                vr_name = self.vr_of(tag, vr)
                if vr_name is None and not explicit and data[vstart : vstart + 4] == _ITEM_TAG:
                    vr_name = "SQ"  # pydicom looks ahead for an item when the dictionary does not know the tag
                if vr_name == "SQ":
                    sequence_items = []
                    pos = self.sequence(vstart, None, depth, sequence_items)[1]
                elif top and tag == _PIXEL_DATA and self.compressed and vr in (b"OB", b"OW"):
                    pos = self.fragments(vstart)
                else:
                    raise Unsupported("an undefined-length element that is not a sequence or pixel data")
                value_end = pos
            else:
                value_end = vstart + length
                if value_end > limit:
                    raise Unsupported("a value beyond its data set")
                pos = value_end
            # insertions that sort before this element (and the one it replaces)
            while inserts and inserts[-1][0] <= tag:
                itag, ibytes = inserts.pop()
                if run_start >= 0:
                    out.append(view[run_start:run_end])
                    written += run_end - run_start
                    run_start = -1
                if itag == tag:
                    if itag == _METHOD_CODE_SEQUENCE:
                        if self.vr_of(tag, vr) != "SQ":
                            raise Unsupported("an existing method code sequence that is not an SQ")
                        written += self.existing_method_codes(tag, vstart, length, sequence_items, depth, out)
                    else:
                        if explicit and vr != b"CS":
                            raise Unsupported("an existing element set by the de-identifier with another VR")
                        out.append(ibytes)
                        written += len(ibytes)
                    tag = -1  # handled
                    break
                out.append(ibytes)
                written += len(ibytes)
            if tag == -1:
                continue
            # what the de-identifier does to it
            group = tag >> 16
            action = actions.get(tag)
            new: bytes | None = None
            if group & 1 or (tag & 0xFFE10000) in (0x50000000, 0x60000000) or action == _DROP:
                new = b""
            elif action == _CONST:
                if tag == _PATIENT_ID and top and self.patient_id is not None:
                    new = self.patient_id
                else:
                    new = self.tables.const(tag, explicit)
            elif action == _UID:
                if explicit and vr != b"UI":
                    raise Unsupported("a remapped UID with another VR")
                if length == _UNDEFINED:
                    raise Unsupported("an undefined-length UID")
                uids = _uid_values(data[vstart:value_end])
                if uids is not None:
                    uids = [_remap(u) for u in uids]
                    if tag == _SOP_INSTANCE_UID and top:
                        self.sop_instance = "\\".join(uids)
                new = _ui_element(tag, uids, explicit)
            elif tag & 0xFFFF == 0 and group > 6:
                new = b""  # pydicom does not write retired group lengths
            elif self.vr_of(tag, vr) == "SQ":
                if sequence_items is None:
                    sequence_items = []
                    if length:
                        self.sequence(vstart, value_end, depth, sequence_items)
                new = self.sequence_bytes(tag, length == _UNDEFINED, sequence_items)
            elif top and tag in (_SOP_CLASS_UID, _SOP_INSTANCE_UID):
                # pydicom converts them (to compare with the file meta) and writes them again
                uids = _uid_values(data[vstart:value_end])
                if explicit and vr != b"UI":
                    raise Unsupported("a SOP UID with another VR")
                if uids is None or len(uids) != 1:
                    raise Unsupported("an empty or multi-valued SOP UID")
                if tag == _SOP_CLASS_UID:
                    self.sop_class = uids[0]
                else:
                    self.sop_instance = uids[0]
                new = _ui_element(tag, uids, explicit)
            elif top and tag == _SPECIFIC_CHARACTER_SET:
                new = _reencoded(tag, self.vr_of(tag, vr), bytes(data[vstart:value_end]), explicit)
            elif top and tag == _PIXEL_DATA:
                # pydicom writes it with an undefined length exactly when the syntax is a compressed one
                if length != _UNDEFINED and (self.compressed or length % 2 or (explicit and vr not in (b"OB", b"OW"))):
                    raise Unsupported("pixel data pydicom would pad, convert or encapsulate")
            elif length == 0 and (vr == b"UN" or (not explicit and " or " in (_dictionary_vr(tag) or ""))):
                # pydicom converts an empty value when it writes it: these could change VR or fail
                raise Unsupported("an empty value pydicom converts to another VR")
            if new is None and not (top and tag == _PIXEL_DATA and length == _UNDEFINED):
                # copied as it is
                if run_start >= 0 and run_end == start:
                    run_end = pos
                else:
                    if run_start >= 0:
                        out.append(view[run_start:run_end])
                        written += run_end - run_start
                    run_start, run_end = start, pos
                continue
            if run_start >= 0:
                out.append(view[run_start:run_end])
                written += run_end - run_start
                run_start = -1
            if new is None:  # encapsulated pixel data: header and fragments as read, a clean delimiter
                body = view[start : pos - 8]
                out.append(body)
                out.append(_SEQUENCE_DELIMITATION)
                written += len(body) + 8
            elif new:
                out.append(new)
                written += len(new)
        if run_start >= 0:
            out.append(view[run_start:run_end])
            written += run_end - run_start
        while inserts:
            ibytes = inserts.pop()[1]
            out.append(ibytes)
            written += len(ibytes)
        if end is not None and pos != end:
            raise Unsupported("a data set that does not end where its item does")
        return written, pos

    def existing_method_codes(
        self, tag: int, vstart: int, length: int, items: list[Any] | None, depth: int, out: list[Any]
    ) -> int:
        if items is None:
            items = []
            if length:
                self.sequence(vstart, vstart + length, depth, items)
        appended = self.tables.top(self.explicit)[2]
        encoded = self.sequence_bytes(tag, length == _UNDEFINED, [*items, appended])
        out.append(encoded)
        return len(encoded)

    def sequence(self, pos: int, end: int | None, depth: int, items: list[Any]) -> tuple[int, int]:
        """The items of a sequence, de-identified, each as one bytes object (header to delimiter) in
        ``items``; (their total length, position after the sequence and its delimiter)."""
        data = self.data
        total = 0
        while end is None or pos < end:
            tag, _, _, length = element_header(data, pos, len(data) if end is None else end, False)
            if tag == _SEQUENCE_DELIMITER:
                if end is not None:
                    raise Unsupported("a sequence delimitation item in a defined-length sequence")
                return total, pos + 8
            if tag != _ITEM:
                raise Unsupported("a sequence element that is not an item")
            content: list[Any] = []
            if length == _UNDEFINED:
                n, pos = self.dataset(pos + 8, None, depth + 1, content)
                encoded = b"".join([_ITEM_TAG, b"\xff\xff\xff\xff", *content, _ITEM_DELIMITATION])
            else:
                item_end = pos + 8 + length
                if item_end > (len(data) if end is None else end):
                    raise Unsupported("an item beyond its sequence")
                n, pos = self.dataset(pos + 8, item_end, depth + 1, content)
                encoded = b"".join([_ITEM_TAG, _u32.pack(n), *content])
            items.append(encoded)
            total += len(encoded)
        if pos != end:
            raise Unsupported("a sequence that does not end where its value does")
        return total, pos

    def sequence_bytes(self, tag: int, undefined: bool, items: list[Any]) -> bytes:
        body = b"".join(items)
        if undefined:
            return b"".join([_header(tag, b"SQ", _UNDEFINED, self.explicit), body, _SEQUENCE_DELIMITATION])
        return _header(tag, b"SQ", len(body), self.explicit) + body

    def fragments(self, pos: int) -> int:
        """The position after encapsulated pixel data (as pydicom walks it: items, then the delimiter)."""
        data = self.data
        size = len(data)
        if data[pos : pos + 4] != _ITEM_TAG:
            raise Unsupported("encapsulated pixel data without items")  # pydicom refuses to write it
        while True:
            tag, _, pos, length = element_header(data, pos, size, False)
            if tag == _SEQUENCE_DELIMITER:
                return pos
            if tag != _ITEM:
                raise Unsupported("encapsulated pixel data pydicom reads by scanning")
            pos += length


def _patient_id(walker: _Walker, pos: int) -> bytes | None:
    """Patient ID as ``RetainPatientIDHashOption`` sets it (``None``: no Patient ID to hash): the ID and its
    issuer are read by pydicom from their raw elements, as ``DeIdentifier.deidentify`` reads them."""
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag

    from dcm_exporter.coercion.deidentify import _id_with_issuer, name_based_uuid

    data, explicit = walker.data, walker.explicit
    wanted = (_SPECIFIC_CHARACTER_SET, _PATIENT_ID, _ISSUER_OF_PATIENT_ID, _ISSUER_QUALIFIERS)
    raw: dict[Any, Any] = {}
    size = len(data)
    while pos < size:
        tag, vr, vstart, length = walker.element(pos, size)
        if tag > _ISSUER_QUALIFIERS:
            break
        if length == _UNDEFINED:
            if tag in wanted or walker.vr_of(tag, vr) != "SQ":
                raise Unsupported("an undefined length before the Patient ID's issuer")
            pos = walker.sequence(vstart, None, 0, [])[1]
            continue
        if vstart + length > size:
            raise Unsupported("a value beyond the data set")
        if tag in wanted:
            value = data[vstart : vstart + length]
            raw[Tag(tag)] = RawDataElement(Tag(tag), walker.vr_of(tag, vr) if explicit else None, length, value,
                                           0, not explicit, True)  # fmt: skip
        pos = vstart + length
    ds = Dataset(raw)
    ds.set_original_encoding(not explicit, True, ds._character_set)
    pid = _id_with_issuer(ds)
    if pid is None:
        return None
    return _write(DataElement(_PATIENT_ID, "LO", str(name_based_uuid(pid.encode("utf-8")))), explicit)


#: File Meta Information as pydicom completes and writes it, per (other meta elements, SOP class, syntax):
#: the elements before and after the Media Storage SOP Instance UID
_META: dict[tuple[bytes, str, str], tuple[bytes, bytes]] = {}
_PLACEHOLDER = "2.25.1"


def _meta_template(data: bytes, meta_end: int, key: tuple[bytes, str, str]) -> tuple[bytes, bytes]:
    found = _META.get(key)
    if found is not None:
        return found
    import io

    import pydicom
    from pydicom.dataset import validate_file_meta
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import UID

    fds = pydicom.dcmread(io.BytesIO(data[:meta_end]))
    meta = fds.file_meta
    # as encode_part10 and dcmwrite do
    meta.TransferSyntaxUID = UID(key[2])
    meta.MediaStorageSOPInstanceUID = UID(_PLACEHOLDER)
    meta.MediaStorageSOPClassUID = UID(key[1])
    meta = outgoing_file_meta(meta)
    validate_file_meta(meta, enforce_standard=True)
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    written = bytes(buffer.getvalue())
    if written[:8] != b"\x02\x00\x00\x00UL\x04\x00":
        raise Unsupported("a file meta group length pydicom writes otherwise")
    placeholder = _ui_element(0x00020003, [_PLACEHOLDER], True)
    at = written.find(b"\x02\x00\x03\x00UI")
    if at < 0 or written[at : at + len(placeholder)] != placeholder:
        raise Unsupported("a Media Storage SOP Instance UID pydicom writes otherwise")
    found = (written[12:at], written[at + len(placeholder) :])
    if len(_META) > 64:
        _META.clear()
    _META[key] = found
    return found


def _source_syntax(data: bytes) -> tuple[list[tuple[int, int, int]], int, str]:
    """The File Meta Information elements (tag, start, end), where the data set starts, the transfer syntax."""
    elements: list[tuple[int, int, int]] = []
    meta = parse_part10_meta(data, elements=elements)
    if isinstance(meta, int):
        raise Unsupported("a truncated file meta, or no data set")
    if meta.unusual is not None:
        raise Unsupported(f"a file meta group the header scanner declines: {meta.unusual}")
    syntax = None
    for tag, start, end in elements:
        if tag == 0x00020010:
            uids = _uid_values(data[start + 8 : end])
            if uids is None or len(uids) != 1:
                raise Unsupported("no single transfer syntax")
            syntax = uids[0]
    if syntax is None or not _syntax_supported(syntax):
        raise Unsupported("a transfer syntax this walker does not handle")
    return elements, meta.dataset_offset, syntax


def _pydicom_as_assumed() -> bool:
    """pydicom's reading and writing settings are the defaults this module reproduces."""
    from pydicom import config

    return (
        config.replace_un_with_known_vr
        and config.settings.infer_sq_for_un_vr
        and config.assume_implicit_vr_switch
        and not config.use_none_as_empty_text_VR_value
        and config.settings.reading_validation_mode != config.RAISE
        and config.settings.writing_validation_mode != config.RAISE
        and not config._use_future
    )


def deidentify_part10(
    deidentifier: DeIdentifier, data: bytes, target_transfer_syntax: str | None = None
) -> Encoded:
    """``deidentifier`` applied to the Part 10 file ``data``, encoded as the generic path encodes it.

    Raises:
        Unsupported: the object has a shape not reproduced here (the caller takes the generic path).
    """
    if not _pydicom_as_assumed():
        raise Unsupported("pydicom settings other than its defaults")
    tables = _tables(deidentifier)
    try:
        return _deidentify(tables, data, target_transfer_syntax)
    except FramingError as exc:  # from the element reader: a truncated header, an unknown VR
        raise Unsupported(str(exc)) from None


def _deidentify(tables: _Tables, data: bytes, target_transfer_syntax: str | None) -> Encoded:
    elements, meta_end, syntax = _source_syntax(data)
    if target_transfer_syntax not in (None, syntax):
        raise Unsupported("a change of transfer syntax")
    if meta_end + 8 > len(data):
        raise Unsupported("an empty data set")
    explicit = syntax != IMPLICIT_VR_LITTLE_ENDIAN
    # pydicom guesses the VR encoding from the first element and may disagree with the syntax
    b4, b5 = data[meta_end + 4], data[meta_end + 5]
    if (0x40 < b4 < 0x5B and 0x40 < b5 < 0x5B) != explicit:
        raise Unsupported("a data set in another VR encoding than its syntax says")
    compressed = syntax not in (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)
    walker = _Walker(data, explicit, tables, compressed)
    if tables.pid_hash:
        walker.patient_id = _patient_id(walker, meta_end)
    body: list[Any] = []
    walker.dataset(meta_end, None, 0, body, top=True)
    sop_class, sop_instance = walker.sop_class, walker.sop_instance
    if sop_class is None or sop_instance is None or "\\" in sop_instance:
        raise Unsupported("no single SOP Class or Instance UID")
    if sop_class == _PET_IMAGE_STORAGE and not tables.retain_dates:
        raise Unsupported("a PET object (dummy series date and time)")
    uid_tags = (0x00020000, 0x00020002, 0x00020003, 0x00020010)
    # the meta elements pydicom copies, and the VR of those it sets (it keeps an element's VR when it sets it)
    others = b"".join(data[s:e] if tag not in uid_tags else data[s : s + 6] for tag, s, e in elements)
    before, after = _meta_template(data, meta_end, (others, sop_class, syntax))
    instance = _ui_element(0x00020003, [sop_instance], True)
    group = len(before) + len(instance) + len(after)
    head = [data[:132], b"\x02\x00\x00\x00UL\x04\x00", _u32.pack(group), before, instance, after]
    offset = 132 + 12 + group
    return Encoded(b"".join(head + body), offset, sop_class, sop_instance, syntax)
