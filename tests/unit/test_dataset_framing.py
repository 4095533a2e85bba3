"""check_dataset_framing: a whole data set passes, a truncated one is named with element and offset.

The ``dicom:`` transport sends data sets as stored; this check runs first so that a truncated file fails
alone instead of making the peer abort the association (found in acceptance testing).

At the end: the same module's API for walkers that act on each element (the de-identification of Part 10
bytes): meta element offsets, one element's header, the SOP Class UID as the header scanner reads it.
"""

from __future__ import annotations

import io
import itertools
import os
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dcm_exporter._dicom import framing as d
from dcm_exporter._dicom import part10 as p10

UID = "1.2.826.0.1.3680043.8.498.12345678901234567890"
TRUNCATED_ON_PURPOSE = {"MR_truncated.dcm", "rtplan_truncated.dcm"}


def check(data: bytes, name: str = "x.dcm") -> None:
    fp = io.BytesIO(data)
    meta = p10.read_part10_meta(fp, name=name)
    p10.check_dataset_framing(fp, meta.dataset_offset, len(data), meta.transfer_syntax_uid, name=name)


def part10(ts: str, *, undefined_sequences: bool = False, keep: int | None = None) -> bytes:
    """A small CT Part 10 file; ``keep``: only its first ``keep`` top-level elements."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = UID
    ds.PatientName = "Test^Framing"
    item = Dataset()
    item.CodeValue = "123"
    item.CodeMeaning = "something"
    ds.ProcedureCodeSequence = Sequence([item, item])
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 4, 4, 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.PhotometricInterpretation = 1, 0, "MONOCHROME2"
    ds.PixelData = bytes(range(32))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if keep is not None:
        for tag in sorted(ds.keys())[keep:]:
            del ds[tag]
    ds.file_meta.TransferSyntaxUID = ts
    buf = io.BytesIO()
    if undefined_sequences and "ProcedureCodeSequence" in ds:
        ds.ProcedureCodeSequence.is_undefined_length = True
        for it in ds.ProcedureCodeSequence:
            it.is_undefined_length_sequence_item = True
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _dataset_of(ts: str, undefined: bool, keep: int) -> bytes:
    """The data set bytes (after the meta group) of the test file's first ``keep`` elements."""
    data = part10(ts, undefined_sequences=undefined, keep=keep)
    return data[p10.read_part10_meta(io.BytesIO(data)).dataset_offset :]


def test_every_whole_pydicom_test_file_passes() -> None:
    checked = 0
    ct_small = get_testdata_file("CT_small.dcm")
    assert ct_small is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(str(p) for p in Path(ct_small).parent.iterdir()):  # the wheel's files, no download
            name = os.path.basename(path)
            if not os.path.isfile(path) or name in TRUNCATED_ON_PURPOSE:
                continue
            data = Path(path).read_bytes()
            try:
                p10.read_part10_meta(io.BytesIO(data), name=name)
            except d.FramingError:
                continue  # not a Part 10 file
            check(data, name)
            checked += 1
    assert checked > 50


@pytest.mark.parametrize("name", sorted(TRUNCATED_ON_PURPOSE))
def test_pydicoms_truncated_files_are_found(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    with pytest.raises(d.FramingError, match=rf"{name}: truncated data set: \(....,....\) at offset \d+"):
        check(Path(path).read_bytes(), name)


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_every_cut_of_a_data_set_is_found(ts: str, undefined: bool) -> None:
    data = part10(ts, undefined_sequences=undefined)
    check(data)
    start = p10.read_part10_meta(io.BytesIO(data)).dataset_offset
    # a cut exactly between two top-level elements leaves a shorter but well-formed data set
    boundaries = {start + len(_dataset_of(ts, undefined, k)) for k in range(len(pydicom.dcmread(io.BytesIO(data))))}
    for cut in range(start + 1, len(data)):
        if cut in boundaries:
            check(data[:cut])
            continue
        with pytest.raises(d.FramingError, match=r"x\.dcm: (truncated|malformed) (data set|File Meta)"):
            check(data[:cut])


def test_encapsulated_pixel_data_cut_in_a_fragment_is_found() -> None:
    path = get_testdata_file("JPEG2000.dcm")
    assert path is not None
    data = Path(path).read_bytes()
    check(data)
    with pytest.raises(d.FramingError, match=r"item of \(7FE0,0010\) at offset \d+ declares \d+ bytes"):
        check(data[: len(data) - 100])


def test_a_deflated_data_set_is_not_walked() -> None:
    path = get_testdata_file("image_dfl.dcm")
    assert path is not None
    data = Path(path).read_bytes()
    assert pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID in p10.DEFLATED_DATASET_UIDS
    check(data[:-10])  # cannot tell without inflating: left to the peer


# --- the API for walkers that act on each element ----------------------------------------------------


def _testdata(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None
    return Path(path).read_bytes()


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_element_headers_step_through_a_data_set_as_pydicom_reads_it(ts: str) -> None:
    data = part10(ts)
    meta = p10.parse_part10_meta(data)
    assert isinstance(meta, p10.Part10Meta)
    explicit = ts == ExplicitVRLittleEndian
    ds = pydicom.dcmread(io.BytesIO(data))
    walked = []
    pos = meta.dataset_offset
    while pos < len(data):
        tag, vr, start, length = p10.element_header(data, pos, len(data), explicit)
        assert length != p10.UNDEFINED_LENGTH
        walked.append((tag, vr.decode() if explicit else ds[tag].VR, length))
        pos = start + length
    assert pos == len(data)
    assert walked == [(int(e.tag), e.VR, len(data_of(e, explicit))) for e in ds]


def data_of(elem: pydicom.DataElement, explicit: bool) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, not explicit
    write_data_element(out, elem)
    head = 12 if explicit and elem.VR in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR") else 8
    return bytes(out.getvalue())[head:]


def test_element_header_raises_for_a_cut_header_and_an_unknown_vr() -> None:
    short = b"\x10\x00\x10\x00PN\x08\x00Doe^John"
    assert p10.element_header(short, 0, len(short), True) == (0x00100010, b"PN", 8, 8)
    with pytest.raises(d.FramingError, match="cut off"):
        p10.element_header(short, 0, 7, True)
    long_cut = b"\x10\x00\x30\x10UT\x00\x00\x10"
    with pytest.raises(d.FramingError, match=r"\(0010,1030\) at offset 0 is cut off"):
        p10.element_header(long_cut, 0, len(long_cut), True)
    with pytest.raises(d.FramingError, match="unknown VR"):
        p10.element_header(b"\x10\x00\x10\x00XX\x08\x00Doe^John", 0, 16, True)
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"  # items have no VR in explicit VR either
    assert p10.element_header(item, 0, 8, True) == (0xFFFEE000, b"", 8, p10.UNDEFINED_LENGTH)


def test_meta_elements_cover_the_meta_group_in_order() -> None:
    data = _testdata("CT_small.dcm")
    spans: list[tuple[int, int, int]] = []
    meta = p10.parse_part10_meta(data, elements=spans)
    assert isinstance(meta, p10.Part10Meta)
    assert [tag for tag, _, _ in spans] == [int(e.tag) for e in pydicom.dcmread(io.BytesIO(data)).file_meta]
    assert spans[0][1] == 132 and spans[-1][2] == meta.dataset_offset
    assert all(end == next_start for (_, _, end), (_, next_start, _) in itertools.pairwise(spans))


def test_read_sop_class_is_the_header_scanners_value() -> None:
    ct_small = get_testdata_file("CT_small.dcm")
    assert ct_small is not None
    answered = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(Path(ct_small).parent.iterdir()):  # the wheel's files, no download
            if not path.is_file():
                continue
            data = path.read_bytes()
            try:
                header = p10.parse_header(data)
            except d.FramingError:
                continue
            if header is None:
                continue
            found = p10.read_sop_class(data)
            if "SOPClassUID" in pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True):
                assert found == header.sop_class_uid, path.name
                answered += 1
    assert answered > 30
    assert p10.read_sop_class(part10(ExplicitVRLittleEndian)) == CTImageStorage
    assert p10.read_sop_class(part10(ImplicitVRLittleEndian, keep=0)) is None  # no data set element
    assert p10.read_sop_class(_testdata("image_dfl.dcm")) is None  # deflated: left to pydicom
    assert p10.read_sop_class(b"not a DICOM file") is None
