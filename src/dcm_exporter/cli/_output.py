"""Output helpers of the command line: tables, JSON and CSV, colours only on a TTY."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TextIO

STATUS_COLOURS = {
    "COMPLETED": "32",  # green
    "WARNING": "33",  # yellow
    "FAILED": "31",  # red
    "CANCELED": "35",  # magenta
    "SCHEDULED FOR RETRY": "36",  # cyan
    "IN PROCESS": "34",  # blue
    "SCHEDULED": "0",
}


def use_colour(stream: TextIO) -> bool:
    """Colours only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def plain(value: Any) -> Any:
    """A JSON-friendly form of a value (enums by value, datetimes in ISO 8601, tuples as lists)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def write_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    fmt: str = "table",
    stream: TextIO | None = None,
    status_column: str | None = "status",
    fit: bool = True,
) -> None:
    """Write rows as an aligned table, JSON (a list of objects) or CSV.

    On a terminal a table is narrowed to its width, cutting the widest cells; ``fit=False`` keeps every cell
    whole (the terminal wraps the last column), for tables whose cells are the point, like failure reasons.
    """
    out = stream or sys.stdout
    if fmt == "json":
        json.dump([{c: plain(r.get(c)) for c in columns} for r in rows], out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([cell(r.get(c)) for c in columns])
        return
    texts = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(columns)]
    limit = _terminal_width(out) if fit else None
    if limit is not None and sum(widths) + 2 * (len(widths) - 1) > limit:
        widths = _fit(widths, columns, limit)
        mark = "\u2026" if (getattr(out, "encoding", None) or "").lower().replace("-", "") == "utf8" else "~"
        texts = [[v if len(v) <= w else v[: max(w - 1, 0)] + mark for v, w in zip(t, widths, strict=True)]
                 for t in texts]
        columns = [c if len(c) <= w else c[: max(w - 1, 0)] + mark for c, w in zip(columns, widths, strict=True)]
    colour = use_colour(out)
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for t in texts:
        parts = []
        for i, (c, w) in enumerate(zip(columns, widths, strict=True)):
            text = t[i].ljust(w)
            if colour and c == status_column and t[i] in STATUS_COLOURS:
                text = f"\033[{STATUS_COLOURS[t[i]]}m{text}\033[0m"
            parts.append(text)
        out.write("  ".join(parts).rstrip() + "\n")


def _terminal_width(out: TextIO) -> int | None:
    """The width of the terminal ``out`` writes to; ``None`` when it is no terminal (a pipe gets whole rows)."""
    try:
        if not out.isatty():
            return None
        return os.get_terminal_size(out.fileno()).columns or None
    except (AttributeError, OSError, ValueError):
        return None


def _fit(widths: list[int], columns: Sequence[str], limit: int) -> list[int]:
    """Narrow the widest columns, one character at a time, until the row fits ``limit`` (each column keeps
    at least 6 characters)."""
    widths = list(widths)
    floor = [min(w, 6) for w in widths]
    room = limit - 2 * (len(widths) - 1)
    excess = sum(widths) - room
    while excess > 0:
        i = max(range(len(widths)), key=lambda k: widths[k] - floor[k])
        if widths[i] <= floor[i]:
            break  # as narrow as it gets: the terminal wraps what is left
        widths[i] -= 1
        excess -= 1
    return widths


def write_mapping(data: Mapping[str, Any], *, fmt: str = "table", stream: TextIO | None = None) -> None:
    """Write one object as ``key: value`` lines or as JSON."""
    out = stream or sys.stdout
    if fmt == "json":
        json.dump(plain(data), out, indent=2)
        out.write("\n")
        return
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        out.write(f"{key.ljust(width)}  {cell(value)}\n")


def error(message: str) -> None:
    """A one-line error on stderr, red on a terminal."""
    stream = sys.stderr
    prefix = "\033[31merror:\033[0m" if use_colour(stream) else "error:"
    stream.write(f"{prefix} {message}\n")


def warning(message: str) -> None:
    """A one-line warning on stderr, yellow on a terminal."""
    stream = sys.stderr
    prefix = "\033[33mwarning:\033[0m" if use_colour(stream) else "warning:"
    stream.write(f"{prefix} {message}\n")


def progress(iterable: Iterable[Any], total: int | None, description: str) -> Iterable[Any]:
    """Yield from ``iterable`` with a progress bar on a TTY (rich when installed), silently otherwise."""
    if not sys.stderr.isatty():
        yield from iterable
        return
    try:
        from rich.progress import Progress
    except ImportError:  # pragma: no cover - rich is in the cli extra
        yield from iterable
        return
    with Progress(transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task)


class ProgressBar:
    """A progress bar on stderr while the work runs, only on a terminal (rich); silent otherwise.

    >>> with ProgressBar(10, "sending") as bar:   # not a TTY here: does nothing
    ...     bar.update(5)
    """

    def __init__(self, total: int | None, description: str, *, stream: TextIO | None = None) -> None:
        self.total = total
        self.description = description
        self._stream = stream or sys.stderr
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if not self._stream.isatty():
            return self
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:  # pragma: no cover - rich is in the cli extra
            return self
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(file=self._stream), transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def update(self, completed: int) -> None:
        """Show ``completed`` units done."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def info(message: str, *, stream: TextIO | None = None) -> None:
    """A line of human-readable information on stdout (bold on a terminal when it starts with '==>')."""
    out = stream or sys.stdout
    out.write(message + "\n")
    out.flush()
