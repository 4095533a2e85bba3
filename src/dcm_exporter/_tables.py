"""HTML tables for notebook display: cells, captions, status colours.

A leaf module (standard library only): the notebook's model tables (:mod:`dcm_exporter.notebook`) and
the queue's and outcomes' (:mod:`dcm_exporter._repr`) build their tables with it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = [
    "CELL_STYLE", "STATUS_COLOURS", "TABLE_STYLE", "caption_row", "cell", "field_table", "status_text", "table", "text",
]

#: Background colours of the status cells (COMPLETED green, WARNING amber, FAILED red, ...).
STATUS_COLOURS: Mapping[str, str] = {
    "COMPLETED": "#c8e6c9",
    "WARNING": "#ffe0b2",
    "FAILED": "#ffcdd2",
    "CANCELED": "#e1bee7",
    "SCHEDULED FOR RETRY": "#b3e5fc",
    "IN PROCESS": "#bbdefb",
    "SCHEDULED": "#eeeeee",
}

TABLE_STYLE = "border-collapse:collapse;font-size:0.9em"
CELL_STYLE = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"


def text(value: Any) -> str:
    """A value as cell text: enums by value, datetimes to the second, sequences and mappings joined."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value)
    return str(value)


def cell(value: Any, *, status: bool = False) -> str:
    """One ``<td>``; with ``status``, coloured by :data:`STATUS_COLOURS`."""
    shown = text(value)
    style = CELL_STYLE
    if status and shown in STATUS_COLOURS:
        style += f";background:{STATUS_COLOURS[shown]};font-weight:bold"
    return f"<td style='{style}'>{html.escape(shown)}</td>"


def caption_row(title: str) -> str:
    """A left-aligned bold ``<caption>``."""
    return f"<caption style='text-align:left;font-weight:bold'>{html.escape(title)}</caption>"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, status_column: str | None = "status",
          caption: str | None = None) -> str:
    """A table with a header row; the cells of ``status_column`` are coloured."""
    head = "".join(f"<th style='{CELL_STYLE}'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(cell(v, status=c == status_column) for c, v in zip(columns, row, strict=True)) + "</tr>"
        for row in rows
    )
    return (f"<table class='dcm-exporter' style='{TABLE_STYLE}'>{caption_row(caption) if caption else ''}"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def field_table(title: str, pairs: Iterable[tuple[str, Any]], status_key: str) -> str:
    """A two-column field / value table; the value of ``status_key`` is coloured."""
    rows = "".join(
        f"<tr><th style='{CELL_STYLE}'>{html.escape(key)}</th>{cell(value, status=key == status_key)}</tr>"
        for key, value in pairs
    )
    return f"<table class='dcm-exporter' style='{TABLE_STYLE}'>{caption_row(title)}<tbody>{rows}</tbody></table>"


def status_text(code: int | None) -> str:
    """A DIMSE or HTTP status as people read it: DICOM statuses in hexadecimal, HTTP ones in decimal.

    A code that is an HTTP status (409, 503) is taken for one; DICOM statuses and failure reasons in that
    range (0x0110 = 272, 0x0112 = 274, 0x0122 = 290) are not HTTP statuses and stay hexadecimal.

    >>> status_text(0xA700), status_text(409), status_text(0x0112), status_text(None)
    ('0xA700', '409', '0x0112', 'none')
    """
    if code is None:
        return "none"
    from http import HTTPStatus

    try:
        HTTPStatus(code)
    except ValueError:
        return f"0x{code:04X}"
    return str(code)
