"""Covering: how an export the rules decide on joins the waiting tasks of its study.

A Study export coalesces into the waiting task of its exporter and study (the store does that). A Series or
Instance export reuses a waiting task whose scope covers it (its time only moves later); otherwise it gets a
task of its own, which replaces the waiting Instance tasks of the same series when it is a Series task. The
:class:`~dcm_exporter.queue.manager.TaskManager` owns these transitions; :class:`Covering` is the part of it
that remembers, per exporter and scope, the task a scope went to last, so that the common case (many objects
of one series arriving in a row) needs one look-up instead of a search of the study's tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from dcm_exporter.errors import TaskNotFoundError
from dcm_exporter.queue.task import ALL, ExportTask, TaskFilter, TaskStatus

__all__ = ["Covering", "covers"]

log = logging.getLogger("dcm_exporter.queue")

_CACHE_LIMIT = 4096


def covers(task: ExportTask, series_uid: str, sop_instance_uid: str) -> bool:
    """Whether ``task``'s scope includes the series / instance (``*`` for all)."""
    if task.series_uid == ALL:
        return True
    if task.series_uid != series_uid:
        return False
    return task.sop_instance_uid in (ALL, sop_instance_uid)


class _Tasks(Protocol):
    """What covering needs of the task manager (one device)."""

    @property
    def device_name(self) -> str: ...

    def get(self, task_id: int) -> ExportTask: ...

    def tasks(self, filter: TaskFilter | None = None) -> list[ExportTask]: ...

    def delete(self, filter: TaskFilter) -> list[int]: ...

    def move_later(self, task_id: int, scheduled_time: datetime) -> bool: ...

    def schedule_export(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_instance_uid: str | None = None,
        *,
        scheduled_time: datetime | None = None,
        coalesce: bool = True,
    ) -> ExportTask: ...


class Covering:
    """Schedules rule-decided exports of one device, coalescing and covering (see the module).

    Args:
        tasks: The device's task manager.
        study_lock: ``study_lock(exporter_id, study_uid)``: the store's lock that serialises the processes
            sharing it while waiting tasks of a study are read, replaced or moved.
    """

    def __init__(
        self, tasks: _Tasks, study_lock: Callable[[str, str], AbstractContextManager[None]]
    ) -> None:
        self._tasks = tasks
        self._study_lock = study_lock
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str, str], int] = {}

    def forget(self) -> None:
        """Drop what is remembered (after a configuration reload)."""
        with self._lock:
            self._last.clear()

    def schedule(
        self, exporter_id: str, study_uid: str, series_uid: str, sop_instance_uid: str, scheduled_time: datetime
    ) -> ExportTask:
        """The task that exports ``study_uid`` / ``series_uid`` / ``sop_instance_uid`` (``*`` for all) no
        earlier than ``scheduled_time``: a waiting one that covers it, or a new one."""
        key = (exporter_id, study_uid, series_uid, sop_instance_uid)
        with self._lock:
            remembered = self._last.get(key)
            task = None if remembered is None else self._still_waiting(remembered, series_uid, sop_instance_uid)
            if task is not None and scheduled_time <= task.scheduled_time:
                return task
            # Series/Instance: the task this scope went to is known and waiting, so move its time without a
            # search (a no-op if the task started meanwhile)
            if task is not None and series_uid != ALL and self._tasks.move_later(task.task_id, scheduled_time):
                task = self._tasks.get(task.task_id)
            elif series_uid == ALL:
                task = self._tasks.schedule_export(
                    exporter_id, study_uid, ALL, ALL, scheduled_time=scheduled_time, coalesce=True
                )
            else:
                # the lock above serialises this process; the store's study lock every process sharing it,
                # so that each series or instance gets one task
                with self._study_lock(exporter_id, study_uid):
                    task = self._cover(exporter_id, study_uid, series_uid, sop_instance_uid, scheduled_time)
            if len(self._last) >= _CACHE_LIMIT:
                self._last.pop(next(iter(self._last)))
            self._last[key] = task.task_id
            return task

    def _still_waiting(self, task_id: int, series_uid: str, sop_instance_uid: str) -> ExportTask | None:
        try:
            task = self._tasks.get(task_id)
        except TaskNotFoundError:
            return None
        if task.status is TaskStatus.SCHEDULED and covers(task, series_uid, sop_instance_uid):
            return task
        return None

    def _cover(
        self, exporter_id: str, study_uid: str, series_uid: str, sop_instance_uid: str, when: datetime
    ) -> ExportTask:
        """Reuse a waiting task that covers the scope (its time only moves later), else replace the waiting
        finer tasks it covers by one new task."""
        waiting = [
            t
            for t in self._tasks.tasks(
                TaskFilter(
                    exporter_id=exporter_id, study_uid=study_uid, status=TaskStatus.SCHEDULED,
                    device_name=self._tasks.device_name, order_by="task_id",
                )
            )
            if t.batch_id is None
        ]
        for task in waiting:
            if covers(task, series_uid, sop_instance_uid):
                if when <= task.scheduled_time:
                    return task
                if self._tasks.move_later(task.task_id, when):
                    return self._tasks.get(task.task_id)
                break  # it started meanwhile: a new task is needed
        finer = [
            t for t in waiting
            if t.series_uid == series_uid and sop_instance_uid == ALL and t.sop_instance_uid != ALL
        ]
        if finer:
            gone = set(
                self._tasks.delete(TaskFilter(task_ids=tuple(t.task_id for t in finer), status=TaskStatus.SCHEDULED))
            )
            latest = [t.scheduled_time for t in finer if t.task_id in gone]
            if latest:
                when = max(when, *latest)
                log.debug("series export task replaces %d waiting instance task(s)", len(latest))
        return self._tasks.schedule_export(
            exporter_id, study_uid, series_uid, sop_instance_uid, scheduled_time=when, coalesce=False
        )
