"""dcm4che ``dcmSchedule`` expressions and ``Schedules``: examples, grammar, DST."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import dcm_exporter
from dcm_exporter.codecs import ldif
from dcm_exporter.errors import DcmExporterError, ScheduleSyntaxError
from dcm_exporter.schedule import (
    CronSchedule,
    Schedule,
    ScheduleExpression,
    Schedules,
    local_zone,
    parse_schedule,
)

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")


def same(a: datetime | None, b: datetime) -> bool:
    """Same instant (``==`` between zones is False for times in a repeated hour, PEP 495)."""
    return a is not None and a.timestamp() == b.timestamp()


def at(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold)  # type: ignore[misc]


# --- the upstream example -----------------------------------------------------------------------


def test_upstream_example_thursday_10_is_deferred_to_18() -> None:
    s = Schedules.parse(["hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6"], tz=VIENNA)
    thu = at(VIENNA, 2015, 10, 8, 10, 0)
    assert thu.weekday() == 3  # Thursday
    assert not s.contains(thu)
    assert s.ceil(thu) == at(VIENNA, 2015, 10, 8, 18, 0)


def test_upstream_example_saturday_10_is_contained() -> None:
    s = Schedules.parse(["hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6"], tz=VIENNA)
    sat = at(VIENNA, 2015, 10, 10, 10, 0)
    assert s.contains(sat)
    assert s.ceil(sat) is sat


def test_same_example_member_by_member() -> None:
    night = ScheduleExpression.parse("hour=18-6 dayOfWeek=*", tz=VIENNA)
    weekend = ScheduleExpression.parse("hour=* dayOfWeek=0,6", tz=VIENNA)
    thu = at(VIENNA, 2015, 10, 8, 10, 0)
    assert night.ceil(thu) == at(VIENNA, 2015, 10, 8, 18, 0)
    assert weekend.ceil(thu) == at(VIENNA, 2015, 10, 10, 0, 0)


# --- wrap-around ranges ------------------------------------------------------------------------


def test_hour_18_6_includes_the_end_hour_whole() -> None:
    s = ScheduleExpression.parse("hour=18-6", tz=VIENNA)
    assert s.hours == frozenset([*range(18, 24), *range(7)])
    assert s.contains(at(VIENNA, 2015, 10, 8, 6, 59, 59))
    assert not s.contains(at(VIENNA, 2015, 10, 8, 7, 0))
    assert not s.contains(at(VIENNA, 2015, 10, 8, 17, 59))
    assert s.contains(at(VIENNA, 2015, 10, 8, 18, 0))
    assert s.window_end(at(VIENNA, 2015, 10, 8, 23, 30)) == at(VIENNA, 2015, 10, 9, 7, 0)
    assert s.ceil(at(VIENNA, 2015, 10, 8, 7, 0)) == at(VIENNA, 2015, 10, 8, 18, 0)


def test_hour_6_5_is_all_day() -> None:
    s = ScheduleExpression.parse("hour=6-5")
    assert s.hours == frozenset(range(24))
    assert str(s) == "hour=* dayOfWeek=*"
    assert s.window_end(datetime(2020, 1, 1, tzinfo=UTC)) is None


def test_day_of_week_5_1_is_friday_to_monday() -> None:
    s = ScheduleExpression.parse("dayOfWeek=5-1", tz=VIENNA)
    assert s.days == frozenset({5, 6, 0, 1})
    assert str(s) == "hour=* dayOfWeek=5-1"
    # Thu 2015-10-08 .. Wed 2015-10-14
    inside = [s.contains(at(VIENNA, 2015, 10, d, 12)) for d in range(8, 15)]
    assert inside == [False, True, True, True, True, False, False]
    assert s.ceil(at(VIENNA, 2015, 10, 8, 12)) == at(VIENNA, 2015, 10, 9, 0, 0)
    assert s.window_end(at(VIENNA, 2015, 10, 10, 12)) == at(VIENNA, 2015, 10, 13, 0, 0)


def test_ceil_rechecks_the_weekday_after_midnight() -> None:
    """Upstream rolls to the next day without re-checking the weekday; we return the true earliest instant."""
    friday_evening = ScheduleExpression.parse("hour=20 dayOfWeek=5", tz=VIENNA)
    assert friday_evening.ceil(at(VIENNA, 2015, 10, 9, 22, 0)) == at(VIENNA, 2015, 10, 16, 20, 0)
    monday_early = ScheduleExpression.parse("hour=1 dayOfWeek=1", tz=VIENNA)
    assert monday_early.ceil(at(VIENNA, 2015, 10, 9, 22, 0)) == at(VIENNA, 2015, 10, 12, 1, 0)


# --- parsing and normal form -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("dayOfWeek=1-5", "hour=* dayOfWeek=1-5"),
        ("hour=18-6 dayOfWeek=*", "hour=18-6 dayOfWeek=*"),
        ("hour=0-6,18-23", "hour=18-6 dayOfWeek=*"),
        ("hour=* dayOfWeek=0,6", "hour=* dayOfWeek=0,6"),
        ("hour=1 hour=2", "hour=2 dayOfWeek=*"),  # the last repeated field wins
        ("dayOfWeek=3 hour=9,10,11,15", "hour=9-11,15 dayOfWeek=3"),
        ("hour=05", "hour=5 dayOfWeek=*"),
        ("hour=23,0,1,12", "hour=12,23-1 dayOfWeek=*"),
        ("hour=0,23", "hour=0,23 dayOfWeek=*"),
        ("hour=3-3", "hour=3 dayOfWeek=*"),
    ],
)
def test_normal_form(text: str, normal: str) -> None:
    s = ScheduleExpression.parse(text)
    assert str(s) == normal
    assert ScheduleExpression.parse(normal) == s


@pytest.mark.parametrize(
    ("text", "token", "position"),
    [
        ("hour=24", "24", 5),
        ("dayOfWeek=7", "7", 10),
        ("hour=*/2", "*/2", 5),
        ("hour=-1", "-1", 5),
        ("hour=1-2-3", "1-2-3", 5),
        ("minute=5", "minute=5", 0),
        ("hour=1  dayOfWeek=2", "", 7),
        ("hour=", "", 5),
        ("dayOfWeek=", "", 10),
        ("hour=1,,2", "", 7),
        ("hour=1,", "", 7),
        (" hour=1", "", 0),
        ("hour=1 ", "", 7),
        ("hour=*,1", "*", 5),
        ("hour=+", "+", 5),
        ("hour=++1", "++1", 5),
        ("hour=\U0001d7d6", "\U0001d7d6", 5),  # MATHEMATICAL BOLD DIGIT EIGHT: two surrogates to Java
        ("hour=1-", "1-", 5),
        ("hour=a", "a", 5),
        ("hour=1\tdayOfWeek=2", "1\tdayOfWeek=2", 5),
        ("dayOfWeek=Mon", "Mon", 10),
        ("hour=1 dayOfWeek=2-9", "9", 19),
        ("Hour=1", "Hour=1", 0),
        ("hour=\u00b2", "\u00b2", 5),  # SUPERSCRIPT TWO is No, not Nd: Character.digit refuses it
    ],
)
def test_syntax_errors_name_token_and_position(text: str, token: str, position: int) -> None:
    with pytest.raises(ScheduleSyntaxError) as info:
        ScheduleExpression.parse(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, DcmExporterError)
    assert err.text == text
    assert err.token == token
    assert err.position == position
    assert repr(text) in str(err)
    assert f"position {position}" in str(err)


# What dcm4che's ScheduleExpression accepts because it reads numbers with Java's Integer.parseInt: a plus sign
# and decimal digits (category Nd) of any script in the Basic Multilingual Plane; an empty value is "always".
@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("hour=+8", "hour=8 dayOfWeek=*"),
        ("hour=+18-+6 dayOfWeek=+1", "hour=18-6 dayOfWeek=1"),
        ("hour=\u0661\u0668", "hour=18 dayOfWeek=*"),  # ARABIC-INDIC DIGITS ONE, EIGHT
        ("hour=\u096e", "hour=8 dayOfWeek=*"),  # DEVANAGARI DIGIT EIGHT
        ("dayOfWeek=\uff11-\uff15", "hour=* dayOfWeek=1-5"),  # FULLWIDTH DIGITS
        ("hour=\u0e51\u0e50", "hour=10 dayOfWeek=*"),  # THAI DIGITS
        ("", "hour=* dayOfWeek=*"),
    ],
)
def test_numbers_as_java_integer_parse_int_reads_them(text: str, normal: str) -> None:
    s = ScheduleExpression.parse(text)
    assert str(s) == normal
    assert Schedules.parse([text]).to_strings() == (normal,)  # written normalised


def test_every_bmp_decimal_digit_java_accepts() -> None:
    # Character.digit(c, 10) >= 0 for exactly 370 BMP code points in Java 17 and Java 25 (computed there)
    digits = [chr(c) for c in range(0x10000) if chr(c).isdecimal()]
    assert len(digits) == 370
    for c in digits:
        assert ScheduleExpression.parse(f"hour={c}").hours == {unicodedata.decimal(c)}


def test_an_empty_value_is_always() -> None:
    assert ScheduleExpression.parse("").contains(datetime(2024, 1, 1, 3, tzinfo=UTC))


def test_syntax_error_messages_say_what_is_wrong() -> None:
    with pytest.raises(ScheduleSyntaxError, match=r"0\.\.23"):
        ScheduleExpression.parse("hour=24")
    with pytest.raises(ScheduleSyntaxError, match="Sunday"):
        ScheduleExpression.parse("dayOfWeek=7")
    with pytest.raises(ScheduleSyntaxError, match="steps"):
        ScheduleExpression.parse("hour=*/2")
    with pytest.raises(ScheduleSyntaxError, match="unknown field 'minute'"):
        ScheduleExpression.parse("minute=5")
    with pytest.raises(ScheduleSyntaxError, match="empty list"):
        ScheduleExpression.parse("hour=")


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        ScheduleExpression.parse(5)  # type: ignore[arg-type]


def test_equality_and_hash_by_content() -> None:
    a = ScheduleExpression.parse("hour=18-6", tz=VIENNA)
    b = ScheduleExpression.parse("hour=0-6,18-23 dayOfWeek=*", tz=ZoneInfo("Europe/Vienna"))
    assert a == b
    assert hash(a) == hash(b)
    assert a != ScheduleExpression.parse("hour=18-6", tz=NEW_YORK)
    assert ScheduleExpression(hours={1, 2}, days={0}) == ScheduleExpression.parse("hour=1-2 dayOfWeek=0")


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="hours"):
        ScheduleExpression(hours=set())
    with pytest.raises(ValueError, match="days"):
        ScheduleExpression(days={7})


@pytest.mark.parametrize("hours", [{24}, {0, 24}, {-1}, {23, 25}])
def test_constructor_refuses_hours_outside_0_to_23_as_the_parser_does(hours: set[int]) -> None:
    with pytest.raises(ValueError, match=r"hours must be a non-empty subset of 0\.\.23"):
        ScheduleExpression(hours=hours)
    text = "hour=" + ",".join(str(h) for h in sorted(hours) if h >= 0)
    with pytest.raises(ScheduleSyntaxError):
        ScheduleExpression.parse(text)


@pytest.mark.parametrize("days", [{-1}, {0, 7}])
def test_constructor_refuses_days_outside_0_to_6(days: set[int]) -> None:
    with pytest.raises(ValueError, match=r"days must be a non-empty subset of 0\.\.6"):
        ScheduleExpression(days=days)


def test_constructor_takes_the_extremes() -> None:
    edge = ScheduleExpression(hours={0, 23}, days={0, 6})
    assert str(edge) == "hour=0,23 dayOfWeek=0,6"
    assert edge == ScheduleExpression.parse("hour=0,23 dayOfWeek=0,6")


# --- Schedules ---------------------------------------------------------------------------------


def test_schedules_value_semantics() -> None:
    a = Schedules.parse(["hour=18-6 dayOfWeek=*", "dayOfWeek=0,6"], tz=VIENNA)
    b = Schedules.parse(["hour=0-6,18-23", "hour=* dayOfWeek=0,6"], tz=ZoneInfo("Europe/Vienna"))
    assert a == b
    assert hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a.to_strings() == ("hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6")
    assert Schedules.parse(a.to_strings(), tz=VIENNA) == a
    assert not a.is_always
    assert not a.has_cron
    assert len(a.expressions) == 2


def test_schedules_equality_is_order_insensitive_but_to_strings_keeps_the_order() -> None:
    # LDAP does not keep the order of dcmSchedule values: the same set read from LDAP and from LDIF must be equal
    values = ["hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6", "cron:0 3 * * *"]
    a = Schedules.parse(values, tz=VIENNA)
    b = Schedules.parse(list(reversed(values)), tz=VIENNA)
    assert a == b
    assert hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a.to_strings() == tuple(str(parse_schedule(v)) for v in values)
    assert b.to_strings() == tuple(reversed(a.to_strings()))  # written back in the order given
    assert a != Schedules.parse(values[:2], tz=VIENNA)  # one value fewer
    assert a != Schedules.parse([*values[:2], "cron:0 4 * * *"], tz=VIENNA)  # one value changed
    assert a != Schedules.parse(values, tz=ZoneInfo("UTC"))  # another zone
    assert Schedules.parse(["hour=1", "hour=1"]) == Schedules.parse(["hour=1"])  # a set: duplicates add nothing


def test_schedules_always() -> None:
    t = datetime(2015, 10, 8, 10, tzinfo=UTC)
    assert Schedules.parse([]) == Schedules.ALWAYS
    assert Schedules.ALWAYS.is_always
    assert Schedules.ALWAYS.contains(t)
    assert Schedules.ALWAYS.ceil(t) is t
    assert Schedules.ALWAYS.window_end(t) is None
    assert Schedules.ALWAYS.to_strings() == ()
    assert str(Schedules.ALWAYS) == "always"


def test_schedules_with_cron_and_mixed() -> None:
    s = Schedules.parse(["hour=* dayOfWeek=0,6", "cron:* 18-23,0-5 * * 1-5"], tz=VIENNA)
    assert s.has_cron
    assert s.to_strings() == ("hour=* dayOfWeek=0,6", "cron:* 0-5,18-23 * * 1-5")
    thu = at(VIENNA, 2015, 10, 8, 10)
    assert not s.contains(thu)
    assert s.ceil(thu) == at(VIENNA, 2015, 10, 8, 18)
    # Friday 18:00 to Monday 06:00 is one window
    assert s.window_end(at(VIENNA, 2015, 10, 9, 19)) == at(VIENNA, 2015, 10, 12, 6)


def test_schedules_window_end_merges_adjacent_windows() -> None:
    s = Schedules.parse(["hour=18-23", "hour=0-6 dayOfWeek=1-5"], tz=VIENNA)
    # Thursday 20:00: 18-23 then Friday 0-6 follows without a gap
    assert s.window_end(at(VIENNA, 2015, 10, 8, 20)) == at(VIENNA, 2015, 10, 9, 7)
    # Friday 20:00: Saturday 0-6 is not inside
    assert s.window_end(at(VIENNA, 2015, 10, 9, 20)) == at(VIENNA, 2015, 10, 10, 0)
    always = Schedules.parse(["hour=0-11", "hour=12-23"], tz=VIENNA)
    assert always.window_end(at(VIENNA, 2015, 10, 9, 20)) is None
    mixed_always = Schedules.parse(["hour=0-11", "cron:* 12-23 * * *"], tz=VIENNA)
    assert mixed_always.window_end(at(VIENNA, 2015, 10, 9, 20)) is None


def test_schedules_parse_accepts_one_string_and_rejects_bad_members() -> None:
    assert Schedules.parse("hour=1") == Schedules.parse(["hour=1"])
    with pytest.raises(ScheduleSyntaxError):
        Schedules.parse(["hour=1", "hour=24"])
    with pytest.raises(TypeError):
        Schedules(expressions=("hour=1",))  # type: ignore[arg-type]


def test_schedules_tz_overrides_member_zones() -> None:
    member = ScheduleExpression.parse("hour=18", tz=NEW_YORK)
    s = Schedules(expressions=(member,), tz=VIENNA)
    assert s.expressions[0].tz == VIENNA
    kept = Schedules(expressions=(member,))
    assert kept.expressions[0].tz == NEW_YORK


def test_protocol_is_satisfied() -> None:
    for s in (ScheduleExpression.parse("hour=1"), parse_schedule("cron:0 * * * *"), Schedules.ALWAYS):
        assert isinstance(s, Schedule)


def test_naive_datetimes_are_rejected() -> None:
    s = ScheduleExpression.parse("hour=1")
    for method in (s.contains, s.ceil, s.window_end, Schedules.ALWAYS.contains):
        with pytest.raises(TypeError, match="timezone-aware"):
            method(datetime(2020, 1, 1))


def test_answers_beyond_the_datetime_range_raise_a_clear_overflow_error() -> None:
    s = ScheduleExpression.parse("hour=1 dayOfWeek=1", tz=UTC)
    with pytest.raises(OverflowError, match="end of the datetime range"):
        s.ceil(datetime(9999, 12, 31, 23, 30, tzinfo=UTC))


def test_fixed_offset_zone() -> None:
    minus3 = timezone(timedelta(hours=-3))
    s = ScheduleExpression.parse("hour=18-6", tz=minus3)
    t = datetime(2020, 1, 1, 12, tzinfo=UTC)  # 09:00 at -03:00
    assert s.ceil(t) == datetime(2020, 1, 1, 18, tzinfo=minus3)
    assert s.ceil(t).utcoffset() == timedelta(hours=-3)


def test_result_is_in_the_schedule_zone_and_input_zone_does_not_matter() -> None:
    s = ScheduleExpression.parse("hour=18-6", tz=VIENNA)
    t_utc = datetime(2015, 10, 8, 8, tzinfo=UTC)  # 10:00 in Vienna
    result = s.ceil(t_utc)
    assert result.tzinfo is VIENNA
    assert result == s.ceil(t_utc.astimezone(NEW_YORK))


# --- the local zone ----------------------------------------------------------------------------


def test_default_zone_is_the_local_zone() -> None:
    code = (
        "from datetime import datetime, timezone\n"
        "from dcm_exporter.schedule import ScheduleExpression, local_zone\n"
        "s = ScheduleExpression.parse('hour=18-6')\n"
        "print(local_zone(), s.ceil(datetime(2015, 10, 8, 8, tzinfo=timezone.utc)).isoformat())\n"
    )
    src = str(Path(dcm_exporter.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "TZ": "America/New_York"})
    # 08:00 UTC is 04:00 in New York (EDT), inside 18-6
    assert out.stdout.split() == ["America/New_York", "2015-10-08T08:00:00+00:00"]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "TZ": "Europe/Vienna"})
    assert out.stdout.split() == ["Europe/Vienna", "2015-10-08T18:00:00+02:00"]


def test_local_zone_is_usable() -> None:
    zone = local_zone()
    assert datetime(2020, 6, 1, tzinfo=UTC).astimezone(zone).utcoffset() is not None


def test_import_does_not_load_croniter() -> None:
    code = (
        "import sys\n"
        "from dcm_exporter.schedule import Schedules\n"
        "Schedules.parse(['hour=1'])\n"
        "print('croniter' in sys.modules)\n"
        "Schedules.parse(['cron:0 1 * * *'])\n"
        "print('croniter' in sys.modules)\n"
    )
    src = str(Path(dcm_exporter.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src})
    assert out.stdout.split() == ["False", "True"]


# --- DST: Europe/Vienna ------------------------------------------------------------------------
# 2024-03-31 02:00 CET -> 03:00 CEST (02:xx does not exist); 2024-10-27 03:00 CEST -> 02:00 CET (02:xx twice)


def test_vienna_spring_forward_skips_the_missing_hour() -> None:
    two = ScheduleExpression.parse("hour=2", tz=VIENNA)
    before = at(VIENNA, 2024, 3, 31, 1, 30)
    result = two.ceil(before)
    assert result == at(VIENNA, 2024, 4, 1, 2, 0)
    assert result.utcoffset() == timedelta(hours=2)
    two_three = ScheduleExpression.parse("hour=2-3", tz=VIENNA)
    result = two_three.ceil(before)
    assert same(result, datetime(2024, 3, 31, 1, 0, tzinfo=UTC))
    assert result.isoformat() == "2024-03-31T03:00:00+02:00"
    # the hour before the gap closes at the transition instant
    one = ScheduleExpression.parse("hour=1", tz=VIENNA)
    assert same(one.window_end(before), datetime(2024, 3, 31, 1, 0, tzinfo=UTC))


def test_vienna_fall_back_repeated_hour() -> None:
    two = ScheduleExpression.parse("hour=2", tz=VIENNA)
    first = two.ceil(at(VIENNA, 2024, 10, 27, 1, 30))
    assert same(first, datetime(2024, 10, 27, 0, 0, tzinfo=UTC))
    assert (first.fold, first.utcoffset()) == (0, timedelta(hours=2))
    second_occurrence = at(VIENNA, 2024, 10, 27, 2, 30, fold=1)
    assert two.contains(second_occurrence)
    assert two.ceil(second_occurrence) is second_occurrence
    # the window lasts through both occurrences of 02:xx
    assert same(two.window_end(first), at(VIENNA, 2024, 10, 27, 3, 0))
    assert same(two.window_end(first), datetime(2024, 10, 27, 2, 0, tzinfo=UTC))
    three = ScheduleExpression.parse("hour=3", tz=VIENNA)
    assert same(three.ceil(at(VIENNA, 2024, 10, 27, 2, 10)), datetime(2024, 10, 27, 2, 0, tzinfo=UTC))


def test_vienna_weekday_across_dst() -> None:
    sunday_night = Schedules.parse(["hour=18-6 dayOfWeek=0"], tz=VIENNA)
    t = at(VIENNA, 2024, 3, 29, 12)  # Friday before the change
    assert sunday_night.ceil(t) == at(VIENNA, 2024, 3, 31, 0, 0)
    assert sunday_night.ceil(t).utcoffset() == timedelta(hours=1)
    end = sunday_night.window_end(at(VIENNA, 2024, 3, 31, 0, 0))
    assert end == at(VIENNA, 2024, 3, 31, 7, 0)
    assert end is not None and end.utcoffset() == timedelta(hours=2)


# --- DST: America/New_York ---------------------------------------------------------------------
# 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST (01:xx twice)


def test_new_york_spring_forward() -> None:
    two = ScheduleExpression.parse("hour=2 dayOfWeek=0", tz=NEW_YORK)
    assert two.ceil(at(NEW_YORK, 2024, 3, 10, 0, 30)) == at(NEW_YORK, 2024, 3, 17, 2, 0)
    night = ScheduleExpression.parse("hour=2-4", tz=NEW_YORK)
    assert same(night.ceil(at(NEW_YORK, 2024, 3, 10, 1, 59)), datetime(2024, 3, 10, 7, 0, tzinfo=UTC))


def test_new_york_fall_back() -> None:
    one = ScheduleExpression.parse("hour=1", tz=NEW_YORK)
    first = one.ceil(at(NEW_YORK, 2024, 11, 3, 0, 30))
    assert same(first, datetime(2024, 11, 3, 5, 0, tzinfo=UTC))
    assert first.fold == 0
    assert one.contains(at(NEW_YORK, 2024, 11, 3, 1, 30, fold=1))
    assert one.window_end(first) == datetime(2024, 11, 3, 7, 0, tzinfo=UTC)  # 02:00 EST
    two = ScheduleExpression.parse("hour=2", tz=NEW_YORK)
    # from 01:10 EDT the wall clock goes back to 01:00 before reaching 02:00 EST
    assert same(two.ceil(at(NEW_YORK, 2024, 11, 3, 1, 10)), datetime(2024, 11, 3, 7, 0, tzinfo=UTC))


def test_cron_windows_are_a_cron_schedule() -> None:
    s = parse_schedule("cron:*/15 9-17 * * mon-fri")
    assert isinstance(s, CronSchedule)
    assert isinstance(parse_schedule("hour=1"), ScheduleExpression)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("hour=1,*", "(* stands alone, not in a list)"),
        ("hour=*-3", "(* stands alone, not in a list)"),
        ("hour=*/2", "(steps like */2 are not supported)"),
        ("hour=1,x", None),
    ],
)
def test_a_bad_number_says_why_when_it_can(text: str, hint: str | None) -> None:
    with pytest.raises(ScheduleSyntaxError) as info:
        ScheduleExpression.parse(text)
    message = str(info.value)
    assert "hour must be a number" in message
    if hint is None:
        assert "stands alone" not in message and "steps" not in message
    else:
        assert hint in message


def test_what_upstream_accepts_is_written_normalised() -> None:
    from dcm_exporter.models import Configuration, Device, ExporterDescriptor

    exporter = ExporterDescriptor(exporter_id="E", uri="noop:nothing", queue_name="Q",
                                  schedules=["hour=+8 dayOfWeek=\uff11", ""])
    text = ldif.dumps(Configuration(devices=[Device(device_name="d", exporters=[exporter])]))
    assert "dcmSchedule: hour=8 dayOfWeek=1\n" in text
    assert "dcmSchedule: hour=* dayOfWeek=*\n" in text
    assert "+8" not in text and "\uff11" not in text
