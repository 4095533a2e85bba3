"""The wire forms of dcm4chee's MONITOR-RS: date-time parameters and ranges (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dcm_exporter.queue.task import TaskStatus, TaskType
from dcm_exporter.web.dcm4chee import BadParameter, parse_datetime, parse_range, task_filters


def local(*args: int) -> datetime:
    return datetime(*args).astimezone()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("20261206", local(2026, 12, 6), local(2026, 12, 7)),
        ("2026120614", local(2026, 12, 6, 14), local(2026, 12, 6, 15)),
        ("202612061430", local(2026, 12, 6, 14, 30), local(2026, 12, 6, 14, 31)),
        ("20261206143005", local(2026, 12, 6, 14, 30, 5), local(2026, 12, 6, 14, 30, 6)),
        ("20261206143005.25", local(2026, 12, 6, 14, 30, 5, 250000), local(2026, 12, 6, 14, 30, 5, 250001)),
    ],
)
def test_a_date_time_names_a_period(text: str, start: datetime, end: datetime) -> None:
    assert parse_datetime(text) == start
    assert parse_datetime(text, end=True) == end


def test_iso_8601_with_and_without_offset() -> None:
    assert parse_datetime("2026-12-06T14:30:00+01:00") == datetime(2026, 12, 6, 13, 30, tzinfo=UTC)
    assert parse_datetime("2026-12-06T14:30:00") == local(2026, 12, 6, 14, 30)


@pytest.mark.parametrize("text", ["", "tomorrow", "20261306", "2026120", "20261206250000"])
def test_bad_date_times_are_refused_naming_the_parameter(text: str) -> None:
    with pytest.raises(BadParameter, match="createdTime="):
        parse_datetime(text, name="createdTime")


def test_ranges_open_on_either_side() -> None:
    assert parse_range("20261201-20261206", name="x") == (local(2026, 12, 1), local(2026, 12, 7))
    assert parse_range("20261201-", name="x") == (local(2026, 12, 1), None)
    assert parse_range("-20261206", name="x") == (None, local(2026, 12, 7))
    start, end = parse_range("20261206", name="x")  # one value: that period
    assert end - start == timedelta(days=1)  # type: ignore[operator]


def test_filters_are_export_tasks_only_and_scheduled_includes_retries() -> None:
    (f,) = task_filters({"status": "SCHEDULED"})
    assert f.task_type is TaskType.EXPORT
    assert f.status == (TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY)
    (f,) = task_filters({"status": "IN PROCESS"}, paged=True)
    assert f.status == (TaskStatus.IN_PROCESS,) and f.order_by == "-updated_time" and f.limit == 10_000
    assert [g.exporter_id for g in task_filters({}, ["A", "B", "A"])] == ["A", "B"]
