"""After-export actions: storage commitment and Instance Availability Notifications.

When an export task ends COMPLETED, the task manager schedules, in the same batch:

- a ``STGCMT`` task when the exporter has ``dcmStgCmtSCP`` (queue ``StgCmtSCU`` when configured, else the
  exporter's queue): an N-ACTION storage commitment request for the exported instances
  (:mod:`dcm_exporter.actions.stgcmt`);
- an ``IAN`` task per ``dcmIanDestination`` (queue ``IANSCU`` when configured, else the exporter's queue):
  an N-CREATE Instance Availability Notification of the whole study (:mod:`dcm_exporter.actions.ian`).

Each is an ordinary queued task (``ExportTask.task_type``) with its own retries. :class:`ActionPerformer`
performs them for the :class:`~dcm_exporter.exporter.Exporter`'s runner. A ``noop:`` exporter triggers
only these actions, as upstream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from dcm_exporter._imports import PYNETDICOM, require
from dcm_exporter.actions.ian import INSTANCE_AVAILABILITY_NOTIFICATION, build_ian, send_ian
from dcm_exporter.actions.stgcmt import (
    FAILURE_REASONS,
    STORAGE_COMMITMENT_PUSH_MODEL,
    ActionOutcome,
    CommitmentResult,
    CommittedInstance,
    FailedCommitment,
    StorageCommitmentSCU,
    outcome_of,
)
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.export import Outcome
from dcm_exporter.queue.task import ALL, TaskType

if TYPE_CHECKING:
    from dcm_exporter.export import CancelToken
    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.queue.task import ExportTask
    from dcm_exporter.sources.base import InstanceSource

__all__ = [
    "FAILURE_REASONS",
    "INSTANCE_AVAILABILITY_NOTIFICATION",
    "STORAGE_COMMITMENT_PUSH_MODEL",
    "ActionOutcome",
    "ActionPerformer",
    "CommitmentResult",
    "CommittedInstance",
    "FailedCommitment",
    "StorageCommitmentSCU",
    "build_ian",
    "send_ian",
]


class ActionPerformer:
    """Performs STGCMT and IAN tasks: ``perform(task, cancel) -> Outcome``.

    Args:
        configuration: returns the configuration in use (it may be reloaded between tasks).
        source: where the exported instances are looked up.
    """

    def __init__(self, configuration: Callable[[], Configuration], source: InstanceSource) -> None:
        require(*PYNETDICOM)  # before the first actions run in several workers (see dcm_exporter._imports)
        self._configuration = configuration
        self._source = source
        self._lock = threading.Lock()
        self._stgcmt: StorageCommitmentSCU | None = None

    @property
    def storage_commitment(self) -> StorageCommitmentSCU:
        """The storage commitment SCU (and its embedded SCPs), created on first use."""
        with self._lock:
            if self._stgcmt is None:
                self._stgcmt = StorageCommitmentSCU()
            return self._stgcmt

    def perform(self, task: ExportTask, cancel: CancelToken) -> Outcome:
        """Perform one STGCMT or IAN task.

        Raises:
            ConfigurationError: the exporter, the peer or the calling AE title is not usable.
            TransportError: the peer could not be reached or did not answer (the queue retries).
        """
        configuration = self._configuration()
        exporter = configuration.exporters.get(task.exporter_id)
        if exporter is None:
            raise ConfigurationError(f"Unknown exporter: {task.exporter_id} (task {task.task_id})")
        if not task.destination_aet:
            raise ConfigurationError(f"{task.task_type.value} task {task.task_id} names no destination AE")
        calling = task.local_ae_title or exporter.ae_title
        if not calling:
            raise ConfigurationError(
                f"exporter {exporter.exporter_id!r} has no dicomAETitle: there is no calling AE title for the "
                f"{task.task_type.value} request to {task.destination_aet}"
            )
        cancel.raise_if_cancelled()
        if task.task_type is TaskType.STGCMT:
            return self._commit(task, exporter, configuration, calling, cancel)
        if task.task_type is TaskType.IAN:
            refs = self._source.find(task.study_uid)
            if not refs:
                return Outcome.warning_nothing_found(task.study_uid, destination=task.destination_aet)
            return send_ian(
                configuration=configuration,
                exporter=exporter,
                ae_title=task.destination_aet,
                calling_ae_title=calling,
                study_uid=task.study_uid,
                instances=refs,
                entity=f"Study[{task.study_uid}]",
            )
        raise ConfigurationError(f"task {task.task_id} of type {task.task_type.value} is not an action")

    def _commit(
        self,
        task: ExportTask,
        exporter: ExporterDescriptor,
        configuration: Configuration,
        calling: str,
        cancel: CancelToken,
    ) -> Outcome:
        assert task.destination_aet is not None
        series = None if task.series_uid == ALL else task.series_uid
        sop = None if task.sop_instance_uid == ALL else task.sop_instance_uid
        refs = self._source.find(task.study_uid, series, sop)
        if not refs:
            return Outcome.warning_nothing_found(
                task.study_uid, task.series_uid, task.sop_instance_uid, destination=task.destination_aet
            )
        result = self.storage_commitment.request(
            configuration=configuration,
            exporter=exporter,
            ae_title=task.destination_aet,
            calling_ae_title=calling,
            instances=refs,
            cancel=cancel,
        )
        return outcome_of(result, task.entity)

    def close(self) -> None:
        """Stop the embedded storage commitment SCPs."""
        with self._lock:
            stgcmt, self._stgcmt = self._stgcmt, None
        if stgcmt is not None:
            stgcmt.close()
