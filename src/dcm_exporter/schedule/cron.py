"""Cron windows: a 5-field cron expression read as the set of wall-clock *minutes* that are inside.

``cron:* 18-23,0-5 * * 1-5`` is every minute from 18:00 to 05:59 on Monday to Friday. The fields are the
classic ``minute hour day-of-month month day-of-week`` (0 or 7 = Sunday; names like ``mon``/``jan``, ranges,
lists and steps ``*/15``), parsed by croniter — this is the only module that imports it, lazily. As in cron,
when both day fields are restricted a day matches if *either* does.

Not supported in windows (rejected with :class:`~dcm_exporter.errors.ScheduleSyntaxError`): seconds or year
fields, ``L``, ``#``, ``W``, hashed ``H`` values, and ``@`` aliases.

dcm4chee-arc-light itself cannot read ``cron:`` values: a configuration using them only works with
dcm_exporter, and the LDIF/LDAP writers warn when they write one (see :attr:`Schedules.has_cron
<dcm_exporter.schedule.Schedules.has_cron>`).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar

import attrs

from dcm_exporter.errors import ScheduleSyntaxError
from dcm_exporter.schedule.base import WallSchedule, format_set, lowest_bit, require_aware

__all__ = ["CRON_PREFIX", "CronSchedule"]

CRON_PREFIX = "cron:"
_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FULL_M = (1 << 60) - 1
_FULL_H = (1 << 24) - 1
_MAX_DAY_STEPS = 20_000
_ONE_MINUTE = timedelta(minutes=1)
_ONE_DAY = timedelta(days=1)


def _mask(values: frozenset[int] | None) -> int:
    return 0 if values is None else sum(1 << v for v in values)


class CronPattern:
    """Bitmask evaluation of a cron window (internal)."""

    __slots__ = ("always", "dom", "dom_star", "dow", "dow_or", "dow_star", "h", "m", "months", "nh", "nm")

    def __init__(self, s: CronSchedule) -> None:
        self.m = _mask(s.minutes)
        self.h = _mask(s.hours)
        self.months = _mask(s.months)
        self.dom_star = s.days_of_month is None
        self.dow_star = s.days_of_week is None
        self.dom = _mask(s.days_of_month)
        self.dow = _mask(s.days_of_week)
        self.dow_or = not self.dom_star and not self.dow_star
        self.nm = _FULL_M ^ self.m
        self.nh = _FULL_H ^ self.h
        self.always = (self.nm == 0 and self.nh == 0 and self.months == 0b1111111111110
                       and self.dom_star and self.dow_star)

    def day_ok(self, d: date) -> bool:
        if not (self.months >> d.month) & 1:
            return False
        if self.dom_star:
            return self.dow_star or bool((self.dow >> ((d.weekday() + 1) % 7)) & 1)
        dom_ok = bool((self.dom >> d.day) & 1)
        if self.dow_star:
            return dom_ok
        return dom_ok or bool((self.dow >> ((d.weekday() + 1) % 7)) & 1)

    def matches(self, local: datetime) -> bool:
        return bool((self.m >> local.minute) & 1 and (self.h >> local.hour) & 1 and self.day_ok(local))

    def _first_inside(self, h0: int, m0: int) -> tuple[int, int] | None:
        if (self.h >> h0) & 1:
            mm = self.m >> m0
            if mm:
                return h0, m0 + lowest_bit(mm)
        hh = self.h >> (h0 + 1)
        if hh:
            return h0 + 1 + lowest_bit(hh), lowest_bit(self.m)
        return None

    def _first_outside(self, h0: int, m0: int) -> tuple[int, int] | None:
        if not (self.h >> h0) & 1:
            return h0, m0
        mm = self.nm >> m0
        if mm:
            return h0, m0 + lowest_bit(mm)
        if h0 < 23:
            if self.nm:
                h = h0 + 1
                return h, (lowest_bit(self.nm) if (self.h >> h) & 1 else 0)
            hh = self.nh >> (h0 + 1)
            if hh:
                return h0 + 1 + lowest_bit(hh), 0
        return None

    def next_wall(self, wall: datetime, inside: bool) -> datetime | None:
        start = wall.replace(second=0, microsecond=0) + _ONE_MINUTE
        d = start.date()
        h0, m0 = start.hour, start.minute
        for _ in range(_MAX_DAY_STEPS):
            if inside:
                if not (self.months >> d.month) & 1:
                    year, month = d.year, d.month
                    while True:
                        month += 1
                        if month == 13:
                            year, month = year + 1, 1
                        if (self.months >> month) & 1:
                            break
                    d = date(year, month, 1)
                    h0 = m0 = 0
                if self.day_ok(d):
                    hm = self._first_inside(h0, m0)
                    if hm is not None:
                        return datetime(d.year, d.month, d.day, hm[0], hm[1])
            else:
                if not self.day_ok(d):
                    return datetime(d.year, d.month, d.day, h0, m0)
                hm = self._first_outside(h0, m0)
                if hm is not None:
                    return datetime(d.year, d.month, d.day, hm[0], hm[1])
            d += _ONE_DAY
            h0 = m0 = 0
        return None  # pragma: no cover - parse() rejects windows that never match


def _to_set(values: Iterable[int]) -> frozenset[int]:
    return frozenset(values)


def _dom_set(values: Iterable[int] | None) -> frozenset[int] | None:
    result = None if values is None else frozenset(values)
    return None if result is not None and len(result) == 31 else result


def _dow_set(values: Iterable[int] | None) -> frozenset[int] | None:
    result = None if values is None else frozenset(0 if v == 7 else v for v in values)
    return None if result is not None and len(result) == 7 else result


@attrs.frozen(kw_only=True)
class CronSchedule(WallSchedule):
    """A cron window: the wall-clock minutes matched by a 5-field cron expression are inside.

    Equality is by content (the expanded fields and the zone). ``None`` for a day field means ``*``, which
    matters for cron's rule that two restricted day fields match if either does.

    Example:
        >>> from datetime import datetime
        >>> from zoneinfo import ZoneInfo
        >>> vienna = ZoneInfo("Europe/Vienna")
        >>> w = CronSchedule.parse("cron:* 18-23,0-5 * * 1-5", tz=vienna)
        >>> str(w)
        'cron:* 0-5,18-23 * * 1-5'
        >>> w.ceil(datetime(2015, 10, 8, 10, 0, tzinfo=vienna)).isoformat()
        '2015-10-08T18:00:00+02:00'
    """

    minutes: frozenset[int] = attrs.field(default=frozenset(range(60)), converter=_to_set)
    hours: frozenset[int] = attrs.field(default=frozenset(range(24)), converter=_to_set)
    days_of_month: frozenset[int] | None = attrs.field(default=None, converter=_dom_set)
    months: frozenset[int] = attrs.field(default=frozenset(range(1, 13)), converter=_to_set)
    days_of_week: frozenset[int] | None = attrs.field(default=None, converter=_dow_set)
    tz: tzinfo | None = None
    _pattern: CronPattern = attrs.field(init=False, eq=False, repr=False, hash=False)

    is_cron: ClassVar[bool] = True

    def __attrs_post_init__(self) -> None:
        checks = (
            ("minutes", self.minutes, range(60)),
            ("hours", self.hours, range(24)),
            ("days_of_month", self.days_of_month, range(1, 32)),
            ("months", self.months, range(1, 13)),
            ("days_of_week", self.days_of_week, range(7)),
        )
        for name, values, allowed in checks:
            if values is not None and (not values or not values <= frozenset(allowed)):
                raise ValueError(f"{name} must be a non-empty subset of {allowed.start}..{allowed.stop - 1}")
        if self.days_of_month is not None and self.days_of_week is None:
            longest = max(29 if m == 2 else calendar.monthrange(2001, m)[1] for m in self.months)
            if min(self.days_of_month) > longest:
                raise ValueError("the day-of-month never occurs in the selected months")
        object.__setattr__(self, "_pattern", CronPattern(self))

    # --- text ------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, tz: tzinfo | None = None) -> CronSchedule:
        """Parse ``cron:<minute> <hour> <day-of-month> <month> <day-of-week>`` (the prefix is optional here).

        Raises:
            ScheduleSyntaxError: naming the offending field and its 0-based position in ``text``.
        """
        if not isinstance(text, str):
            raise TypeError(f"a cron window is a str, got {type(text).__name__}")
        offset = len(CRON_PREFIX) if text.startswith(CRON_PREFIX) else 0
        body = text[offset:]
        fields = body.split(" ")
        pos = offset
        positions: list[int] = []
        for f in fields:
            if not f:
                raise ScheduleSyntaxError(
                    "empty cron field: fields are separated by exactly one space", text=text, token="",
                    position=pos)
            positions.append(pos)
            pos += len(f) + 1
        if len(fields) != 5:
            raise ScheduleSyntaxError(
                f"a cron window has exactly 5 fields (minute hour day-of-month month day-of-week), "
                f"got {len(fields)}", text=text, token=body, position=offset)
        for f, p in zip(fields, positions, strict=True):
            for bad, why in (("#", "nth weekday (#)"), ("?", "?"), ("@", "@ aliases")):
                if bad in f:
                    raise ScheduleSyntaxError(f"{why} is not supported in cron windows", text=text, token=f,
                                              position=p)
        expanded, nth = _expand(text, [_collapse_single_ranges(f) for f in fields], fields, positions)
        for i, values in enumerate(expanded):
            if any(v == "l" for v in values) or (i == 4 and nth):
                raise ScheduleSyntaxError(
                    f"L is not supported in the {_FIELDS[i]} field of a cron window", text=text,
                    token=fields[i], position=positions[i])

        def values_of(i: int) -> frozenset[int] | None:
            vals = expanded[i]
            return None if vals == ["*"] else frozenset(int(v) for v in vals)

        def full(i: int, default: range) -> frozenset[int]:
            v = values_of(i)
            return frozenset(default) if v is None else v

        try:
            return cls(
                minutes=full(0, range(60)),
                hours=full(1, range(24)),
                days_of_month=values_of(2),
                months=full(3, range(1, 13)),
                days_of_week=values_of(4),
                tz=tz,
            )
        except ValueError as exc:
            raise ScheduleSyntaxError(f"{exc}: this window never opens", text=text, token=fields[2],
                                      position=positions[2]) from exc

    def __str__(self) -> str:
        dom = "*" if self.days_of_month is None else format_set(self.days_of_month, 31, wrap=False)
        dow = "*" if self.days_of_week is None else format_set(self.days_of_week, 7, wrap=False)
        minutes = format_set(self.minutes, 60, wrap=False)
        hours = format_set(self.hours, 24, wrap=False)
        return f"{CRON_PREFIX}{minutes} {hours} {dom} {format_set(self.months, 12, wrap=False)} {dow}"

    def to_cron(self) -> str:
        """The bare 5-field cron expression (without ``cron:``), e.g. for croniter."""
        return str(self)[len(CRON_PREFIX):]

    # --- evaluation ------------------------------------------------------------------------------

    def with_tz(self, tz: tzinfo | None) -> CronSchedule:
        """A copy evaluated in another zone."""
        return self if tz == self.tz else attrs.evolve(self, tz=tz)

    def contains(self, dt: datetime) -> bool:
        """Whether the wall-clock minute of ``dt`` (timezone-aware) matches the cron expression."""
        require_aware(dt)
        return self._pattern.matches(dt.astimezone(self.zone))


_SINGLE_RANGE = re.compile(r"([0-9A-Za-z]+)-\1(?:/[0-9]+)?\Z")


def _collapse_single_ranges(field: str) -> str:
    """``5-5`` means 5 (croniter reads a range with equal ends as the whole cycle)."""
    return ",".join(m.group(1) if (m := _SINGLE_RANGE.match(item)) else item for item in field.split(","))


def _expand(
    text: str, fields: list[str], originals: list[str], positions: list[int]
) -> tuple[list[list[Any]], dict[int, Any]]:
    from croniter import croniter

    try:
        expanded, nth = croniter.expand(" ".join(fields))
        return [list(v) for v in expanded], dict(nth)
    except Exception:  # croniter raises several types; locate the field below
        pass
    for i, (f, original, p) in enumerate(zip(fields, originals, positions, strict=True)):
        probe = ["*"] * 5
        probe[i] = f
        try:
            croniter.expand(" ".join(probe))
        except Exception as exc:
            probe_text = " ".join(probe)
            reason = str(exc).replace(f"[{probe_text}]", "").replace(probe_text, "").strip(" ,:")
            reason = reason.removeprefix("is ") or "invalid"
            raise ScheduleSyntaxError(f"bad {_FIELDS[i]} field: {reason}", text=text, token=original,
                                      position=p) from exc
    raise ScheduleSyntaxError("croniter cannot read this expression", text=text, token=" ".join(originals),
                              position=positions[0])
