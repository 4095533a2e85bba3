"""Acceptance: the destination is down at first; tasks go to SCHEDULED FOR RETRY and complete once it is up.

The exporter's queue retries every second (``dcmRetryDelay`` PT1S, 100 %, 30 retries) so the test takes
seconds, not the minutes of a production retry delay; the behaviour is the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest

from dcm_exporter.exporter import Exporter
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
)
from dcm_exporter.queue import SqliteTaskStore, TaskResult, TaskStatus
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource
from servers.dcmtk import start_storescp
from servers.ports import free_port


def configuration(port: int) -> Configuration:
    return Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                exporters=(
                    ExporterDescriptor(
                        exporter_id="STORESCP",
                        uri="dicom:STORESCP",
                        queue_name="Export1",
                        ae_title="DCM4CHEE",
                    ),
                ),
                queues=(
                    QueueDescriptor(
                        queue_name="Export1",
                        max_retries=30,
                        retry_delay=timedelta(seconds=1),
                        max_tasks_parallel=2,
                    ),
                ),
            ),
            Device(
                device_name="storescp",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
                application_entities=(ApplicationEntity(ae_title="STORESCP", connection_refs=("dicom",)),),
            ),
        )
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.dcmtk
@pytest.mark.slow
def test_destination_down_then_up(tmp_path: Path) -> None:
    port = free_port()
    archive = tmp_path / "archive"
    studies = [generate_study(archive, series=1, instances_per_series=2, kind="small") for _ in range(5)]
    expected = {i.sop_instance_uid for s in studies for i in s.instances}
    store = SqliteTaskStore(tmp_path / "tasks.db")
    results: list[TaskResult] = []
    scp = None
    try:
        with Exporter(configuration(port), FileSystemSource(archive), store=store) as exporter:
            exporter.on_task_finished(results.append)
            exporter.start(poll_interval=0.2)
            tasks = [exporter.schedule_export("STORESCP", s.study_uid) for s in studies]
            # nobody listens on the port: every task fails and waits for its retry
            assert wait_for(lambda: all(exporter.task(t.task_id).number_of_failures >= 1 for t in tasks))
            waiting = [exporter.task(t.task_id) for t in tasks]
            assert all(t.status in (TaskStatus.SCHEDULED_FOR_RETRY, TaskStatus.IN_PROCESS) for t in waiting)
            assert any(t.error_message for t in waiting)
            assert exporter.count(status="FAILED") == 0
            # the destination comes up
            scp = start_storescp(tmp_path, port=port, options=("+xa", "--fork"))
            assert wait_for(lambda: exporter.count(status="COMPLETED") == 5), [
                (t.status, t.error_message) for t in exporter.tasks()
            ]
            exporter.stop()
            final = exporter.tasks()
        assert all(t.number_of_failures >= 1 and t.status is TaskStatus.COMPLETED for t in final)
        assert any(r.task is not None and r.task.status is TaskStatus.SCHEDULED_FOR_RETRY for r in results)
        received = {
            str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in scp.output_dir.rglob("*")
            if p.is_file()
        }
        assert received == expected
    finally:
        if scp is not None:
            scp.stop()
        store.close()
