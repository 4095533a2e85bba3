"""A destination that goes away in the middle of an export: the task is retried and nothing is lost.

Against DCMTK storescp, killed (SIGKILL: the peer process is gone) after some of 2,000 instances arrived and
started again on the same port; and frozen (SIGSTOP: the process and its connection are there, nothing is
answered) until the response timeout ends the attempt, then let run again (SIGCONT). Not upstream
(docs/explanation/deviations.md): dcm4chee-arc fails the remaining instances and ends WARNING; here the task
is SCHEDULED FOR RETRY with the reason, and the retry sends the whole scope again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from _helpers import received_sop_uids, storescp_configuration, wait_for
from dcm_exporter.export import failed_instances
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sample import StudyInfo, generate_study
from dcm_exporter.sources import FileSystemSource
from servers.dcmtk import StorescpServer

N = 2000
QUEUE = QueueDescriptor(queue_name="Export1", max_retries=3, retry_delay=timedelta(seconds=1))


@pytest.fixture
def study(tmp_path: Path) -> StudyInfo:
    return generate_study(tmp_path / "archive", series=4, instances_per_series=N // 4, kind="small")


def interrupted_then_retried(
    exporter: Exporter,
    study_uid: str,
    received: Callable[[], int],
    interrupt: Callable[[], object],
    resume: Callable[[], object],
) -> str:
    """Export the study to ``STORESCP`` with the runner started; once some, not all, of its instances arrived
    (``received()`` counts them) ``interrupt`` the peer. The attempt must end SCHEDULED FOR RETRY naming the
    association, with one failure, the remaining instances counted and none refused by the peer; after
    ``resume`` the retry must complete the task. Returns the reason the interrupted attempt gave."""
    statuses: list[tuple[str, str | None]] = []

    @exporter.on_task_finished
    def seen(result: object) -> None:
        task = result.task  # type: ignore[attr-defined]
        statuses.append((task.status.value, task.error_message))

    task = exporter.schedule_export("STORESCP", study_uid)
    exporter.start(poll_interval=0.1)
    assert wait_for(lambda: received() >= 243, timeout=120)
    interrupt()
    assert wait_for(lambda: bool(statuses), timeout=60)
    status, reason = statuses[0]
    assert status == "SCHEDULED FOR RETRY", statuses
    assert reason is not None and "association to AE STORESCP" in reason, reason
    waiting = exporter.queue.task(task.task_id)
    assert waiting.number_of_failures == 1
    assert waiting.outcome_message is not None and " interrupted - remaining:" in waiting.outcome_message
    assert failed_instances(waiting.result_json) == []  # no instance was refused by the peer
    resume()
    assert wait_for(
        lambda: exporter.queue.task(task.task_id).status is TaskStatus.COMPLETED, timeout=300
    ), exporter.queue.task(task.task_id)
    exporter.stop()
    return reason


@pytest.mark.slow
def test_storescp_killed_and_restarted_mid_export_all_arrive_after_the_retry(
    storescp_factory: Callable[..., StorescpServer], study: StudyInfo, tmp_path: Path
) -> None:
    from servers.dcmtk import start_storescp

    first = storescp_factory()
    restarted: list[StorescpServer] = []
    store = SqliteTaskStore(tmp_path / "tasks.db")
    try:
        with Exporter(
            storescp_configuration(first.port, QUEUE), FileSystemSource(study.directory), store=store
        ) as exporter:
            reason = interrupted_then_retried(
                exporter, study.study_uid, received=lambda: len(first.files()),
                # the peer process goes away
                interrupt=lambda: first.process.stop(graceful=False),
                # the destination comes back on the same port
                resume=lambda: restarted.append(start_storescp(tmp_path, port=first.port)),
            )
        assert "broke" in reason, reason
        arrived = received_sop_uids(first.output_dir, killed=True) | received_sop_uids(restarted[0].output_dir)
        assert arrived == set(study.sop_instance_uids)
        assert len(arrived) == N
    finally:
        for scp in restarted:
            scp.stop()
        store.close()


@pytest.mark.slow
def test_storescp_frozen_mid_export_times_out_and_all_arrive_after_the_retry(
    storescp_factory: Callable[..., StorescpServer], study: StudyInfo, tmp_path: Path
) -> None:
    """A peer that stops answering (SIGSTOP: the process is there, its socket open, nothing is read or
    answered) takes the path of an abort: after the connection's dcmResponseTimeout the task is SCHEDULED FOR
    RETRY with the timeout named; once the peer runs again (SIGCONT) the retry delivers every instance."""
    import os
    import signal

    import attrs

    scp = storescp_factory()
    pid = scp.process.pid
    configuration = storescp_configuration(scp.port, QUEUE)
    peer = configuration.devices[1]
    configuration = attrs.evolve(configuration, devices=(configuration.devices[0], attrs.evolve(
        peer, connections=(attrs.evolve(peer.connections[0], response_timeout=1500),))))
    store = SqliteTaskStore(tmp_path / "tasks.db")
    try:
        with Exporter(configuration, FileSystemSource(study.directory), store=store) as exporter:
            reason = interrupted_then_retried(
                exporter, study.study_uid, received=lambda: len(scp.files()),
                interrupt=lambda: os.kill(pid, signal.SIGSTOP),
                resume=lambda: os.kill(pid, signal.SIGCONT),
            )
        assert "within 1.5 s" in reason and "dcmResponseTimeout" in reason, reason
        arrived = received_sop_uids(scp.output_dir)
        assert arrived == set(study.sop_instance_uids)
        assert len(arrived) == N
    finally:
        os.kill(pid, signal.SIGCONT)  # a stopped process ignores the fixture's SIGTERM; no-op when it runs
        store.close()
