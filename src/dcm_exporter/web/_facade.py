"""The one place the web layer talks to the :class:`~dcm_exporter.exporter.Exporter` facade.

The task operations are those of the exporter's queue view (``exporter.queue``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dcm_exporter.export_queue import ExportQueue
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.queue.manager import TaskResult
    from dcm_exporter.queue.task import BatchSummary, ExportTask, TaskFilter

__all__ = ["ExporterAdapter"]


class ExporterAdapter:
    """What the REST API, the metrics and the page need of an exporter, and nothing more."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    @property
    def _queue(self) -> ExportQueue:
        return self.exporter.queue

    # --- configuration -----------------------------------------------------------------------------------

    @property
    def configuration(self) -> Configuration:
        return self.exporter.configuration

    def exporter_descriptor(self, exporter_id: str) -> ExporterDescriptor | None:
        return self.exporter.configuration.exporters.get(exporter_id)

    @property
    def device_name(self) -> str:
        return self._queue.device_name

    def queue_names(self) -> tuple[str, ...]:
        """The queues of the device this exporter works for (all queues when the device is not configured)."""
        configuration = self.configuration
        device = self.device_name
        if configuration.has_device(device):
            return tuple(q.queue_name for q in configuration.device(device).queues)
        return tuple(configuration.queues)

    def local_ae_titles(self) -> set[str]:
        """AE titles of the device the exporter works for (the ``{aet}`` of the export paths)."""
        configuration = self.configuration
        device = self.device_name
        if not configuration.has_device(device):
            return set()
        return {ae.ae_title for ae in configuration.device(device).application_entities}

    # --- instances -------------------------------------------------------------------------------------

    def has_instances(self, study_uid: str, series_uid: str | None, sop_instance_uid: str | None) -> bool:
        return bool(self.exporter.source.find(study_uid, series_uid, sop_instance_uid))

    # --- queue -----------------------------------------------------------------------------------------

    def schedule_export(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None,
        sop_instance_uid: str | None,
        *,
        batch_id: str | None,
        scheduled_time: datetime | None,
        requester: str | None,
    ) -> ExportTask:
        return self.exporter.schedule_export(
            exporter_id, study_uid, series_uid, sop_instance_uid, batch_id=batch_id, scheduled_time=scheduled_time,
            requester=requester,
        )

    def task(self, task_id: int) -> ExportTask:
        task: ExportTask = self._queue.task(task_id)
        return task

    def tasks(self, filter: TaskFilter) -> list[ExportTask]:
        return list(self._queue.tasks(filter))

    def count(self, filter: TaskFilter) -> int:
        return int(self._queue.count(filter))

    def cancel(self, filter: TaskFilter) -> list[int]:
        return list(self._queue.cancel(filter))

    def reschedule(self, filter: TaskFilter, *, scheduled_time: datetime | None, exporter_id: str | None) -> list[int]:
        return list(self._queue.reschedule(filter, scheduled_time=scheduled_time, exporter_id=exporter_id))

    def delete(self, filter: TaskFilter) -> list[int]:
        return list(self._queue.delete(filter))

    def batches(self, filter: TaskFilter) -> list[BatchSummary]:
        return list(self._queue.batches(filter))

    # --- runner and hooks ------------------------------------------------------------------------------

    def runner_running(self) -> bool | None:
        """Whether the queue runner of this process runs (``None``: this process has no runner, e.g. a
        monitoring-only app)."""
        runner = getattr(self.exporter, "_runner", None)  # private on purpose: not part of the Exporter's surface
        if runner is None:
            return None
        return bool(runner.is_running)

    def store_error(self) -> str | None:
        """The task store error the runner of this process currently sees (a full disk ...), else ``None``."""
        runner = getattr(self.exporter, "_runner", None)
        error = getattr(runner, "store_error", None) if runner is not None else None
        return None if error is None else str(error)

    def on_task_finished(self, hook: Callable[[TaskResult], None]) -> None:
        self.exporter.on_task_finished(hook)
