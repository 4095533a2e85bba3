"""dcm4chee-arc-light's MONITOR-RS / EXPORT-RS wire forms: query parameters in, JSON and CSV out.

Pure functions (no web framework): the parameters of ``GET /monitor/export`` and friends become
:class:`~dcm_exporter.queue.task.TaskFilter` objects, tasks become ``exportTask`` objects and batches
``exportBatchList`` items, as upstream's OpenAPI description (``docs/swagger/schemas.json``) defines them.

Times: upstream's query times are ``yyyyMMddHHmmss`` in the archive's time zone (here: the server's local
zone), ranges ``{datetime1}-{datetime2}`` with either side open; answers carry ISO 8601 with the offset.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dcm_exporter.queue.task import ALL, BatchSummary, ExportTask, TaskFilter, TaskStatus, TaskType

__all__ = [
    "BadParameter",
    "CSV_COLUMNS",
    "MAX_BATCH_ID",
    "MAX_LIST",
    "MAX_OFFSET",
    "MAX_TASK_ID",
    "batch_json",
    "choose_output",
    "parse_datetime",
    "parse_range",
    "task_filters",
    "task_json",
    "tasks_csv",
]


#: The most tasks one list answer holds (``limit`` above it is refused; without ``limit`` this many): a request
#: must not make the server hold a whole queue in memory. Page with ``offset`` for more.
MAX_LIST = 10_000

#: The largest ``offset`` (Java's ``Integer.MAX_VALUE``; upstream's own pattern allows 99999): far past any queue,
#: and ``offset + limit`` stays inside every store's 64-bit integers.
MAX_OFFSET = 2**31 - 1

#: The largest task ID a store can hold (a signed 64-bit integer): a larger one names no task.
MAX_TASK_ID = 2**63 - 1

#: The longest ``batchID`` an export request may give (upstream keeps it in a ``VARCHAR(255)`` column).
MAX_BATCH_ID = 255


class BadParameter(ValueError):
    """A query parameter upstream would answer 400 for; the message names the parameter and the value."""


#: Statuses of upstream's ``taskStatus`` enumeration; a retry waiting is SCHEDULED there (with failures > 0).
_STATUS_OUT = {TaskStatus.SCHEDULED_FOR_RETRY: "SCHEDULED"}
_ORDER = {"createdTime": "created_time", "updatedTime": "updated_time"}
_DT = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?)?$")
_INTEGER = re.compile(r"^-?[0-9]+$")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone().isoformat(timespec="milliseconds")


def parse_datetime(text: str, *, name: str = "scheduledTime", end: bool = False) -> datetime:
    """``yyyyMMdd[HH[mm[ss[.ffffff]]]]`` (dcm4che's DT form) or ISO 8601, in the local zone when it has none.

    With ``end=True`` the instant just after the period the text names (``20261206`` -> the next midnight),
    for the exclusive upper bound of a range.

    Raises:
        BadParameter: not a date-time, or one outside the years 1 to 9999 in UTC and in the local zone.
    """
    try:
        return _parse_datetime(text, name=name, end=end)
    except BadParameter:
        raise
    except (OverflowError, ValueError) as exc:  # the end of 99991231235959, year 1 east of UTC ...
        raise BadParameter(f"{name}={text!r}: {exc} (the years 1 to 9999 only)") from exc


def _parse_datetime(text: str, *, name: str, end: bool) -> datetime:
    value = text.strip()
    m = _DT.match(value)
    if m:
        parts = [int(p) if p else None for p in m.groups()[:6]]
        fraction = m.group(7)
        try:
            dt = datetime(parts[0] or 0, parts[1] or 0, parts[2] or 0, parts[3] or 0, parts[4] or 0,
                          parts[5] or 0, int((fraction or "0").ljust(6, "0")))
        except ValueError as exc:
            raise BadParameter(f"{name}={text!r}: {exc}") from exc
        if end:
            step = (timedelta(days=1) if parts[3] is None else timedelta(hours=1) if parts[4] is None
                    else timedelta(minutes=1) if parts[5] is None
                    else timedelta(seconds=1) if fraction is None else timedelta(microseconds=1))
            dt += step
        dt = dt.astimezone()
    else:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadParameter(f"{name}={text!r} is not a date-time: use yyyyMMddHHmmss") from exc
        dt = dt.astimezone() if dt.tzinfo is None else dt
    # the stores keep UTC, the answers the local zone: both must be able to hold it
    dt.astimezone(UTC).astimezone()
    return dt


def parse_range(text: str, *, name: str) -> tuple[datetime | None, datetime | None]:
    """``{datetime1}-{datetime2}`` (either side may be empty) -> (inclusive start, exclusive end)."""
    value = text.strip()
    if "-" not in value or value.count("-") != 1:
        one = parse_datetime(value, name=name)
        return one, parse_datetime(value, name=name, end=True)
    lower, upper = value.split("-")
    return (parse_datetime(lower, name=name) if lower else None,
            parse_datetime(upper, name=name, end=True) if upper else None)


def _int(params: Mapping[str, str], name: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    # ASCII digits only: Python's int() also takes "1_000", " 7" and other scripts' digits
    if not _INTEGER.match(text) or len(text) > 25:
        raise BadParameter(f"{name}={text[:40]!r} is not a number")
    value = int(text)
    if value < minimum:
        raise BadParameter(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise BadParameter(f"{name}={value}: at most {maximum}")
    return value


def _text(params: Mapping[str, str], name: str) -> str | None:
    text = params.get(name) or None
    # a control character matches no task, and PostgreSQL refuses a NUL in a query: say so rather than fail
    if text is not None and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise BadParameter(f"{name}={text[:40]!r}: control characters match no task")
    return text


def _statuses(text: str | None, allowed: Iterable[str] | None = None) -> tuple[TaskStatus, ...] | None:
    if text is None or text == "":
        return None
    try:
        status = TaskStatus.parse(text)
    except ValueError as exc:
        raise BadParameter(f"status={text!r}: {exc}") from exc
    if allowed is not None and status.value not in set(allowed):
        raise BadParameter(f"status={text!r}: only {' or '.join(allowed)} here")
    if status is TaskStatus.SCHEDULED:  # upstream has one SCHEDULED; ours splits off the retries
        return (TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY)
    return (status,)


def task_filters(
    params: Mapping[str, str],
    exporter_ids: Sequence[str] = (),
    *,
    paged: bool = False,
    status_required: Iterable[str] | None = None,
) -> list[TaskFilter]:
    """The filters of a MONITOR-RS export request: one per ``ExporterID`` (the parameter may repeat), one
    without any. Only EXPORT tasks (storage commitment and IAN tasks are other queues upstream).

    Args:
        params: the query parameters (the last value of each).
        exporter_ids: every ``ExporterID`` value.
        paged: read ``offset``, ``limit`` and ``orderby`` (lists only).
        status_required: the statuses allowed, when ``status`` is required (bulk cancel).

    Raises:
        BadParameter: a value upstream would reject with 400.
    """
    status_text = params.get("status")
    if status_required is not None and not status_text:
        raise BadParameter("status is required: " + " or ".join(status_required))
    criteria: dict[str, Any] = {
        "task_type": TaskType.EXPORT,
        "status": _statuses(status_text, status_required),
        "study_uid": _text(params, "StudyInstanceUID"),
        "batch_id": _text(params, "batchID"),
        "device_name": _text(params, "dicomDeviceName"),
    }
    task_id = _int(params, "taskID", minimum=0, maximum=MAX_TASK_ID)
    if task_id is not None:
        criteria["task_ids"] = (task_id,)
    for name, prefix in (("createdTime", "created"), ("updatedTime", "updated")):
        text = params.get(name)
        if text:
            after, before = parse_range(text, name=name)
            criteria[f"{prefix}_after"], criteria[f"{prefix}_before"] = after, before
    if paged:
        order = params.get("orderby") or "-updatedTime"
        field = _ORDER.get(order.removeprefix("-"))
        if field is None:
            raise BadParameter(f"orderby={order!r}: use createdTime, -createdTime, updatedTime or -updatedTime")
        criteria["order_by"] = ("-" if order.startswith("-") else "") + field
        criteria["offset"] = _int(params, "offset", maximum=MAX_OFFSET) or 0
        limit = _int(params, "limit", minimum=1)
        if limit is not None and limit > MAX_LIST:
            raise BadParameter(f"limit={limit}: at most {MAX_LIST} per request (page with offset)")
        criteria["limit"] = MAX_LIST if limit is None else limit
    ids = [e for e in exporter_ids if e and _text({"ExporterID": e}, "ExporterID")]
    try:
        if not ids:
            return [TaskFilter(**criteria)]
        return [TaskFilter(exporter_id=e, **criteria) for e in dict.fromkeys(ids)]
    except ValueError as exc:
        raise BadParameter(str(exc)) from exc


def choose_output(accept: str) -> tuple[str, str] | None:
    """What a task list answers to an ``Accept`` value: ``("json", "")``, ``("csv", delimiter)`` or ``None``
    (406). The media ranges are taken by their ``q`` (highest first, then in order, ``q=0`` never), as upstream
    does: the first that JSON or CSV satisfies decides (``*/*`` and ``application/*``: JSON; ``text/*``: CSV;
    ``text/csv;delimiter=semicolon``: CSV with ``;``). Any ``+json`` type is answered with JSON too."""
    ranges: list[tuple[float, int, str, dict[str, str]]] = []
    for index, item in enumerate(accept.split(",")[:64]):  # a browser sends a handful; bound what is read
        kind, *params = (p.strip() for p in item.split(";"))
        values = {k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in params)}
        try:
            q = float(values.get("q", "1"))
        except ValueError:
            q = 0.0
        if "/" in kind and q > 0:
            ranges.append((-q, index, kind.lower(), values))
    for _, _, kind, values in sorted(ranges):
        major, _, minor = kind.partition("/")
        if kind in ("*/*", "application/*", "application/json") or (major == "application" and minor.endswith("+json")):
            return "json", ""
        if kind in ("text/*", "text/csv"):
            return "csv", ";" if values.get("delimiter", "").lower() == "semicolon" else ","
    return None


def task_json(task: ExportTask) -> dict[str, Any]:
    """An ``exportTask`` object (upstream's ``schemas.json``); absent values are left out, as upstream does."""
    out: dict[str, Any] = {
        "taskID": str(task.task_id),
        "dicomDeviceName": task.device_name,
        "queue": task.queue_name,
        "type": "EXPORT",
        "status": _STATUS_OUT.get(task.status, task.status.value),
        "failures": task.number_of_failures,
        "createdTime": _iso(task.created_time),
        "updatedTime": _iso(task.updated_time),
        "scheduledTime": _iso(task.scheduled_time),
        "ExporterID": task.exporter_id,
    }
    optional: dict[str, Any] = {
        "processingStartTime": _iso(task.processing_start_time),
        "processingEndTime": _iso(task.processing_end_time),
        "errorMessage": task.error_message,
        "outcomeMessage": task.outcome_message,
        "batchID": task.batch_id,
        "RequesterUserID": task.requester,
        "LocalAET": task.local_ae_title,
        "StudyInstanceUID": task.study_uid,
        "SeriesInstanceUID": None if task.series_uid == ALL else task.series_uid,
        "SOPInstanceUID": None if task.sop_instance_uid == ALL else task.sop_instance_uid,
        "Modality": list(task.modalities) or None,
        "NumberOfInstances": task.number_of_instances,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


#: Columns of the CSV list (``accept=text/csv``): the ``exportTask`` keys, in the order of the JSON.
CSV_COLUMNS = (
    "taskID", "dicomDeviceName", "queue", "type", "status", "failures", "createdTime", "updatedTime",
    "scheduledTime", "processingStartTime", "processingEndTime", "ExporterID", "LocalAET", "StudyInstanceUID",
    "SeriesInstanceUID", "SOPInstanceUID", "Modality", "NumberOfInstances", "batchID", "RequesterUserID",
    "errorMessage", "outcomeMessage",
)


#: What a spreadsheet reads as the start of a formula (OWASP's list): a cell starting so gets a leading ``'``.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "\\".join(value) if isinstance(value, list) else "" if value is None else str(value)
    # batchID comes from whoever scheduled the export, messages from the remote peer: a spreadsheet opening
    # the list must not run them ("=HYPERLINK(...)")
    return "'" + text if text.startswith(_FORMULA_START) else text


def tasks_csv(tasks: Iterable[ExportTask], *, delimiter: str = ",") -> str:
    """The tasks as CSV with a header line (RFC 4180 quoting; ``Modality`` values joined with ``\\``). A value
    a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) gets a leading
    ``'``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for task in tasks:
        data = task_json(task)
        writer.writerow([_cell(data.get(column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


_BATCH_KEYS = {
    TaskStatus.SCHEDULED: "scheduled",
    TaskStatus.SCHEDULED_FOR_RETRY: "scheduled",
    TaskStatus.IN_PROCESS: "in-process",
    TaskStatus.WARNING: "warning",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELED: "canceled",
    TaskStatus.COMPLETED: "completed",
}


def batch_json(batch: BatchSummary) -> dict[str, Any]:
    """One item of ``exportBatchList``. A time range none of the batch's tasks has yet (nothing started or
    ended) is left out (upstream's schema lists it as required; see docs/explanation/deviations.md)."""
    counts: dict[str, int] = {}
    for status, n in batch.counts.items():
        key = _BATCH_KEYS[TaskStatus.parse(status)]
        counts[key] = counts.get(key, 0) + n
    out: dict[str, Any] = {
        "batchID": batch.batch_id,
        "tasks": counts,
        "dicomDeviceName": list(batch.device_names),
        "ExporterID": list(batch.exporter_ids),
    }
    for key, span in (
        ("createdTimeRange", batch.created_time_range),
        ("updatedTimeRange", batch.updated_time_range),
        ("scheduledTimeRange", batch.scheduled_time_range),
        ("processingStartTimeRange", batch.processing_start_time_range),
        ("processingEndTimeRange", batch.processing_end_time_range),
    ):
        if span is not None:
            out[key] = [_iso(span[0]), _iso(span[1])]
    return out
