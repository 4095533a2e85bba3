"""What the SQL task stores (SQLite, PostgreSQL) share: the named-block SQL loader, the column order of a
stored task, and the parameters a new task is inserted with."""

from __future__ import annotations

import re
from importlib import resources

from dcm_exporter.queue.task import NewTask

__all__ = ["TASK_COLUMNS", "load_sql", "new_task_row"]


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
