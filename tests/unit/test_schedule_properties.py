"""Property-based tests of schedules: ceil and window_end against brute-force minute stepping.

For random expressions, zones (with and without DST, half-hour and 45-minute offsets, a 2-hour DST shift,
a skipped day) and instants:

- ``ceil(t)`` is contained, not before ``t``, and no contained minute exists in ``[t, ceil(t))``;
- ``window_end(t)`` is not contained and every minute in ``[t, window_end(t))`` is contained;
- ``parse(str(s)) == s``;

for dcm4che expressions, cron windows and ``Schedules``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcm_exporter.schedule import CronSchedule, ScheduleExpression, Schedules, parse_schedule
from dcm_exporter.schedule.base import Schedule

ZONES: list[tzinfo] = [
    UTC,
    ZoneInfo("Europe/Vienna"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute DST shift
    ZoneInfo("Asia/Kolkata"),  # +05:30
    ZoneInfo("Pacific/Chatham"),  # +12:45 / +13:45
    ZoneInfo("America/Santiago"),  # transitions at midnight
    ZoneInfo("Antarctica/Troll"),  # 2-hour DST shift
    ZoneInfo("Pacific/Apia"),  # skipped 2011-12-30 entirely
    timezone(timedelta(hours=-3)),
]
MINUTE = timedelta(minutes=1)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

zones = st.sampled_from(ZONES)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31),
                        timezones=st.just(UTC))
hours = st.frozensets(st.integers(0, 23), min_size=1)
days = st.frozensets(st.integers(0, 6), min_size=1)


def expressions(tz: tzinfo | None) -> st.SearchStrategy[ScheduleExpression]:
    return st.builds(ScheduleExpression, hours=hours, days=days, tz=st.just(tz))


def _item(size: int) -> st.SearchStrategy[str]:
    n = st.integers(0, size - 1)
    return st.one_of(n.map(str), st.tuples(n, n).map(lambda ab: f"{ab[0]}-{ab[1]}"))


def _list(size: int) -> st.SearchStrategy[str]:
    return st.one_of(st.just("*"), st.lists(_item(size), min_size=1, max_size=4).map(",".join))


expression_texts = st.lists(
    st.one_of(_list(24).map(lambda v: f"hour={v}"), _list(7).map(lambda v: f"dayOfWeek={v}")),
    min_size=1, max_size=3,
).map(" ".join)


def _cron_field(lo: int, hi: int, names: list[str] | None = None) -> st.SearchStrategy[str]:
    n = st.integers(lo, hi)
    atoms = [n.map(str), st.tuples(n, n).filter(lambda ab: ab[0] <= ab[1]).map(lambda ab: f"{ab[0]}-{ab[1]}"),
             st.integers(1, 20).map(lambda k: f"*/{k}")]
    if names:
        atoms.append(st.sampled_from(names))
    return st.one_of(st.just("*"), st.lists(st.one_of(*atoms), min_size=1, max_size=3).map(",".join))


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DOWS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
cron_texts = st.tuples(
    _cron_field(0, 59), _cron_field(0, 23), st.one_of(st.just("*"), _cron_field(1, 28)),
    st.one_of(st.just("*"), st.just("*"), _cron_field(1, 12, MONTHS)), _cron_field(0, 7, DOWS),
).map(lambda f: "cron:" + " ".join(f))


def _next_minute(t: datetime) -> datetime:
    u = t.astimezone(UTC)
    return u.replace(second=0, microsecond=0) + MINUTE


def check_ceil(s: Schedule, t: datetime, budget: int) -> None:
    c = s.ceil(t)
    assert c.tzinfo is not None
    assert c.timestamp() >= t.timestamp()
    assert s.contains(c)
    if s.contains(t):
        assert c is t
        return
    # brute force: no contained minute in [t, c); when the gap is longer than the budget, the first and
    # the last `budget` minutes of it are stepped
    u = _next_minute(t)
    steps = 0
    while u.timestamp() < c.timestamp() and steps < budget:
        assert not s.contains(u), (str(s), t, c, u)
        u += MINUTE
        steps += 1
    v = c.astimezone(UTC) - MINUTE
    for _ in range(budget):
        if v.timestamp() < t.timestamp():
            break
        assert not s.contains(v), (str(s), t, c, v)
        v -= MINUTE


def check_window_end(s: Schedule, t: datetime, budget: int, always: bool) -> None:
    e = s.window_end(t)
    if e is None:
        assert always, str(s)
        return
    assert not always
    assert e.timestamp() >= t.timestamp()
    assert not s.contains(e)
    if not s.contains(t):
        assert e is t
        return
    u = _next_minute(t)
    steps = 0
    while u.timestamp() < e.timestamp() and steps < budget:
        assert s.contains(u), (str(s), t, e, u)
        u += MINUTE
        steps += 1
    v = e.astimezone(UTC) - MINUTE
    for _ in range(budget):
        if v.timestamp() < t.timestamp():
            break
        assert s.contains(v), (str(s), t, e, v)
        v -= MINUTE


def check_result_is_unit_start_or_transition(result: datetime, unit_minutes: int, zone: tzinfo) -> None:
    local = result.astimezone(zone)
    at_unit_start = local.second == 0 and local.microsecond == 0 and (
        local.minute == 0 if unit_minutes == 60 else True)
    before = (result.astimezone(UTC) - timedelta(seconds=1)).astimezone(zone)
    assert at_unit_start or before.utcoffset() != local.utcoffset(), local


# --- dcm4che expressions -----------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), zone=zones, t=instants)
def test_expression_ceil_and_window_end_by_brute_force(
    data: st.DataObject, zone: tzinfo, t: datetime
) -> None:
    s = data.draw(expressions(zone))
    t = t.astimezone(data.draw(zones))
    check_ceil(s, t, budget=8 * 24 * 60 + 120)
    if not s.contains(t):
        check_result_is_unit_start_or_transition(s.ceil(t), 60, zone)
    check_window_end(s, t, budget=8 * 24 * 60 + 120, always=len(s.hours) == 24 and len(s.days) == 7)


@SETTINGS
@given(zone=zones, t=instants, s=expressions(None))
def test_expression_contains_reads_the_wall_clock(zone: tzinfo, t: datetime, s: ScheduleExpression) -> None:
    s = s.with_tz(zone)
    local = t.astimezone(zone)
    assert s.contains(t) == (local.hour in s.hours and local.isoweekday() % 7 in s.days)


@SETTINGS
@given(text=expression_texts)
def test_expression_text_round_trip(text: str) -> None:
    s = ScheduleExpression.parse(text)
    assert ScheduleExpression.parse(str(s)) == s
    assert str(ScheduleExpression.parse(str(s))) == str(s)
    # the meaning of the text, computed independently: the last field of each kind wins, ranges wrap
    want = {"hour": set(range(24)), "dayOfWeek": set(range(7))}
    for token in text.split(" "):
        name, value = token.split("=")
        size = 24 if name == "hour" else 7
        if value == "*":
            want[name] = set(range(size))
            continue
        want[name] = set()
        for item in value.split(","):
            a, _, b = item.partition("-")
            lo, hi = int(a), int(b or a)
            want[name] |= {(lo + k) % size for k in range((hi - lo) % size + 1)}
    assert s.hours == want["hour"]
    assert s.days == want["dayOfWeek"]


@SETTINGS
@given(s=expressions(None))
def test_expression_str_round_trip(s: ScheduleExpression) -> None:
    assert ScheduleExpression.parse(str(s)) == s
    assert parse_schedule(str(s)) == s


# --- cron windows ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=cron_texts, zone=zones, t=instants, data=st.data())
def test_cron_ceil_and_window_end_by_brute_force(text: str, zone: tzinfo, t: datetime,
                                                 data: st.DataObject) -> None:
    s = CronSchedule.parse(text, tz=zone)
    t = t.astimezone(data.draw(zones))
    check_ceil(s, t, budget=3 * 24 * 60)
    if not s.contains(t):
        check_result_is_unit_start_or_transition(s.ceil(t), 1, zone)
    check_window_end(s, t, budget=3 * 24 * 60, always=s.to_cron() == "* * * * *")


@settings(max_examples=150, deadline=None)
@given(text=cron_texts, t=instants)
def test_cron_ceil_matches_croniter_in_utc(text: str, t: datetime) -> None:
    from croniter import croniter

    s = CronSchedule.parse(text, tz=UTC)
    expected = t if s.contains(t) else croniter(s.to_cron(), t).get_next(datetime)
    assert s.ceil(t) == expected


@settings(max_examples=150, deadline=None)
@given(text=cron_texts, zone=zones, t=instants)
def test_cron_contains_matches_croniter_match(text: str, zone: tzinfo, t: datetime) -> None:
    from croniter import croniter

    s = CronSchedule.parse(text, tz=zone)
    wall = t.astimezone(zone).replace(tzinfo=None)
    # compared on the normal form: croniter reads a range like 5-5 as the whole cycle, we read it as 5
    assert s.contains(t) == croniter.match(s.to_cron(), wall)


@SETTINGS
@given(text=cron_texts)
def test_cron_text_round_trip(text: str) -> None:
    s = CronSchedule.parse(text)
    assert CronSchedule.parse(str(s)) == s
    assert parse_schedule(str(s)) == s
    assert str(s).startswith("cron:")


# --- Schedules ---------------------------------------------------------------------------------


def schedules(zone: tzinfo, with_cron: bool) -> st.SearchStrategy[Schedules]:
    member = st.one_of(expression_texts, cron_texts) if with_cron else expression_texts
    return st.lists(member, max_size=3).map(lambda values: Schedules.parse(values, tz=zone))


def _always_brute(s: Schedules) -> bool:
    if s.is_always:
        return True
    masks = [0] * 7
    for e in s.expressions:
        if not isinstance(e, ScheduleExpression):
            return False
        for d in e.days:
            for h in e.hours:
                masks[d] |= 1 << h
    return all(m == (1 << 24) - 1 for m in masks)


@SETTINGS
@given(data=st.data(), zone=zones, t=instants)
def test_schedules_by_brute_force(data: st.DataObject, zone: tzinfo, t: datetime) -> None:
    s = data.draw(schedules(zone, with_cron=False))
    t = t.astimezone(data.draw(zones))
    assert s.contains(t) == (s.is_always or any(e.contains(t) for e in s.expressions))
    check_ceil(s, t, budget=8 * 24 * 60 + 120)
    check_window_end(s, t, budget=8 * 24 * 60 + 120, always=_always_brute(s))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), zone=zones, t=instants)
def test_schedules_with_cron_by_brute_force(data: st.DataObject, zone: tzinfo, t: datetime) -> None:
    s = data.draw(schedules(zone, with_cron=True))
    t = t.astimezone(data.draw(zones))
    assert s.contains(t) == (s.is_always or any(e.contains(t) for e in s.expressions))
    c = s.ceil(t)
    if not s.is_always:
        assert c.timestamp() == min(e.ceil(t).timestamp() for e in s.expressions)
    check_ceil(s, t, budget=2 * 24 * 60)
    e = s.window_end(t)
    if e is not None:
        check_window_end(s, t, budget=2 * 24 * 60, always=False)


@SETTINGS
@given(data=st.data(), zone=zones)
def test_schedules_round_trip(data: st.DataObject, zone: tzinfo) -> None:
    s = data.draw(schedules(zone, with_cron=True))
    again = Schedules.parse(s.to_strings(), tz=zone)
    assert again == s
    assert hash(again) == hash(s)
    assert again.to_strings() == s.to_strings()
    assert s.has_cron == any(v.startswith("cron:") for v in s.to_strings())
