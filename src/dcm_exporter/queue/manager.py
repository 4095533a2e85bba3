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
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from dcm_exporter.errors import ConfigurationError, ExportCanceledError, QueueError, TransportError
from dcm_exporter.queue.retry import RetryPolicy
from dcm_exporter.queue.store import ExporterTarget, TaskStore, Transition
from dcm_exporter.queue.task import (
    ALL,
    BatchSummary,
    ExportTask,
    NewTask,
    TaskFilter,
    TaskStatus,
    TaskType,
    utc,
)

if TYPE_CHECKING:
    from dcm_exporter.export import CancelToken, Outcome
    from dcm_exporter.models import ExporterDescriptor, QueueDescriptor

__all__ = [
    "IAN_QUEUE",
    "STGCMT_QUEUE",
    "Clock",
    "QueueConfiguration",
    "TaskManager",
    "TaskResult",
    "system_clock",
]

#: Queue of storage commitment tasks when it is configured (dcm4chee-arc's name); else the exporter's queue.
STGCMT_QUEUE = "StgCmtSCU"
#: Queue of IAN tasks when it is configured (dcm4chee-arc's name); else the exporter's queue.
IAN_QUEUE = "IANSCU"

log = logging.getLogger("dcm_exporter.queue")

#: A clock: returns the current time, timezone-aware.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class QueueConfiguration(Protocol):
    """What the queue needs of a configuration: its exporters and queues (sequences or mappings by id)."""

    @property
    def exporters(self) -> Any: ...

    @property
    def queues(self) -> Any: ...


def _index(items: Any, key: str) -> dict[str, Any]:
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    return {getattr(item, key): item for item in items}


def _device_name_of(configuration: Any) -> str | None:
    for path in (("device_name",), ("device", "device_name")):
        value: Any = configuration
        for part in path:
            value = getattr(value, part, None)
        if isinstance(value, str) and value:
            return value
    devices = tuple(getattr(configuration, "devices", ()) or ())
    archives = [d for d in devices if getattr(d, "exporters", ()) or getattr(d, "queues", ())]
    candidates = archives if archives else devices
    if len(candidates) == 1:
        name = getattr(candidates[0], "device_name", None)
        return name if isinstance(name, str) else None
    return None


@attrs.frozen(kw_only=True)
class TaskResult:
    """How one attempt ended, as passed to the ``task finished`` hooks.

    Attributes:
        task: The task as stored afterwards (``None`` if it was deleted or taken away while it ran).
        outcome: The transport's outcome, if it returned one.
        error: The exception the attempt raised, if any.
        released: ``True`` when the attempt was interrupted by a stop and the task went back to the queue.
    """

    task: ExportTask | None
    outcome: Outcome | None = None
    error: BaseException | None = None
    released: bool = False


class TaskManager:
    """Schedules export tasks and moves them from status to status.

    Args:
        store: Where tasks are kept.
        configuration: Exporters and queues (a ``Configuration``; anything with ``exporters`` and ``queues``).
        device_name: The device whose tasks this manager schedules and processes; by default the
            configuration's device name.
        clock: Returns the current time (timezone-aware); :class:`~dcm_exporter.testing.FakeClock` in tests.
        lease: How long a claimed task stays with its runner without a heartbeat.

    Raises:
        ConfigurationError: no device name is given and the configuration has none.
    """

    def __init__(
        self,
        store: TaskStore,
        configuration: QueueConfiguration,
        *,
        device_name: str | None = None,
        clock: Clock | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.store = store
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
        self.reload(configuration)
        subscribe = getattr(store, "add_listener", None)
        if callable(subscribe):  # a store shared by processes (PostgreSQL NOTIFY) wakes this device's runners
            subscribe(self.notify, device_name=name)

    # --- configuration ------------------------------------------------------------------------------

    def reload(self, configuration: QueueConfiguration) -> None:
        """Use a new configuration from now on (new exporters, changed queues); wakes the runner."""
        exporters = _index(configuration.exporters, "exporter_id")
        queues = _index(configuration.queues, "queue_name")
        # Worked out once per configuration instead of once per task: retry policies, and the exporters
        # whose schedule can close (the others never need a look at the clock).
        policies = {name: RetryPolicy.from_queue(queue) for name, queue in queues.items()}
        timed = tuple(
            e for e in exporters.values() if not getattr(e.schedules, "is_always", False)
        )
        with self._lock:
            self.configuration = configuration
            self._exporters: dict[str, ExporterDescriptor] = exporters
            self._queues: dict[str, QueueDescriptor] = queues
            self._policies: dict[str, RetryPolicy] = policies
            self._timed_exporters: tuple[ExporterDescriptor, ...] = timed
        self.notify()

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
        for listener in list(getattr(self, "_listeners", ())):
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
            ConfigurationError: the exporter is not configured.
            ValueError: an instance without its series, or a naive ``scheduled_time``.
        """
        exporter = self.exporter(exporter_id)
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
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "scheduled export task %s: %s by %s at %s",
                task.task_id,
                task.entity,
                exporter_id,
                task.scheduled_time.isoformat(),
                extra=_extra(task),
            )
        self.notify()
        return task

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

    def _claim_gate(self, queue_name: str, limit: int, now: datetime) -> dict[str, Any] | None:
        """The store's claim arguments for a queue at ``now``, or ``None`` when nothing may be claimed."""
        if limit <= 0 or not self.queue_open(queue_name, now):
            return None
        return {
            "device_name": self.device_name,
            "queue_name": queue_name,
            "limit": limit,
            "lease_until": now + self.lease,
            "exclude_exporters": self.closed_exporters(now),
        }

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
                    extra=_extra(task),
                )
        return claimed

    def claim(self, queue_name: str, limit: int) -> list[tuple[ExportTask, CancelToken]]:
        """Take up to ``limit`` due tasks of a queue, if the queue is open; each with its cancel token."""
        now = self.now()
        gate = self._claim_gate(queue_name, limit, now)
        if gate is None:
            return []
        return self._register(self.store.claim(now=now, owner=self.owner, **gate))

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

        With a store that offers ``finish_and_claim`` (all three stores) both happen in one transaction:
        one commit per task instead of two. The finished task's new status is committed before the next
        task is returned. An attempt interrupted by a stop claims nothing.
        """
        now = self.now()
        ended = self._end_attempt(task, outcome, error, now)
        if isinstance(ended, TaskResult):
            return ended, []
        combined = getattr(self.store, "finish_and_claim", None)
        gate = self._claim_gate(queue_name, limit, now)
        if combined is None or gate is None:
            stored = self.store.finish(task.task_id, owner=self.owner, transition=ended, now=now)
            result = self._finished(task, stored, outcome, error, ended)
            return result, ([] if gate is None else self.claim(queue_name, limit))
        stored, tasks = combined(task.task_id, owner=self.owner, transition=ended, now=now, **gate)
        claimed = self._register(tasks)
        try:
            result = self._finished(task, stored, outcome, error, ended)
        except BaseException:
            for next_task, _ in claimed:  # not handed out: back to the queue at once, not after the lease
                self.release(next_task)
            raise
        return result, claimed

    def _end_attempt(
        self, task: ExportTask, outcome: Outcome | None, error: BaseException | None, now: datetime
    ) -> Transition | TaskResult:
        """The transition an attempt ends with, or the result when a stop interrupted it (task released)."""
        from dcm_exporter.export import OutcomeStatus

        with self._lock:
            self._tokens.pop(task.task_id, None)
            stopping = task.task_id in self._stopping
            self._stopping.discard(task.task_id)
        canceled = isinstance(error, ExportCanceledError) or (
            outcome is not None and outcome.status == OutcomeStatus.CANCELED
        )
        if stopping and (canceled or error is not None):
            released = self.store.release(task.task_id, owner=self.owner, now=now)
            log.info(
                "export task %s interrupted by stop, back in the queue", task.task_id, extra=_extra(task)
            )
            return TaskResult(task=self._get(task.task_id), outcome=outcome, error=error, released=released)

        retryable = True
        error_message: str | None = None
        outcome_message: str | None = None
        instances: int | None = None
        modalities: tuple[str, ...] | None = None
        result_json: str | None = getattr(outcome, "result_json", None)
        if error is not None:
            if isinstance(error, ExportCanceledError):
                status = TaskStatus.CANCELED
            else:
                status = TaskStatus.FAILED
                retryable = (
                    bool(getattr(error, "retryable", True)) if isinstance(error, TransportError) else True
                )
            error_message = str(error) or type(error).__name__
        elif outcome is not None:
            status = TaskStatus(outcome.status.value)
            outcome_message = outcome.message
            instances = outcome.completed + outcome.warning + outcome.failed + outcome.remaining
            modalities = tuple(getattr(outcome, "modalities", ())) or None
            if status is TaskStatus.FAILED and outcome.failures:
                error_message = outcome.failures[0].reason
        else:
            raise QueueError(f"export task {task.task_id}: an attempt ends with an outcome or an error")

        decision = self.retry_policy(task.queue_name).decide(
            status, failures=task.number_of_failures, now=now, retryable=retryable
        )
        followups: tuple[NewTask, ...] = ()
        exporter = self._exporters.get(task.exporter_id)
        if (
            decision.status is TaskStatus.COMPLETED
            and task.task_type is TaskType.EXPORT
            and exporter is not None
            and (exporter.stgcmt_scp or exporter.ian_destinations)
        ):
            # stored in the same transaction as the export's end: a crash cannot lose them
            done = attrs.evolve(
                task,
                number_of_instances=instances if instances is not None else task.number_of_instances,
                modalities=modalities if modalities is not None else task.modalities,
            )
            followups = tuple(self._followup_tasks(done, now))
        return Transition(
            status=decision.status,
            processing_end_time=now,
            number_of_failures=decision.number_of_failures,
            scheduled_time=decision.retry_at,
            error_message=error_message,
            outcome_message=outcome_message,
            number_of_instances=instances,
            result_json=result_json,
            modalities=modalities,
            followups=followups,
        )

    def _finished(
        self,
        task: ExportTask,
        stored: ExportTask | None,
        outcome: Outcome | None,
        error: BaseException | None,
        transition: Transition,
    ) -> TaskResult:
        """Log the stored end of an attempt, wake runners for a retry, schedule follow-ups."""
        if stored is None:
            log.warning(
                "export task %s was deleted or taken over before it finished",
                task.task_id,
                extra=_extra(task),
            )
        else:
            level = (
                logging.INFO
                if stored.status is TaskStatus.COMPLETED or stored.status is TaskStatus.CANCELED
                else logging.WARNING
            )
            if log.isEnabledFor(level):
                retry = ""
                if stored.status is TaskStatus.SCHEDULED_FOR_RETRY:
                    retry = f", retry {stored.number_of_failures} at {stored.scheduled_time.isoformat()}"
                log.log(
                    level,
                    "export task %s %s%s: %s",
                    stored.task_id,
                    stored.status.value,
                    retry,
                    transition.outcome_message or transition.error_message or "",
                    extra=_extra(stored),
                )
            if stored.status is TaskStatus.SCHEDULED_FOR_RETRY:
                self.notify()
            if stored.status is TaskStatus.COMPLETED and transition.followups:
                for followup in transition.followups:
                    log.info(
                        "export task %s COMPLETED: %s to %s scheduled",
                        stored.task_id,
                        followup.task_type.value,
                        followup.destination_aet,
                        extra=_extra(stored),
                    )
                self.notify()
        return TaskResult(task=stored, outcome=outcome, error=error)

    def _followup_tasks(self, task: ExportTask, now: datetime) -> list[NewTask]:
        """What follows a COMPLETED export: a storage commitment request to the exporter's ``dcmStgCmtSCP``
        and an IAN to each ``dcmIanDestination``, each its own task (none when the exporter is gone).

        They keep the export's exporter, scope and batch id, run now, in queue ``StgCmtSCU`` / ``IANSCU``
        when configured, else in the exporter's queue, and never coalesce.
        """
        exporter = self._exporters.get(task.exporter_id)
        if exporter is None:
            return []
        wanted: list[tuple[TaskType, str, str]] = []
        if exporter.stgcmt_scp:
            queue = STGCMT_QUEUE if STGCMT_QUEUE in self._queues else exporter.queue_name
            wanted.append((TaskType.STGCMT, exporter.stgcmt_scp, queue))
        for aet in dict.fromkeys(exporter.ian_destinations):
            queue = IAN_QUEUE if IAN_QUEUE in self._queues else exporter.queue_name
            wanted.append((TaskType.IAN, aet, queue))
        return [
            NewTask(
                device_name=task.device_name,
                queue_name=queue,
                exporter_id=task.exporter_id,
                local_ae_title=exporter.ae_title,
                study_uid=task.study_uid,
                series_uid=task.series_uid if task_type is TaskType.STGCMT else ALL,
                sop_instance_uid=task.sop_instance_uid if task_type is TaskType.STGCMT else ALL,
                scheduled_time=now,
                batch_id=task.batch_id,
                number_of_instances=task.number_of_instances if task_type is TaskType.STGCMT else None,
                modalities=task.modalities,
                requester=task.requester,
                task_type=task_type,
                destination_aet=aet,
            )
            for task_type, aet, queue in wanted
        ]

    def schedule_followups(self, task: ExportTask) -> list[ExportTask]:
        """Schedule, now, what follows a COMPLETED export (storage commitment, IAN) as its own tasks.

        The runner does not need this: it stores an export's follow-ups in the same transaction as the
        export's end. This is for an export completed elsewhere (or to send them again). Returns the tasks
        scheduled (none when the exporter is no longer configured or has no follow-ups).
        """
        now = self.now()
        scheduled = []
        for new in self._followup_tasks(task, now):
            followup = self.store.schedule(new, now=now, coalesce=False)
            log.info(
                "export task %s: %s task %s to %s scheduled",
                task.task_id,
                new.task_type.value,
                followup.task_id,
                new.destination_aet,
                extra=_extra(followup),
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


def _extra(task: ExportTask) -> dict[str, object]:
    return {
        "task_id": task.task_id,
        "exporter_id": task.exporter_id,
        "queue_name": task.queue_name,
        "study_uid": task.study_uid,
        "status": task.status.value,
        "batch_id": task.batch_id,
        "task_type": task.task_type.value,
    }
