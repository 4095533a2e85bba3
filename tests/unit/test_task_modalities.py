"""Export tasks record the modalities of the instances they exported (as dcm4chee-arc does), next to the
number of instances.

Found in acceptance testing: after ``schedule_export`` and ``run_until_idle`` a task had
``number_of_instances`` but ``modalities == ()``. The modalities come from the source: ``FileSystemSource``
indexes Modality (0008,0060) (its SQLite index migrated from schema 1), ``InstanceRef.modality`` carries it,
the ``Exporter`` puts those of the instances found into the ``Outcome``, and the task manager records them
when the attempt ends, in every store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset

from dcm_exporter._dicom.part10 import scan_header
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import InMemoryTaskStore, SqliteTaskStore, TaskManager
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.sources import filesystem as fs
from dcm_exporter.testing import MockTransport


def _configuration() -> Configuration:
    return Configuration(devices=[Device(
        device_name="arc",
        exporters=[ExporterDescriptor(exporter_id="MOCK", uri="mock:nothing", queue_name="Export1", ae_title="ARC")],
        queues=[QueueDescriptor(queue_name="Export1")],
    )])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modalities")


@pytest.fixture(scope="module")
def study(folder: Path) -> Any:
    return generate_study(folder, series=2, instances_per_series=2)


def _stores(tmp_path: Path) -> dict[str, Callable[[], Any]]:
    return {"memory": InMemoryTaskStore, "sqlite": lambda: SqliteTaskStore(tmp_path / "q.sqlite")}


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made = _stores(tmp_path)[request.param]()
    yield made
    made.close()


def _mock_exporter(configuration: Configuration, source: Any, store: Any) -> Exporter:
    from dcm_exporter.transports.registry import TransportRegistry

    registry = TransportRegistry()
    registry.register_scheme("mock", lambda exporter, configuration, **_: MockTransport(), clobber=True)
    return Exporter(configuration, source, store=store, registry=registry)


def test_the_source_indexes_modality_as_pydicom_reads_it(folder: Path, study: Any) -> None:
    with FileSystemSource(folder) as source:
        refs = source.find(study.study_uid)
    assert len(refs) == 4
    by_series = {s.series_uid: s.modality for s in study.series}
    assert all(r.modality == by_series[r.series_uid] for r in refs)
    for ref in refs:
        assert ref.path is not None
        header = scan_header(ref.path)
        assert header is not None and header.modality == by_series[ref.series_uid]
        assert fs._read_header(str(ref.path)) == fs._read_header_pydicom(str(ref.path))


def _write(path: Path, modality: str | None) -> None:
    ds = pydicom.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = f"1.2.3.{abs(hash(path)) % 10_000}"
    if modality is not None:
        ds.Modality = modality
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize(("value", "scanned", "indexed"), [
    ("OT", "OT", "OT"),
    (" MR ", "MR", "MR"),
    ("", None, None),
    (None, None, None),
    ("CT\\PT", "declined", "CT\\PT"),  # several values (invalid, VM 1): pydicom reads them, joined
])
def test_odd_modality_values_give_what_pydicom_gives(tmp_path: Path, value: str | None, scanned: str | None,
                                                     indexed: str | None) -> None:
    path = tmp_path / "x.dcm"
    _write(path, value)
    header = scan_header(path)
    if scanned == "declined":
        assert header is None
    else:
        assert header is not None and header.modality == scanned
    assert fs._read_header(str(path))[6] == indexed
    assert fs._read_header_pydicom(str(path))[6] == indexed


def test_a_schema_1_index_is_migrated_and_reread(tmp_path: Path) -> None:
    data = tmp_path / "data"
    study = generate_study(data, series=1, instances_per_series=2)
    index = tmp_path / "index.sqlite"
    with FileSystemSource(data, index) as source:
        source.refresh()
    # the layout of schema 1: no modality column
    db = sqlite3.connect(index)
    db.execute("ALTER TABLE files DROP COLUMN modality")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.commit()
    db.close()

    with FileSystemSource(data, index) as source:
        before = source.find(study.study_uid)  # still answers from the old rows
        assert len(before) == 2 and {r.modality for r in before} == {None}
        report = source.refresh()
        assert len(report.updated) == 2 and not report.added and not report.removed
        after = source.find(study.study_uid)
    assert {r.modality for r in after} == {study.series[0].modality}
    with FileSystemSource(data, index) as source:  # migrated once: nothing to re-read now
        assert source.refresh().unchanged == 2


def test_a_queued_export_records_the_modalities_of_its_instances(folder: Path, study: Any, store: Any) -> None:
    with FileSystemSource(folder) as source, _mock_exporter(_configuration(), source, store) as exporter:
        task = exporter.schedule_export("MOCK", study.study_uid)
        assert task.modalities == ()
        assert exporter.run_until_idle() == 1
        done = exporter.queue.task(task.task_id)
        series = exporter.schedule_export("MOCK", study.study_uid, study.series[1].series_uid, batch_id="s")
        exporter.run_until_idle()
        one = exporter.queue.task(series.task_id)
    assert done.status.value == "COMPLETED" and done.number_of_instances == 4
    assert sorted(done.modalities) == sorted({s.modality for s in study.series})
    assert one.number_of_instances == 2 and one.modalities == (study.series[1].modality,)


def test_a_study_the_source_lacks_keeps_the_modalities_given_at_scheduling(store: Any, tmp_path: Path) -> None:
    with FileSystemSource(tmp_path) as source, _mock_exporter(_configuration(), source, store) as exporter:
        task = TaskManager(exporter.queue.store, _configuration()).schedule_export(
            "MOCK", "1.2.3.999", modalities=("US",)
        )
        exporter.run_until_idle()
        done = exporter.queue.task(task.task_id)
    assert done.status.value == "WARNING"  # Could not find ...
    assert done.modalities == ("US",)


def test_export_now_reports_the_modalities(folder: Path, study: Any) -> None:
    with FileSystemSource(folder) as source, _mock_exporter(_configuration(), source, None) as exporter:
        outcome = exporter.export_now("MOCK", study.study_uid)
    assert sorted(outcome.modalities) == sorted({s.modality for s in study.series})

