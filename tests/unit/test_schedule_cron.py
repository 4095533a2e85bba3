"""Cron windows (``cron:<5 fields>``): parsing, evaluation, DST, errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dcm_exporter.errors import ScheduleSyntaxError
from dcm_exporter.schedule import CronSchedule, ScheduleExpression, Schedules, parse_schedule, warn_if_cron

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold)  # type: ignore[misc]


def test_after_hours_window() -> None:
    w = CronSchedule.parse("cron:* 18-23,0-5 * * 1-5", tz=VIENNA)
    assert str(w) == "cron:* 0-5,18-23 * * 1-5"
    assert w.to_cron() == "* 0-5,18-23 * * 1-5"
    thu = at(VIENNA, 2015, 10, 8, 10, 0)
    assert not w.contains(thu)
    assert w.ceil(thu) == at(VIENNA, 2015, 10, 8, 18, 0)
    assert w.contains(at(VIENNA, 2015, 10, 9, 5, 59))
    assert w.window_end(at(VIENNA, 2015, 10, 9, 5, 30)) == at(VIENNA, 2015, 10, 9, 6, 0)
    # Friday 23:59 is inside, Saturday 00:00 is not (day-of-week 1-5)
    assert w.window_end(at(VIENNA, 2015, 10, 9, 23, 0)) == at(VIENNA, 2015, 10, 10, 0, 0)
    assert w.ceil(at(VIENNA, 2015, 10, 10, 3, 0)) == at(VIENNA, 2015, 10, 12, 0, 0)


def test_minute_granularity_and_steps() -> None:
    w = CronSchedule.parse("*/15 9-17 * * mon-fri", tz=VIENNA)
    assert str(w) == "cron:0,15,30,45 9-17 * * 1-5"
    t = at(VIENNA, 2015, 10, 8, 9, 1, 30)
    assert not w.contains(t)
    assert w.ceil(t) == at(VIENNA, 2015, 10, 8, 9, 15)
    assert w.contains(at(VIENNA, 2015, 10, 8, 9, 15, 59))
    assert w.window_end(at(VIENNA, 2015, 10, 8, 9, 15, 20)) == at(VIENNA, 2015, 10, 8, 9, 16)
    assert w.ceil(at(VIENNA, 2015, 10, 8, 17, 46)) == at(VIENNA, 2015, 10, 9, 9, 0)


def test_day_of_month_or_day_of_week() -> None:
    """As in cron: two restricted day fields match when either does."""
    w = CronSchedule.parse("cron:0 0 13 * 5", tz=UTC)
    assert w.contains(datetime(2015, 10, 9, tzinfo=UTC))  # a Friday
    assert w.contains(datetime(2015, 10, 13, tzinfo=UTC))  # a Tuesday the 13th
    assert not w.contains(datetime(2015, 10, 14, tzinfo=UTC))
    only_dom = CronSchedule.parse("cron:0 0 13 * *", tz=UTC)
    assert only_dom.ceil(datetime(2015, 10, 14, tzinfo=UTC)) == datetime(2015, 11, 13, tzinfo=UTC)


def test_leap_day_window_is_found_years_ahead() -> None:
    w = CronSchedule.parse("cron:0 12 29 feb *", tz=UTC)
    # 2100 is not a leap year
    assert w.ceil(datetime(2096, 3, 1, tzinfo=UTC)) == datetime(2104, 2, 29, 12, 0, tzinfo=UTC)


def test_always_and_window_end() -> None:
    w = CronSchedule.parse("cron:* * * * *")
    assert w.window_end(datetime(2020, 1, 1, tzinfo=UTC)) is None
    weekdays = CronSchedule.parse("cron:* * * * 1-5", tz=UTC)
    assert weekdays.window_end(datetime(2015, 10, 8, 12, tzinfo=UTC)) == datetime(2015, 10, 10, tzinfo=UTC)
    not_december = CronSchedule.parse("cron:* * * 1-11 *", tz=UTC)
    assert not_december.window_end(datetime(2015, 3, 1, tzinfo=UTC)) == datetime(2015, 12, 1, tzinfo=UTC)


def test_a_range_with_equal_ends_is_one_value() -> None:
    """croniter reads ``5-5`` as the whole cycle; in a window it is the single value."""
    w = CronSchedule.parse("cron:0-0 5-5 * * 0-0")
    assert str(w) == "cron:0 5 * * 0"
    assert CronSchedule.parse("cron:* * * * sun-sun").days_of_week == frozenset({0})


def test_equality_and_normalisation() -> None:
    a = CronSchedule.parse("cron:* 18-23,0-5 * * mon-fri", tz=VIENNA)
    b = parse_schedule("cron:0-59 0-5,18-23 * jan-dec 1,2,3,4,5", tz=ZoneInfo("Europe/Vienna"))
    assert a == b
    assert hash(a) == hash(b)
    assert CronSchedule.parse("* * * * 7") == CronSchedule(days_of_week={0})
    assert CronSchedule(days_of_week=range(7)).days_of_week is None
    assert CronSchedule(days_of_month=range(1, 32)).days_of_month is None


def test_cron_and_dcm4che_agree_on_an_equivalent_pair() -> None:
    cron = CronSchedule.parse("cron:* 18-23,0-6 * * *", tz=VIENNA)
    expr = ScheduleExpression.parse("hour=18-6 dayOfWeek=*", tz=VIENNA)
    t = at(VIENNA, 2015, 10, 8, 10)
    for k in range(0, 7 * 24 * 60, 37):
        u = t + timedelta(minutes=k)
        assert cron.contains(u) == expr.contains(u)
        assert cron.ceil(u) == expr.ceil(u)


@pytest.mark.parametrize(
    ("text", "token", "position"),
    [
        ("cron:* * * *", "* * * *", 5),
        ("cron:* * * * * *", "* * * * * *", 5),
        ("cron:61 * * * *", "61", 5),
        ("cron:* 24 * * *", "24", 7),
        ("cron:* * 0 * *", "0", 9),
        ("cron:* * * 13 *", "13", 11),
        ("cron:* * * * 8", "8", 13),
        ("cron:* * * foo *", "foo", 11),
        ("cron:*  * * * *", "", 7),
        ("cron: * * * * *", "", 5),
        ("cron:", "", 5),
        ("cron:0 0 L * *", "L", 9),
        ("cron:0 0 * * 5#2", "5#2", 13),
        ("cron:0 0 * * 5L", "5L", 13),
        ("cron:0 0 ? * *", "?", 9),
        ("cron:H * * * *", "H", 5),
        ("cron:@daily", "@daily", 5),
        ("cron:0 0 30 2 *", "30", 9),
        ("cron:0 0 31 4,6,9,11 *", "31", 9),
        ("cron:*/0 * * * *", "*/0", 5),
        ("cron:5-1-2 * * * *", "5-1-2", 5),
    ],
)
def test_bad_cron_fields(text: str, token: str, position: int) -> None:
    with pytest.raises(ScheduleSyntaxError) as info:
        parse_schedule(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.token, err.position, err.text) == (token, position, text)


def test_never_matching_window_says_so() -> None:
    with pytest.raises(ScheduleSyntaxError, match="never opens"):
        CronSchedule.parse("cron:0 0 30 2 *")


# --- DST ---------------------------------------------------------------------------------------


def test_vienna_spring_forward_skips_the_missing_minutes() -> None:
    w = CronSchedule.parse("cron:30 2 * * *", tz=VIENNA)
    result = w.ceil(at(VIENNA, 2024, 3, 31, 1, 0))
    assert result == at(VIENNA, 2024, 4, 1, 2, 30)
    assert result.utcoffset() == timedelta(hours=2)
    # a window spanning the gap opens at the first real instant after it
    gap = CronSchedule.parse("cron:* 2-3 * * *", tz=VIENNA)
    result = gap.ceil(at(VIENNA, 2024, 3, 31, 1, 0))
    assert result.timestamp() == datetime(2024, 3, 31, 1, 0, tzinfo=UTC).timestamp()


def test_vienna_fall_back_both_occurrences_are_inside() -> None:
    w = CronSchedule.parse("cron:30 2 * * *", tz=VIENNA)
    first = w.ceil(at(VIENNA, 2024, 10, 27, 1, 0))
    assert first.timestamp() == datetime(2024, 10, 27, 0, 30, tzinfo=UTC).timestamp()
    assert first.fold == 0
    second = w.ceil(at(VIENNA, 2024, 10, 27, 2, 45))
    assert second.timestamp() == datetime(2024, 10, 27, 1, 30, tzinfo=UTC).timestamp()
    assert second.fold == 1


def test_new_york_fall_back_window_end() -> None:
    w = CronSchedule.parse("cron:* 1 * * *", tz=NEW_YORK)
    end = w.window_end(at(NEW_YORK, 2024, 11, 3, 1, 15))
    assert end is not None
    assert end.timestamp() == datetime(2024, 11, 3, 7, 0, tzinfo=UTC).timestamp()  # 02:00 EST


def test_has_cron_flags_values_dcm4chee_cannot_read(caplog: pytest.LogCaptureFixture) -> None:
    mixed = Schedules.parse(["hour=1", "cron:0 1 * * *"])
    assert mixed.has_cron
    assert not Schedules.parse(["hour=1"]).has_cron
    dn = "dcmExporterID=X,dicomDeviceName=dcm4chee-arc"
    with caplog.at_level(logging.WARNING, logger="dcm_exporter.schedule"):
        assert warn_if_cron(mixed, where=dn)
        assert not warn_if_cron(Schedules.parse(["hour=1"]), where=dn)
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert dn in record.getMessage()
    assert "cron:0 1 * * *" in record.getMessage()
    assert "cannot read" in record.getMessage()
