"""dcm_exporter.sample: generated studies are valid DICOM with fresh, consistent UIDs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dcm_exporter.sample import (
    COMPRESSED_SOURCES,
    StudyInfo,
    _FastWriter,
    _read,
    _set_instance,
    add_compressed_series,
    generate_studies,
    generate_study,
    new_uid,
)

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def test_new_uid_is_fresh_valid_and_fixed_length() -> None:
    uids = {new_uid() for _ in range(2000)}
    assert len(uids) == 2000
    for uid in uids:
        assert len(uid) == 44 and uid.startswith("2.25.")
        assert not uid[5:].startswith("0")


def test_small_study_layout_and_identity(tmp_path: Path) -> None:
    study = generate_study(tmp_path, series=3, instances_per_series=4, kind="small", patient_id="P1")
    assert len(study.series) == 3 and len(study.files) == 12
    assert len(set(study.sop_instance_uids)) == 12
    assert study.sop_classes == (CT_IMAGE,)
    assert study.total_bytes == sum(p.stat().st_size for p in study.files)
    for series in study.series:
        numbers = []
        for inst in series.instances:
            assert inst.path.parent == tmp_path / study.study_uid / series.series_uid
            ds = dcmread(inst.path)
            assert ds.PatientID == "P1"
            assert ds.StudyInstanceUID == study.study_uid
            assert ds.SeriesInstanceUID == series.series_uid
            assert ds.SOPInstanceUID == inst.sop_instance_uid == ds.file_meta.MediaStorageSOPInstanceUID
            assert ds.file_meta.TransferSyntaxUID == inst.transfer_syntax_uid
            assert ds.AccessionNumber == study.accession_number
            numbers.append(int(ds.InstanceNumber))
            assert float(ds.ImagePositionPatient[2]) == float(ds.SliceLocation)
        assert numbers == [1, 2, 3, 4]
    # 128 x 128 16-bit CT: about 39 KB
    assert all(30_000 < i.size < 50_000 for i in study.instances)


def test_ct_kind_is_512_square_16_bit(tmp_path: Path) -> None:
    study = generate_study(tmp_path, series=1, instances_per_series=2, kind="ct")
    ds = dcmread(study.files[1])
    assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (512, 512, 16)
    assert len(ds.PixelData) == 512 * 512 * 2
    assert all(500_000 < i.size < 600_000 for i in study.instances)
    pixels = ds.pixel_array
    assert pixels.min() == -1000 and pixels.max() > 0  # air around a body


def test_mr_kind(tmp_path: Path) -> None:
    study = generate_study(tmp_path, instances_per_series=3, kind="mr")
    assert study.sop_classes == (MR_IMAGE,) and study.modalities == ("MR",)


def test_mixed_study_has_several_sop_classes(tmp_path: Path) -> None:
    study = generate_study(tmp_path, series=2, instances_per_series=2, kind="mixed")
    assert study.modalities == ("CT", "SR", "RTSTRUCT")
    assert len(study.sop_classes) == 3
    for inst in study.instances:
        ds = dcmread(inst.path)
        assert ds.StudyInstanceUID == study.study_uid and ds.SOPClassUID == inst.sop_class_uid


def test_study_uid_reuse_and_independent_studies(tmp_path: Path) -> None:
    first = generate_study(tmp_path, instances_per_series=1)
    more = generate_study(
        tmp_path, instances_per_series=1, study_uid=first.study_uid, patient_id=first.patient_id
    )
    assert more.study_uid == first.study_uid and more.series_uids != first.series_uids
    others = generate_studies(tmp_path, 3, instances_per_series=1, kind="mr")
    assert len({s.study_uid for s in others}) == 3
    assert len({s.patient_id for s in others}) == 3


@pytest.mark.parametrize("kind", sorted(COMPRESSED_SOURCES))
def test_compressed_series_copies_pixel_data_unchanged(tmp_path: Path, kind: str) -> None:
    study = generate_study(tmp_path, instances_per_series=1, kind="mr")
    extended = add_compressed_series(study, kind, instances=2)
    assert len(extended.series) == 2 and extended.series[0] == study.series[0]
    source_name, syntax = COMPRESSED_SOURCES[kind]
    source = dcmread(str(get_testdata_file(source_name)))
    for inst in extended.series[1].instances:
        assert inst.transfer_syntax_uid == syntax
        ds = dcmread(inst.path)
        assert ds.file_meta.TransferSyntaxUID == syntax
        assert ds.StudyInstanceUID == study.study_uid and ds.PatientID == study.patient_id
        assert ds.SOPInstanceUID != source.SOPInstanceUID
        assert ds.PixelData == source.PixelData


def test_several_compressed_kinds_at_once(tmp_path: Path) -> None:
    study = add_compressed_series(generate_study(tmp_path, instances_per_series=1), ["jpeg2000", "jpegls"])
    assert [s.instances[0].transfer_syntax_uid for s in study.series[1:]] == [
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.80",
    ]


def test_fast_writer_matches_pydicom_encoding(tmp_path: Path) -> None:
    ds = _read("CT_small.dcm")
    writer = _FastWriter.build(ds, positioned=True)
    assert writer is not None
    uid = new_uid()
    fast = writer.render(uid, 7, -15.0)
    _set_instance(ds, uid, 7, -15.0)
    slow_path = tmp_path / "slow.dcm"
    ds.save_as(slow_path, enforce_file_format=True)
    fast_ds, slow_ds = dcmread(__import__("io").BytesIO(fast)), dcmread(slow_path)
    assert fast_ds == slow_ds
    assert fast_ds.file_meta.MediaStorageSOPInstanceUID == uid


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "pet"}, "unknown sample kind"),
        ({"series": 0}, ">= 1"),
        ({"instances_per_series": 0}, ">= 1"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_study(tmp_path, **kwargs)  # type: ignore[arg-type]


def test_bad_compressed_kind(tmp_path: Path) -> None:
    study = generate_study(tmp_path, instances_per_series=1)
    with pytest.raises(ValueError, match="unknown compressed kind"):
        add_compressed_series(study, "jpegxl")  # type: ignore[arg-type]


def test_shared_small_study_fixture(small_study: StudyInfo) -> None:
    assert len(small_study.series) == 2 and len(small_study.files) == 6
    assert all(p.is_file() for p in small_study.files)
