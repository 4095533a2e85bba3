"""Storage commitment against a real Orthanc (its Storage Commitment SCP reports on a new association).

Orthanc knows our AE ``DCM4CHEE`` as a modality (``DicomModalities``) at the port of the embedded SCP
our exporter opens for the calling AE; it answers the N-ACTION and then sends the N-EVENT-REPORT on an
association of its own to that port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dcm_exporter.actions import CommitmentResult
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
)
from dcm_exporter.queue import InMemoryTaskStore, SqliteTaskStore, TaskStatus, TaskType
from dcm_exporter.sample import StudyInfo, generate_study
from dcm_exporter.sources import FileSystemSource
from servers.ports import free_port

pytestmark = pytest.mark.orthanc


def config(*, our_port: int, orthanc_port: int, exporters: tuple[ExporterDescriptor, ...]) -> Configuration:
    queues = (
        QueueDescriptor(queue_name="Export1"),
        QueueDescriptor(queue_name="StgCmtSCU", max_retries=2, retry_delay=timedelta(seconds=1)),
    )
    return Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=our_port),),
                application_entities=(ApplicationEntity(ae_title="DCM4CHEE", connection_refs=("dicom",)),),
                exporters=exporters,
                queues=queues,
            ),
            Device(
                device_name="orthanc",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=orthanc_port),),
                application_entities=(ApplicationEntity(ae_title="ORTHANC", connection_refs=("dicom",)),),
            ),
        )
    )


def exporter_desc(exporter_id: str, uri: str) -> ExporterDescriptor:
    return ExporterDescriptor(
        exporter_id=exporter_id,
        uri=uri,
        queue_name="Export1",
        ae_title="DCM4CHEE",
        stgcmt_scp="ORTHANC",
        retrieve_ae_titles=("DCM4CHEE",),
        properties={"StgCmtTimeout": "30"},
    )


@pytest.fixture
def study(tmp_path: Path) -> StudyInfo:
    return generate_study(tmp_path / "archive", series=2, instances_per_series=3, kind="small")


@pytest.fixture
def orthanc_knowing_us(orthanc_factory: Callable[..., Any]) -> tuple[Any, int]:
    our_port = free_port()
    server = orthanc_factory(extra_config={"DicomModalities": {"dcm4chee": ["DCM4CHEE", "127.0.0.1", our_port]}})
    return server, our_port


def run_all(exporter: Exporter, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exporter.run_until_idle(timeout=timeout)
        pending = exporter.queue.tasks(status=("SCHEDULED", "SCHEDULED FOR RETRY", "IN PROCESS"))
        if not pending:
            return
        time.sleep(0.1)
    raise AssertionError(f"tasks still pending: {exporter.queue.tasks()}")


def test_every_exported_instance_is_committed(
    orthanc_knowing_us: tuple[Any, int], study: StudyInfo, tmp_path: Path
) -> None:
    orthanc, our_port = orthanc_knowing_us
    configuration = config(
        our_port=our_port, orthanc_port=orthanc.dicom_port, exporters=(exporter_desc("ORTHANC", "dicom:ORTHANC"),)
    )
    store = SqliteTaskStore(tmp_path / "tasks.db")
    with Exporter(configuration, FileSystemSource(study.directory), store=store) as exporter:
        export = exporter.schedule_export("ORTHANC", study.study_uid, batch_id="b1")
        run_all(exporter)
        assert exporter.queue.task(export.task_id).status is TaskStatus.COMPLETED
        assert len(orthanc.instances()) == 6
        (stgcmt,) = exporter.queue.tasks(task_type=TaskType.STGCMT)
        assert stgcmt.batch_id == "b1"
        assert stgcmt.queue_name == "StgCmtSCU"
        assert stgcmt.destination_aet == "ORTHANC"
        assert stgcmt.status is TaskStatus.COMPLETED, stgcmt.error_message
        result = exporter.queue.commitment_result(stgcmt.task_id)
        assert isinstance(result, CommitmentResult)
        assert result.event_type_id == 1
        assert result.failed == ()
        assert {c.sop_instance_uid for c in result.committed} == {i.sop_instance_uid for i in study.instances}
        assert {c.sop_class_uid for c in result.committed} == {i.sop_class_uid for i in study.instances}
        assert not result.same_association  # Orthanc reports on an association of its own
        assert stgcmt.outcome_message == f"Storage commitment of Study[{study.study_uid}] by ORTHANC - committed:6"
        # the result survives in the store (a new Exporter on the same database reads it)
    store.close()
    reopened = SqliteTaskStore(tmp_path / "tasks.db")
    try:
        again = CommitmentResult.from_task(reopened.get(stgcmt.task_id))
        assert again == result
    finally:
        reopened.close()


def test_an_instance_orthanc_does_not_have_is_reported_failed(
    orthanc_knowing_us: tuple[Any, int], study: StudyInfo, tmp_path: Path
) -> None:
    """Only the first series goes to Orthanc; a noop: exporter then asks commitment for the whole study."""
    orthanc, our_port = orthanc_knowing_us
    sender = ExporterDescriptor(exporter_id="SEND", uri="dicom:ORTHANC", queue_name="Export1", ae_title="DCM4CHEE")
    configuration = config(
        our_port=our_port,
        orthanc_port=orthanc.dicom_port,
        exporters=(sender, exporter_desc("COMMIT", "noop:commit")),
    )
    first, second = study.series
    with Exporter(configuration, FileSystemSource(study.directory), store=InMemoryTaskStore()) as exporter:
        exporter.schedule_export("SEND", study.study_uid, first.series_uid)
        run_all(exporter)
        assert len(orthanc.instances()) == 3
        assert exporter.queue.tasks(task_type=TaskType.STGCMT) == []  # SEND has no dcmStgCmtSCP
        noop = exporter.schedule_export("COMMIT", study.study_uid)
        run_all(exporter)
        assert exporter.queue.task(noop.task_id).outcome_message == "NOOP"
        (stgcmt,) = exporter.queue.tasks(task_type=TaskType.STGCMT)
        assert stgcmt.exporter_id == "COMMIT"
        assert stgcmt.status is TaskStatus.WARNING  # some committed, some failed; no retry on warning
        result = exporter.queue.commitment_result(stgcmt.task_id)
        assert result is not None
        assert result.event_type_id == 2
        assert {c.sop_instance_uid for c in result.committed} == {i.sop_instance_uid for i in first.instances}
        assert {f.sop_instance_uid for f in result.failed} == {i.sop_instance_uid for i in second.instances}
        for failed in result.failed:
            assert failed.failure_reason == 0x0112
            assert failed.reason == "0x0112 (No such object instance)"
        assert stgcmt.outcome_message == (
            f"Storage commitment of Study[{study.study_uid}] by ORTHANC - committed:3, failed:3"
        )
