"""Notebook display: HTML reprs (tables, status colours) and ``to_dataframe()`` (when pandas is installed).

The queue's and the outcomes' ``_repr_html_`` methods call these functions, so Jupyter shows an
:class:`~dcm_exporter.queue.ExportTask`, an :class:`~dcm_exporter.export.Outcome` or a
:class:`~dcm_exporter.queue.BatchSummary` as a small table. ``Exporter.tasks()`` and ``Exporter.batches()``
return a :class:`TaskList` / :class:`BatchList` (public as ``dcm_exporter.queue.TaskList`` / ``BatchList``):
plain lists that also render as one table and convert to a pandas ``DataFrame``.

The tables are built with the leaf :mod:`dcm_exporter._tables`; the models render themselves with
:mod:`dcm_exporter.models._display` (re-exported here), so the models import nothing from this module.

>>> from dcm_exporter.models import ExporterDescriptor
>>> html = ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1")._repr_html_()
>>> ">dicom:STORESCP</td>" in html
True
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from dcm_exporter._tables import CELL_STYLE, STATUS_COLOURS, TABLE_STYLE, caption_row, cell, field_table, table, text
from dcm_exporter.models._display import configuration_html, exporter_html

__all__ = [
    "STATUS_COLOURS",
    "BatchList",
    "TaskList",
    "batch_html",
    "batches_html",
    "configuration_html",
    "exporter_html",
    "outcome_html",
    "task_html",
    "tasks_html",
    "to_dataframe",
]

TASK_COLUMNS = ("task_id", "exporter_id", "entity", "status", "number_of_failures", "scheduled_time",
                "batch_id", "outcome_message")
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
    return field_table(f"Export task {task.task_id}", [(k, v) for k, v in pairs if v not in (None, ())],
                          "status")


def tasks_html(tasks: Sequence[Any]) -> str:
    """A list of export tasks as one table, status coloured."""
    return table(TASK_COLUMNS, ([getattr(t, c) for c in TASK_COLUMNS] for t in tasks),
                  caption=f"{len(tasks)} export task(s)")


def outcome_html(outcome: Any) -> str:
    """An :class:`~dcm_exporter.export.Outcome`: status, counts, message and the failures."""
    summary = field_table("Outcome", [
        ("status", outcome.status), ("message", outcome.message), ("completed", outcome.completed),
        ("warning", outcome.warning), ("failed", outcome.failed), ("missing", outcome.missing),
        ("remaining", outcome.remaining), ("destination", outcome.destination),
    ], "status")
    if not outcome.failures:
        return summary
    failures = table(
        ("sop_instance_uid", "reason", "status_code"),
        ((f.sop_instance_uid, f.reason, None if f.status_code is None else f"0x{f.status_code:04X}")
         for f in outcome.failures),
        status_column=None, caption="Failures",
    )
    return f"<div>{summary}<br>{failures}</div>"


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
        records.append(row)
    frame = pd.DataFrame.from_records(records, columns=list(TASK_FIELDS))
    return frame.set_index("task_id") if records else frame


class TaskList(list[Any]):
    """A list of export tasks that renders as one table in Jupyter and converts to a ``DataFrame``."""

    def _repr_html_(self) -> str:
        return tasks_html(self)

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
