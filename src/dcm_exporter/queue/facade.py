"""The queue methods of the :class:`~dcm_exporter.exporter.Exporter` facade (mixed into it).

``Exporter(configuration, source, store=SqliteTaskStore(path))`` gains scheduling, a runner and the task
operations; without a store it uses an :class:`~dcm_exporter.queue.memory.InMemoryTaskStore` on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dcm_exporter.errors import QueueError
from dcm_exporter.queue.manager import Clock, TaskManager, TaskResult
from dcm_exporter.queue.memory import InMemoryTaskStore
from dcm_exporter.queue.runner import TaskHooks, TaskRunner
from dcm_exporter.queue.store import TaskStore
from dcm_exporter.queue.task import BatchSummary, ExportTask, TaskFilter, TaskStatus, TaskType

if TYPE_CHECKING:
    from dcm_exporter.actions import ActionPerformer, CommitmentResult
    from dcm_exporter.export import CancelToken, Outcome, ProgressCallback
    from dcm_exporter.models import Configuration
    from dcm_exporter.sources.base import InstanceSource

__all__ = ["QueueMethods"]


def _filter(selection: int | TaskFilter | None, criteria: dict[str, Any]) -> TaskFilter:
    if isinstance(selection, TaskFilter):
        if criteria:
            raise TypeError("pass either a TaskFilter or filter keywords, not both")
        return selection
    if selection is not None:
        criteria = {**criteria, "task_ids": (int(selection),)}
    return TaskFilter(**criteria)


class QueueMethods:
    """Queue methods of ``Exporter``: ``schedule_export``, ``start``/``stop``, ``run_until_idle`` and the task
    operations (``tasks``, ``count``, ``cancel``, ``reschedule``, ``delete``, ``purge``, ``batches``).

    Filter keywords are those of :class:`~dcm_exporter.queue.task.TaskFilter` (``exporter_id``, ``status``,
    ``study_uid``, ``batch_id``, ``device_name``, ``created_after`` ... ``offset``, ``limit``, ``order_by``).
    """

    _configuration: Configuration
    _store: Any
    _queue_device_name: str | None
    _queue_clock: Clock | None
    _queue_lease: timedelta
    _queue_reset_on_start: bool
    _queue_manager: TaskManager | None = None
    _queue_runner: TaskRunner | None = None
    _queue_lock: threading.Lock
    _source: InstanceSource
    _actions: ActionPerformer | None = None

    def _perform(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None,
        sop_instance_uid: str | None,
        *,
        cancel: CancelToken,
        progress: ProgressCallback | None,
    ) -> Outcome:
        raise NotImplementedError  # provided by Exporter

    def _init_queue(
        self,
        *,
        device_name: str | None,
        clock: Clock | None,
        lease: timedelta = timedelta(seconds=60),
        reset_on_start: bool = True,
    ) -> None:
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise QueueError(f"lease must be a positive timedelta, got {lease!r}")
        if not isinstance(reset_on_start, bool):
            raise QueueError(f"reset_on_start must be a bool, got {reset_on_start!r}")
        self._queue_device_name = device_name
        self._queue_clock = clock
        self._queue_lease = lease
        self._queue_reset_on_start = reset_on_start
        self._queue_lock = threading.Lock()
        self._queue_hooks = TaskHooks()

    # --- wiring ---------------------------------------------------------------------------------------

    @property
    def task_manager(self) -> TaskManager:
        """The :class:`TaskManager` of this exporter (created on first use)."""
        with self._queue_lock:
            if self._queue_manager is None:
                if self._store is None:
                    self._store = InMemoryTaskStore()
                store: TaskStore = self._store
                self._queue_manager = TaskManager(
                    store, self._configuration, device_name=self._queue_device_name, clock=self._queue_clock,
                    lease=self._queue_lease,
                )
            return self._queue_manager

    @property
    def runner(self) -> TaskRunner:
        """The :class:`TaskRunner` of this exporter (created on first use; :meth:`start` starts it)."""
        manager = self.task_manager
        with self._queue_lock:
            if self._queue_runner is None:
                self._queue_runner = TaskRunner(
                    manager, self._perform_task, hooks=self._queue_hooks, reset_on_start=self._queue_reset_on_start
                )
            return self._queue_runner

    @property
    def hooks(self) -> TaskHooks:
        """Callbacks for started / finished tasks (``exporter.hooks.on_finished(fn)``)."""
        return self._queue_hooks

    def on_task_started(self, hook: Callable[[ExportTask], None]) -> Callable[[ExportTask], None]:
        """Register ``hook(task)`` for each task that starts; usable as a decorator."""
        return self._queue_hooks.on_started(hook)

    def on_task_finished(self, hook: Callable[[TaskResult], None]) -> Callable[[TaskResult], None]:
        """Register ``hook(result)`` for each finished attempt; usable as a decorator."""
        return self._queue_hooks.on_finished(hook)

    @property
    def actions(self) -> ActionPerformer:
        """Performer of the storage commitment and IAN tasks that follow COMPLETED exports."""
        with self._queue_lock:
            if self._actions is None:
                # imported here, under the lock: the first follow-up tasks may start in several workers at once
                from dcm_exporter.actions import ActionPerformer

                self._actions = ActionPerformer(lambda: self._configuration, self._source)
            return self._actions

    def commitment_result(self, task_id: int) -> CommitmentResult | None:
        """Per-instance results of a storage commitment (STGCMT) task's last attempt, or ``None``.

        Raises:
            TaskNotFoundError: no such task.
            ValueError: the task is not a storage commitment task.
        """
        from dcm_exporter.actions import CommitmentResult

        task = self.task(task_id)
        if task.task_type is not TaskType.STGCMT:
            raise ValueError(f"task {task_id} is a {task.task_type.value} task, not a storage commitment")
        return CommitmentResult.from_task(task)

    def _perform_task(self, task: ExportTask, cancel: CancelToken) -> Outcome:
        if task.task_type is not TaskType.EXPORT:
            return self.actions.perform(task, cancel)
        return self._perform(
            task.exporter_id, task.study_uid, task.series_uid, task.sop_instance_uid,
            cancel=cancel, progress=None,
        )

    def _reload_queue(self, configuration: Configuration) -> None:
        if self._queue_manager is not None:
            self._queue_manager.reload(configuration)

    def _close_queue(self, timeout: float = 30.0) -> None:
        if self._queue_runner is not None:
            self._queue_runner.close()
        if self._actions is not None:
            self._actions.close()

    # --- scheduling and running -----------------------------------------------------------------------

    def schedule_export(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_instance_uid: str | None = None,
        batch_id: str | None = None,
        scheduled_time: datetime | None = None,
        *,
        requester: str | None = None,
    ) -> ExportTask:
        """Queue an export; without ``scheduled_time`` the exporter's ``dcmSchedule`` decides (``ceil(now)``).

        A waiting task of the same exporter, study and batch is reused (scope widened, time only later).

        Raises:
            ConfigurationError: unknown exporter.
        """
        return self.task_manager.schedule_export(
            exporter_id, study_uid, series_uid, sop_instance_uid,
            batch_id=batch_id, scheduled_time=scheduled_time, requester=requester,
        )

    def start(self, *, poll_interval: float | None = None) -> None:
        """Start processing queued tasks in background threads."""
        runner = self.runner
        if poll_interval is not None:
            runner.poll_interval = poll_interval
        runner.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the background runner; tasks still running after ``timeout`` s go back to the queue."""
        if self._queue_runner is not None:
            self._queue_runner.stop(timeout)

    def run_until_idle(self, *, timeout: float | None = None, wait_for_scheduled: bool = False) -> int:
        """Process what is due now (for scripts and notebooks); returns the number of attempts made.

        In a Jupyter notebook a progress bar counts the finished attempts against the tasks due when it
        started (all waiting tasks with ``wait_for_scheduled``); nothing is shown anywhere else.
        """
        from dcm_exporter._progress import NotebookProgress

        with NotebookProgress("export queue", unit="tasks") as bar:
            if not bar.shown:
                return self.runner.run_until_idle(timeout=timeout, wait_for_scheduled=wait_for_scheduled)
            waiting = self.task_manager.tasks(TaskFilter(status=(TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY)))
            now = self.task_manager.now()
            bar.set_total(sum(1 for t in waiting if wait_for_scheduled or t.scheduled_time <= now))

            def finished(result: TaskResult) -> None:
                status = result.task.status.value if result.task is not None else "deleted"
                bar.advance(outcome=status)

            self._queue_hooks.on_finished(finished)
            try:
                return self.runner.run_until_idle(timeout=timeout, wait_for_scheduled=wait_for_scheduled)
            finally:
                self._queue_hooks.finished.remove(finished)

    # --- operations -------------------------------------------------------------------------------------

    def task(self, task_id: int) -> ExportTask:
        """The task with this id (raises ``TaskNotFoundError``)."""
        return self.task_manager.get(task_id)

    def tasks(self, filter: TaskFilter | None = None, **criteria: Any) -> list[ExportTask]:
        """Tasks matching a filter (or filter keywords); a list that shows as a table in Jupyter and has
        ``to_dataframe()``."""
        from dcm_exporter._repr import TaskList

        return TaskList(self.task_manager.tasks(_filter(filter, criteria)))

    def count(self, filter: TaskFilter | None = None, **criteria: Any) -> int:
        """Number of tasks matching a filter (or filter keywords)."""
        return self.task_manager.count(_filter(filter, criteria))

    def cancel(self, selection: int | TaskFilter | None = None, **criteria: Any) -> list[int]:
        """Cancel one task (by id) or many (filter); running ones are aborted. Returns the ids cancelled."""
        return self.task_manager.cancel(_filter(selection, criteria))

    def reschedule(
        self,
        selection: int | TaskFilter | None = None,
        *,
        scheduled_time: datetime | None = None,
        exporter_id: str | None = None,
        **criteria: Any,
    ) -> list[int]:
        """Schedule one or many tasks again (failures reset), optionally on another exporter."""
        return self.task_manager.reschedule(
            _filter(selection, criteria), scheduled_time=scheduled_time, exporter_id=exporter_id
        )

    def delete(self, selection: int | TaskFilter | None = None, **criteria: Any) -> list[int]:
        """Delete one task (by id) or many (filter). Returns the ids deleted."""
        return self.task_manager.delete(_filter(selection, criteria))

    def purge(self) -> int:
        """Delete finished tasks older than their queue's purge delays; returns how many."""
        return self.task_manager.purge()

    def batches(self, filter: TaskFilter | None = None, **criteria: Any) -> list[BatchSummary]:
        """Per batch: number of tasks per status (a list that shows as a table in Jupyter)."""
        from dcm_exporter._repr import BatchList

        return BatchList(self.task_manager.batches(_filter(filter, criteria)))
