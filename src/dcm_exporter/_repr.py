"""Notebook display: HTML reprs (tables, status colours) and ``to_dataframe()`` (when pandas is installed).

The queue's and the outcomes' ``_repr_html_`` methods call these functions, so Jupyter shows an
:class:`~dcm_exporter.queue.ExportTask`, an :class:`~dcm_exporter.export.Outcome` or a
:class:`~dcm_exporter.queue.BatchSummary` as a small table. ``exporter.queue.tasks()`` and ``exporter.queue.batches()``
return a :class:`TaskList` / :class:`BatchList` (public as ``dcm_exporter.queue.TaskList`` / ``BatchList``):
plain lists that also render as one table and convert to a pandas ``DataFrame``.

The tables are built with the leaf :mod:`dcm_exporter._tables`. The configuration models carry no HTML at
all: :mod:`dcm_exporter.notebook` registers their tables with the running IPython kernel.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from dcm_exporter._tables import CELL_STYLE, STATUS_COLOURS, TABLE_STYLE, caption_row, cell, field_table, text
from dcm_exporter.export import failures_html, outcome_html

__all__ = [
    "STATUS_COLOURS",
    "BatchList",
    "TaskList",
    "batch_html",
    "batches_html",
    "outcome_html",
    "task_html",
    "tasks_html",
    "to_dataframe",
]

TASK_COLUMNS = ("task_id", "exporter_id", "entity", "status", "failures", "scheduled_time", "duration",
                "batch_id", "outcome")
#: long text (outcome and error messages) wraps inside a bounded column instead of widening the table
_WRAP = "white-space:normal;overflow-wrap:anywhere;min-width:18em;max-width:42em"
#: a study UID is 64 characters without a space: let it break anywhere rather than push the outcome away
_UID = "white-space:normal;overflow-wrap:anywhere;word-break:break-all;min-width:10em;max-width:16em"
TASK_FIELDS = (
    "task_id", "created_time", "updated_time", "device_name", "queue_name", "exporter_id", "local_ae_title",
    "study_uid", "series_uid", "sop_instance_uid", "scheduled_time", "status", "processing_start_time",
    "processing_end_time", "number_of_failures", "batch_id", "error_message", "outcome_message",
    "number_of_instances", "modalities", "requester",
)
STATUSES = ("SCHEDULED", "IN PROCESS", "COMPLETED", "WARNING", "FAILED", "CANCELED", "SCHEDULED FOR RETRY")


def task_html(task: Any) -> str:
    """One :class:`~dcm_exporter.queue.ExportTask`, status coloured."""
    pairs = [(name, getattr(task, name)) for name in TASK_FIELDS]
    fields = field_table(f"Export task {task.task_id}", [(k, v) for k, v in pairs if v not in (None, ())],
                         "status")
    failed = getattr(task, "failed_instances", [])
    return f"<div>{fields}<br>{failures_html(failed)}</div>" if failed else fields


def duration_text(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; empty for ``None``.

    >>> [duration_text(s) for s in (0.4213, 12.34, 245, 7380, None)]
    ['0.42 s', '12.3 s', '4 min 05 s', '2 h 03 min', '']
    """
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def task_duration(task: Any) -> float | None:
    """Seconds from the processing start to its end (to now while IN PROCESS); ``None`` before the start."""
    start = task.processing_start_time
    if start is None:
        return None
    end = task.processing_end_time
    if end is None:
        end = datetime.now(start.tzinfo) if text(task.status) == "IN PROCESS" else None
    return None if end is None else max((end - start).total_seconds(), 0.0)


def tasks_html(tasks: Sequence[Any]) -> str:
    """A list of export tasks as one table: status coloured, a duration column, long outcomes wrapped."""
    head = "".join(f"<th style='{CELL_STYLE}'>{html.escape(c)}</th>" for c in TASK_COLUMNS)
    rows = []
    for t in tasks:
        outcome = getattr(t, "summary", None) or t.outcome_message or t.error_message
        cells = [
            cell(t.task_id), cell(t.exporter_id),
            f"<td style='{CELL_STYLE};{_UID}'>{html.escape(text(t.entity))}</td>", cell(t.status, status=True),
            cell(t.number_of_failures), cell(t.scheduled_time),
            f"<td style='{CELL_STYLE};text-align:right;white-space:nowrap'>{duration_text(task_duration(t))}</td>",
            cell(t.batch_id),
            f"<td style='{CELL_STYLE};{_WRAP}'>{html.escape(text(outcome))}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='dcm-exporter' style='{TABLE_STYLE}'>{caption_row(f'{len(tasks)} export task(s)')}"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _batch_row(batch: Any) -> list[Any]:
    return [batch.batch_id, batch.total, *(batch.count(s) for s in STATUSES)]


def batch_html(batch: Any) -> str:
    """One :class:`~dcm_exporter.queue.BatchSummary`."""
    return batches_html([batch])


def batches_html(batches: Sequence[Any]) -> str:
    """Batch summaries: tasks per status, the non-zero counts coloured."""
    columns = ("batch_id", "total", *STATUSES)
    rows = []
    for b in batches:
        cells = [cell(b.batch_id), cell(b.total)]
        for status in STATUSES:
            n = b.count(status)
            colour = f"background:{STATUS_COLOURS[status]};" if n else ""
            cells.append(f"<td style='{CELL_STYLE};{colour}'>{n}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th style='{CELL_STYLE}'>{html.escape(c)}</th>" for c in columns)
    return (f"<table class='dcm-exporter' style='{TABLE_STYLE}'>{caption_row(f'{len(batches)} batch(es)')}"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


# --- lists and data frames --------------------------------------------------------------------------------------


def to_dataframe(items: Iterable[Any]) -> Any:
    """A pandas ``DataFrame`` of export tasks (one row per task, every field) or batch summaries.

    Raises:
        ImportError: pandas is not installed (``pip install pandas``).
    """
    try:
        pd = importlib.import_module("pandas")
    except ImportError as exc:
        raise ImportError("to_dataframe() needs pandas: pip install pandas") from exc
    items = list(items)
    if items and hasattr(items[0], "counts"):
        return pd.DataFrame(
            [dict(zip(("batch_id", "total", *STATUSES), _batch_row(b), strict=True)) for b in items],
            columns=["batch_id", "total", *STATUSES],
        )
    records = []
    for t in items:
        row = {name: getattr(t, name) for name in TASK_FIELDS}
        row["status"] = text(row["status"])
        row["modalities"] = list(row["modalities"])
        row["failed_instances"] = [
            {"sop_instance_uid": f.sop_instance_uid, "reason": f.reason, "status_code": f.status_code}
            for f in getattr(t, "failed_instances", [])
        ]
        records.append(row)
    frame = pd.DataFrame.from_records(records, columns=[*TASK_FIELDS, "failed_instances"])
    return frame.set_index("task_id") if records else frame


class TaskList(list[Any]):
    """A list of export tasks that renders as one table in Jupyter, converts to a ``DataFrame`` and plots."""

    def _repr_html_(self) -> str:
        return tasks_html(self)

    def plot(self, kind: str = "history") -> Any:
        """A :class:`matplotlib.figure.Figure` of these tasks (needs matplotlib, the ``notebook`` extra).

        Args:
            kind: ``"history"`` (tasks per status over time, throughput and durations per exporter),
                ``"status"`` (only the first) or ``"exporters"`` (only the last two).
        """
        from dcm_exporter import _plots

        plots = {"history": _plots.plot_history, "status": _plots.plot_status, "exporters": _plots.plot_exporters}
        if kind not in plots:
            raise ValueError(f"unknown plot kind {kind!r}: use one of {', '.join(plots)}")
        return plots[kind](self)

    def to_dataframe(self) -> Any:
        """Every task field as a column, indexed by ``task_id`` (needs pandas)."""
        return to_dataframe(self)


class BatchList(list[Any]):
    """A list of batch summaries that renders as one table and converts to a ``DataFrame``."""

    def _repr_html_(self) -> str:
        return batches_html(self)

    def to_dataframe(self) -> Any:
        """``batch_id``, ``total`` and one column per status (needs pandas)."""
        return to_dataframe(self)
