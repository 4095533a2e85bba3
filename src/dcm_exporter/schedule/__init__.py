"""Schedules: dcm4che ``dcmSchedule`` expressions, cron windows, and the any-of set :class:`Schedules`.

Every schedule answers, for a timezone-aware instant, whether it is inside (:meth:`~Schedule.contains`),
when the next window opens (:meth:`~Schedule.ceil`) and when the current one closes
(:meth:`~Schedule.window_end`), reading the wall clock in its zone (default: the local zone).

``croniter`` is imported only when a cron window is parsed.

Example:
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> vienna = ZoneInfo("Europe/Vienna")
    >>> s = Schedules.parse(["hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6"], tz=vienna)
    >>> s.contains(datetime(2015, 10, 8, 10, 0, tzinfo=vienna))
    False
    >>> s.ceil(datetime(2015, 10, 8, 10, 0, tzinfo=vienna)).isoformat()
    '2015-10-08T18:00:00+02:00'
    >>> s.contains(datetime(2015, 10, 10, 10, 0, tzinfo=vienna))
    True
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar

import attrs

from dcm_exporter.schedule.base import Schedule, local_zone, require_aware, search
from dcm_exporter.schedule.cron import CRON_PREFIX, CronSchedule
from dcm_exporter.schedule.dcm4che import ScheduleExpression, WeeklyPattern

__all__ = [
    "CRON_PREFIX",
    "CronSchedule",
    "Schedule",
    "ScheduleExpression",
    "Schedules",
    "local_zone",
    "parse_schedule",
    "warn_if_cron",
]

_HORIZON = timedelta(days=400)
_log = logging.getLogger("dcm_exporter.schedule")


def parse_schedule(text: str, *, tz: tzinfo | None = None) -> ScheduleExpression | CronSchedule:
    """Parse one schedule value: a cron window when it starts with ``cron:``, else a dcm4che expression.

    Raises:
        ScheduleSyntaxError: naming the offending token and its position.
    """
    if isinstance(text, str) and text.startswith(CRON_PREFIX):
        return CronSchedule.parse(text, tz=tz)
    return ScheduleExpression.parse(text, tz=tz)


def _to_expressions(values: Iterable[ScheduleExpression | CronSchedule]) -> tuple[Any, ...]:
    result = tuple(values)
    for v in result:
        if not isinstance(v, ScheduleExpression | CronSchedule):
            raise TypeError(
                f"Schedules holds ScheduleExpression or CronSchedule values, got {type(v).__name__}"
            )
    return result


@attrs.frozen(kw_only=True)
class Schedules:
    """Any-of a list of schedules (the values of a multi-valued ``dcmSchedule``); empty = always inside.

    Equality and hashing are by content, as a set: the same expressions in any order (and the same zone)
    are equal, because LDAP does not keep the order of the values of a multi-valued attribute, so the
    configuration read from LDAP must equal the one read from LDIF. :meth:`to_strings` keeps the order
    given, for writing. With ``tz`` set, every expression is evaluated in that zone; with ``tz=None`` each
    keeps its own (by default the local zone).

    >>> Schedules.parse(["hour=18-6", "dayOfWeek=0,6"]) == Schedules.parse(["dayOfWeek=0,6", "hour=18-6"])
    True
    """

    expressions: tuple[ScheduleExpression | CronSchedule, ...] = attrs.field(
        default=(), converter=_to_expressions, eq=False
    )
    tz: tzinfo | None = None
    _members: frozenset[ScheduleExpression | CronSchedule] = attrs.field(init=False, repr=False)
    """The expressions as a set: what equality and the hash compare (the order of values means nothing)."""
    _weekly: WeeklyPattern | None = attrs.field(init=False, eq=False, repr=False, hash=False)

    ALWAYS: ClassVar[Schedules]

    def __attrs_post_init__(self) -> None:
        if self.tz is not None:
            object.__setattr__(self, "expressions", tuple(e.with_tz(self.tz) for e in self.expressions))
        object.__setattr__(self, "_members", frozenset(self.expressions))
        weekly: WeeklyPattern | None = None
        exprs = self.expressions
        same_zone = len({e.tz for e in exprs}) == 1
        if exprs and same_zone and all(isinstance(e, ScheduleExpression) for e in exprs):
            masks = [0] * 7
            for e in exprs:
                assert isinstance(e, ScheduleExpression)
                for d, m in enumerate(e._pattern.inside):
                    masks[d] |= m
            weekly = WeeklyPattern(masks)
        object.__setattr__(self, "_weekly", weekly)

    @classmethod
    def parse(cls, values: Iterable[str] | str, tz: tzinfo | None = None) -> Schedules:
        """Parse ``dcmSchedule`` values (dcm4che expressions or ``cron:`` windows); none = always.

        Raises:
            ScheduleSyntaxError: for the first malformed value.
        """
        if isinstance(values, str):
            values = [values]
        return cls(expressions=tuple(parse_schedule(v, tz=tz) for v in values), tz=tz)

    @property
    def is_always(self) -> bool:
        """True when there are no expressions (exports are never deferred)."""
        return not self.expressions

    @property
    def has_cron(self) -> bool:
        """True if any value is a cron window, which dcm4chee-arc-light cannot read."""
        return any(isinstance(e, CronSchedule) for e in self.expressions)

    def to_strings(self) -> tuple[str, ...]:
        """The normalised text forms, in order (the ``dcmSchedule`` values to write)."""
        return tuple(str(e) for e in self.expressions)

    def __str__(self) -> str:
        return "; ".join(self.to_strings()) if self.expressions else "always"

    def _zone(self) -> tzinfo:
        tz = self.expressions[0].tz
        return tz if tz is not None else local_zone()

    def contains(self, dt: datetime) -> bool:
        """True if any expression contains ``dt`` (always True when empty)."""
        require_aware(dt)
        if self._weekly is not None:
            return self._weekly.matches(dt.astimezone(self._zone()))
        if not self.expressions:
            return True
        return any(e.contains(dt) for e in self.expressions)

    def ceil(self, dt: datetime) -> datetime:
        """``dt`` if any expression contains it, else the earliest of their ceils."""
        require_aware(dt)
        if self._weekly is not None:
            result = search(self._weekly, dt, self._zone(), True)
            assert result is not None
            return result
        if not self.expressions:
            return dt
        if any(e.contains(dt) for e in self.expressions):
            return dt
        return min((e.ceil(dt) for e in self.expressions), key=lambda x: x.timestamp())

    def window_end(self, dt: datetime) -> datetime | None:
        """The earliest instant at or after ``dt`` that no expression contains; ``None`` if never.

        For sets mixing cron windows (or zones), windows that overlap without a gap for more than 400 days
        are reported as ``None``.
        """
        require_aware(dt)
        if self._weekly is not None:
            return None if self._weekly.always else search(self._weekly, dt, self._zone(), False)
        if not self.expressions:
            return None
        cur = dt
        limit = dt.timestamp() + _HORIZON.total_seconds()
        while cur.timestamp() <= limit:
            ends: list[datetime] = []
            for e in self.expressions:
                if e.contains(cur):
                    end = e.window_end(cur)
                    if end is None:
                        return None
                    ends.append(end)
            if not ends:
                return cur
            cur = max(ends, key=lambda x: x.timestamp())
        return None


Schedules.ALWAYS = Schedules()


def warn_if_cron(schedules: Schedules, *, where: str) -> bool:
    """Log a warning when ``schedules`` holds ``cron:`` windows, which dcm4chee-arc-light cannot read.

    For writers of dcm4che configuration (LDIF, LDAP): call it for each ``dcmSchedule`` written.

    Args:
        schedules: the values about to be written.
        where: what they belong to, e.g. the entry's DN.

    Returns:
        ``schedules.has_cron``.
    """
    cron = [s for s in schedules.to_strings() if s.startswith(CRON_PREFIX)]
    if cron:
        _log.warning(
            "dcmSchedule of %s holds cron windows that dcm4chee-arc-light cannot read: %s",
            where, ", ".join(cron), extra={"dn": where, "schedules": cron},
        )
    return bool(cron)
