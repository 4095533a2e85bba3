"""What every schedule shares: the :class:`Schedule` protocol, the evaluation zone and the DST-aware search.

A schedule is a set of *wall-clock units* (whole hours for dcm4che expressions, whole minutes for cron
windows) in one time zone. An instant is inside when its local wall-clock time, in that zone, falls in one of
the units. Searching forward ("when does the next window open", "when does this one close") is done on the
wall clock, one UTC-offset segment at a time:

1. convert the instant to local time and read its UTC offset;
2. ask the pattern, by arithmetic on bitmasks, for the next unit start on the wall clock;
3. map that wall time back to UTC with the *same* offset and check that the offset did not change on the
   way; if it did (a DST transition), find the transition instant by bisection and continue from there.

So a result is always a real instant: a wall time skipped by a spring-forward transition is never returned
(the first instant after the gap is), and in a repeated hour after a fall-back transition the first
occurrence (``fold=0``) comes first, exactly as time passes.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Schedule", "WallSchedule", "local_zone", "require_aware"]

_UTC = UTC
_DAY = timedelta(days=1)
_MAX_SEGMENTS = 10_000


@runtime_checkable
class Schedule(Protocol):
    """A set of instants described on the wall clock of one time zone.

    Every method takes a timezone-aware ``datetime`` and returns timezone-aware ones.
    """

    def contains(self, dt: datetime) -> bool:
        """Whether ``dt`` is inside the schedule."""
        ...

    def ceil(self, dt: datetime) -> datetime:
        """The earliest instant at or after ``dt`` that is inside (``dt`` itself when it is inside)."""
        ...

    def window_end(self, dt: datetime) -> datetime | None:
        """The earliest instant at or after ``dt`` that is outside: when the window containing ``dt`` closes.

        ``dt`` itself when it is outside; ``None`` when the schedule never closes.
        """
        ...

    def __str__(self) -> str:
        """The normalised text form."""
        ...


class WallPattern(Protocol):
    """A periodic set of wall-clock units, answered by arithmetic (internal)."""

    always: bool
    """Whether every unit is inside."""

    def matches(self, local: datetime) -> bool:
        """Whether the unit of the local wall-clock time ``local`` is inside."""
        ...

    def next_wall(self, wall: datetime, inside: bool) -> datetime | None:
        """The first unit start after the unit of naive ``wall`` whose membership equals ``inside``."""
        ...


def require_aware(dt: datetime) -> None:
    """Raise :class:`TypeError` unless ``dt`` is a timezone-aware ``datetime``."""
    if not isinstance(dt, datetime):
        raise TypeError(f"a schedule needs a timezone-aware datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TypeError(
            f"a schedule needs a timezone-aware datetime, got the naive {dt.isoformat()}; "
            "attach a zone, e.g. dt.replace(tzinfo=ZoneInfo('Europe/Vienna')) or datetime.now(timezone.utc)"
        )


@lru_cache(maxsize=8)
def _local_zone_for(tz_env: str | None) -> tzinfo:
    if tz_env:
        key = tz_env.lstrip(":")
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    localtime = Path("/etc/localtime")
    try:
        target = str(localtime.resolve())
        marker = "zoneinfo/"
        if marker in target:
            try:
                return ZoneInfo(target.split(marker, 1)[1])
            except (ZoneInfoNotFoundError, ValueError, OSError):
                pass
        with localtime.open("rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        pass
    # Last resort (e.g. Windows without tzdata): the current fixed offset, without DST rules.
    fixed = datetime.now().astimezone().tzinfo
    return fixed if fixed is not None else _UTC


def local_zone() -> tzinfo:
    """The local time zone: ``$TZ`` if it names an IANA zone, else ``/etc/localtime``.

    Falls back to the current fixed UTC offset where neither is available (such a zone has no DST rules).
    """
    return _local_zone_for(os.environ.get("TZ"))


def _offset_at(ts: int, zone: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(ts, zone).utcoffset()


def _offset_change(u: datetime, cand: datetime, off: timedelta, zone: tzinfo) -> datetime | None:
    """The first instant in ``(u, cand]`` whose UTC offset in ``zone`` differs from ``off``, or ``None``.

    Offsets are probed once a day between ``u`` and ``cand`` and at ``cand``; a change is then located
    to the second by bisection (zone transitions fall on whole seconds).
    """
    hi: datetime | None = None
    probe = u.astimezone(_UTC) + _DAY
    while probe < cand:
        if probe.astimezone(zone).utcoffset() != off:
            hi = probe
            break
        probe += _DAY
    if hi is None:
        if cand.astimezone(zone).utcoffset() == off:
            return None
        hi = cand
    lo_s = math.floor(u.timestamp())
    hi_s = math.ceil(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset_at(mid, zone) == off:
            lo_s = mid
        else:
            hi_s = mid
    return datetime.fromtimestamp(hi_s, _UTC)


def search(pattern: WallPattern, dt: datetime, zone: tzinfo, inside: bool) -> datetime | None:
    """The earliest instant at or after ``dt`` whose membership in ``pattern`` equals ``inside``.

    ``dt`` itself when it already qualifies; otherwise the result is expressed in ``zone``. ``None`` when no
    such instant exists.

    Raises:
        OverflowError: the answer lies beyond ``datetime.max``.
    """
    local = dt.astimezone(zone)
    if pattern.matches(local) == inside:
        return dt
    try:
        return _search_from(pattern, local, zone, inside)
    except OverflowError as exc:
        what = "inside" if inside else "outside"
        raise OverflowError(
            f"no instant {what} the schedule between {dt.isoformat()} and the end of the datetime range"
        ) from exc


def _search_from(pattern: WallPattern, local: datetime, zone: tzinfo, inside: bool) -> datetime | None:
    fixed = isinstance(zone, timezone)
    u = local
    for _ in range(_MAX_SEGMENTS):
        off = u.utcoffset()
        assert off is not None
        nxt = pattern.next_wall(u.replace(tzinfo=None), inside)
        if nxt is None:
            return None
        cand = (nxt - off).replace(tzinfo=_UTC)
        if fixed:
            return cand.astimezone(zone)
        change = _offset_change(u, cand, off, zone)
        if change is None:
            return cand.astimezone(zone)
        u = change.astimezone(zone)
        if pattern.matches(u) == inside:
            return u
    raise RuntimeError(f"schedule search from {local.isoformat()} did not settle")  # pragma: no cover


def lowest_bit(mask: int) -> int:
    """Index of the lowest set bit of a positive ``mask``."""
    return (mask & -mask).bit_length() - 1


def format_set(values: frozenset[int], size: int, *, wrap: bool) -> str:
    """``*`` for the full set, else comma-separated runs (``a-b`` for runs of two or more).

    With ``wrap``, a run touching ``size - 1`` and one starting at 0 are merged into one wrapping range
    (``18-6``) when that range has at least three values.
    """
    if len(values) == size:
        return "*"
    runs: list[list[int]] = []
    for v in sorted(values):
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    if wrap and len(runs) > 1 and runs[0][0] == 0 and runs[-1][1] == size - 1:
        first, last = runs[0], runs[-1]
        if (first[1] + 1) + (size - last[0]) >= 3:
            runs = [*runs[1:-1], [last[0], first[1]]]
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class WallSchedule:
    """What the schedules read on a wall clock share: their zone and the searches over their ``_pattern``.

    A mixin of the frozen schedule classes, which hold ``tz`` and ``_pattern``.
    """

    __slots__ = ()

    tz: tzinfo | None
    _pattern: WallPattern

    @property
    def zone(self) -> tzinfo:
        """The zone the wall clock is read in (``tz``, or the local zone)."""
        return self.tz if self.tz is not None else local_zone()

    def ceil(self, dt: datetime) -> datetime:
        """``dt`` if it is inside, else the start of the next unit that is inside (in the schedule's zone).

        Across DST: a wall time skipped by a spring-forward transition has no instants and is passed over; of
        a repeated one the first occurrence comes first.
        """
        require_aware(dt)
        result = search(self._pattern, dt, self.zone, True)
        assert result is not None  # a schedule is never empty
        return result

    def window_end(self, dt: datetime) -> datetime | None:
        """The earliest instant at or after ``dt`` that is outside (``dt`` if outside; ``None`` if always)."""
        require_aware(dt)
        if self._pattern.always:
            return None
        return search(self._pattern, dt, self.zone, False)
