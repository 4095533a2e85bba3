"""Status transitions, retries, windows, coalescing and operations of the export queue, on a fake clock.

Every test runs against both the in-memory and the SQLite store. Tasks are performed by a scripted
``perform`` callable (no network); the runner's ``run_until_idle`` processes what is due at the fake "now".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dcm_exporter.errors import ConfigurationError, ConnectionFailedError, TransportError
from dcm_exporter.export import CancelToken, Outcome, OutcomeStatus
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import (
    ExportTask,
    InMemoryTaskStore,
    SqliteTaskStore,
    TaskFilter,
    TaskManager,
    TaskResult,
    TaskRunner,
    TaskStatus,
    TaskStore,
)
from dcm_exporter.schedule import Schedules
from dcm_exporter.testing import FakeClock

DEVICE = "dcm4chee-arc"
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def exporter(
    exporter_id: str = "STORESCP",
    queue: str = "Export1",
    schedule: list[str] | None = None,
    ae: str = "DCM4CHEE",
) -> ExporterDescriptor:
    return ExporterDescriptor(
        exporter_id=exporter_id,
        uri="noop:nothing",
        queue_name=queue,
        ae_title=ae,
        schedules=Schedules.parse(schedule or [], tz=UTC),
    )


def config(
    *, exporters: list[ExporterDescriptor] | None = None, queues: list[QueueDescriptor] | None = None
) -> Configuration:
    return Configuration(
        devices=[
            Device(
                device_name=DEVICE,
                exporters=exporters if exporters is not None else [exporter()],
                queues=queues if queues is not None else [QueueDescriptor(queue_name="Export1")],
            )
        ]
    )


def outcome(status: OutcomeStatus = OutcomeStatus.COMPLETED, n: int = 1) -> Outcome:
    counts = {"completed": n} if status is OutcomeStatus.COMPLETED else {"warning": n}
    if status is OutcomeStatus.FAILED:
        counts = {"failed": n}
    if status is OutcomeStatus.CANCELED:
        counts = {"remaining": n}
    return Outcome(
        status=status, message=f"Export Study[1.2.3] to noop: - {status.value.lower()}:{n}", **counts
    )


class Script:
    """A perform callable that returns (or raises) the next scripted result and records the calls."""

    def __init__(
        self, *results: Outcome | BaseException | Callable[[ExportTask, CancelToken], Outcome]
    ) -> None:
        self.results = list(results)
        self.calls: list[ExportTask] = []

    def __call__(self, task: ExportTask, cancel: CancelToken) -> Outcome:
        self.calls.append(task)
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        if callable(result):
            return result(task, cancel)
        return result


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    s: TaskStore = InMemoryTaskStore() if request.param == "memory" else SqliteTaskStore(tmp_path / "q.db")
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def make(
    store: TaskStore, clock: FakeClock, perform: Script, cfg: Configuration | None = None
) -> tuple[TaskManager, TaskRunner]:
    manager = TaskManager(store, cfg or config(), clock=clock.now)
    return manager, TaskRunner(manager, perform, poll_interval=0.05, purge_interval=None)


# --- status transitions -------------------------------------------------------------------------------


def test_completed(store: TaskStore, clock: FakeClock) -> None:
    manager, runner = make(store, clock, Script(outcome(n=3)))
    task = manager.schedule_export("STORESCP", "1.2.3")
    assert task.status is TaskStatus.SCHEDULED and task.scheduled_time == T0
    assert task.queue_name == "Export1" and task.local_ae_title == "DCM4CHEE" and task.device_name == DEVICE
    assert runner.run_until_idle() == 1
    done = manager.get(task.task_id)
    assert done.status is TaskStatus.COMPLETED and done.number_of_instances == 3
    assert done.outcome_message == "Export Study[1.2.3] to noop: - completed:3"
    assert done.processing_start_time == T0 and done.processing_end_time == T0
    assert done.number_of_failures == 0 and done.error_message is None
    assert runner.run_until_idle() == 0


def test_warning_is_final_without_retry_on_warning(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", max_retries=5)
    manager, runner = make(store, clock, Script(outcome(OutcomeStatus.WARNING)), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    done = manager.get(task.task_id)
    assert done.status is TaskStatus.WARNING and done.number_of_failures == 0


def test_canceled_outcome_is_final(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", max_retries=5)
    manager, runner = make(store, clock, Script(outcome(OutcomeStatus.CANCELED)), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    clock.advance(timedelta(hours=1))
    assert runner.run_until_idle() == 0
    assert manager.get(task.task_id).status is TaskStatus.CANCELED


def test_failed_without_retries_is_final(store: TaskStore, clock: FakeClock) -> None:
    manager, runner = make(store, clock, Script(ConnectionFailedError("Connection refused")))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    done = manager.get(task.task_id)
    assert done.status is TaskStatus.FAILED and done.number_of_failures == 1
    assert done.error_message == "Connection refused"


def test_failed_outcome_and_not_retryable_error(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", max_retries=3, retry_delay=timedelta(seconds=10))
    script = Script(outcome(OutcomeStatus.FAILED), TransportError("bad destination", retryable=False))
    manager, runner = make(store, clock, script, config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    first = manager.get(task.task_id)
    assert first.status is TaskStatus.SCHEDULED_FOR_RETRY and first.number_of_failures == 1
    assert first.outcome_message is not None and "failed:1" in first.outcome_message
    clock.advance(timedelta(seconds=10))
    runner.run_until_idle()
    final = manager.get(task.task_id)
    assert final.status is TaskStatus.FAILED and final.number_of_failures == 2
    assert final.error_message == "bad destination"


def test_retry_sequence_pt30s_200_percent_pt10m_10_retries(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(
        queue_name="Export1",
        max_retries=10,
        retry_delay=timedelta(seconds=30),
        retry_delay_multiplier=200,
        max_retry_delay=timedelta(minutes=10),
    )
    manager, runner = make(store, clock, Script(ConnectionFailedError("refused")), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    delays = []
    statuses = []
    for _ in range(20):
        assert runner.run_until_idle() == 1
        current = manager.get(task.task_id)
        statuses.append(current.status)
        if current.status is not TaskStatus.SCHEDULED_FOR_RETRY:
            break
        delay = current.scheduled_time - clock.now()
        delays.append(int(delay.total_seconds()))
        clock.advance(delay - timedelta(seconds=1))
        assert runner.run_until_idle() == 0  # not yet due
        clock.advance(timedelta(seconds=1))
    assert delays == [30, 60, 120, 240, 480, 600, 600, 600, 600, 600]
    assert statuses[-1] is TaskStatus.FAILED and statuses[:-1] == [TaskStatus.SCHEDULED_FOR_RETRY] * 10
    assert manager.get(task.task_id).number_of_failures == 11
    clock.advance(timedelta(days=1))
    assert runner.run_until_idle() == 0


def test_retry_on_warning(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(
        queue_name="Export1", max_retries=2, retry_delay=timedelta(seconds=5), retry_on_warning=True
    )
    script = Script(outcome(OutcomeStatus.WARNING))
    manager, runner = make(store, clock, script, config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    seen = []
    for _ in range(3):
        runner.run_until_idle()
        seen.append(manager.get(task.task_id).status)
        clock.advance(timedelta(seconds=5))
    assert seen == [TaskStatus.SCHEDULED_FOR_RETRY, TaskStatus.SCHEDULED_FOR_RETRY, TaskStatus.WARNING]
    assert manager.get(task.task_id).number_of_failures == 3 and len(script.calls) == 3


def test_retry_then_completed(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", max_retries=1, retry_delay=timedelta(seconds=5))
    manager, runner = make(store, clock, Script(ConnectionFailedError("down"), outcome()), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    clock.advance(timedelta(seconds=5))
    runner.run_until_idle()
    done = manager.get(task.task_id)
    assert done.status is TaskStatus.COMPLETED and done.number_of_failures == 1


def test_unexpected_exception_counts_as_failure(store: TaskStore, clock: FakeClock) -> None:
    manager, runner = make(store, clock, Script(RuntimeError("disk on fire")))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    assert manager.get(task.task_id).status is TaskStatus.FAILED
    assert manager.get(task.task_id).error_message == "disk on fire"


def test_unexpected_exception_is_retried_like_a_retryable_failure(store: TaskStore, clock: FakeClock) -> None:
    # a bug or an odd error inside a transport is not known to be permanent: the queue's retries apply
    q = QueueDescriptor(queue_name="Export1", max_retries=1, retry_delay=timedelta(seconds=7))
    manager, runner = make(store, clock, Script(RuntimeError("disk on fire"), outcome()), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    first = manager.get(task.task_id)
    assert first.status is TaskStatus.SCHEDULED_FOR_RETRY and first.number_of_failures == 1
    assert first.scheduled_time == T0 + timedelta(seconds=7) and first.error_message == "disk on fire"
    clock.advance(timedelta(seconds=7))
    runner.run_until_idle()
    assert manager.get(task.task_id).status is TaskStatus.COMPLETED


def test_an_unknown_queue_name_gets_upstreams_default_policy_without_retries(
    store: TaskStore, clock: FakeClock
) -> None:
    manager, _ = make(store, clock, Script(outcome()))
    policy = manager.retry_policy("NoSuchQueue")
    assert policy.max_retries == 0 and policy.retry_on_warning is False
    assert policy.decide(TaskStatus.FAILED, failures=0, now=T0).status is TaskStatus.FAILED


# --- windows --------------------------------------------------------------------------------------------


def test_queue_schedule_and_installed_gate(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", schedules=Schedules.parse(["hour=18-6"], tz=UTC))
    manager, runner = make(store, clock, Script(outcome()), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    assert runner.run_until_idle() == 0  # 12:00 is outside the queue's window
    clock.set(T0.replace(hour=18))
    assert runner.run_until_idle() == 1
    assert manager.get(task.task_id).status is TaskStatus.COMPLETED
    paused = QueueDescriptor(queue_name="Export1", installed=False)
    manager.reload(config(queues=[paused]))
    second = manager.schedule_export("STORESCP", "4.5.6")
    assert runner.run_until_idle() == 0
    manager.reload(config())
    assert runner.run_until_idle() == 1
    assert manager.get(second.task_id).status is TaskStatus.COMPLETED


def test_exporter_schedule_applies_at_scheduling_and_when_picked(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", max_retries=3, retry_delay=timedelta(seconds=30))
    night = exporter(schedule=["hour=20"])
    manager, runner = make(
        store, clock, Script(ConnectionFailedError("down"), outcome()), config(exporters=[night], queues=[q])
    )
    task = manager.schedule_export("STORESCP", "1.2.3")
    assert task.scheduled_time == T0.replace(hour=20)  # ceil(now) into the exporter's window
    clock.set(T0.replace(hour=20, minute=59, second=50))
    assert runner.run_until_idle() == 1
    retry = manager.get(task.task_id)
    assert retry.status is TaskStatus.SCHEDULED_FOR_RETRY
    assert retry.scheduled_time == T0.replace(hour=21, minute=0, second=20)
    # our deviation: the retry falls outside the exporter's window and waits for the next window
    clock.set(T0.replace(hour=21, minute=0, second=20))
    assert runner.run_until_idle() == 0
    clock.set(T0.replace(hour=19, minute=59) + timedelta(days=1))
    assert runner.run_until_idle() == 0
    clock.set(T0.replace(hour=20) + timedelta(days=1))
    assert runner.run_until_idle() == 1
    assert manager.get(task.task_id).status is TaskStatus.COMPLETED


def test_explicit_time_overrides_exporter_schedule_at_scheduling(store: TaskStore, clock: FakeClock) -> None:
    manager, _ = make(store, clock, Script(outcome()), config(exporters=[exporter(schedule=["hour=20"])]))
    task = manager.schedule_export("STORESCP", "1.2.3", scheduled_time=T0 + timedelta(minutes=5))
    assert task.scheduled_time == T0 + timedelta(minutes=5)


# --- coalescing -------------------------------------------------------------------------------------------


def test_coalescing_through_the_manager(store: TaskStore, clock: FakeClock) -> None:
    manager, _runner = make(store, clock, Script(outcome()))
    a = manager.schedule_export("STORESCP", "1.2.3", "1.2.3.1", "1.2.3.1.1")
    b = manager.schedule_export(
        "STORESCP", "1.2.3", "1.2.3.1", "1.2.3.1.2", scheduled_time=T0 + timedelta(seconds=10)
    )
    assert b.task_id == a.task_id and (b.series_uid, b.sop_instance_uid) == ("1.2.3.1", "*")
    assert b.scheduled_time == T0 + timedelta(seconds=10)
    c = manager.schedule_export("STORESCP", "1.2.3", "1.2.3.2", scheduled_time=T0)
    assert c.task_id == a.task_id and (c.series_uid, c.sop_instance_uid) == ("*", "*")
    assert c.scheduled_time == T0 + timedelta(seconds=10)  # only ever later
    assert manager.count() == 1
    with pytest.raises(ValueError, match="Series"):
        manager.schedule_export("STORESCP", "1.2.3", None, "1.2.3.1.1")
    with pytest.raises(ConfigurationError, match="NOPE"):
        manager.schedule_export("NOPE", "1.2.3")


def test_schedule_exports_queues_each_study_as_schedule_export_would(store: TaskStore, clock: FakeClock) -> None:
    night = exporter(schedule=["hour=20"])
    manager, runner = make(store, clock, Script(outcome()), config(exporters=[night]))
    waiting = manager.schedule_export("STORESCP", "1.2.3", "1.2.3.1")
    woken: list[int] = []
    manager.add_listener(lambda: woken.append(1))
    tasks = manager.schedule_exports("STORESCP", ["1.2.4", "1.2.3", "1.2.5", "1.2.4"], batch_id=None, requester="ris")
    assert [t.study_uid for t in tasks] == ["1.2.4", "1.2.3", "1.2.5", "1.2.4"]
    assert tasks[1].task_id == waiting.task_id and tasks[1].series_uid == "*"  # widened to the whole study
    assert tasks[3].task_id == tasks[0].task_id  # a study given twice: one task
    assert {t.scheduled_time for t in tasks} == {T0.replace(hour=20)}  # the exporter's schedule
    assert (tasks[0].requester, tasks[2].requester) == ("ris", "ris") and woken == [1]  # runners woken once
    assert manager.count() == 3 and manager.schedule_exports("STORESCP", []) == []
    clock.set(T0.replace(hour=20))
    assert runner.run_until_idle() == 3
    with pytest.raises(ConfigurationError, match="NOPE"):
        manager.schedule_exports("NOPE", ["1.2.3"])
    with pytest.raises(ValueError, match="Study Instance UID"):
        manager.schedule_exports("STORESCP", ["1.2.6", ""])
    assert manager.count() == 3  # nothing of a refused call is stored


# --- operations ---------------------------------------------------------------------------------------------


def test_cancel_waiting_and_retrying_tasks_never_run(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(queue_name="Export1", max_retries=3, retry_delay=timedelta(seconds=5))
    script = Script(ConnectionFailedError("down"))
    manager, runner = make(store, clock, script, config(queues=[q]))
    retrying = manager.schedule_export("STORESCP", "1")
    runner.run_until_idle()
    waiting = manager.schedule_export("STORESCP", "2", scheduled_time=T0 + timedelta(minutes=1))
    assert manager.cancel(
        TaskFilter(status=[TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY])
    ) == sorted([retrying.task_id, waiting.task_id])
    clock.advance(timedelta(hours=1))
    assert runner.run_until_idle() == 0 and len(script.calls) == 1
    assert {t.status for t in manager.tasks()} == {TaskStatus.CANCELED}


def test_cancel_running_task_through_its_token(store: TaskStore, clock: FakeClock) -> None:
    started = threading.Event()

    def slow(task: ExportTask, cancel: CancelToken) -> Outcome:
        started.set()
        assert cancel.wait(30)
        return outcome(OutcomeStatus.CANCELED, n=5)

    q = QueueDescriptor(queue_name="Export1", max_retries=5)
    manager, runner = make(store, clock, Script(slow), config(queues=[q]))
    task = manager.schedule_export("STORESCP", "1.2.3")
    worker = threading.Thread(target=runner.run_until_idle)
    worker.start()
    assert started.wait(30)
    assert manager.get(task.task_id).status is TaskStatus.IN_PROCESS
    assert manager.cancel(TaskFilter(task_ids=[task.task_id])) == [task.task_id]
    worker.join(30)
    done = manager.get(task.task_id)
    assert done.status is TaskStatus.CANCELED and done.number_of_failures == 0
    assert done.outcome_message is not None and done.processing_end_time is not None
    clock.advance(timedelta(hours=1))
    assert runner.run_until_idle() == 0


def test_reschedule_to_another_exporter(store: TaskStore, clock: FakeClock) -> None:
    cfg = config(
        exporters=[exporter(), exporter("OTHER", queue="Export2", ae="ARCHIVE2")],
        queues=[QueueDescriptor(queue_name="Export1"), QueueDescriptor(queue_name="Export2")],
    )
    script = Script(ConnectionFailedError("down"), outcome())
    manager, runner = make(store, clock, script, cfg)
    task = manager.schedule_export("STORESCP", "1.2.3")
    runner.run_until_idle()
    assert manager.get(task.task_id).status is TaskStatus.FAILED
    clock.advance(timedelta(minutes=1))
    assert manager.reschedule(TaskFilter(task_ids=[task.task_id]), exporter_id="OTHER") == [task.task_id]
    moved = manager.get(task.task_id)
    assert (moved.exporter_id, moved.queue_name, moved.local_ae_title) == ("OTHER", "Export2", "ARCHIVE2")
    assert (
        moved.status is TaskStatus.SCHEDULED and moved.number_of_failures == 0 and moved.error_message is None
    )
    assert moved.scheduled_time == clock.now()
    runner.run_until_idle()
    assert manager.get(task.task_id).status is TaskStatus.COMPLETED
    assert script.calls[-1].exporter_id == "OTHER"
    with pytest.raises(ConfigurationError):
        manager.reschedule(TaskFilter(), exporter_id="NOPE")


def test_reschedule_many_later(store: TaskStore, clock: FakeClock) -> None:
    manager, runner = make(store, clock, Script(outcome()))
    ids = [manager.schedule_export("STORESCP", str(i)).task_id for i in range(3)]
    runner.run_until_idle()
    later = T0 + timedelta(hours=1)
    assert manager.reschedule(TaskFilter(status="COMPLETED"), scheduled_time=later) == ids
    assert runner.run_until_idle() == 0
    clock.set(later)
    assert runner.run_until_idle() == 3


def test_delete_and_list(store: TaskStore, clock: FakeClock) -> None:
    manager, _ = make(store, clock, Script(outcome()))
    a = manager.schedule_export("STORESCP", "1")
    manager.schedule_export("STORESCP", "2")
    assert [t.study_uid for t in manager.tasks(TaskFilter(order_by="-task_id"))] == ["2", "1"]
    assert manager.delete(TaskFilter(task_ids=[a.task_id])) == [a.task_id]
    assert manager.count() == 1


def test_purge_by_status_delays(store: TaskStore, clock: FakeClock) -> None:
    q = QueueDescriptor(
        queue_name="Export1",
        purge_completed_delay=timedelta(hours=1),
        purge_canceled_delay=timedelta(minutes=1),
    )
    manager, runner = make(store, clock, Script(outcome(), ConnectionFailedError("x")), config(queues=[q]))
    ok = manager.schedule_export("STORESCP", "1")
    runner.run_until_idle()
    failed = manager.schedule_export("STORESCP", "2")
    runner.run_until_idle()
    canceled = manager.schedule_export("STORESCP", "3", scheduled_time=T0 + timedelta(days=1))
    manager.cancel(TaskFilter(task_ids=[canceled.task_id]))
    clock.advance(timedelta(minutes=59))
    assert manager.purge() == 1  # the canceled one
    clock.advance(timedelta(minutes=1, seconds=1))
    assert manager.purge() == 1  # the completed one
    assert [t.task_id for t in manager.tasks()] == [failed.task_id]  # no purge delay for FAILED
    assert ok.task_id not in [t.task_id for t in manager.tasks()]


def test_batch_summary(store: TaskStore, clock: FakeClock) -> None:
    manager, runner = make(store, clock, Script(outcome(), ConnectionFailedError("x"), outcome()))
    for study in ("1", "2", "3"):
        manager.schedule_export("STORESCP", study, batch_id="nightly")
    manager.schedule_export("STORESCP", "4", batch_id="other", scheduled_time=T0 + timedelta(hours=1))
    runner.run_until_idle()
    summaries = {b.batch_id: b for b in manager.batches()}
    assert set(summaries) == {"nightly", "other"}
    nightly = summaries["nightly"]
    assert nightly.total == 3
    assert nightly.count(TaskStatus.COMPLETED) == 2 and nightly.count(TaskStatus.FAILED) == 1
    assert dict(summaries["other"].counts) == {TaskStatus.SCHEDULED: 1}


# --- hooks, logs, leases, reload --------------------------------------------------------------------------


def test_hooks_and_structured_logs(
    store: TaskStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    manager, runner = make(store, clock, Script(outcome()))
    started: list[ExportTask] = []
    finished: list[TaskResult] = []
    runner.hooks.on_started(started.append)

    @runner.hooks.on_finished
    def record(result: TaskResult) -> None:
        finished.append(result)
        raise RuntimeError("a broken hook must not break the runner")

    task = manager.schedule_export("STORESCP", "1.2.3")
    with caplog.at_level(logging.INFO, logger="dcm_exporter.queue"):
        runner.run_until_idle()
    assert [t.task_id for t in started] == [task.task_id] and started[0].status is TaskStatus.IN_PROCESS
    assert finished[0].task is not None and finished[0].task.status is TaskStatus.COMPLETED
    assert finished[0].outcome is not None and finished[0].error is None
    records = [r for r in caplog.records if getattr(r, "task_id", None) == task.task_id]
    assert {getattr(r, "status", None) for r in records} >= {"IN PROCESS", "COMPLETED"}
    assert all(getattr(r, "exporter_id", None) == "STORESCP" for r in records)
    assert any("hook" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_lease_expiry_hands_task_of_dead_runner_to_another(store: TaskStore, clock: FakeClock) -> None:
    dead = TaskManager(store, config(), clock=clock.now, lease=timedelta(seconds=60))
    task = dead.schedule_export("STORESCP", "1.2.3")
    assert [t.task_id for t, _ in dead.claim("Export1", 1)] == [task.task_id]  # ... and then it dies
    script = Script(outcome())
    alive = TaskManager(store, config(), clock=clock.now)
    runner = TaskRunner(alive, script, poll_interval=0.05, purge_interval=None, reset_on_start=False)
    assert runner.run_until_idle() == 0
    clock.advance(timedelta(seconds=60))
    assert runner.run_until_idle() == 1
    assert alive.get(task.task_id).status is TaskStatus.COMPLETED
    assert dead.finish(task, outcome=outcome()).task is None  # the dead runner cannot overwrite it


def test_reset_in_process_on_start(store: TaskStore, clock: FakeClock) -> None:
    dead = TaskManager(store, config(), clock=clock.now)
    task = dead.schedule_export("STORESCP", "1.2.3")
    dead.claim("Export1", 1)
    manager, runner = make(store, clock, Script(outcome()))
    assert runner.run_until_idle() == 1  # reset at first run, no need to wait for the lease
    assert manager.get(task.task_id).status is TaskStatus.COMPLETED


def test_heartbeat_cancels_tasks_lost_to_another_process(store: TaskStore, clock: FakeClock) -> None:
    manager = TaskManager(store, config(), clock=clock.now)
    task = manager.schedule_export("STORESCP", "1.2.3")
    [(claimed, token)] = manager.claim("Export1", 1)
    other = TaskManager(store, config(), clock=clock.now)
    other.cancel(TaskFilter(task_ids=[task.task_id]))  # e.g. another process cancels it
    assert not token.cancelled
    assert manager.heartbeat() == {task.task_id}
    assert token.cancelled
    result = manager.finish(claimed, outcome=outcome(OutcomeStatus.CANCELED))
    assert result.task is not None and result.task.status is TaskStatus.CANCELED


def test_max_tasks_parallel(store: TaskStore, clock: FakeClock) -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    barrier = threading.Barrier(3, timeout=30)

    def perform(task: ExportTask, cancel: CancelToken) -> Outcome:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if int(task.study_uid) < 3:
            barrier.wait()  # the first three run at the same time
        with lock:
            running -= 1
        return outcome()

    q = QueueDescriptor(queue_name="Export1", max_tasks_parallel=3)
    manager, runner = make(store, clock, Script(perform), config(queues=[q]))
    for i in range(12):
        manager.schedule_export("STORESCP", str(i))
    assert runner.run_until_idle() == 12
    assert peak == 3
    assert manager.count(TaskFilter(status="COMPLETED")) == 12


def test_device_name_required_when_ambiguous(store: TaskStore) -> None:
    cfg = Configuration(
        devices=[
            Device(device_name="a", queues=[QueueDescriptor(queue_name="Q")]),
            Device(device_name="b", queues=[QueueDescriptor(queue_name="Q2")]),
        ]
    )
    with pytest.raises(ConfigurationError, match="device_name"):
        TaskManager(store, cfg)
    assert TaskManager(store, cfg, device_name="b").device_name == "b"
