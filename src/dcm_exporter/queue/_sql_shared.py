"""What the SQL task stores (SQLite, PostgreSQL) share: the named-block SQL loader, the column order of a
stored task, the parameters a new task is inserted with, the WHERE clause of a task filter, and batch summaries
from their rows."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import attrs

from dcm_exporter.errors import QueueError
from dcm_exporter.queue.task import BatchSummary, ExportTask, NewTask, TaskFilter, TaskStatus, TaskType

__all__ = [
    "TASK_COLUMNS",
    "Dialect",
    "UnreadableTaskError",
    "batch_summary",
    "load_sql",
    "new_task_row",
    "task_from_row",
    "where",
]


#: Columns of a stored export task, in the order the SQL stores read and write them.
TASK_COLUMNS = (
    "task_id",
    "created_time",
    "updated_time",
    "device_name",
    "queue_name",
    "exporter_id",
    "local_ae_title",
    "study_uid",
    "series_uid",
    "sop_instance_uid",
    "scheduled_time",
    "status",
    "processing_start_time",
    "processing_end_time",
    "number_of_failures",
    "batch_id",
    "error_message",
    "outcome_message",
    "number_of_instances",
    "modalities",
    "requester",
    "lease_owner",
    "lease_expires",
    "task_type",
    "destination_aet",
    "result_json",
)

_COLUMN_LIST = ", ".join(TASK_COLUMNS)
_BINARY = frozenset({bytes, bytearray})
# a dict look-up instead of an Enum call per row (an unknown value still goes to the Enum, which raises)
_STATUSES = {s.value: s for s in TaskStatus}
_TASK_TYPES = {t.value: t for t in TaskType}
_TIME_COLUMNS = frozenset(
    {"created_time", "updated_time", "scheduled_time", "processing_start_time", "processing_end_time", "lease_expires"}
)


def task_from_row(
    row: Sequence[Any], *, time: Callable[[Any], datetime], modalities: Callable[[Any], tuple[str, ...]]
) -> ExportTask:
    """The task a row of :data:`TASK_COLUMNS` holds; ``time`` and ``modalities`` read the store's own types
    (``NULL`` times stay ``None``).

    Raises:
        UnreadableTaskError: a value is not what the schema promises (a corrupted row); names the task.
    """
    # statements may return more after the task's columns (a wake-up notification's result): ignored
    fields = dict(zip(TASK_COLUMNS, row[: len(TASK_COLUMNS)], strict=True))
    task_id = fields["task_id"]
    # a corrupted database file (a bad timestamp; bit-flipped text, which the SQLite store hands over as
    # bytes) must neither end a worker thread with a ValueError nor hide every other task
    if not _BINARY.isdisjoint(map(type, fields.values())):
        for name, value in fields.items():
            if isinstance(value, bytes | bytearray):
                raise UnreadableTaskError(
                    task_id, f"export task {task_id}: column {name} is not valid UTF-8 text: {bytes(value)[:40]!r}"
                )
    try:
        for name in _TIME_COLUMNS:
            value = fields[name]
            if value is not None:
                fields[name] = time(value)
        status = fields["status"]
        fields["status"] = _STATUSES.get(status) or TaskStatus(status)
        task_type = fields["task_type"]
        fields["task_type"] = _TASK_TYPES.get(task_type) or TaskType(task_type)
        fields["modalities"] = modalities(fields["modalities"])
        return ExportTask(**fields)
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise UnreadableTaskError(task_id, f"export task {task_id}: unreadable row: {exc}") from exc


class UnreadableTaskError(QueueError):
    """A stored row that is not a task any more (a corrupted value); names the task and why."""

    def __init__(self, task_id: object, message: str) -> None:
        super().__init__(message)
        self.task_id = task_id


def load_sql(name: str) -> dict[str, str]:
    """Read the named SQL blocks of ``dcm_exporter/queue/<name>`` (``-- name: X`` starts block ``X``)."""
    text = resources.files("dcm_exporter.queue").joinpath(name).read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = re.match(r"--\s*name:\s*(\w+)\s*$", line)
        if match:
            if current is not None:
                blocks[current] = "\n".join(lines).strip()
            current, lines = match.group(1), []
        elif current is not None and not line.startswith("--"):
            lines.append(line)
    if current is not None:
        blocks[current] = "\n".join(lines).strip()
    return {k: v.replace("{columns}", _COLUMN_LIST) for k, v in blocks.items()}


def new_task_row(new: NewTask) -> dict[str, object]:
    """The columns a new task is inserted with, as Python values (each SQL store converts the times and
    modalities to its own types)."""
    return {
        "device_name": new.device_name,
        "queue_name": new.queue_name,
        "exporter_id": new.exporter_id,
        "local_ae_title": new.local_ae_title,
        "study_uid": new.study_uid,
        "series_uid": new.series_uid,
        "sop_instance_uid": new.sop_instance_uid,
        "scheduled_time": new.scheduled_time,
        "batch_id": new.batch_id,
        "number_of_instances": new.number_of_instances,
        "modalities": new.modalities,
        "requester": new.requester,
        "task_type": new.task_type.value,
        "destination_aet": new.destination_aet,
    }


@attrs.frozen(kw_only=True)
class Dialect:
    """How a SQL store spells what a filter needs.

    Attributes:
        param: A named parameter, e.g. ``":{name}"`` or ``"%({name})s"``.
        any_of: Membership of a column in a list parameter (``{column}``, ``{param}``, ``{type}``: the SQL
            type of the elements, ``bigint`` or ``text``).
        true: A condition that always holds (an empty filter).
        to_list: A Python list as the list parameter.
        to_time: A time as a parameter.
    """

    param: str
    any_of: str
    true: str
    to_list: Callable[[list[Any]], object]
    to_time: Callable[[datetime], object]


def where(filter: TaskFilter, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (without the keyword) and parameters of the tasks matching ``filter``; offset, limit
    and order are the caller's."""
    clauses: list[str] = []
    params: dict[str, Any] = {}

    def add(clause: str, name: str, value: object) -> None:
        clauses.append(clause.format(param=dialect.param.format(name=name)))
        params[name] = value

    if filter.task_ids is not None:
        add(dialect.any_of.format(column="task_id", param="{param}", type="bigint"), "f_ids",
            dialect.to_list(list(filter.task_ids)))
    if filter.status is not None:
        add(dialect.any_of.format(column="status", param="{param}", type="text"), "f_status",
            dialect.to_list([s.value for s in filter.status]))
    for name in ("exporter_id", "study_uid", "batch_id", "device_name", "queue_name", "task_type"):
        value = getattr(filter, name)
        if value is not None:
            add(f"{name} = {{param}}", f"f_{name}", str(value))
    for column, name, op in (
        ("created_time", "created_after", ">="),
        ("created_time", "created_before", "<"),
        ("updated_time", "updated_after", ">="),
        ("updated_time", "updated_before", "<"),
    ):
        value = getattr(filter, name)
        if value is not None:
            add(f"{column} {op} {{param}}", f"f_{name}", dialect.to_time(value))
    return (" AND ".join(clauses) or dialect.true), params


def batch_summary(
    row: Sequence[Any],
    counts: Mapping[str, Mapping[TaskStatus, int]],
    *,
    names: Callable[[Any], Iterable[str]],
    time: Callable[[Any], datetime],
) -> BatchSummary:
    """A batch's summary from a ``batch_ranges`` row (batch id, device names, exporter ids, then the first and
    last of each time) and the counts per status of every batch."""

    def span(first: Any, last: Any) -> tuple[datetime, datetime] | None:
        return None if first is None or last is None else (time(first), time(last))

    return BatchSummary(
        batch_id=row[0],
        counts=dict(counts.get(row[0], {})),
        device_names=tuple(sorted(names(row[1]))),
        exporter_ids=tuple(sorted(names(row[2]))),
        created_time_range=span(row[3], row[4]),
        updated_time_range=span(row[5], row[6]),
        scheduled_time_range=span(row[7], row[8]),
        processing_start_time_range=span(row[9], row[10]),
        processing_end_time_range=span(row[11], row[12]),
    )
