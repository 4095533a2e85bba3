"""``ExportQueue``: the task operations of an :class:`~dcm_exporter.exporter.Exporter` (``exporter.queue``).

A view on the exporter's task store, for the tasks of any device in it: look tasks up, count them, cancel,
reschedule or delete them, summarise batches, purge finished ones, read a storage commitment's result.
Filter keywords are those of :class:`~dcm_exporter.queue.task.TaskFilter` (``exporter_id``, ``status``,
``study_uid``, ``batch_id``, ``device_name``, ``created_after`` ... ``offset``, ``limit``, ``order_by``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dcm_exporter.queue.task import BatchSummary, ExportTask, TaskFilter, TaskType

if TYPE_CHECKING:
    from dcm_exporter.actions import CommitmentResult
    from dcm_exporter.queue.manager import TaskManager
    from dcm_exporter.queue.store import TaskStore

__all__ = ["ExportQueue"]


def _filter(selection: int | TaskFilter | None, criteria: dict[str, Any]) -> TaskFilter:
    if isinstance(selection, TaskFilter):
        if criteria:
            raise TypeError("pass either a TaskFilter or filter keywords, not both")
        return selection
    if selection is not None:
        criteria = {**criteria, "task_ids": (int(selection),)}
    return TaskFilter(**criteria)


class ExportQueue:
    """The export tasks of an exporter's task store (``exporter.queue``).

    Every method raises :class:`~dcm_exporter.errors.ConfigurationError` when the exporter was created
    without ``store=`` (see :func:`dcm_exporter.queue.open_store`).

    Args:
        manager: returns the exporter's task manager (created on first use; raises without a store).
        store: the exporter's task store, or ``None``.
        device_name: returns the device the exporter works for (needs no store).
    """

    def __init__(
        self, manager: Callable[[], TaskManager], store: TaskStore | None, device_name: Callable[[], str]
    ) -> None:
        self._manager = manager
        self._store = store
        self._device_name = device_name

    def __repr__(self) -> str:
        return f"<ExportQueue store={self._store!r}>"

    @property
    def store(self) -> TaskStore | None:
        """The task store, or ``None`` when the exporter only exports synchronously."""
        return self._store

    @property
    def device_name(self) -> str:
        """The device whose tasks the exporter schedules and runs.

        Raises:
            ConfigurationError: the configuration has no single device with exporters or queues and the
                exporter was given no ``device_name``.
        """
        return self._device_name()

    def task(self, task_id: int) -> ExportTask:
        """The task with this id (raises ``TaskNotFoundError``)."""
        return self._manager().get(task_id)

    def tasks(self, filter: TaskFilter | None = None, **criteria: Any) -> list[ExportTask]:
        """Tasks matching a filter (or filter keywords); a list that shows as a table in Jupyter and has
        ``to_dataframe()``."""
        from dcm_exporter._repr import TaskList

        return TaskList(self._manager().tasks(_filter(filter, criteria)))

    def count(self, filter: TaskFilter | None = None, **criteria: Any) -> int:
        """Number of tasks matching a filter (or filter keywords)."""
        return self._manager().count(_filter(filter, criteria))

    def cancel(self, selection: int | TaskFilter | None = None, **criteria: Any) -> list[int]:
        """Cancel one task (by id) or many (filter); running ones are aborted. Returns the ids cancelled."""
        return self._manager().cancel(_filter(selection, criteria))

    def reschedule(
        self,
        selection: int | TaskFilter | None = None,
        *,
        scheduled_time: datetime | None = None,
        exporter_id: str | None = None,
        **criteria: Any,
    ) -> list[int]:
        """Schedule one or many tasks again (failures reset), optionally on another exporter."""
        return self._manager().reschedule(
            _filter(selection, criteria), scheduled_time=scheduled_time, exporter_id=exporter_id
        )

    def delete(self, selection: int | TaskFilter | None = None, **criteria: Any) -> list[int]:
        """Delete one task (by id) or many (filter). Returns the ids deleted."""
        return self._manager().delete(_filter(selection, criteria))

    def purge(self) -> int:
        """Delete finished tasks older than their queue's purge delays; returns how many."""
        return self._manager().purge()

    def batches(self, filter: TaskFilter | None = None, **criteria: Any) -> list[BatchSummary]:
        """Per batch: number of tasks per status (a list that shows as a table in Jupyter)."""
        from dcm_exporter._repr import BatchList

        return BatchList(self._manager().batches(_filter(filter, criteria)))

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
