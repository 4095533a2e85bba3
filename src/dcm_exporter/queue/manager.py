"""``TaskManager``: every state transition of an export task, and the gates that decide when one may run.

The manager knows the configuration (exporters and queues), the clock and the device it works for; the store
only performs the atomic operations the manager asks for; the runner only loops and calls the manager.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from dcm_exporter._suggest import did_you_mean
from dcm_exporter.errors import ConfigurationError, QueueError
from dcm_exporter.models import Configuration, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue.attempts import (
    IAN_QUEUE,
    STGCMT_QUEUE,
    TaskResult,
    end_of_attempt,
    followup_tasks,
    log_end,
    task_extra,
)
from dcm_exporter.queue.covering import Covering
from dcm_exporter.queue.retry import RetryPolicy
from dcm_exporter.queue.store import Claim, ExporterTarget, TaskStore, Transition
from dcm_exporter.queue.store_url import no_store_error
from dcm_exporter.queue.task import (
    ALL,
    BatchSummary,
    ExportTask,
    NewTask,
    TaskFilter,
    TaskStatus,
    utc,
)

if TYPE_CHECKING:
    from dcm_exporter.export import CancelToken, Outcome

__all__ = [
    "IAN_QUEUE",
    "STGCMT_QUEUE",
    "Attempt",
    "Clock",
    "TaskManager",
    "TaskResult",
    "system_clock",
]

log = logging.getLogger("dcm_exporter.queue")

#: A clock: returns the current time, timezone-aware.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@attrs.frozen
class Attempt:
    """One performed attempt of a claimed task, as a runner hands it to :meth:`TaskManager.finish_many_and_claim`.

    Attributes:
        task: The task as claimed.
        outcome: The transport's outcome (``None`` when it raised).
        error: What it raised, if anything.
        started: When the attempt started (recorded as the processing start time; ``None`` keeps the time
            the task was claimed).
    """

    task: ExportTask
    outcome: Outcome | None = None
    error: BaseException | None = None
    started: datetime | None = None


def _device_name_of(configuration: Configuration) -> str | None:
    """The device a manager works for when none is named: the only device with exporters or queues, else the
    only device."""
    archives = [d for d in configuration.devices if d.exporters or d.queues]
    candidates = archives or list(configuration.devices)
    return candidates[0].device_name if len(candidates) == 1 else None


def _log_scheduled(task: ExportTask) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "scheduled export task %s: %s by %s at %s",
            task.task_id,
            task.entity,
            task.exporter_id,
            task.scheduled_time.isoformat(),
            extra=task_extra(task),
        )


class TaskManager:
    """Schedules export tasks and moves them from status to status.

    Args:
        store: Where tasks are kept; ``None`` for a manager that only resolves exporters and queues (the
            export rules of an ``Exporter`` without a store): every task operation then raises
            ``ConfigurationError`` saying how to give one.
        configuration: The exporters and queues.
        device_name: The device whose tasks this manager schedules and processes; by default the
            configuration's device name.
        clock: Returns the current time (timezone-aware); :class:`~dcm_exporter.testing.FakeClock` in tests.
        lease: How long a claimed task stays with its runner without a heartbeat.

    Raises:
        ConfigurationError: no device name is given and the configuration has none.
    """

    def __init__(
        self,
        store: TaskStore | None,
        configuration: Configuration,
        *,
        device_name: str | None = None,
        clock: Clock | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._store = store
        self.clock: Clock = clock if clock is not None else system_clock
        if lease <= timedelta(0):
            raise QueueError(f"lease must be positive, got {lease}")
        self.lease = lease
        name = device_name or _device_name_of(configuration)
        if not name:
            raise ConfigurationError(
                "the export queue needs the name of the device it works for: the configuration has no single "
                "device with exporters or queues, so pass device_name=..."
            )
        self.device_name = name
        self.owner = f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._tokens: dict[int, CancelToken] = {}
        self._stopping: set[int] = set()
        self._listeners: list[Callable[[], None]] = []
        self._covering = Covering(self, self._study_lock)
        self.reload(configuration)
        if store is not None:  # a store shared by processes (PostgreSQL NOTIFY) wakes this device's runners
            store.add_listener(self.notify, device_name=name)

    @property
    def store(self) -> TaskStore:
        """The task store.

        Raises:
            ConfigurationError: the manager was created without one (it can still resolve exporters).
        """
        if self._store is None:
            raise no_store_error("the export queue")
        return self._store


    # --- configuration ------------------------------------------------------------------------------

    def reload(self, configuration: Configuration) -> None:
        """Use a new configuration from now on (new exporters, changed queues); wakes the runner."""
        exporters = dict(configuration.exporters)
        queues = dict(configuration.queues)
        # Worked out once per configuration instead of once per task: retry policies, and the exporters
        # whose schedule can close (the others never need a look at the clock).
        policies = {name: RetryPolicy.from_queue(queue) for name, queue in queues.items()}
        timed = tuple(e for e in exporters.values() if not e.schedules.is_always)
        with self._lock:
            self.configuration = configuration
            self._exporters: dict[str, ExporterDescriptor] = exporters
            self._queues: dict[str, QueueDescriptor] = queues
            self._policies: dict[str, RetryPolicy] = policies
            self._timed_exporters: tuple[ExporterDescriptor, ...] = timed
        self._covering.forget()
        self.notify()

    def for_device(self, device_name: str, configuration: Configuration | None = None) -> TaskManager:
        """A manager of another device's tasks in the same store, with the same clock and lease."""
        return TaskManager(
            self._store, configuration if configuration is not None else self.configuration,
            device_name=device_name, clock=self.clock, lease=self.lease,
        )

    def exporter(self, exporter_id: str) -> ExporterDescriptor:
        """The configured exporter with this id.

        Raises:
            ConfigurationError: no such exporter.
        """
        exporter = self._exporters.get(exporter_id)
        if exporter is None:
            known = ", ".join(sorted(self._exporters)) or "none"
            raise ConfigurationError(f"no exporter {exporter_id!r} is configured (configured: {known})")
        return exporter

    def _exporter_to_schedule(self, exporter_id: str) -> ExporterDescriptor:
        """The exporter, when its tasks can be queued: dcm4chee-arc too refuses to queue a task in a queue its
        device does not configure ("No Queue configured with name:..."); a task put there would never run."""
        exporter = self.exporter(exporter_id)
        if exporter.queue_name not in self._queues:
            raise ConfigurationError(
                f"exporter {exporter_id}: queue {exporter.queue_name} does not exist on device {self.device_name}"
                f"{did_you_mean(exporter.queue_name, self._queues)}; its tasks cannot be queued until the queue "
                "is configured or the exporter names another one"
            )
        return exporter

    def queue(self, queue_name: str) -> QueueDescriptor | None:
        """The configured queue with this name, or ``None``."""
        return self._queues.get(queue_name)

    @property
    def queue_names(self) -> tuple[str, ...]:
        """Names of the configured queues."""
        return tuple(self._queues)

    def retry_policy(self, queue_name: str) -> RetryPolicy:
        """The retry policy of a queue (no retries for a queue that is not configured)."""
        policy = self._policies.get(queue_name)
        return RetryPolicy() if policy is None else policy

    def now(self) -> datetime:
        """The manager's clock, in UTC."""
        return utc(self.clock())

    # --- wake-ups -----------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a task may have become due (scheduled, rescheduled, configuration)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self) -> None:
        """Wake every listener (the runners in this process)."""
        for listener in list(self._listeners):
            listener()

    # --- scheduling ---------------------------------------------------------------------------------

    def schedule_export(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_instance_uid: str | None = None,
        *,
        batch_id: str | None = None,
        scheduled_time: datetime | None = None,
        requester: str | None = None,
        number_of_instances: int | None = None,
        modalities: Iterable[str] = (),
        coalesce: bool = True,
    ) -> ExportTask:
        """Schedule an export of a study, series or instance by an exporter; returns the (coalesced) task.

        Without ``scheduled_time`` the exporter's schedule applies: the earliest time in its ``dcmSchedule``
        at or after now. A still SCHEDULED task of the same exporter, study and batch is reused (its scope
        widens, its time only moves later).

        Raises:
            ConfigurationError: the exporter, or its queue on this device, is not configured.
            ValueError: an instance without its series, or a naive ``scheduled_time``.
        """
        exporter = self._exporter_to_schedule(exporter_id)
        now = self.now()
        when = utc(scheduled_time) if scheduled_time is not None else exporter.schedules.ceil(now)
        new = NewTask(
            device_name=self.device_name,
            queue_name=exporter.queue_name,
            exporter_id=exporter_id,
            local_ae_title=exporter.ae_title,
            study_uid=study_uid,
            series_uid=series_uid or ALL,
            sop_instance_uid=sop_instance_uid or ALL,
            scheduled_time=when,
            batch_id=batch_id,
            number_of_instances=number_of_instances,
            modalities=tuple(modalities),
            requester=requester,
        )
        task = self.store.schedule(new, now=now, coalesce=coalesce)
        _log_scheduled(task)
        self.notify()
        return task

    def schedule_exports(
        self,
        exporter_id: str,
        study_uids: Iterable[str],
        *,
        batch_id: str | None = None,
        scheduled_time: datetime | None = None,
        requester: str | None = None,
        coalesce: bool = True,
    ) -> list[ExportTask]:
        """Schedule an export of each study by one exporter, as :meth:`schedule_export` would one after the
        other, in one store call (SQLite: one transaction, one commit); returns the tasks in order.

        Raises:
            ConfigurationError: the exporter, or its queue on this device, is not configured.
            ValueError: an empty or ``*`` Study Instance UID, or a naive ``scheduled_time``.
        """
        exporter = self._exporter_to_schedule(exporter_id)
        now = self.now()
        when = utc(scheduled_time) if scheduled_time is not None else exporter.schedules.ceil(now)
        news = [
            NewTask(
                device_name=self.device_name,
                queue_name=exporter.queue_name,
                exporter_id=exporter_id,
                local_ae_title=exporter.ae_title,
                study_uid=study_uid,
                scheduled_time=when,
                batch_id=batch_id,
                requester=requester,
            )
            for study_uid in study_uids
        ]
        if not news:
            return []
        tasks = self.store.schedule_many(news, now=now, coalesce=coalesce)
        for task in tasks:
            _log_scheduled(task)
        self.notify()
        return tasks

    def schedule_covering(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_instance_uid: str | None = None,
        *,
        scheduled_time: datetime,
    ) -> ExportTask:
        """Schedule an export the way export rules do, no earlier than ``scheduled_time``; returns its task.

        A Study export coalesces into the waiting task of its exporter and study. A Series or Instance
        export reuses a waiting task (without batch) that covers it, its time only moving later; else it
        gets a new task, which replaces the waiting Instance tasks of the same series it covers (taking the
        latest of their times). Processes sharing the store are serialised per study (the store's
        ``study_lock``), so that each scope gets one task.

        Raises:
            ConfigurationError: the exporter, or its queue on this device, is not configured, or there is no store.
        """
        return self._covering.schedule(
            exporter_id, study_uid, series_uid or ALL, (sop_instance_uid or ALL) if series_uid else ALL,
            utc(scheduled_time),
        )

    def move_later(self, task_id: int, scheduled_time: datetime) -> bool:
        """Move a task that is still SCHEDULED to ``scheduled_time``; whether it was still waiting."""
        return bool(
            self.reschedule(TaskFilter(task_ids=(task_id,), status=TaskStatus.SCHEDULED), scheduled_time=scheduled_time)
        )

    def _study_lock(self, exporter_id: str, study_uid: str) -> AbstractContextManager[None]:
        return self.store.study_lock(device_name=self.device_name, exporter_id=exporter_id, study_uid=study_uid)

    # --- processing ---------------------------------------------------------------------------------

    def queue_open(self, queue_name: str, now: datetime | None = None) -> bool:
        """Whether a queue processes tasks now: configured, installed, and inside its schedule."""
        queue = self.queue(queue_name)
        if queue is None or not queue.installed:
            return False
        return bool(queue.schedules.contains(now or self.now()))

    def closed_exporters(self, now: datetime) -> list[str]:
        """Exporters whose schedule does not contain ``now`` (their tasks wait for the next window)."""
        return [e.exporter_id for e in self._timed_exporters if not e.schedules.contains(now)]

    def _claim_gate(self, queue_name: str, limit: int, now: datetime) -> Claim | None:
        """What this manager may claim of a queue at ``now``, or ``None`` when nothing may be claimed."""
        if limit <= 0 or not self.queue_open(queue_name, now):
            return None
        return Claim(
            device_name=self.device_name,
            queue_name=queue_name,
            limit=limit,
            owner=self.owner,
            lease_until=now + self.lease,
            exclude_exporters=self.closed_exporters(now),
        )

    def _register(self, tasks: list[ExportTask]) -> list[tuple[ExportTask, CancelToken]]:
        """Give each claimed task its cancel token (heartbeats follow the tokens)."""
        from dcm_exporter.export import CancelToken

        claimed = []
        with self._lock:
            for task in tasks:
                token = CancelToken()
                self._tokens[task.task_id] = token
                claimed.append((task, token))
        if claimed and log.isEnabledFor(logging.INFO):
            for task, _ in claimed:
                log.info(
                    "export task %s started: %s by %s (attempt %d)",
                    task.task_id,
                    task.entity,
                    task.exporter_id,
                    task.number_of_failures + 1,
                    extra=task_extra(task),
                )
        return claimed

    def claim(self, queue_name: str, limit: int) -> list[tuple[ExportTask, CancelToken]]:
        """Take up to ``limit`` due tasks of a queue, if the queue is open; each with its cancel token."""
        now = self.now()
        gate = self._claim_gate(queue_name, limit, now)
        if gate is None:
            return []
        return self._register(self.store.claim(gate, now=now))

    def heartbeat(self) -> set[int]:
        """Extend the leases of the tasks this manager runs; cancels the ones it lost. Returns the lost
        ids."""
        with self._lock:
            ids = list(self._tokens)
        if not ids:
            return set()
        now = self.now()
        held = self.store.heartbeat(ids, owner=self.owner, lease_until=now + self.lease, now=now)
        lost = set(ids) - held
        with self._lock:
            for task_id in lost:
                token = self._tokens.get(task_id)
                if token is not None:
                    token.cancel()
        for task_id in sorted(lost):
            log.warning(
                "export task %s was cancelled, deleted or taken over while it ran",
                task_id,
                extra={"task_id": task_id},
            )
        return lost

    def running(self) -> list[int]:
        """Ids of the tasks this manager is running."""
        with self._lock:
            return sorted(self._tokens)

    def abandon(self, task_ids: Iterable[int]) -> None:
        """Stop extending the leases of tasks whose end could not be recorded (the store failed and the
        runner gives up): they run again once their leases expire, here or in another runner."""
        with self._lock:
            for task_id in task_ids:
                self._tokens.pop(task_id, None)
                self._stopping.discard(task_id)

    def interrupt(self, task_ids: Iterable[int] | None = None) -> None:
        """Cancel running tasks because the runner stops: they go back to the queue instead of ending
            CANCELED."""
        with self._lock:
            for task_id in list(self._tokens) if task_ids is None else task_ids:
                token = self._tokens.get(task_id)
                if token is not None:
                    self._stopping.add(task_id)
                    token.cancel()

    def finish(
        self, task: ExportTask, *, outcome: Outcome | None = None, error: BaseException | None = None
    ) -> TaskResult:
        """Record how an attempt ended and decide the task's next status (retry policy)."""
        now = self.now()
        ended = self._end_attempt(task, outcome, error, now)
        if isinstance(ended, TaskResult):
            return ended
        stored = self.store.finish(task.task_id, owner=self.owner, transition=ended, now=now)
        return self._finished(task, stored, outcome, error, ended)

    def finish_and_claim(
        self,
        task: ExportTask,
        *,
        outcome: Outcome | None = None,
        error: BaseException | None = None,
        queue_name: str,
        limit: int = 1,
    ) -> tuple[TaskResult, list[tuple[ExportTask, CancelToken]]]:
        """:meth:`finish`, then :meth:`claim` up to ``limit`` due tasks of ``queue_name``.

        Both happen in one store transaction (:meth:`TaskStore.finish_and_claim`): one commit per task
        instead of two. The finished task's new status is committed before the next task is returned. An
        attempt interrupted by a stop claims nothing.
        """
        now = self.now()
        ended = self._end_attempt(task, outcome, error, now)
        if isinstance(ended, TaskResult):
            return ended, []
        gate = self._claim_gate(queue_name, limit, now)
        if gate is None:
            stored = self.store.finish(task.task_id, owner=self.owner, transition=ended, now=now)
            return self._finished(task, stored, outcome, error, ended), []
        stored, tasks = self.store.finish_and_claim(task.task_id, transition=ended, now=now, claim=gate)
        claimed = self._register(tasks)
        try:
            result = self._finished(task, stored, outcome, error, ended)
        except BaseException:
            for next_task, _ in claimed:  # not handed out: back to the queue at once, not after the lease
                self.release(next_task)
            raise
        return result, claimed

    def finish_many_and_claim(
        self, ends: Sequence[Attempt], *, queue_name: str, limit: int = 1
    ) -> tuple[list[TaskResult], list[tuple[ExportTask, CancelToken]]]:
        """:meth:`finish` several attempts, then :meth:`claim` up to ``limit`` due tasks of ``queue_name``:
        a group commit (:meth:`TaskStore.finish_many_and_claim`) for a runner that performs short tasks in
        batches. Results are in the order of ``ends``."""
        now = self.now()
        results: list[TaskResult | None] = []
        finishes: list[tuple[int, Transition]] = []
        pending: list[tuple[int, Attempt, Transition]] = []
        with self._lock:  # what to put back if the store fails: the tasks are still this runner's to end
            held = {a.task.task_id: (self._tokens.get(a.task.task_id), a.task.task_id in self._stopping)
                    for a in ends}
        for attempt in ends:
            ended = self._end_attempt(attempt.task, attempt.outcome, attempt.error, now, attempt.started)
            if isinstance(ended, TaskResult):
                results.append(ended)
                continue
            pending.append((len(results), attempt, ended))
            finishes.append((attempt.task.task_id, ended))
            results.append(None)
        gate = self._claim_gate(queue_name, limit, now)
        if gate is None:
            gate = Claim(device_name=self.device_name, queue_name=queue_name, limit=0, owner=self.owner,
                         lease_until=now + self.lease)
        try:
            stored, tasks = self.store.finish_many_and_claim(finishes, now=now, claim=gate)
        except QueueError:
            # nothing recorded: the caller may try again later, and until then the heartbeats keep the
            # tasks' leases (and a stop still finds them)
            with self._lock:
                for task_id, _ in finishes:
                    token, stopping = held[task_id]
                    if token is not None:
                        self._tokens.setdefault(task_id, token)
                    if stopping:
                        self._stopping.add(task_id)
            raise
        claimed = self._register(tasks)
        try:
            for (index, attempt, ended), task in zip(pending, stored, strict=True):
                results[index] = self._finished(attempt.task, task, attempt.outcome, attempt.error, ended)
        except BaseException:
            for next_task, _ in claimed:  # not handed out: back to the queue at once, not after the lease
                self.release(next_task)
            raise
        return [r for r in results if r is not None], claimed

    def _end_attempt(
        self,
        task: ExportTask,
        outcome: Outcome | None,
        error: BaseException | None,
        now: datetime,
        started: datetime | None = None,
    ) -> Transition | TaskResult:
        """The transition an attempt ends with, or the result when a stop interrupted it (task released)."""
        with self._lock:
            self._tokens.pop(task.task_id, None)
            stopping = task.task_id in self._stopping
            self._stopping.discard(task.task_id)
        # an error (a cancel's ExportCanceledError among them) or a CANCELED outcome; OutcomeStatus is a StrEnum,
        # compared by its value without importing it here (an import per task)
        if stopping and (error is not None or (outcome is not None and outcome.status == "CANCELED")):
            released = self.store.release(task.task_id, owner=self.owner, now=now)
            log.info(
                "export task %s interrupted by stop, back in the queue", task.task_id, extra=task_extra(task)
            )
            return TaskResult(task=self._get(task.task_id), outcome=outcome, error=error, released=released)
        return end_of_attempt(
            task, outcome, error, policy=self.retry_policy(task.queue_name),
            exporter=self._exporters.get(task.exporter_id), queue_names=self._queues, now=now, started=started,
        )

    def _finished(
        self,
        task: ExportTask,
        stored: ExportTask | None,
        outcome: Outcome | None,
        error: BaseException | None,
        transition: Transition,
    ) -> TaskResult:
        """Log the stored end of an attempt; wake runners for a retry or follow-up tasks."""
        if log_end(task, stored, transition):
            self.notify()
        return TaskResult(task=stored, outcome=outcome, error=error)

    def schedule_followups(self, task: ExportTask) -> list[ExportTask]:
        """Schedule, now, what follows a COMPLETED export (storage commitment, IAN) as its own tasks.

        The runner does not need this: it stores an export's follow-ups in the same transaction as the
        export's end. This is for an export completed elsewhere (or to send them again). Returns the tasks
        scheduled (none when the exporter is no longer configured or has no follow-ups).
        """
        now = self.now()
        scheduled = []
        for new in followup_tasks(task, self._exporters.get(task.exporter_id), self._queues, now):
            followup = self.store.schedule(new, now=now, coalesce=False)
            log.info(
                "export task %s: %s task %s to %s scheduled",
                task.task_id,
                new.task_type.value,
                followup.task_id,
                new.destination_aet,
                extra=task_extra(followup),
            )
            scheduled.append(followup)
        if scheduled:
            self.notify()
        return scheduled

    def release(self, task: ExportTask) -> bool:
        """Give a task this manager holds back to the queue unprocessed (SCHEDULED)."""
        with self._lock:
            self._tokens.pop(task.task_id, None)
            self._stopping.discard(task.task_id)
        return self.store.release(task.task_id, owner=self.owner, now=self.now())

    def reset_in_process(self) -> int:
        """Put this device's IN PROCESS tasks back to SCHEDULED (what dcm4chee does at start-up)."""
        n = self.store.reset_in_process(device_name=self.device_name, now=self.now())
        if n:
            log.info("reset %d IN PROCESS export task(s) of device %s to SCHEDULED", n, self.device_name)
            self.notify()
        return n

    def next_due_time(self) -> datetime | None:
        """The earliest time a task of this device becomes due, if any."""
        return self.store.next_due_time(device_name=self.device_name, queue_names=self.queue_names)

    # --- operations ---------------------------------------------------------------------------------

    def _get(self, task_id: int) -> ExportTask | None:
        from dcm_exporter.errors import TaskNotFoundError

        try:
            return self.store.get(task_id)
        except TaskNotFoundError:
            return None

    def get(self, task_id: int) -> ExportTask:
        """The task with this id.

        Raises:
            TaskNotFoundError: no such task.
        """
        return self.store.get(task_id)

    def tasks(self, filter: TaskFilter | None = None) -> list[ExportTask]:
        """Tasks matching ``filter`` (all tasks without one)."""
        return self.store.list(filter or TaskFilter())

    def count(self, filter: TaskFilter | None = None) -> int:
        """Number of tasks matching ``filter``."""
        return self.store.count(filter or TaskFilter())

    def cancel(self, filter: TaskFilter) -> list[int]:
        """Cancel matching tasks that are not final; running ones are aborted through their cancel token.

        A cancelled task ends CANCELED and is never retried. Returns the ids cancelled.
        """
        cancelled, running = self.store.cancel(filter, now=self.now())
        with self._lock:
            for task_id in running:
                token = self._tokens.get(task_id)
                if token is not None:
                    token.cancel()
        if cancelled:
            log.info("cancelled %d export task(s)", len(cancelled), extra={"task_ids": cancelled})
        return cancelled

    def reschedule(
        self,
        filter: TaskFilter,
        *,
        scheduled_time: datetime | None = None,
        exporter_id: str | None = None,
    ) -> list[int]:
        """Schedule matching tasks (not IN PROCESS) again, failures reset to 0.

        Args:
            filter: Which tasks.
            scheduled_time: When; now by default (the exporter's schedule is still checked when it is picked).
            exporter_id: Move the tasks to this exporter: its queue and local AE title follow.

        Raises:
            ConfigurationError: ``exporter_id`` is not configured.
        """
        target = None
        if exporter_id is not None:
            exporter = self.exporter(exporter_id)
            target = ExporterTarget(
                exporter_id=exporter.exporter_id,
                queue_name=exporter.queue_name,
                local_ae_title=exporter.ae_title,
            )
        now = self.now()
        ids = self.store.reschedule(
            filter, now=now, scheduled_time=utc(scheduled_time) if scheduled_time else now, target=target
        )
        if ids:
            log.info(
                "rescheduled %d export task(s)%s",
                len(ids),
                f" to exporter {exporter_id}" if exporter_id else "",
                extra={"task_ids": ids},
            )
            self.notify()
        return ids

    def delete(self, filter: TaskFilter) -> list[int]:
        """Delete matching tasks; running ones are aborted first. Returns the ids deleted."""
        ids = self.store.delete(filter)
        with self._lock:
            for task_id in ids:
                token = self._tokens.get(task_id)
                if token is not None:
                    token.cancel()
        return ids

    def purge(self) -> int:
        """Delete final tasks of this device older than their queue's purge delay; returns how many."""
        now = self.now()
        total = 0
        for queue in list(self._queues.values()):
            for status, delay in (
                (TaskStatus.COMPLETED, queue.purge_completed_delay),
                (TaskStatus.FAILED, queue.purge_failed_delay),
                (TaskStatus.WARNING, queue.purge_warning_delay),
                (TaskStatus.CANCELED, queue.purge_canceled_delay),
            ):
                if delay is not None:
                    total += self.store.purge(
                        device_name=self.device_name,
                        queue_name=queue.queue_name,
                        status=status,
                        updated_before=now - delay,
                    )
        if total:
            log.info("purged %d finished export task(s)", total)
        return total

    def batches(self, filter: TaskFilter | None = None) -> list[BatchSummary]:
        """Per batch: the number of tasks in each status."""
        return self.store.batch_summaries(filter or TaskFilter())
