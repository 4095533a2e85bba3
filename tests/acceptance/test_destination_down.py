"""Acceptance: the destination is down at first; tasks go to SCHEDULED FOR RETRY and complete once it is up.

The exporter's queue retries every second (``dcmRetryDelay`` PT1S, 100 %, 30 retries) so the test takes
seconds, not the minutes of a production retry delay; the behaviour is the same.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from _helpers import received_sop_uids, storescp_configuration, wait_for
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskResult, TaskStatus
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource
from servers.dcmtk import start_storescp
from servers.ports import free_port

QUEUE = QueueDescriptor(queue_name="Export1", max_retries=30, retry_delay=timedelta(seconds=1), max_tasks_parallel=2)


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
        with Exporter(storescp_configuration(port, QUEUE), FileSystemSource(archive), store=store) as exporter:
            exporter.on_task_finished(results.append)
            exporter.start(poll_interval=0.2)
            tasks = [exporter.schedule_export("STORESCP", s.study_uid) for s in studies]
            # nobody listens on the port: every task fails and waits for its retry
            assert wait_for(
                lambda: all(exporter.queue.task(t.task_id).number_of_failures >= 1 for t in tasks),
                timeout=120,
                interval=0.05,
            )
            waiting = [exporter.queue.task(t.task_id) for t in tasks]
            assert all(t.status in (TaskStatus.SCHEDULED_FOR_RETRY, TaskStatus.IN_PROCESS) for t in waiting)
            assert any(t.error_message for t in waiting)
            assert exporter.queue.count(status="FAILED") == 0
            # the destination comes up
            scp = start_storescp(tmp_path, port=port, options=("+xa", "--fork"))
            assert wait_for(lambda: exporter.queue.count(status="COMPLETED") == 5, timeout=120, interval=0.05), [
                (t.status, t.error_message) for t in exporter.queue.tasks()
            ]
            exporter.stop()
            final = exporter.queue.tasks()
        assert all(t.number_of_failures >= 1 and t.status is TaskStatus.COMPLETED for t in final)
        assert any(r.task is not None and r.task.status is TaskStatus.SCHEDULED_FOR_RETRY for r in results)
        assert received_sop_uids(scp.output_dir) == expected
    finally:
        if scp is not None:
            scp.stop()
        store.close()
