"""Small generated DICOM Part 10 files for the export-core tests (no dependency on dcm_exporter.sample)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


@dataclass
class GeneratedStudy:
    study_uid: str
    series_uids: list[str]
    files: dict[str, Path] = field(default_factory=dict)  # SOP Instance UID -> file


def write_instance(
    path: Path,
    *,
    study_uid: str,
    series_uid: str,
    sop_uid: str | None = None,
    number: int = 1,
    source_ae: str | None = None,
    patient_id: str = "PID-1",
    rows: int = 8,
) -> str:
    sop_uid = sop_uid or generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = patient_id
    ds.PatientName = "Test^Patient"
    ds.StudyDate = "20240131"
    ds.Modality = "CT"
    ds.InstanceNumber = number
    ds.Rows = rows
    ds.Columns = rows
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes((number + i) % 256 for i in range(rows * rows * 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return sop_uid


def make_study(
    root: Path,
    *,
    series: int = 2,
    per_series: int = 3,
    source_ae: str | None = None,
    patient_id: str = "PID-1",
) -> GeneratedStudy:
    study = GeneratedStudy(study_uid=generate_uid(), series_uids=[generate_uid() for _ in range(series)])
    for s, series_uid in enumerate(study.series_uids):
        for i in range(per_series):
            path = root / f"s{s}" / f"i{i}.dcm"
            sop = write_instance(path, study_uid=study.study_uid, series_uid=series_uid, number=i + 1,
                                 source_ae=source_ae, patient_id=patient_id)
            study.files[sop] = path
    return study
