"""dcm4che schedule expressions (``dcmSchedule``): ``hour=<list> dayOfWeek=<list>``.

Grammar (the upstream one, checked strictly)::

    expr   := token (" " token)*          single spaces only
    token  := "hour=" list24 | "dayOfWeek=" list7
    list_m := "*" | item ("," item)*
    item   := n | n "-" n                 0 <= n < m; dayOfWeek 0 = Sunday

A missing field means ``*``; a repeated field: the last one wins. A range ``a-b`` with ``b < a`` wraps
(``hour=18-6`` is 18:00 to 06:59, ``dayOfWeek=5-1`` is Friday to Monday).

Numbers are read as Java's ``Integer.parseInt`` reads them, as upstream does: an optional ``+`` sign and
decimal digits of any script in the Basic Multilingual Plane (``hour=+8``, ``hour=٨``, fullwidth ``８``; not
supplementary-plane digits such as ``𝟖``, which Java sees as two surrogates). An empty value means "always",
as upstream. Written values are always normalised (``hour=8 dayOfWeek=*``).

Two deliberate deviations from upstream: an empty list (``hour=``) is rejected (upstream loops forever when
evaluating it), and :meth:`ScheduleExpression.ceil` returns the true earliest contained instant after rolling
past midnight (upstream does not re-check the weekday there).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import ClassVar

import attrs

from dcm_exporter.errors import ScheduleSyntaxError
from dcm_exporter.schedule.base import WallSchedule, format_set, lowest_bit, require_aware

__all__ = ["ScheduleExpression"]

_FULL_HOURS = (1 << 24) - 1
_ALL_HOURS = frozenset(range(24))
_ALL_DAYS = frozenset(range(7))
_ONE_HOUR = timedelta(hours=1)
_ONE_DAY = timedelta(days=1)


class WeeklyPattern:
    """Per-weekday bitmasks of the hours inside (index 0 = Sunday), answered by arithmetic (internal)."""

    __slots__ = ("always", "inside", "outside")

    def __init__(self, inside: Iterable[int]) -> None:
        self.inside = tuple(inside)
        self.outside = tuple(_FULL_HOURS ^ m for m in self.inside)
        self.always = all(m == _FULL_HOURS for m in self.inside)

    def matches(self, local: datetime) -> bool:
        return bool((self.inside[(local.weekday() + 1) % 7] >> local.hour) & 1)

    def next_wall(self, wall: datetime, inside: bool) -> datetime | None:
        masks = self.inside if inside else self.outside
        start = wall.replace(minute=0, second=0, microsecond=0) + _ONE_HOUR
        hour = start.hour
        dow = start.weekday() + 1  # 1 = Monday ... 7 = Sunday (0 modulo 7, as the masks count)
        for i in range(8):
            m = masks[(dow + i) % 7] >> hour
            if m:
                return start.replace(hour=0) + timedelta(days=i, hours=hour + lowest_bit(m))
            hour = 0
        return None


def _to_frozenset(values: Iterable[int]) -> frozenset[int]:
    return frozenset(values)


def _check_hours(instance: object, attribute: attrs.Attribute[frozenset[int]], value: frozenset[int]) -> None:
    if not value or not value <= _ALL_HOURS:
        raise ValueError(f"hours must be a non-empty subset of 0..23, got {sorted(value)}")


def _check_days(instance: object, attribute: attrs.Attribute[frozenset[int]], value: frozenset[int]) -> None:
    if not value or not value <= _ALL_DAYS:
        raise ValueError(f"days must be a non-empty subset of 0..6 (0 = Sunday), got {sorted(value)}")


@attrs.frozen(kw_only=True)
class ScheduleExpression(WallSchedule):
    """One dcm4che ``dcmSchedule`` value: the hours of the day and days of the week that are inside.

    Equality is by content: ``hour=18-6`` equals ``hour=0-6,18-23 dayOfWeek=*``. ``tz`` is the zone the wall
    clock is read in (``None``: the local zone, looked up when evaluating).

    Example:
        >>> from datetime import datetime
        >>> from zoneinfo import ZoneInfo
        >>> s = ScheduleExpression.parse("hour=18-6 dayOfWeek=*", tz=ZoneInfo("Europe/Vienna"))
        >>> str(s)
        'hour=18-6 dayOfWeek=*'
        >>> s.ceil(datetime(2015, 10, 8, 10, 0, tzinfo=ZoneInfo("Europe/Vienna"))).isoformat()
        '2015-10-08T18:00:00+02:00'
    """

    hours: frozenset[int] = attrs.field(default=_ALL_HOURS, converter=_to_frozenset, validator=_check_hours)
    """Hours of the day inside (0..23)."""
    days: frozenset[int] = attrs.field(default=_ALL_DAYS, converter=_to_frozenset, validator=_check_days)
    """Days of the week inside (0 = Sunday .. 6 = Saturday)."""
    tz: tzinfo | None = None
    """Zone of the wall clock; ``None`` = the local zone."""
    _pattern: WeeklyPattern = attrs.field(init=False, eq=False, repr=False, hash=False)

    is_cron: ClassVar[bool] = False

    def __attrs_post_init__(self) -> None:
        mask = sum(1 << h for h in self.hours)
        object.__setattr__(self, "_pattern", WeeklyPattern(mask if d in self.days else 0 for d in range(7)))

    # --- text ------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, tz: tzinfo | None = None) -> ScheduleExpression:
        """Parse a ``dcmSchedule`` value.

        Args:
            text: e.g. ``"hour=18-6 dayOfWeek=*"`` or ``"dayOfWeek=0,6"``.
            tz: zone of the wall clock; ``None`` = the local zone.

        Raises:
            ScheduleSyntaxError: naming the offending token and its 0-based position.
        """
        if not isinstance(text, str):
            raise TypeError(f"a dcmSchedule value is a str, got {type(text).__name__}")
        if not text:  # upstream: both fields missing, so both are *
            return cls(hours=_ALL_HOURS, days=_ALL_DAYS, tz=tz)
        hours: frozenset[int] = _ALL_HOURS
        days: frozenset[int] = _ALL_DAYS
        pos = 0
        for token in text.split(" "):
            if not token:
                raise ScheduleSyntaxError(
                    "empty token: fields are separated by exactly one space (no leading, trailing or double "
                    "spaces)", text=text, token="", position=pos)
            if token.startswith("hour="):
                hours = _parse_list(text, token[5:], pos + 5, 24, "hour")
            elif token.startswith("dayOfWeek="):
                days = _parse_list(text, token[10:], pos + 10, 7, "dayOfWeek")
            else:
                name = token.split("=", 1)[0]
                raise ScheduleSyntaxError(
                    f"unknown field {name!r}: a dcmSchedule has only hour=… and dayOfWeek=… "
                    "(no minutes, seconds or dates; use a cron: window for those)",
                    text=text, token=token, position=pos)
            pos += len(token) + 1
        return cls(hours=hours, days=days, tz=tz)

    def __str__(self) -> str:
        return f"hour={format_set(self.hours, 24, wrap=True)} dayOfWeek={format_set(self.days, 7, wrap=True)}"

    # --- evaluation ------------------------------------------------------------------------------

    def with_tz(self, tz: tzinfo | None) -> ScheduleExpression:
        """A copy evaluated in another zone."""
        return self if tz == self.tz else attrs.evolve(self, tz=tz)

    def contains(self, dt: datetime) -> bool:
        """Whether ``dt`` (timezone-aware) falls in one of the hours on one of the days, on the wall clock."""
        require_aware(dt)
        local = dt.astimezone(self.zone)
        return bool((self._pattern.inside[(local.weekday() + 1) % 7] >> local.hour) & 1)


def _java_parse_int(text: str) -> int | None:
    """``Integer.parseInt(text)`` for the non-negative numbers a schedule may hold, ``None`` where it throws.

    Java accepts a leading ``+`` and every UTF-16 unit that ``Character.digit(c, 10)`` maps to a digit: the
    characters of category Nd in the Basic Multilingual Plane (370 of them; checked against Java 17 and 25).
    A supplementary-plane digit is two surrogate units to Java, so it is refused.
    """
    digits = text[1:] if text.startswith("+") else text
    if not digits or not all(c.isdecimal() and ord(c) <= 0xFFFF for c in digits):
        return None
    value = 0
    for c in digits:
        value = value * 10 + unicodedata.decimal(c)
    return value


def _parse_list(text: str, value: str, pos: int, size: int, field: str) -> frozenset[int]:
    if not value:
        raise ScheduleSyntaxError(f"empty list after {field}=: use * for every value", text=text, token="",
                                  position=pos)
    if value == "*":
        return frozenset(range(size))
    result: set[int] = set()
    for item in value.split(","):
        if not item:
            raise ScheduleSyntaxError(f"empty item in the {field} list", text=text, token="", position=pos)
        bounds = item.split("-")
        if len(bounds) > 2:
            raise ScheduleSyntaxError(f"a range in {field}= has exactly two bounds (a-b)", text=text,
                                      token=item, position=pos)
        numbers: list[int] = []
        bpos = pos
        for bound in bounds:
            if not bound:
                raise ScheduleSyntaxError(
                    f"missing {field} number (negative numbers and open ranges are not allowed)",
                    text=text, token=item, position=pos)
            n = _java_parse_int(bound)
            if n is None:
                hint = " (steps like */2 are not supported)" if "/" in bound else ""
                hint = hint or (" (* stands alone, not in a list)" if "*" in bound else "")
                raise ScheduleSyntaxError(f"{field} must be a number{hint}", text=text, token=bound,
                                          position=bpos)
            if n >= size:
                what = "0..23" if size == 24 else "0..6 (0 = Sunday)"
                raise ScheduleSyntaxError(f"{field} must be in {what}", text=text, token=bound, position=bpos)
            numbers.append(n)
            bpos += len(bound) + 1
        if len(numbers) == 1:
            result.add(numbers[0])
        else:
            a, b = numbers
            result.update(range(a, b + 1) if a <= b else [*range(a, size), *range(b + 1)])
        pos += len(item) + 1
    return frozenset(result)
