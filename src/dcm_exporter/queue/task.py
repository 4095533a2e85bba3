"""The export task model: :class:`TaskStatus`, :class:`ExportTask`, :class:`TaskFilter`,
    :class:`BatchSummary`.

An export task is one export of a study (or one series, or one instance) by one exporter, waiting in the queue
the exporter names. Its fields are those of dcm4chee-arc-light's export task; its statuses carry the upstream
display names (``"IN PROCESS"``, ``"SCHEDULED FOR RETRY"``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from dcm_exporter.export import FailedInstance

__all__ = ["BatchSummary", "ExportTask", "NewTask", "TaskFilter", "TaskStatus", "TaskType", "utc"]

#: ``*`` in the series / SOP instance UID of a task means "all of them".
ALL = "*"


def utc(value: datetime) -> datetime:
    """Return ``value`` as a timezone-aware UTC datetime.

    Raises:
        ValueError: ``value`` is naive (has no timezone).
    """
    if value.tzinfo is UTC:  # already UTC (what the stores read and the clocks give): as astimezone would return it
        return value
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"datetime {value.isoformat()} has no timezone: pass a timezone-aware datetime")
    return value.astimezone(UTC)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class TaskStatus(enum.StrEnum):
    """Status of an export task, valued with dcm4chee-arc-light's display names."""

    SCHEDULED = "SCHEDULED"
    IN_PROCESS = "IN PROCESS"
    COMPLETED = "COMPLETED"
    WARNING = "WARNING"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    SCHEDULED_FOR_RETRY = "SCHEDULED FOR RETRY"

    @property
    def is_final(self) -> bool:
        """``True`` for COMPLETED, WARNING, FAILED and CANCELED."""
        return self in _FINAL

    @property
    def is_pending(self) -> bool:
        """``True`` for SCHEDULED and SCHEDULED FOR RETRY (waiting to be processed)."""
        return self in _PENDING

    @classmethod
    def parse(cls, value: str | TaskStatus) -> TaskStatus:
        """Accept a display name (``"IN PROCESS"``) or a member name (``"IN_PROCESS"``), any case.

        Raises:
            ValueError: no such status.
        """
        if isinstance(value, TaskStatus):
            return value
        text = value.strip().upper()
        for member in cls:
            if text in (member.value, member.name):
                return member
        raise ValueError(f"unknown task status {value!r}: expected one of {', '.join(m.value for m in cls)}")


class TaskType(enum.StrEnum):
    """What a task does: the export itself, or an action that follows a COMPLETED export.

    ``STGCMT`` (storage commitment request to ``dcmStgCmtSCP``) and ``IAN`` (Instance Availability
    Notification to one ``dcmIanDestination``) tasks are scheduled by the manager when an ``EXPORT`` task
    ends COMPLETED; they carry the export's exporter, scope and batch id and name their peer in
    ``destination_aet``.
    """

    EXPORT = "EXPORT"
    STGCMT = "STGCMT"
    IAN = "IAN"


_FINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.WARNING, TaskStatus.FAILED, TaskStatus.CANCELED})
_PENDING = frozenset({TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY})


def _modalities(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _task_type(value: TaskType | str) -> TaskType:
    # a member passes as it is: calling the Enum goes through EnumType.__call__, a measurable share of building
    # a task (a runner of short tasks builds two per task)
    return value if type(value) is TaskType else TaskType(value)


@attrs.frozen(kw_only=True)
class ExportTask:
    """One export task as stored in a task store.

    Attributes:
        task_id: Store-assigned id, unique per store.
        created_time: When the task was first scheduled (UTC).
        updated_time: Last change of the task (UTC).
        device_name: Name of the device (archive) whose runner performs the task.
        queue_name: The ``dcmQueueName`` of the exporter's queue.
        exporter_id: The ``dcmExporterID``.
        local_ae_title: The exporter's ``dicomAETitle`` (calling AE title).
        study_uid: Study Instance UID.
        series_uid: Series Instance UID, ``"*"`` for all series of the study.
        sop_instance_uid: SOP Instance UID, ``"*"`` for all instances of the series.
        scheduled_time: Not processed before this time.
        status: Current :class:`TaskStatus`.
        processing_start_time: When processing (last) started.
        processing_end_time: When processing (last) ended.
        number_of_failures: Failed attempts so far.
        batch_id: Optional batch the task belongs to.
        error_message: Message of the last error, if any.
        outcome_message: Outcome message of the last attempt, if any.
        number_of_instances: Number of instances exported (or known at scheduling).
        modalities: Modalities of the study, if known.
        requester: Who asked for the export, if known.
        lease_owner: Id of the runner holding the task while IN PROCESS.
        lease_expires: When that runner's lease ends unless it sends a heartbeat.
        task_type: :class:`TaskType`: the export, or a storage commitment / IAN that follows it.
        destination_aet: The peer of a STGCMT or IAN task (``None`` for exports).
        result_json: Per-instance results of the last attempt as JSON text: the failed instances of an
            export (:attr:`failed_instances`), the commitment results of a storage commitment; see
            :attr:`result`.
    """

    task_id: int
    created_time: datetime = attrs.field(converter=utc)
    updated_time: datetime = attrs.field(converter=utc)
    device_name: str
    queue_name: str
    exporter_id: str
    local_ae_title: str | None = None
    study_uid: str
    series_uid: str = ALL
    sop_instance_uid: str = ALL
    scheduled_time: datetime = attrs.field(converter=utc)
    status: TaskStatus = TaskStatus.SCHEDULED
    processing_start_time: datetime | None = attrs.field(default=None, converter=_opt_utc)
    processing_end_time: datetime | None = attrs.field(default=None, converter=_opt_utc)
    number_of_failures: int = 0
    batch_id: str | None = None
    error_message: str | None = None
    outcome_message: str | None = None
    number_of_instances: int | None = None
    modalities: tuple[str, ...] = attrs.field(default=(), converter=_modalities)
    requester: str | None = None
    lease_owner: str | None = None
    lease_expires: datetime | None = attrs.field(default=None, converter=_opt_utc)
    task_type: TaskType = attrs.field(default=TaskType.EXPORT, converter=_task_type)
    destination_aet: str | None = None
    result_json: str | None = None

    @property
    def result(self) -> Any:
        """:attr:`result_json` decoded (``None`` when there is none)."""
        return None if self.result_json is None else json.loads(self.result_json)

    @property
    def failed_instances(self) -> list[FailedInstance]:
        """The instances the last attempt of an export could not send, with reason and status (the first
        100; :attr:`error_message` summarises them all). Empty when none failed or for other task types."""
        from dcm_exporter.export import failed_instances

        return failed_instances(self.result_json) if self.task_type is TaskType.EXPORT else []

    @property
    def summary(self) -> str:
        """The outcome in one line: the outcome message, then why instances failed when that says more."""
        parts = [m for m in (self.outcome_message, self.error_message) if m]
        return "; ".join(dict.fromkeys(parts))

    @property
    def entity(self) -> str:
        """What is exported, in upstream's words: ``Study[uid]``, ``Series[uid]`` or ``Instance[uid]``."""
        if self.series_uid == ALL:
            return f"Study[{self.study_uid}]"
        if self.sop_instance_uid == ALL:
            return f"Series[{self.series_uid}]"
        return f"Instance[{self.sop_instance_uid}]"

    def _repr_html_(self) -> str:
        from dcm_exporter._repr import task_html

        return task_html(self)


@attrs.frozen(kw_only=True)
class NewTask:
    """What a store needs to insert (or coalesce) a task; the store assigns id and times."""

    device_name: str
    queue_name: str
    exporter_id: str
    local_ae_title: str | None = None
    study_uid: str
    series_uid: str = ALL
    sop_instance_uid: str = ALL
    scheduled_time: datetime = attrs.field(converter=utc)
    batch_id: str | None = None
    number_of_instances: int | None = None
    modalities: tuple[str, ...] = attrs.field(default=(), converter=_modalities)
    requester: str | None = None
    task_type: TaskType = attrs.field(default=TaskType.EXPORT, converter=_task_type)
    destination_aet: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.task_type is not TaskType.EXPORT and not self.destination_aet:
            raise ValueError(f"a {self.task_type.value} task needs its destination AE title")
        if not self.study_uid or self.study_uid == ALL:
            raise ValueError("an export task needs a Study Instance UID (not empty, not '*')")
        if self.series_uid == ALL and self.sop_instance_uid != ALL:
            raise ValueError(
                f"SOP Instance UID {self.sop_instance_uid} given without its Series Instance UID"
            )

    def inserted(self, task_id: int, now: datetime, *, modalities: tuple[str, ...] | None = None) -> ExportTask:
        """The task a store's insert of this one makes: the id and times are the store's, the rest as given
        (``modalities`` as the store gives them back, when its column changes them)."""
        return ExportTask(
            task_id=task_id,
            created_time=now,
            updated_time=now,
            device_name=self.device_name,
            queue_name=self.queue_name,
            exporter_id=self.exporter_id,
            local_ae_title=self.local_ae_title,
            study_uid=self.study_uid,
            series_uid=self.series_uid,
            sop_instance_uid=self.sop_instance_uid,
            scheduled_time=self.scheduled_time,
            batch_id=self.batch_id,
            number_of_instances=self.number_of_instances,
            modalities=self.modalities if modalities is None else modalities,
            requester=self.requester,
            task_type=self.task_type,
            destination_aet=self.destination_aet,
        )


def _statuses(value: TaskStatus | str | Iterable[TaskStatus | str] | None) -> tuple[TaskStatus, ...] | None:
    if value is None:
        return None
    if isinstance(value, (TaskStatus, str)):
        return (TaskStatus.parse(value),)
    return tuple(TaskStatus.parse(v) for v in value)


def _ids(value: Iterable[int] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


#: Columns a :class:`TaskFilter` may order by (optionally prefixed with ``-`` for descending).
ORDER_FIELDS = frozenset(
    {
        "task_id",
        "created_time",
        "updated_time",
        "scheduled_time",
        "processing_start_time",
        "processing_end_time",
        "exporter_id",
        "study_uid",
        "status",
        "batch_id",
        "number_of_failures",
    }
)


def _order(value: str) -> str:
    name = value.removeprefix("-")
    if name not in ORDER_FIELDS:
        raise ValueError(f"cannot order tasks by {value!r}: use one of {', '.join(sorted(ORDER_FIELDS))}")
    return value


@attrs.frozen(kw_only=True)
class TaskFilter:
    """Which tasks to list, count, cancel, reschedule or delete (dcm4chee's task query parameters).

    Every given criterion must match; ``None`` means "any". Time ranges are half-open: ``*_after`` is
    inclusive, ``*_before`` exclusive.

    Attributes:
        task_ids: Only these task ids.
        exporter_id: ``dcmExporterID``.
        status: One status or several (any of them).
        study_uid: Study Instance UID.
        batch_id: Batch id.
        device_name: Device the task belongs to.
        queue_name: Queue name.
        task_type: Only tasks of this :class:`TaskType`.
        created_after / created_before: Range of the creation time.
        updated_after / updated_before: Range of the last update.
        offset / limit: Paging (applied after ordering).
        order_by: A field name, ``-`` prefixed for descending; ties are broken by task id.
    """

    task_ids: tuple[int, ...] | None = attrs.field(default=None, converter=_ids)
    exporter_id: str | None = None
    status: tuple[TaskStatus, ...] | None = attrs.field(default=None, converter=_statuses)
    study_uid: str | None = None
    batch_id: str | None = None
    device_name: str | None = None
    queue_name: str | None = None
    task_type: TaskType | None = attrs.field(
        default=None, converter=attrs.converters.optional(TaskType)
    )
    created_after: datetime | None = attrs.field(default=None, converter=_opt_utc)
    created_before: datetime | None = attrs.field(default=None, converter=_opt_utc)
    updated_after: datetime | None = attrs.field(default=None, converter=_opt_utc)
    updated_before: datetime | None = attrs.field(default=None, converter=_opt_utc)
    offset: int = 0
    limit: int | None = None
    order_by: str = attrs.field(default="created_time", converter=_order)

    def __attrs_post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, got {self.offset}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")

    def matches(self, task: ExportTask) -> bool:
        """Whether ``task`` meets every criterion (ignores offset, limit and order)."""
        return (
            (self.task_ids is None or task.task_id in self.task_ids)
            and (self.exporter_id is None or task.exporter_id == self.exporter_id)
            and (self.status is None or task.status in self.status)
            and (self.study_uid is None or task.study_uid == self.study_uid)
            and (self.batch_id is None or task.batch_id == self.batch_id)
            and (self.device_name is None or task.device_name == self.device_name)
            and (self.queue_name is None or task.queue_name == self.queue_name)
            and (self.task_type is None or task.task_type is self.task_type)
            and (self.created_after is None or task.created_time >= self.created_after)
            and (self.created_before is None or task.created_time < self.created_before)
            and (self.updated_after is None or task.updated_time >= self.updated_after)
            and (self.updated_before is None or task.updated_time < self.updated_before)
        )


@attrs.frozen(kw_only=True)
class BatchSummary:
    """Tasks of one batch: counts per status and the time ranges they span.

    Attributes:
        batch_id: The batch id.
        counts: Number of tasks per status (statuses without tasks are absent).
        device_names: Devices the batch's tasks belong to.
        exporter_ids: Exporters of the batch's tasks.
        created_time_range: Earliest and latest creation time.
        updated_time_range: Earliest and latest update.
        scheduled_time_range: Earliest and latest scheduled time.
        processing_start_time_range: Earliest and latest processing start, if any task started.
        processing_end_time_range: Earliest and latest processing end, if any task ended.
    """

    batch_id: str
    counts: Mapping[TaskStatus, int]
    device_names: tuple[str, ...] = ()
    exporter_ids: tuple[str, ...] = ()
    created_time_range: tuple[datetime, datetime] | None = None
    updated_time_range: tuple[datetime, datetime] | None = None
    scheduled_time_range: tuple[datetime, datetime] | None = None
    processing_start_time_range: tuple[datetime, datetime] | None = None
    processing_end_time_range: tuple[datetime, datetime] | None = None

    @property
    def total(self) -> int:
        """Number of tasks in the batch."""
        return sum(self.counts.values())

    def count(self, status: TaskStatus | str) -> int:
        """Number of tasks of the batch in ``status``."""
        return self.counts.get(TaskStatus.parse(status), 0)

    def _repr_html_(self) -> str:
        from dcm_exporter._repr import batch_html

        return batch_html(self)
