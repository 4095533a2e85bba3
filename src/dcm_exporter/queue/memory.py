"""``InMemoryTaskStore``: the task store for tests and throwaway runs (nothing survives the process)."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

import attrs

from dcm_exporter.errors import TaskNotFoundError
from dcm_exporter.queue.store import (
    Claim,
    ExporterTarget,
    LocalNotifications,
    Transition,
    coalesce_or_insert,
    ended,
)
from dcm_exporter.queue.task import BatchSummary, ExportTask, NewTask, TaskFilter, TaskStatus, TaskType, utc

__all__ = ["InMemoryTaskStore", "order_tasks", "summarize_batches"]

_PENDING = (TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY)


def order_tasks(tasks: Iterable[ExportTask], filter: TaskFilter) -> builtins.list[ExportTask]:
    """Sort and page tasks as ``filter`` says (``None`` sorts first ascending, last descending, like SQL)."""
    field = filter.order_by.removeprefix("-")
    descending = filter.order_by.startswith("-")

    def key(task: ExportTask) -> tuple[bool, object, int]:
        value = getattr(task, field)
        if isinstance(value, TaskStatus):
            value = value.value
        return (value is not None, value if value is not None else 0, task.task_id)

    ordered = sorted(tasks, key=key, reverse=descending)
    start = filter.offset
    stop = None if filter.limit is None else start + filter.limit
    return ordered[start:stop]


def _range(values: builtins.list[datetime | None]) -> tuple[datetime, datetime] | None:
    present = [v for v in values if v is not None]
    return (min(present), max(present)) if present else None


def summarize_batches(tasks: Iterable[ExportTask]) -> builtins.list[BatchSummary]:
    """Group tasks by batch id (tasks without one are left out) into :class:`BatchSummary` objects."""
    groups: dict[str, builtins.list[ExportTask]] = {}
    for task in tasks:
        if task.batch_id is not None:
            groups.setdefault(task.batch_id, []).append(task)
    result = []
    for batch_id in sorted(groups):
        group = groups[batch_id]
        counts: dict[TaskStatus, int] = {}
        for task in group:
            counts[task.status] = counts.get(task.status, 0) + 1
        result.append(
            BatchSummary(
                batch_id=batch_id,
                counts=counts,
                device_names=tuple(sorted({t.device_name for t in group})),
                exporter_ids=tuple(sorted({t.exporter_id for t in group})),
                created_time_range=_range([t.created_time for t in group]),
                updated_time_range=_range([t.updated_time for t in group]),
                scheduled_time_range=_range([t.scheduled_time for t in group]),
                processing_start_time_range=_range([t.processing_start_time for t in group]),
                processing_end_time_range=_range([t.processing_end_time for t in group]),
            )
        )
    return result


class InMemoryTaskStore(LocalNotifications):
    """A :class:`~dcm_exporter.queue.store.TaskStore` kept in a dict; thread-safe, not durable.

    Tasks are also indexed by device, exporter and study, so that coalescing a new task and listing the
    tasks of one study (what export rules do on every stored object) do not slow down as tasks pile up;
    operations on given task ids look those up directly.

    Example:
        >>> from datetime import datetime, timezone
        >>> from dcm_exporter.queue import InMemoryTaskStore, NewTask
        >>> store = InMemoryTaskStore()
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> task = store.schedule(NewTask(device_name="dcm4chee-arc", queue_name="Export1",
        ...     exporter_id="STORESCP", study_uid="1.2.3", scheduled_time=now), now=now)
        >>> task.status.value
        'SCHEDULED'
    """

    def __init__(self) -> None:
        self._tasks: dict[int, ExportTask] = {}
        self._by_study: dict[tuple[str, str, str], set[int]] = {}
        self._next_id = 1
        self._lock = threading.RLock()
        self._study_guard = threading.RLock()

    # --- the index by device, exporter and study ----------------------------------------------------

    def _index(self, task: ExportTask) -> None:
        self._by_study.setdefault((task.device_name, task.exporter_id, task.study_uid), set()).add(task.task_id)

    def _unindex(self, task: ExportTask) -> None:
        key = (task.device_name, task.exporter_id, task.study_uid)
        ids = self._by_study.get(key)
        if ids is not None:
            ids.discard(task.task_id)
            if not ids:
                del self._by_study[key]

    def _remove(self, task_id: int) -> None:
        self._unindex(self._tasks.pop(task_id))

    def _candidates(self, filter: TaskFilter) -> Iterable[ExportTask]:
        """The tasks that may match ``filter``: by id or by study when it names them, else all."""
        if filter.task_ids is not None:
            return [self._tasks[i] for i in sorted(set(filter.task_ids)) if i in self._tasks]
        if filter.device_name is not None and filter.exporter_id is not None and filter.study_uid is not None:
            ids = self._by_study.get((filter.device_name, filter.exporter_id, filter.study_uid), ())
            return [self._tasks[i] for i in sorted(ids)]
        return self._tasks.values()

    # --- scheduling ---------------------------------------------------------------------------------

    def schedule_many(
        self, news: Sequence[NewTask], *, now: datetime, coalesce: bool = True
    ) -> builtins.list[ExportTask]:
        with self._lock:  # re-entrant: no other thread's write comes in between
            return [self.schedule(new, now=now, coalesce=coalesce) for new in news]

    def schedule(self, new: NewTask, *, now: datetime, coalesce: bool = True) -> ExportTask:
        now = utc(now)
        with self._lock:
            writes = _MemoryCoalescing(self, new, now)
            if coalesce and new.task_type is TaskType.EXPORT:
                return coalesce_or_insert(writes, new, new.scheduled_time)
            return writes.insert()

    # --- queries ------------------------------------------------------------------------------------

    def get(self, task_id: int) -> ExportTask:
        with self._lock:
            try:
                return self._tasks[task_id]
            except KeyError:
                raise TaskNotFoundError(task_id) from None

    def list(self, filter: TaskFilter) -> builtins.list[ExportTask]:
        with self._lock:
            return order_tasks([t for t in self._candidates(filter) if filter.matches(t)], filter)

    def count(self, filter: TaskFilter) -> int:
        with self._lock:
            return sum(1 for t in self._candidates(filter) if filter.matches(t))

    def batch_summaries(self, filter: TaskFilter) -> builtins.list[BatchSummary]:
        with self._lock:
            return summarize_batches(t for t in self._tasks.values() if filter.matches(t))

    def next_due_time(self, *, device_name: str, queue_names: Collection[str]) -> datetime | None:
        with self._lock:
            times = [
                t.scheduled_time if t.status in _PENDING else t.lease_expires
                for t in self._tasks.values()
                if t.device_name == device_name
                and t.queue_name in queue_names
                and (t.status in _PENDING or (t.status is TaskStatus.IN_PROCESS and t.lease_expires))
            ]
            present = [t for t in times if t is not None]
            return min(present) if present else None

    # --- processing ---------------------------------------------------------------------------------

    def claim(self, claim: Claim, *, now: datetime) -> builtins.list[ExportTask]:
        now = utc(now)
        with self._lock:
            due = [
                t
                for t in self._tasks.values()
                if t.device_name == claim.device_name
                and t.queue_name == claim.queue_name
                and t.exporter_id not in claim.exclude_exporters
                and (
                    (t.status in _PENDING and t.scheduled_time <= now)
                    or (
                        t.status is TaskStatus.IN_PROCESS
                        and t.lease_expires is not None
                        and t.lease_expires <= now
                    )
                )
            ]
            due.sort(key=lambda t: (t.scheduled_time, t.task_id))
            claimed = []
            for task in due[: max(claim.limit, 0)]:
                task = attrs.evolve(
                    task,
                    status=TaskStatus.IN_PROCESS,
                    processing_start_time=now,
                    processing_end_time=None,
                    updated_time=now,
                    lease_owner=claim.owner,
                    lease_expires=claim.lease_until,
                )
                self._tasks[task.task_id] = task
                claimed.append(task)
            return claimed

    def heartbeat(
        self, task_ids: Sequence[int], *, owner: str, lease_until: datetime, now: datetime
    ) -> set[int]:
        held = set()
        with self._lock:
            for task_id in task_ids:
                task = self._tasks.get(task_id)
                if task is not None and task.status is TaskStatus.IN_PROCESS and task.lease_owner == owner:
                    self._tasks[task_id] = attrs.evolve(task, lease_expires=lease_until)
                    held.add(task_id)
        return held

    def finish(self, task_id: int, *, owner: str, transition: Transition, now: datetime) -> ExportTask | None:
        now = utc(now)
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.lease_owner != owner:
                return None
            instances = (
                transition.number_of_instances
                if transition.number_of_instances is not None
                else task.number_of_instances
            )
            modalities = transition.modalities if transition.modalities is not None else task.modalities
            if task.status is TaskStatus.IN_PROCESS:
                task = ended(task, transition, now, modalities=modalities)
            elif task.status is TaskStatus.CANCELED:
                task = attrs.evolve(
                    task,
                    processing_end_time=transition.processing_end_time,
                    outcome_message=transition.outcome_message,
                    number_of_instances=instances,
                    modalities=modalities,
                    updated_time=now,
                    lease_owner=None,
                    lease_expires=None,
                )
            else:
                return None
            self._tasks[task_id] = task
            if task.status is TaskStatus.COMPLETED:
                for followup in transition.followups:
                    self.schedule(followup, now=now, coalesce=False)
            return task

    def finish_and_claim(
        self, task_id: int, *, transition: Transition, now: datetime, claim: Claim
    ) -> tuple[ExportTask | None, builtins.list[ExportTask]]:
        with self._lock:
            return self.finish(task_id, owner=claim.owner, transition=transition, now=now), self.claim(claim, now=now)

    def finish_many_and_claim(
        self, finishes: Sequence[tuple[int, Transition]], *, now: datetime, claim: Claim
    ) -> tuple[builtins.list[ExportTask | None], builtins.list[ExportTask]]:
        with self._lock:
            finished = [self.finish(task_id, owner=claim.owner, transition=t, now=now) for task_id, t in finishes]
            return finished, self.claim(claim, now=now)

    def release(self, task_id: int, *, owner: str, now: datetime) -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.lease_owner != owner:
                return False
            if task.status is TaskStatus.IN_PROCESS:
                self._tasks[task_id] = attrs.evolve(
                    task,
                    status=TaskStatus.SCHEDULED,
                    processing_start_time=None,
                    updated_time=utc(now),
                    lease_owner=None,
                    lease_expires=None,
                )
                return True
            self._tasks[task_id] = attrs.evolve(task, lease_owner=None, lease_expires=None)
            return False

    def reset_in_process(self, *, device_name: str, now: datetime) -> int:
        now = utc(now)
        with self._lock:
            n = 0
            for task in builtins.list(self._tasks.values()):
                if task.device_name == device_name and task.status is TaskStatus.IN_PROCESS:
                    self._tasks[task.task_id] = attrs.evolve(
                        task,
                        status=TaskStatus.SCHEDULED,
                        processing_start_time=None,
                        updated_time=now,
                        lease_owner=None,
                        lease_expires=None,
                    )
                    n += 1
            return n

    # --- operations ---------------------------------------------------------------------------------

    def cancel(self, filter: TaskFilter, *, now: datetime) -> tuple[builtins.list[int], builtins.list[int]]:
        now = utc(now)
        cancelled: builtins.list[int] = []
        running: builtins.list[int] = []
        with self._lock:
            for task in self.list(attrs.evolve(filter, order_by="task_id")):
                if task.status.is_final:
                    continue
                if task.status is TaskStatus.IN_PROCESS:
                    running.append(task.task_id)
                    changed = attrs.evolve(task, status=TaskStatus.CANCELED, updated_time=now)
                else:
                    changed = attrs.evolve(
                        task,
                        status=TaskStatus.CANCELED,
                        updated_time=now,
                        lease_owner=None,
                        lease_expires=None,
                    )
                self._tasks[task.task_id] = changed
                cancelled.append(task.task_id)
        return cancelled, running

    def reschedule(
        self, filter: TaskFilter, *, now: datetime, scheduled_time: datetime, target: ExporterTarget | None = None
    ) -> builtins.list[int]:
        now = utc(now)
        done = []
        with self._lock:
            for task in self.list(attrs.evolve(filter, order_by="task_id")):
                if task.status is TaskStatus.IN_PROCESS:
                    continue
                changed = attrs.evolve(
                    task,
                    status=TaskStatus.SCHEDULED,
                    scheduled_time=scheduled_time,
                    number_of_failures=0,
                    error_message=None,
                    outcome_message=None,
                    processing_start_time=None,
                    processing_end_time=None,
                    updated_time=now,
                    lease_owner=None,
                    lease_expires=None,
                )
                if target is not None:
                    changed = attrs.evolve(
                        changed,
                        exporter_id=target.exporter_id,
                        queue_name=target.queue_name,
                        local_ae_title=target.local_ae_title,
                    )
                    self._unindex(task)
                    self._index(changed)
                self._tasks[task.task_id] = changed
                done.append(task.task_id)
        return done

    def delete(self, filter: TaskFilter) -> builtins.list[int]:
        with self._lock:
            ids = [t.task_id for t in self.list(attrs.evolve(filter, order_by="task_id"))]
            for task_id in ids:
                self._remove(task_id)
            return ids

    def purge(
        self, *, device_name: str, queue_name: str, status: TaskStatus, updated_before: datetime
    ) -> int:
        updated_before = utc(updated_before)
        with self._lock:
            doomed = [
                t.task_id
                for t in self._tasks.values()
                if t.device_name == device_name
                and t.queue_name == queue_name
                and t.status is status
                and t.updated_time < updated_before
            ]
            for task_id in doomed:
                self._remove(task_id)
            return len(doomed)

    def close(self) -> None:
        """Nothing to release; kept for the protocol."""


@attrs.define
class _MemoryCoalescing:
    """:class:`~dcm_exporter.queue.store.CoalescingWrites` of an :class:`InMemoryTaskStore`, under its lock."""

    _store: InMemoryTaskStore
    _new: NewTask
    _now: datetime

    def waiting(self) -> tuple[int, str, str, datetime] | None:
        new, tasks = self._new, self._store._tasks
        for task_id in sorted(self._store._by_study.get((new.device_name, new.exporter_id, new.study_uid), ())):
            task = tasks[task_id]
            if (
                task.status is TaskStatus.SCHEDULED
                and task.task_type is TaskType.EXPORT
                and task.batch_id == new.batch_id
            ):
                return task.task_id, task.series_uid, task.sop_instance_uid, task.scheduled_time
        return None

    def unchanged(self, task_id: int) -> ExportTask:
        return self._store._tasks[task_id]

    def widen(self, task_id: int, series_uid: str, sop_instance_uid: str, scheduled: datetime) -> ExportTask:
        tasks = self._store._tasks
        task = attrs.evolve(
            tasks[task_id],
            series_uid=series_uid,
            sop_instance_uid=sop_instance_uid,
            scheduled_time=scheduled,
            updated_time=self._now,
        )
        tasks[task_id] = task
        return task

    def insert(self) -> ExportTask:
        store = self._store
        task = self._new.inserted(store._next_id, self._now)
        store._next_id += 1
        store._tasks[task.task_id] = task
        store._index(task)
        return task
