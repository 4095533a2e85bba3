"""How an attempt of an export task ends: the transition the task manager stores, the follow-up tasks of a
COMPLETED export (storage commitment, IAN), the log records, and what the ``task finished`` hooks get."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from dcm_exporter.errors import ExportCanceledError, QueueError, TransportError
from dcm_exporter.queue.retry import RetryPolicy
from dcm_exporter.queue.store import Transition
from dcm_exporter.queue.task import ALL, ExportTask, NewTask, TaskStatus, TaskType

if TYPE_CHECKING:
    from dcm_exporter.export import Outcome
    from dcm_exporter.models import ExporterDescriptor

__all__ = [
    "IAN_QUEUE",
    "STGCMT_QUEUE",
    "TaskResult",
    "end_of_attempt",
    "followup_tasks",
    "log_end",
    "task_extra",
]

#: Queue of storage commitment tasks when it is configured (dcm4chee-arc's name); else the exporter's queue.
STGCMT_QUEUE = "StgCmtSCU"
#: Queue of IAN tasks when it is configured (dcm4chee-arc's name); else the exporter's queue.
IAN_QUEUE = "IANSCU"

log = logging.getLogger("dcm_exporter.queue")


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


def end_of_attempt(
    task: ExportTask,
    outcome: Outcome | None,
    error: BaseException | None,
    *,
    policy: RetryPolicy,
    exporter: ExporterDescriptor | None,
    queue_names: Collection[str],
    now: datetime,
    started: datetime | None = None,
) -> Transition:
    """The transition an attempt of ``task`` ends with: its status by the outcome or error and the queue's
    retry ``policy``, and the follow-up tasks of a COMPLETED export of ``exporter`` (``None``: no longer
    configured, so none). ``started``: when the attempt started, if not when the task was claimed.

    Raises:
        QueueError: neither an outcome nor an error.
    """
    retryable = True
    error_message: str | None = None
    outcome_message: str | None = None
    instances: int | None = None
    modalities: tuple[str, ...] | None = None
    result_json: str | None = None if outcome is None else outcome.result_json
    if error is not None:
        if isinstance(error, ExportCanceledError):
            status = TaskStatus.CANCELED
        else:
            status = TaskStatus.FAILED
            retryable = bool(error.retryable) if isinstance(error, TransportError) else True
        error_message = str(error) or type(error).__name__
    elif outcome is not None:
        status = TaskStatus(outcome.status.value)
        outcome_message = outcome.message
        instances = outcome.completed + outcome.warning + outcome.failed + outcome.remaining
        modalities = outcome.modalities or None
        # why instances failed, in one line (upstream keeps errorMessage for exceptions only: deviations.md);
        # an interrupted export is FAILED and retryable, so the queue sends it again
        if status in (TaskStatus.FAILED, TaskStatus.WARNING) and (outcome.failures or outcome.interrupted):
            error_message = outcome.failure_summary
    else:
        raise QueueError(f"export task {task.task_id}: an attempt ends with an outcome or an error")

    decision = policy.decide(status, failures=task.number_of_failures, now=now, retryable=retryable)
    followups: tuple[NewTask, ...] = ()
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
        followups = tuple(followup_tasks(done, exporter, queue_names, now))
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
        processing_start_time=started,
    )


def followup_tasks(
    task: ExportTask, exporter: ExporterDescriptor | None, queue_names: Collection[str], now: datetime
) -> list[NewTask]:
    """What follows a COMPLETED export: a storage commitment request to the exporter's ``dcmStgCmtSCP``
    and an IAN to each ``dcmIanDestination``, each its own task (none when the exporter is gone: ``None``).

    They keep the export's exporter, scope and batch id, run now, in queue ``StgCmtSCU`` / ``IANSCU``
    when configured, else in the exporter's queue, and never coalesce.
    """
    if exporter is None:
        return []
    wanted: list[tuple[TaskType, str, str]] = []
    if exporter.stgcmt_scp:
        queue = STGCMT_QUEUE if STGCMT_QUEUE in queue_names else exporter.queue_name
        wanted.append((TaskType.STGCMT, exporter.stgcmt_scp, queue))
    for aet in dict.fromkeys(exporter.ian_destinations):
        queue = IAN_QUEUE if IAN_QUEUE in queue_names else exporter.queue_name
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


def log_end(task: ExportTask, stored: ExportTask | None, transition: Transition) -> bool:
    """Log the stored end of an attempt; returns whether runners should look again (a retry or follow-up
    tasks were stored)."""
    if stored is None:
        log.warning(
            "export task %s was deleted or taken over before it finished",
            task.task_id,
            extra=task_extra(task),
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
                extra=task_extra(stored),
            )
        if stored.status is TaskStatus.COMPLETED and transition.followups:
            for followup in transition.followups:
                log.info(
                    "export task %s COMPLETED: %s to %s scheduled",
                    stored.task_id,
                    followup.task_type.value,
                    followup.destination_aet,
                    extra=task_extra(stored),
                )
    return stored is not None and (
        stored.status is TaskStatus.SCHEDULED_FOR_RETRY
        or (stored.status is TaskStatus.COMPLETED and bool(transition.followups))
    )


def task_extra(task: ExportTask) -> dict[str, object]:
    """The structured fields of a task's log records."""
    return {
        "task_id": task.task_id,
        "exporter_id": task.exporter_id,
        "queue_name": task.queue_name,
        "study_uid": task.study_uid,
        "status": task.status.value,
        "batch_id": task.batch_id,
        "task_type": task.task_type.value,
    }
