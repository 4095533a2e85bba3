"""FileSystemSource indexing vs a plain ``pydicom.dcmread(..., stop_before_pixels=True)`` loop.

Both walk the same folder of generated CT files (small 64x64 images). Per file:

- ``cold`` (compared): ours reads the file's header (its own strict scanner, pydicom only for the files it
  declines) and stores a row in a fresh SQLite index; the peer reads the header with
  ``pydicom.dcmread(path, stop_before_pixels=True)`` and keeps the UIDs in a dict. Both read every header.
- ``warm`` (ours only, no ratio): ours re-opens the existing index and rescans, a ``stat`` per file and no
  read. The pydicom loop has no index, so it has no warm case to compare with (it would read every header
  again, which is the cold figure); the row reports our absolute figure only.

The OS page cache is warm for both (each is run after a warm-up pass); figures are files per second,
medians of three runs. After every run the index is checked against what the pydicom loop read, file by file.

    python benchmarks/run.py source [--files=N]
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from _common import Result, median_rate, ours_only  # noqa: E402

from dcm_exporter.sources import FileSystemSource  # noqa: E402


def _generate(root: Path, count: int) -> None:
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    pixels = bytes(range(256)) * 32  # 64 x 64 x 16 bit
    per_series = 100
    study = generate_uid()
    series = generate_uid()
    for i in range(count):
        if i % per_series == 0:
            series = generate_uid()
            if i % (per_series * 10) == 0:
                study = generate_uid()
        sop = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.PatientID = f"P{i // 1000}"
        ds.PatientName = "Bench^Mark"
        ds.StudyDate = "20240101"
        ds.Modality = "CT"
        ds.InstanceNumber = i % per_series + 1
        ds.ImagePositionPatient = [0, 0, i % per_series]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.Rows = ds.Columns = 64
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = pixels
        path = root / f"{i // 1000:03d}" / f"{i // per_series:04d}" / f"{i}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)


def _pydicom_loop(root: Path) -> dict[str, tuple[str, str, str]]:
    from pydicom import dcmread

    index: dict[str, tuple[str, str, str]] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            ds = dcmread(os.path.join(folder, name), stop_before_pixels=True)
            index[str(ds.SOPInstanceUID)] = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(folder))
    return index


def _indexed(root: Path, index: Path) -> dict[str, tuple[str, str, str]]:
    """What FileSystemSource stored, in the shape of the peer's index (to check both agree)."""
    with sqlite3.connect(index) as db:
        rows = db.execute("SELECT sop_instance_uid, study_uid, series_uid, path FROM files").fetchall()
    return {sop: (study, series, str((root / path).parent)) for sop, study, series, path in rows}


def main(argv: list[str]) -> list[Result]:
    count = 10_000
    for arg in argv:
        if arg.startswith("--files="):
            count = int(arg.split("=", 1)[1])
    with tempfile.TemporaryDirectory(prefix="bench_source_") as tmp:
        root = Path(tmp) / "archive"
        started = time.perf_counter()
        _generate(root, count)
        print(f"   generated {count} files in {time.perf_counter() - started:.1f} s", flush=True)
        expected = _pydicom_loop(root)  # warm-up pass (page cache) and sanity check
        assert len(expected) == count

        peer_runs, cold_runs, warm_runs = [], [], []
        for run in range(3):
            started = time.perf_counter()
            _pydicom_loop(root)
            peer_runs.append(time.perf_counter() - started)

            index = Path(tmp) / f"index{run}.sqlite"
            started = time.perf_counter()
            with FileSystemSource(root, index) as source:
                report = source.refresh()
            cold_runs.append(time.perf_counter() - started)
            assert len(report.added) == count and not report.unreadable, report

            started = time.perf_counter()
            with FileSystemSource(root, index) as source:
                report = source.refresh()
            warm_runs.append(time.perf_counter() - started)
            assert report.unchanged == count, report
            assert _indexed(root, index) == expected  # the same UIDs as pydicom read, file by file

    peer = median_rate(count, peer_runs)
    return [
        Result(f"FileSystemSource cold {count}", "files/s", median_rate(count, cold_runs),
               "pydicom dcmread loop", peer),
        ours_only(f"FileSystemSource warm {count}", "files/s", median_rate(count, warm_runs),
                  "ours only: stat rescan"),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
