"""The task store protocol: every durable operation of the export queue, and nothing else.

A store only keeps tasks and performs each operation atomically; it makes no decision. The
:class:`~dcm_exporter.queue.manager.TaskManager` decides which status a task goes to after an export; the
:class:`~dcm_exporter.queue.runner.TaskRunner` decides when to claim. Every store (``InMemoryTaskStore``,
``SqliteTaskStore``, ``PostgresTaskStore``) passes one contract test suite
(``tests/unit/test_task_store_contract.py``).

Ownership of a running task is a *lease*: :meth:`TaskStore.claim` marks tasks IN PROCESS for an owner
until ``lease_until``; the owner extends it with :meth:`TaskStore.heartbeat`; a task whose lease has
expired (its runner died) is claimable again. :meth:`TaskStore.finish` and :meth:`TaskStore.release` only
act while the caller still owns the task, so a runner that lost its task (cancelled, deleted, taken over)
cannot overwrite it.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

import attrs

from dcm_exporter.queue.task import BatchSummary, ExportTask, NewTask, TaskFilter, TaskStatus

_T = TypeVar("_T", str, datetime)

__all__ = [
    "Claim",
    "CoalescingWrites",
    "ExporterTarget",
    "LocalNotifications",
    "TaskStore",
    "Transition",
    "coalesce_or_insert",
    "coalesced",
    "coalesces_unchanged",
    "ended",
    "merge_scope",
]


@attrs.frozen(kw_only=True)
class Transition:
    """The end of one processing attempt, as decided by the manager.

    Attributes:
        status: The new status: a final one, or SCHEDULED FOR RETRY.
        processing_end_time: When the attempt ended.
        number_of_failures: The task's failure count after this attempt.
        scheduled_time: Next attempt time (for SCHEDULED FOR RETRY), else ``None`` to keep it.
        error_message: Error of the attempt (``None`` clears it).
        outcome_message: Outcome message of the attempt.
        number_of_instances: Instances the attempt dealt with (``None`` keeps the stored value).
        modalities: Modalities of those instances (``None`` keeps the stored value).
        result_json: Per-instance results of the attempt as JSON text (``None`` clears them).
        processing_start_time: When the attempt really started, for a task claimed ahead of its start in a
            batch (``None`` keeps the time the task was claimed).
        followups: Tasks to schedule in the same transaction when the attempt is stored as COMPLETED
            (storage commitment and IAN after an export): either the export's end and its follow-ups
            are stored, or neither is. Never coalesced; not scheduled when the task is CANCELED
            meanwhile or no longer the caller's.
    """

    status: TaskStatus
    processing_end_time: datetime
    number_of_failures: int
    scheduled_time: datetime | None = None
    error_message: str | None = None
    outcome_message: str | None = None
    number_of_instances: int | None = None
    result_json: str | None = None
    modalities: tuple[str, ...] | None = None
    processing_start_time: datetime | None = None
    followups: tuple[NewTask, ...] = ()


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class Claim:
    """What a runner asks of :meth:`TaskStore.claim`: up to ``limit`` due tasks of a device's queue, held by
    ``owner`` until ``lease_until``; the tasks of ``exclude_exporters`` (outside their exporter's schedule)
    stay where they are."""

    device_name: str
    queue_name: str
    limit: int
    owner: str
    lease_until: datetime
    exclude_exporters: tuple[str, ...] = attrs.field(default=(), converter=_names)


@attrs.frozen(kw_only=True)
class ExporterTarget:
    """Where a rescheduled task goes when it moves to another exporter: the exporter, its queue and local
        AE."""

    exporter_id: str
    queue_name: str
    local_ae_title: str | None


def merge_scope(
    series_uid: str, sop_instance_uid: str, new_series_uid: str, new_sop_instance_uid: str
) -> tuple[str, str]:
    """Widen a task's scope ``(series, instance)`` so that it also covers the new request.

    The coarser level wins and ``*`` stays ``*``: another series widens to the whole study, another
    instance of
    the same series widens to the whole series.
    """
    if series_uid == "*" or new_series_uid == "*" or series_uid != new_series_uid:
        return "*", "*"
    if sop_instance_uid == "*" or new_sop_instance_uid == "*" or sop_instance_uid != new_sop_instance_uid:
        return series_uid, "*"
    return series_uid, sop_instance_uid


def coalesced(
    series_uid: str, sop_instance_uid: str, scheduled: _T,
    new_series_uid: str, new_sop_instance_uid: str, new_scheduled: _T,
) -> tuple[str, str, _T] | None:
    """A waiting task's scope and time once it coalesces a new request, or ``None`` when it stays as it is.

    The SQL stores decide with the columns of the row they read (times as they store them)."""
    series, instance = merge_scope(series_uid, sop_instance_uid, new_series_uid, new_sop_instance_uid)
    when = max(scheduled, new_scheduled)
    if series == series_uid and instance == sop_instance_uid and when == scheduled:
        return None
    return series, instance, when


def coalesces_unchanged(waiting: ExportTask, new: NewTask) -> bool:
    """Whether coalescing ``new`` into the ``waiting`` task leaves that task as it is: its scope already
    covers the new request and it runs no earlier than asked. Stores then write nothing."""
    return coalesced(waiting.series_uid, waiting.sop_instance_uid, waiting.scheduled_time,
                     new.series_uid, new.sop_instance_uid, new.scheduled_time) is None


class CoalescingWrites(Protocol[_T]):
    """One store's primitives for scheduling a task that may coalesce, all run in the transaction and under
    the lock the store took for it (SQLite: its write lock; PostgreSQL: the study's advisory lock, the row
    read ``FOR UPDATE``; in memory: the store's lock). :func:`coalesce_or_insert` decides with them.

    Times are ``_T`` as the store keeps them (SQLite: ISO text; PostgreSQL and in memory: datetimes).
    """

    def waiting(self) -> tuple[int, str, str, _T] | None:
        """The oldest task the new one may coalesce with (same device, exporter, study and batch, still
        SCHEDULED, an EXPORT): its id, series, instance and scheduled time; ``None`` when there is none."""
        ...

    def unchanged(self, task_id: int) -> ExportTask:
        """The waiting task as it is stored: coalescing changes nothing, so nothing is written."""
        ...

    def widen(self, task_id: int, series_uid: str, sop_instance_uid: str, scheduled: _T) -> ExportTask:
        """Give the waiting task this scope and time (and the store's ``updated_time``); returns it."""
        ...

    def insert(self) -> ExportTask:
        """Insert the new task, SCHEDULED; returns it."""
        ...


def coalesce_or_insert(writes: CoalescingWrites[_T], new: NewTask, new_scheduled: _T) -> ExportTask:
    """Schedule ``new`` coalescing it into a waiting task: widen that task (:func:`coalesced`), leave it as it
    is when that changes nothing, or insert ``new`` when none waits (or none waits any more: claimed,
    cancelled or deleted since the store looked). ``new_scheduled`` is ``new``'s time as the store keeps it.
    Every store's :meth:`TaskStore.schedule` goes through here; each brings its transaction and lock."""
    waiting = writes.waiting()
    if waiting is None:
        return writes.insert()
    task_id, series_uid, sop_instance_uid, scheduled = waiting
    widened = coalesced(series_uid, sop_instance_uid, scheduled, new.series_uid, new.sop_instance_uid, new_scheduled)
    if widened is None:
        return writes.unchanged(task_id)
    return writes.widen(task_id, *widened)


def ended(held: ExportTask, transition: Transition, updated: datetime, *, modalities: tuple[str, ...]) -> ExportTask:
    """A task held IN PROCESS after ``transition`` ended its attempt: what every store writes over it (the SQL
    stores' SET clause, in Python). ``modalities`` as the store keeps them (the SQL stores' text form)."""
    # every field spelled out rather than attrs.evolve, which looks the class's fields up on each call: a
    # runner of short tasks builds one of these per task
    return ExportTask(
        task_id=held.task_id,
        created_time=held.created_time,
        updated_time=updated,
        device_name=held.device_name,
        queue_name=held.queue_name,
        exporter_id=held.exporter_id,
        local_ae_title=held.local_ae_title,
        study_uid=held.study_uid,
        series_uid=held.series_uid,
        sop_instance_uid=held.sop_instance_uid,
        scheduled_time=transition.scheduled_time or held.scheduled_time,
        status=transition.status,
        processing_start_time=transition.processing_start_time or held.processing_start_time,
        processing_end_time=transition.processing_end_time,
        number_of_failures=transition.number_of_failures,
        batch_id=held.batch_id,
        error_message=transition.error_message,
        outcome_message=transition.outcome_message,
        number_of_instances=(
            held.number_of_instances if transition.number_of_instances is None else transition.number_of_instances
        ),
        modalities=modalities,
        requester=held.requester,
        lease_owner=None,
        lease_expires=None,
        task_type=held.task_type,
        destination_aet=held.destination_aet,
        result_json=transition.result_json,
    )


@runtime_checkable
class TaskStore(Protocol):
    """Durable storage of export tasks. Every method is atomic; times are timezone-aware UTC.

    Implementations: :class:`~dcm_exporter.queue.memory.InMemoryTaskStore`,
    :class:`~dcm_exporter.queue.sqlite.SqliteTaskStore` and ``dcm_exporter.queue.postgres.PostgresTaskStore``.
    """

    def schedule(self, new: NewTask, *, now: datetime, coalesce: bool = True) -> ExportTask:
        """Insert a SCHEDULED task, or coalesce it into a waiting one, atomically.

        With ``coalesce``, a task of the same device, exporter, study and batch that is still SCHEDULED (not
        started, not a retry) is reused instead (only EXPORT tasks coalesce, and only with EXPORT tasks):
        its scope widens (:func:`merge_scope`) and its scheduled time
        only moves later. When that changes nothing (:func:`coalesces_unchanged`), nothing is written: the
        waiting task is returned as it is (its ``updated_time`` stays). Returns the inserted or updated task.
        """
        ...

    def schedule_many(
        self, news: Sequence[NewTask], *, now: datetime, coalesce: bool = True
    ) -> builtins.list[ExportTask]:
        """Schedule several tasks as :meth:`schedule` would one after the other (a later one may coalesce into
        an earlier one of the same call); returns their tasks in order. All of them are durable when it
        returns. ``SqliteTaskStore`` writes them in one transaction, with one commit (all of them or none);
        ``PostgresTaskStore`` schedules them one by one."""
        ...

    def get(self, task_id: int) -> ExportTask:
        """The task with this id.

        Raises:
            TaskNotFoundError: no such task.
        """
        ...

    def list(self, filter: TaskFilter) -> builtins.list[ExportTask]:
        """Tasks matching ``filter``, ordered and paged as it says."""
        ...

    def count(self, filter: TaskFilter) -> int:
        """Number of tasks matching ``filter`` (offset and limit ignored)."""
        ...

    def claim(self, claim: Claim, *, now: datetime) -> builtins.list[ExportTask]:
        """Atomically take up to ``claim.limit`` due tasks of a queue and mark them IN PROCESS for
        ``claim.owner`` until ``claim.lease_until``.

        Due: SCHEDULED or SCHEDULED FOR RETRY with ``scheduled_time <= now``, or IN PROCESS with an expired
        lease (``lease_expires <= now``); oldest scheduled first, then by id. Tasks of
        ``claim.exclude_exporters`` are left alone. Sets ``processing_start_time`` and clears
        ``processing_end_time``. Two claimers never get the same task; ``limit <= 0`` claims nothing.
        """
        ...

    def heartbeat(
        self, task_ids: Sequence[int], *, owner: str, lease_until: datetime, now: datetime
    ) -> set[int]:
        """Extend the lease of tasks ``owner`` still holds IN PROCESS; returns the ids it still holds."""
        ...

    def finish(self, task_id: int, *, owner: str, transition: Transition, now: datetime) -> ExportTask | None:
        """End a processing attempt of a task ``owner`` holds, releasing the lease.

        If the task was cancelled while it ran (status CANCELED, lease still ``owner``'s), only its outcome
        message, instance count and end time are recorded and it stays CANCELED. When the task is stored
        as COMPLETED, ``transition.followups`` are inserted (SCHEDULED) in the same transaction. Returns the
        task as stored, or ``None`` when ``owner`` no longer holds it (deleted, rescheduled, lease taken
        over).
        """
        ...

    def finish_and_claim(
        self, task_id: int, *, transition: Transition, now: datetime, claim: Claim
    ) -> tuple[ExportTask | None, builtins.list[ExportTask]]:
        """:meth:`finish` a task ``claim.owner`` holds, then :meth:`claim` what ``claim`` asks, atomically.

        One transaction instead of two (one commit per task for a runner that goes on working). The finished
        task's new status is committed before the claimed tasks are returned; ``limit <= 0`` only finishes.
        Each half behaves exactly as the method of its name.

        Returns:
            ``(finished task or None, claimed tasks)`` as :meth:`finish` and :meth:`claim` return them.
        """
        ...

    def finish_many_and_claim(
        self, finishes: Sequence[tuple[int, Transition]], *, now: datetime, claim: Claim
    ) -> tuple[builtins.list[ExportTask | None], builtins.list[ExportTask]]:
        """:meth:`finish` several tasks ``claim.owner`` holds, in order, then :meth:`claim` what ``claim``
        asks: a group commit for a runner that performs short tasks in batches.

        Each finish behaves exactly as :meth:`finish`. On SQLite and in memory everything is one
        transaction; on PostgreSQL each finish is its own statement and the last one is combined with the
        claim (:meth:`finish_and_claim`). Until it returns, the tasks stay IN PROCESS under their lease:
        after a crash they are run again, never lost.

        Returns:
            ``(finished tasks or None, in the order given; claimed tasks)``.
        """
        ...

    def release(self, task_id: int, *, owner: str, now: datetime) -> bool:
        """Give a task ``owner`` holds back to the queue unprocessed: SCHEDULED again, lease cleared.

        Returns whether the task was still held. (A graceful stop uses this for tasks it could not finish.)
        """
        ...

    def cancel(self, filter: TaskFilter, *, now: datetime) -> tuple[builtins.list[int], builtins.list[int]]:
        """Cancel matching SCHEDULED, SCHEDULED FOR RETRY and IN PROCESS tasks (final tasks are left alone).

        IN PROCESS tasks keep their lease so the runner performing them can record the outcome.
        Returns ``(cancelled_ids, ids_that_were_in_process)``.
        """
        ...

    def reschedule(
        self, filter: TaskFilter, *, now: datetime, scheduled_time: datetime, target: ExporterTarget | None = None
    ) -> builtins.list[int]:
        """Make matching tasks that are not IN PROCESS SCHEDULED again at ``scheduled_time``.

        Failures reset to 0; error/outcome messages and processing times are cleared. With ``target`` the
        tasks
        move to that exporter (its queue and local AE). Returns the ids rescheduled.
        """
        ...

    def delete(self, filter: TaskFilter) -> builtins.list[int]:
        """Delete matching tasks (whatever their status); returns the ids deleted."""
        ...

    def purge(
        self, *, device_name: str, queue_name: str, status: TaskStatus, updated_before: datetime
    ) -> int:
        """Delete tasks of a device and queue in a final ``status`` last updated before ``updated_before``."""
        ...

    def reset_in_process(self, *, device_name: str, now: datetime) -> int:
        """Put every IN PROCESS task of ``device_name`` back to SCHEDULED (start-up of that device's
        runner)."""
        ...

    def batch_summaries(self, filter: TaskFilter) -> builtins.list[BatchSummary]:
        """Per batch id among matching tasks (tasks without a batch id are left out): counts per status."""
        ...

    def next_due_time(self, *, device_name: str, queue_names: Collection[str]) -> datetime | None:
        """The earliest time a task of these queues becomes due (scheduled time, or lease expiry), if any."""
        ...

    def add_listener(
        self, callback: Callable[[], None], *, device_name: str | None = None,
        queue_names: Collection[str] | None = None,
    ) -> None:
        """Call ``callback()`` whenever another process may have made a task of ``device_name`` /
        ``queue_names`` due (``None``: any).

        Stores that other processes do not share, or that cannot notify (memory, SQLite), never call it:
        the manager wakes the runners of its own process, and runners poll for the rest.
        """
        ...

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback``."""
        ...

    def study_lock(self, *, device_name: str, exporter_id: str, study_uid: str) -> AbstractContextManager[None]:
        """Serialise a read-decide-write on one device, exporter and study, for the ``with`` block.

        Every process sharing the store is serialised where the store can do it (PostgreSQL: an advisory
        lock, and the block's store operations in one transaction); else the threads of this process.
        The task manager holds it while it replaces waiting Series / Instance tasks by a covering one.
        """
        ...

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...


class LocalNotifications:
    """The optional capabilities of a store that only this host's processes share (memory, SQLite):
    no cross-process wake-ups (runners poll), and a study lock that serialises this process's threads."""

    _study_guard: threading.RLock

    def add_listener(
        self, callback: Callable[[], None], *, device_name: str | None = None,
        queue_names: Collection[str] | None = None,
    ) -> None:
        """Nothing to listen to: see :meth:`TaskStore.add_listener`."""

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Nothing to stop: see :meth:`TaskStore.remove_listener`."""

    @contextlib.contextmanager
    def study_lock(self, *, device_name: str, exporter_id: str, study_uid: str) -> Iterator[None]:
        """Serialise this process's threads for the block: see :meth:`TaskStore.study_lock`."""
        with self._study_guard:
            yield
