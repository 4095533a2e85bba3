"""Pure framing logic of the ``dicom:`` fast path: command sets, P-DATA-TF, PDU splitting, file meta."""

from __future__ import annotations

import io
import struct
from typing import Any

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from dcm_exporter._dicom import framing as d
from dcm_exporter._dicom import part10
from dcm_exporter.export import InstanceRef
from dcm_exporter.transports.dicom import plan_groups, propose_transfer_syntaxes

ELE, ILE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def test_c_store_rq_round_trips_and_matches_pydicom() -> None:
    raw = d.c_store_rq(
        7,
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.3.4.5",
        priority=2,
        move_originator_aet="MOVESCU",
        move_originator_message_id=9,
    )
    cmd = d.parse_command(raw)
    assert cmd.command_field == d.C_STORE_RQ
    assert cmd.us(d.MESSAGE_ID) == 7
    assert cmd.us(d.PRIORITY) == 2
    assert cmd.text(d.AFFECTED_SOP_CLASS_UID) == "1.2.840.10008.5.1.4.1.1.2"
    assert cmd.text(d.AFFECTED_SOP_INSTANCE_UID) == "1.2.3.4.5"
    assert cmd.text(d.MOVE_ORIGINATOR_AET) == "MOVESCU"
    assert cmd.has_dataset
    # group length counts every byte after itself
    assert struct.unpack("<L", cmd.elements[0x0000])[0] == len(raw) - 12
    # pydicom decodes the same command set (implicit VR little endian)
    from pydicom.filereader import read_dataset

    ds = read_dataset(io.BytesIO(raw), is_implicit_VR=True, is_little_endian=True)
    assert ds.AffectedSOPInstanceUID == "1.2.3.4.5"
    assert ds.MessageID == 7 and ds.CommandField == 1


def test_c_echo_rq_has_no_dataset() -> None:
    cmd = d.parse_command(d.c_echo_rq(1))
    assert cmd.command_field == d.C_ECHO_RQ and not cmd.has_dataset


def test_encode_command_rejects_unordered_elements() -> None:
    with pytest.raises(d.FramingError, match="out of order"):
        d.encode_command([(0x0110, 1), (0x0100, 1)])


def test_parse_command_rejects_truncation_and_foreign_groups() -> None:
    raw = d.c_echo_rq(1)
    with pytest.raises(d.FramingError):
        d.parse_command(raw[:-1])
    with pytest.raises(d.FramingError, match="non-command"):
        d.parse_command(struct.pack("<HHL", 0x0008, 0x0018, 2) + b"1\x00")


@given(total=st.integers(0, 5000), max_pdv=st.integers(1, 700), prefix=st.binary(max_size=20))
def test_layout_pdata_frames_every_byte(total: int, max_pdv: int, prefix: bytes) -> None:
    payload = bytes(i % 251 for i in range(total))
    buf, slots = d.layout_pdata(3, total, max_pdv, command=False, prefix=prefix)
    for (off, n), start in zip(slots, range(0, max(total, 1), max_pdv), strict=True):
        buf[off : off + n] = payload[start : start + n]
    assert bytes(buf[: len(prefix)]) == prefix
    reader = d.PduReader()
    reader.feed(buf[len(prefix) :])
    pdus = list(reader.pdus())
    assert reader.pending == 0
    pdvs = [pdv for kind, body in pdus for pdv in d.split_pdvs(body)]
    assert all(kind == d.PDU_P_DATA_TF for kind, _ in pdus)
    assert b"".join(p.data for p in pdvs) == payload
    assert [p.last for p in pdvs] == [False] * (len(pdvs) - 1) + [True]
    assert all(p.context_id == 3 and not p.command and len(p.data) <= max_pdv for p in pdvs)


def test_layout_pdata_reuses_a_buffer() -> None:
    out = bytearray(b"x" * 10000)
    buf, slots = d.layout_pdata(1, 100, 50, command=True, out=out)
    assert buf is out and len(buf) == 100 + 2 * d.PDATA_OVERHEAD
    assert [n for _, n in slots] == [50, 50]


def test_pdata_pdu_matches_pynetdicom() -> None:
    from pynetdicom.pdu import P_DATA_TF

    raw = d.pdata_pdu(5, b"\x01\x02\x03\x04", command=True, last=True)
    pdu = P_DATA_TF()
    pdu.decode(raw)
    assert pdu.presentation_data_value_items[0].presentation_context_id == 5
    assert pdu.presentation_data_value_items[0].presentation_data_value == b"\x03\x01\x02\x03\x04"


def test_pdu_reader_handles_split_and_joined_feeds() -> None:
    stream = d.pdata_pdu(1, b"abc", command=True, last=True) + d.a_release_pdu(response=True)
    reader = d.PduReader()
    got = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        got.extend(reader.pdus())
    assert [k for k, _ in got] == [d.PDU_P_DATA_TF, d.PDU_A_RELEASE_RP]
    with pytest.raises(d.FramingError, match="unknown PDU type"):
        reader.feed(b"\x09\x00\x00\x00\x00\x00")
        list(reader.pdus())


def test_split_pdvs_rejects_bad_lengths() -> None:
    with pytest.raises(d.FramingError):
        d.split_pdvs(struct.pack(">LBB", 100, 1, 3) + b"xx")


def test_decode_abort() -> None:
    assert (
        d.decode_abort(d.a_abort_pdu(2, 6)[6:])
        == "A-ABORT from the service-provider: invalid PDU parameter value"
    )
    assert d.decode_abort(d.a_abort_pdu()[6:]) == "A-ABORT from the service-user"


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_jp2klossless.dcm", "rtplan.dcm", "image_dfl.dcm"])
def test_read_part10_meta_finds_the_data_set(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    with open(path, "rb") as fp:
        data = fp.read()
    with open(path, "rb") as fp:
        meta = part10.read_part10_meta(fp, name=name)
        assert fp.tell() == meta.dataset_offset
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert meta.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
    assert meta.sop_class_uid == ds.file_meta.MediaStorageSOPClassUID
    # the data set starts with the first non-meta element
    assert struct.unpack_from("<H", data, meta.dataset_offset)[0] != 0x0002
    # a short prefix asks for more bytes
    needed = part10.parse_part10_meta(data[:140])
    assert isinstance(needed, int) and needed > 140


def test_read_part10_meta_rejects_non_dicom() -> None:
    with pytest.raises(d.FramingError, match="no 'DICM' prefix"):
        part10.read_part10_meta(io.BytesIO(b"\x00" * 300), name="x.bin")
    with pytest.raises(d.FramingError, match="no 'DICM' prefix"):
        part10.read_part10_meta(io.BytesIO(b"short"), name="x.bin")


def _ref(uid: str, sop_class: str, ts: str) -> InstanceRef:
    return InstanceRef(
        study_uid="1",
        series_uid="2",
        sop_instance_uid=uid,
        sop_class_uid=sop_class,
        transfer_syntax_uid=ts,
        size=0,
        path="/nonexistent",
    )


def test_propose_transfer_syntaxes() -> None:
    assert propose_transfer_syntaxes([ELE], None) == [ELE, ILE]
    assert propose_transfer_syntaxes([ILE, ELE], ["*"]) == [ILE, ELE]
    video = "1.2.840.10008.1.2.4.102"
    assert propose_transfer_syntaxes([video], None) == [video]
    assert propose_transfer_syntaxes([video], [ELE]) == []


def test_plan_groups_splits_above_128_contexts_and_by_calling_ae() -> None:
    refs = [(_ref(str(n), f"1.2.3.{n}", ELE), "A" if n < 100 else "B") for n in range(110)]
    groups = plan_groups(refs, {})
    assert [(g.calling_ae_title, len(g.contexts), len(g.instances)) for g in groups] == [
        ("A", 128, 64),
        ("A", 72, 36),
        ("B", 20, 10),
    ]
    for g in groups:
        ids = [c.context_id for c in g.contexts]
        assert ids == list(range(1, 2 * len(ids), 2))


def test_dimse_n_command_sets_decode_in_pydicom() -> None:
    from pydicom.filereader import read_dataset

    def decoded(raw: bytes) -> Any:
        return read_dataset(io.BytesIO(raw), is_implicit_VR=True, is_little_endian=True)

    action = decoded(d.n_action_rq(3, "1.2.840.10008.1.20.1", "1.2.840.10008.1.20.1.1", 1))
    assert (action.CommandField, action.MessageID, action.ActionTypeID) == (0x0130, 3, 1)
    assert action.RequestedSOPClassUID == "1.2.840.10008.1.20.1"
    assert action.RequestedSOPInstanceUID == "1.2.840.10008.1.20.1.1"
    assert d.parse_command(d.n_action_rq(3, "1.2", "1.2.3", 1)).has_dataset

    create = decoded(d.n_create_rq(4, "1.2.840.10008.5.1.4.33", "2.25.9"))
    assert (create.CommandField, create.MessageID) == (0x0140, 4)
    assert (create.AffectedSOPClassUID, create.AffectedSOPInstanceUID) == ("1.2.840.10008.5.1.4.33", "2.25.9")

    rsp = d.parse_command(d.n_event_report_rsp(5, "1.2.840.10008.1.20.1", "1.2.840.10008.1.20.1.1", 2, 0x0110))
    assert (rsp.command_field, rsp.message_id_being_responded_to, rsp.status) == (0x8100, 5, 0x0110)
    assert rsp.us(d.EVENT_TYPE_ID) == 2 and not rsp.has_dataset
    assert decoded(d.n_event_report_rsp(5, None, None, None, 0)).Status == 0


@pytest.mark.parametrize("ts", [ELE, ILE])
def test_dimse_n_data_sets_round_trip(ts: str) -> None:
    from pydicom import Dataset

    from dcm_exporter._dicom.services import decode_dataset, encode_dataset

    ds = Dataset()
    ds.TransactionUID = "2.25.1"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedSOPSequence = [item]
    back = decode_dataset(encode_dataset(ds, ts), ts)
    assert back.TransactionUID == "2.25.1"
    assert back.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == "1.2.3"
    with pytest.raises(ValueError, match="undecodable data set"):
        decode_dataset(b"\x08\x00\x95\x11UI\xff\x7fshort", ts)
