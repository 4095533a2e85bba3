"""Pictures for notebooks (matplotlib, the ``notebook`` extra): task history and schedules as a week grid.

A leaf of the display layer: it imports nothing from the rest of the package and reads tasks and schedules by
their attributes only (``status``, ``exporter_id``, ``processing_start_time``, ..., and ``Schedules.contains``),
so the queue's :class:`~dcm_exporter.queue.TaskList` can offer :meth:`~dcm_exporter.queue.TaskList.plot`
without importing anything above it. Every function returns a :class:`matplotlib.figure.Figure` made without
pyplot: no global figure state, nothing shown twice in Jupyter, usable in scripts (``fig.savefig(...)``).

>>> from datetime import UTC, datetime, timedelta
>>> from dcm_exporter.queue import ExportTask, TaskStatus
>>> t0 = datetime(2025, 1, 31, 22, 0, tzinfo=UTC)
>>> tasks = [ExportTask(task_id=i, created_time=t0, updated_time=t0, device_name="arc", queue_name="Export1",
...                     exporter_id="STORESCP", study_uid=f"1.2.{i}", scheduled_time=t0,
...                     status=TaskStatus.COMPLETED if i % 3 else TaskStatus.FAILED,
...                     processing_start_time=t0 + timedelta(minutes=10 * i),
...                     processing_end_time=t0 + timedelta(minutes=10 * i, seconds=20), number_of_instances=50)
...          for i in range(1, 13)]
>>> figure = plot_history(tasks)
>>> [ax.get_title() for ax in figure.axes]
['Tasks per status over time', 'Throughput per exporter', 'Task duration per exporter']
"""

from __future__ import annotations

import importlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

__all__ = ["STATUS_ORDER", "plot_exporters", "plot_history", "plot_schedule", "plot_status", "schedule_grid"]

#: status -> line/bar colour (stronger than the table cell colours, which are pastel backgrounds)
STATUS_ORDER: dict[str, str] = {
    "COMPLETED": "#43a047",
    "WARNING": "#fb8c00",
    "FAILED": "#e53935",
    "CANCELED": "#8e24aa",
    "SCHEDULED FOR RETRY": "#039be5",
    "IN PROCESS": "#1e88e5",
    "SCHEDULED": "#9e9e9e",
}

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _figure_class() -> Any:
    try:
        return importlib.import_module("matplotlib.figure").Figure
    except ImportError as exc:
        raise ImportError("the plots need matplotlib: pip install 'dcm-exporter[notebook]'") from exc


def _status(task: Any) -> str:
    status = task.status
    return str(status.value) if isinstance(status, Enum) else str(status)


def _when(task: Any) -> datetime:
    """When a task last changed state: its end, else its start, else its scheduled time."""
    return task.processing_end_time or task.processing_start_time or task.scheduled_time  # type: ignore[no-any-return]


def _duration(task: Any) -> float | None:
    if task.processing_start_time is None or task.processing_end_time is None:
        return None
    return max(float((task.processing_end_time - task.processing_start_time).total_seconds()), 0.0)


def _bin_width(span: timedelta) -> timedelta:
    """A round bin width giving 12 to ~48 bars over ``span``."""
    for width in (timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 360, 720, 1440)):
        if span / width <= 48:
            return width
    return timedelta(days=7)


def plot_status(tasks: Sequence[Any], *, ax: Any = None, bin_width: timedelta | None = None) -> Any:
    """Tasks per status over time: stacked bars, one bar per time bin, by when each task last changed state.

    Args:
        tasks: export tasks (a :class:`~dcm_exporter.queue.TaskList` or any sequence of them).
        ax: draw into these axes; by default a new figure.
        bin_width: width of a bar; by default a round width giving at most 48 bars.

    Returns:
        The :class:`matplotlib.figure.Figure`.
    """
    if ax is None:
        figure = _figure_class()(figsize=(9, 3.2), layout="constrained")
        ax = figure.add_subplot()
    ax.set_title("Tasks per status over time")
    ax.set_ylabel("tasks")
    if not tasks:
        ax.text(0.5, 0.5, "no tasks", ha="center", va="center", transform=ax.transAxes)
        return ax.figure
    times = [_when(t) for t in tasks]
    first, last = min(times), max(times)
    width = bin_width or _bin_width(max(last - first, timedelta(minutes=1)))
    origin = first.replace(second=0, microsecond=0)
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for task, when in zip(tasks, times, strict=True):
        counts[_status(task)][int((when - origin) / width)] += 1
    n_bins = max(max(c) for c in counts.values()) + 1
    starts = [origin + i * width for i in range(n_bins)]
    bottom = [0] * n_bins
    for status, colour in STATUS_ORDER.items():
        if status not in counts:
            continue
        heights = [counts[status][i] for i in range(n_bins)]
        ax.bar(starts, heights, width=width, bottom=bottom, align="edge", color=colour, label=status,
               edgecolor="white", linewidth=0.5)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.legend(loc="upper left", fontsize="small", frameon=False, ncols=min(len(counts), 4))
    ax.set_ylim(0, max(bottom) * 1.25 + 0.5)
    # one empty bin either side: a single bar (one task, one burst) still looks like a bar, not a filled frame
    ax.set_xlim(origin - width, origin + (n_bins + 1) * width)
    ax.yaxis.get_major_locator().set_params(integer=True)
    _time_axis(ax, first.tzinfo)
    return ax.figure


def _time_axis(ax: Any, tz: tzinfo | None) -> None:
    dates = importlib.import_module("matplotlib.dates")
    locator = dates.AutoDateLocator(tz=tz)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=tz))


def plot_exporters(tasks: Sequence[Any], *, axes: Sequence[Any] | None = None) -> Any:
    """Per exporter: throughput (instances per second over the tasks' processing time) and task durations.

    Only finished tasks with a start and an end count. Returns the :class:`matplotlib.figure.Figure`.
    """
    if axes is None:
        figure = _figure_class()(figsize=(9, 3.2), layout="constrained")
        axes = figure.subplots(1, 2)
    ax_rate, ax_time = axes
    ax_rate.set_title("Throughput per exporter")
    ax_time.set_title("Task duration per exporter")
    durations: dict[str, list[float]] = defaultdict(list)
    instances: Counter[str] = Counter()
    for task in tasks:
        seconds = _duration(task)
        if seconds is None:
            continue
        durations[task.exporter_id].append(seconds)
        instances[task.exporter_id] += task.number_of_instances or 0
    if not durations:
        for ax in axes:
            ax.text(0.5, 0.5, "no finished tasks", ha="center", va="center", transform=ax.transAxes)
        return ax_rate.figure
    names = sorted(durations)
    rates = [instances[n] / max(sum(durations[n]), 1e-6) for n in names]
    bars = ax_rate.barh(names, rates, color="#1e88e5")
    ax_rate.bar_label(bars, labels=[f"{r:,.1f}" for r in rates], padding=3, fontsize="small")
    ax_rate.set_xlabel("instances / s while exporting")
    ax_rate.set_xlim(0, max(rates) * 1.3 or 1)
    ax_rate.invert_yaxis()
    ax_time.boxplot([durations[n] for n in names], orientation="horizontal", tick_labels=names,
                    widths=0.5, medianprops={"color": "#e53935"})
    ax_time.set_xlabel("seconds per task")
    longest = max(max(d) for d in durations.values())
    ax_time.set_xlim(0, longest * 1.1 if longest > 0 else 1)  # from zero: one task is a line, not a zoom
    ax_time.invert_yaxis()
    return ax_rate.figure


def plot_history(tasks: Sequence[Any]) -> Any:
    """One figure: :func:`plot_status` on top, :func:`plot_exporters` below."""
    figure = _figure_class()(figsize=(9, 6.2), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=(1.1, 1))
    plot_status(tasks, ax=top.add_subplot())
    plot_exporters(tasks, axes=bottom.subplots(1, 2))
    return figure


# --- schedules ------------------------------------------------------------------------------------------------

#: a week without daylight-saving changes in either hemisphere's usual rules (Monday 8 January 2024)
_REFERENCE_MONDAY = (2024, 1, 8)


def _zone(schedules: Any) -> tzinfo:
    zone = getattr(schedules, "tz", None)
    if zone is None:
        zone = next((e.tz for e in getattr(schedules, "expressions", ()) if getattr(e, "tz", None)), None)
    return zone or datetime.now().astimezone().tzinfo  # type: ignore[return-value]


def schedule_grid(schedules: Any, *, step_minutes: int = 5) -> list[list[float]]:
    """Seven rows (Monday first) of 24 numbers: the share of each hour in which ``schedules`` is open.

    Sampled every ``step_minutes`` of a reference week, in the schedules' own zone (else the local zone).
    ``Schedules.ALWAYS`` gives 1.0 everywhere.

    >>> from dcm_exporter.schedule import Schedules
    >>> grid = schedule_grid(Schedules.parse("hour=18-6 dayOfWeek=1-5"))
    >>> grid[0][17], grid[0][18], grid[0][5], grid[6][20]   # Monday 17h, 18h, 05h; Sunday 20h
    (0.0, 1.0, 1.0, 0.0)
    """
    zone = _zone(schedules)
    year, month, day = _REFERENCE_MONDAY
    grid = []
    for weekday in range(7):
        row = []
        for hour in range(24):
            samples = [datetime(year, month, day + weekday, hour, minute, tzinfo=zone)
                       for minute in range(0, 60, step_minutes)]
            row.append(sum(1 for s in samples if schedules.contains(s)) / len(samples))
        grid.append(row)
    return grid


def plot_schedule(schedules: Any, *, ax: Any = None, title: str | None = None) -> Any:
    """The week as a 7 x 24 grid: green where exports may run, grey where they wait.

    Args:
        schedules: a :class:`~dcm_exporter.schedule.Schedules` (an exporter's, a queue's or a rule's).
        ax: draw into these axes; by default a new figure.
        title: defaults to the schedule values.

    Returns:
        The :class:`matplotlib.figure.Figure`.
    """
    if ax is None:
        figure = _figure_class()(figsize=(9, 2.6), layout="constrained")
        ax = figure.add_subplot()
    colors = importlib.import_module("matplotlib.colors")
    grid = schedule_grid(schedules)
    cmap = colors.LinearSegmentedColormap.from_list("open", ["#eeeeee", "#43a047"])
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(7), DAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xticks([x - 0.5 for x in range(25)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(8)], minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel(f"hour ({_zone_name(_zone(schedules))})")
    ax.set_title(title if title is not None else f"Open: {schedules}")
    return ax.figure


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(datetime(*_REFERENCE_MONDAY)) or zone)


def exporter_names(tasks: Iterable[Any]) -> list[str]:
    """The exporters of ``tasks``, sorted (for legends and summaries)."""
    return sorted({t.exporter_id for t in tasks})
