"""The background runner on the real clock, through the Exporter facade: wake-up, reload, stop, hooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from _helpers import wait_for
from dcm_exporter.export import CancelToken, Outcome, OutcomeStatus
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import (
    ExportTask,
    SqliteTaskStore,
    TaskFilter,
    TaskManager,
    TaskResult,
    TaskRunner,
    TaskStatus,
)
from dcm_exporter.sources import FileSystemSource

DEVICE = "dcm4chee-arc"


def cfg(*exporters: tuple[str, str], parallel: int = 1) -> Configuration:
    exps = [
        ExporterDescriptor(exporter_id=e, uri="noop:nothing", queue_name=q, ae_title="DCM4CHEE")
        for e, q in exporters
    ]
    queues = sorted({q for _, q in exporters})
    return Configuration(
        devices=[
            Device(
                device_name=DEVICE,
                exporters=exps,
                queues=[QueueDescriptor(queue_name=q, max_tasks_parallel=parallel) for q in queues],
            )
        ]
    )


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Exporter]:
    (tmp_path / "data").mkdir()
    ex = Exporter(
        cfg(("NOOP", "Export1")),
        FileSystemSource(tmp_path / "data"),
        store=SqliteTaskStore(tmp_path / "tasks.db"),
    )
    yield ex
    ex.close()
    ex.queue.store.close()


def status_of(ex: Exporter, task: ExportTask) -> TaskStatus:
    return ex.queue.task(task.task_id).status


def test_scheduling_wakes_the_runner_at_once(exporter: Exporter) -> None:
    exporter.start(poll_interval=3600)  # polling would never see it in time
    task = exporter.schedule_export("NOOP", "1.2.3")
    assert wait_for(lambda: status_of(exporter, task) is TaskStatus.COMPLETED, timeout=20)
    done = exporter.queue.task(task.task_id)
    assert done.outcome_message  # the noop transport's message
    exporter.stop()


def test_reload_adds_exporters_and_queues_without_restart(exporter: Exporter) -> None:
    exporter.start(poll_interval=3600)
    exporter.reload(cfg(("NOOP", "Export1"), ("LATER", "Export2")))
    task = exporter.schedule_export("LATER", "4.5.6")
    assert task.queue_name == "Export2"
    assert wait_for(lambda: status_of(exporter, task) is TaskStatus.COMPLETED, timeout=20)
    exporter.reload(cfg(("NOOP", "Export1"), ("LATER", "Export2"), parallel=4))
    many = [exporter.schedule_export("NOOP", str(i)) for i in range(20)]
    assert wait_for(lambda: exporter.queue.count(status="COMPLETED") == 21, timeout=20)
    assert all(status_of(exporter, t) is TaskStatus.COMPLETED for t in many)


def test_filter_keywords_and_task_id_selection(exporter: Exporter) -> None:
    a = exporter.schedule_export("NOOP", "1", batch_id="b")
    b = exporter.schedule_export(
        "NOOP", "2", batch_id="b", scheduled_time=datetime.now(UTC) + timedelta(hours=1)
    )
    assert exporter.run_until_idle() == 1
    assert [t.task_id for t in exporter.queue.tasks(batch_id="b", order_by="task_id")] == [a.task_id, b.task_id]
    assert exporter.queue.count(status=TaskStatus.SCHEDULED) == 1
    assert exporter.queue.cancel(b.task_id) == [b.task_id]
    assert exporter.queue.batches()[0].count("CANCELED") == 1
    assert exporter.queue.reschedule(b.task_id) == [b.task_id]
    assert exporter.run_until_idle() == 1
    assert exporter.queue.delete(batch_id="b") == [a.task_id, b.task_id]
    with pytest.raises(TypeError):
        exporter.queue.tasks(TaskFilter(), status="COMPLETED")


def test_hooks_through_the_facade(exporter: Exporter) -> None:
    started: list[int] = []
    finished: list[TaskResult] = []
    exporter.on_task_started(lambda t: started.append(t.task_id))
    exporter.on_task_finished(finished.append)
    task = exporter.schedule_export("NOOP", "1.2.3")
    exporter.run_until_idle()
    assert started == [task.task_id]
    assert finished[0].task is not None and finished[0].task.status is TaskStatus.COMPLETED


def test_stop_releases_a_task_that_does_not_finish_in_time(tmp_path: Path) -> None:
    store = SqliteTaskStore(tmp_path / "tasks.db")
    manager = TaskManager(store, cfg(("SLOW", "Export1")))
    running = threading.Event()

    def slow(task: ExportTask, cancel: CancelToken) -> Outcome:
        running.set()
        cancel.wait(30)
        return Outcome(status=OutcomeStatus.CANCELED, message="Export canceled", remaining=10)

    runner = TaskRunner(manager, slow, poll_interval=0.05)
    task = manager.schedule_export("SLOW", "1.2.3")
    runner.start()
    assert running.wait(20)
    runner.stop(timeout=0.2)
    back = store.get(task.task_id)
    assert back.status is TaskStatus.SCHEDULED and back.lease_owner is None and back.number_of_failures == 0
    store.close()


def test_stop_lets_running_task_finish(tmp_path: Path) -> None:
    store = SqliteTaskStore(tmp_path / "tasks.db")
    manager = TaskManager(store, cfg(("SLOW", "Export1")))
    running = threading.Event()

    def short(task: ExportTask, cancel: CancelToken) -> Outcome:
        running.set()
        time.sleep(0.3)
        return Outcome(status=OutcomeStatus.COMPLETED, message="done", completed=1)

    runner = TaskRunner(manager, short, poll_interval=0.05)
    task = manager.schedule_export("SLOW", "1.2.3")
    with runner:
        assert running.wait(20)
    assert store.get(task.task_id).status is TaskStatus.COMPLETED
    store.close()


def test_run_until_idle_waits_for_scheduled_tasks(exporter: Exporter) -> None:
    soon = exporter.schedule_export("NOOP", "1", scheduled_time=datetime.now(UTC) + timedelta(seconds=0.3))
    assert exporter.run_until_idle() == 0
    assert exporter.run_until_idle(wait_for_scheduled=True, timeout=30) == 1
    assert status_of(exporter, soon) is TaskStatus.COMPLETED


class _StoreThatGoesAway(SqliteTaskStore):
    """A real SQLite store whose writes of attempt ends and leases fail while ``down`` is set, as those of
    a PostgreSQL server that went away do (the real case: tests/cli/test_cli_queue_database_goes_away.py)."""

    down = False

    def _fail_while_down(self) -> None:
        from dcm_exporter.errors import QueueError

        if self.down:
            raise QueueError("task database test: finish and claim failed and the database did not come back")

    def finish_many_and_claim(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._fail_while_down()
        return super().finish_many_and_claim(*args, **kwargs)

    def heartbeat(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._fail_while_down()
        return super().heartbeat(*args, **kwargs)


def test_an_end_the_store_could_not_record_is_recorded_when_it_works_again(tmp_path: Path) -> None:
    store = _StoreThatGoesAway(tmp_path / "tasks.db")
    manager = TaskManager(store, cfg(("NOOP", "Export1")))
    performed: list[int] = []

    def export_then_lose_the_store(task: ExportTask, cancel: CancelToken) -> Outcome:
        performed.append(task.task_id)
        store.down = True  # the study was sent; its end cannot be recorded
        return Outcome(status=OutcomeStatus.COMPLETED, message="sent", completed=1)

    runner = TaskRunner(manager, export_then_lose_the_store, poll_interval=0.02, heartbeat_interval=0.05)
    task = manager.schedule_export("NOOP", "1.2.3")
    runner.start()
    try:
        assert wait_for(lambda: runner.store_error is not None, timeout=20)
        # kept under this runner's lease meanwhile (the heartbeats go on trying to extend it)
        assert manager.running() == [task.task_id]
        assert store.get(task.task_id).status is TaskStatus.IN_PROCESS
        store.down = False
        assert wait_for(lambda: store.get(task.task_id).status is TaskStatus.COMPLETED, timeout=20)
        assert wait_for(lambda: runner.store_error is None, timeout=20)
    finally:
        runner.stop(timeout=1)
        store.close()
    assert performed == [task.task_id]  # recorded, not performed again
    assert manager.running() == []


def test_a_stop_while_the_store_fails_gives_the_end_up_to_the_lease(tmp_path: Path) -> None:
    store = _StoreThatGoesAway(tmp_path / "tasks.db")
    manager = TaskManager(store, cfg(("NOOP", "Export1")), lease=timedelta(seconds=0.3))
    performed: list[int] = []

    def export_then_lose_the_store(task: ExportTask, cancel: CancelToken) -> Outcome:
        performed.append(task.task_id)
        store.down = len(performed) == 1
        return Outcome(status=OutcomeStatus.COMPLETED, message="sent", completed=1)

    runner = TaskRunner(manager, export_then_lose_the_store, poll_interval=0.02, heartbeat_interval=0.05)
    task = manager.schedule_export("NOOP", "1.2.3")
    runner.start()
    assert wait_for(lambda: runner.store_error is not None, timeout=20)
    runner.stop(timeout=1)
    assert manager.running() == []  # its lease is no longer extended
    store.down = False

    def drained_and_completed() -> bool:
        # the task is due again once its lease has expired: performed twice, none lost
        runner.run_until_idle(timeout=20)
        return store.get(task.task_id).status is TaskStatus.COMPLETED

    assert wait_for(drained_and_completed, timeout=20)
    assert performed == [task.task_id, task.task_id]
    store.close()


class _DiskFullForOneQueue(SqliteTaskStore):
    """A real SQLite store whose claims of Export1 (the queue with due tasks, whose claim writes) fail while
    ``full`` is set, and whose claims of other queues (nothing due, nothing written) succeed, as on a full
    disk (the real case: tests/cli/test_cli_queue_disk_full.py)."""

    full = False

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims: dict[str, int] = {}

    def claim(self, claim, *, now):  # type: ignore[no-untyped-def]
        from dcm_exporter.errors import QueueError

        self.claims[claim.queue_name] = self.claims.get(claim.queue_name, 0) + 1
        if self.full and claim.queue_name == "Export1":
            raise QueueError("task database test: claim failed: database or disk is full")
        return super().claim(claim, now=now)


def test_a_store_error_stands_until_the_failing_worker_itself_writes_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    store = _DiskFullForOneQueue(tmp_path / "tasks.db")
    manager = TaskManager(store, cfg(("NOOP", "Export1"), ("OTHER", "Export2")))
    runner = TaskRunner(manager, lambda task, cancel: Outcome(status=OutcomeStatus.COMPLETED, message="sent"),
                        poll_interval=0.01, heartbeat_interval=0.05)
    tasks = [manager.schedule_export("NOOP", f"1.2.{n}") for n in range(3)]
    caplog.set_level(logging.DEBUG, logger="dcm_exporter.queue")
    store.full = True
    runner.start()
    try:
        assert wait_for(lambda: runner.store_error is not None, timeout=20)
        seen = dict(store.claims)
        # the Export2 worker claims nothing, successfully, between the Export1 worker's back-offs
        assert wait_for(lambda: store.claims["Export1"] >= seen["Export1"] + 2
                        and store.claims.get("Export2", 0) >= seen.get("Export2", 0) + 2, timeout=30)
        assert "disk is full" in str(runner.store_error)
        assert not [r for r in caplog.records if "works again" in r.getMessage()]
        assert all(store.get(t.task_id).status is TaskStatus.SCHEDULED for t in tasks)
        store.full = False
        assert wait_for(lambda: all(store.get(t.task_id).status is TaskStatus.COMPLETED for t in tasks), timeout=30)
        assert wait_for(lambda: runner.store_error is None, timeout=20)
    finally:
        runner.stop(timeout=1)
        store.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "taking tasks of queue Export1" in errors[0], errors
    assert len([r for r in caplog.records if "works again" in r.getMessage()]) == 1


def test_run_until_idle_raises_the_error_of_one_queue_while_the_others_worked(tmp_path: Path) -> None:
    from dcm_exporter.errors import QueueError

    store = _DiskFullForOneQueue(tmp_path / "tasks.db")
    manager = TaskManager(store, cfg(("NOOP", "Export1"), ("OTHER", "Export2")))
    runner = TaskRunner(manager, lambda task, cancel: Outcome(status=OutcomeStatus.COMPLETED, message="sent"))
    tasks = [manager.schedule_export("NOOP", f"1.2.{n}") for n in range(3)]
    store.full = True
    try:
        with pytest.raises(QueueError, match="disk is full"):
            runner.run_until_idle(timeout=30)
        assert store.claims.get("Export2", 0) >= 1  # the other queue's worker claimed, successfully
        assert "disk is full" in str(runner.store_error)  # still failing: no success of Export1's since
        store.full = False
        assert runner.run_until_idle(timeout=30) == 3
        assert all(store.get(t.task_id).status is TaskStatus.COMPLETED for t in tasks)
        assert runner.store_error is None
    finally:
        runner.close()
        store.close()
