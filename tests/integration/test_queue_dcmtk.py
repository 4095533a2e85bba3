"""The queue against a real DCMTK storescp: cancelling a running export, retries while it is down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from _helpers import received_sop_uids, storescp_configuration, wait_for
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource


@pytest.mark.slow
def test_cancel_a_running_export_to_a_slow_storescp(
    storescp_factory: Callable[..., object], tmp_path: Path
) -> None:
    scp = storescp_factory(options=("+xa", "--sleep-during", "1"))  # one second per instance
    study = generate_study(tmp_path / "archive", series=1, instances_per_series=20, kind="small")
    queue = QueueDescriptor(queue_name="Export1", max_retries=5)
    store = SqliteTaskStore(tmp_path / "tasks.db")
    with Exporter(
        storescp_configuration(scp.port, queue), FileSystemSource(tmp_path / "archive"), store=store
    ) as exporter:  # type: ignore[attr-defined]
        exporter.start(poll_interval=0.1)
        task = exporter.schedule_export("STORESCP", study.study_uid)
        assert wait_for(lambda: exporter.queue.task(task.task_id).status is TaskStatus.IN_PROCESS)
        assert wait_for(lambda: len(list(scp.output_dir.iterdir())) >= 1)  # type: ignore[attr-defined]
        assert exporter.queue.cancel(task.task_id) == [task.task_id]
        assert wait_for(lambda: exporter.queue.task(task.task_id).processing_end_time is not None, timeout=30)
        done = exporter.queue.task(task.task_id)
        assert done.status is TaskStatus.CANCELED and done.number_of_failures == 0
        assert done.outcome_message is not None
        exporter.stop()
    arrived = received_sop_uids(scp.output_dir)  # type: ignore[attr-defined]
    assert 1 <= len(arrived) < 20
    store.close()
