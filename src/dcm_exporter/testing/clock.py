"""A controllable clock for tests of schedules and the export queue."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that only moves when told to.

    It hands out timezone-aware datetimes in UTC. Pass its :meth:`now` wherever the library takes
    a ``clock`` callable.

    Args:
        start: the initial time; must be timezone-aware (it is converted to UTC). Defaults to
            2024-01-01T00:00:00Z.

    Raises:
        ValueError: if ``start`` is naive.

    Example:
        >>> from datetime import timedelta
        >>> clock = FakeClock()
        >>> clock.now().isoformat()
        '2024-01-01T00:00:00+00:00'
        >>> clock.advance(timedelta(minutes=90)).isoformat()
        '2024-01-01T01:30:00+00:00'
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = self._check(start if start is not None else datetime(2024, 1, 1, tzinfo=UTC))

    @staticmethod
    def _check(dt: datetime) -> datetime:
        if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
            raise ValueError(f"FakeClock needs a timezone-aware datetime, got naive {dt.isoformat()}")
        return dt.astimezone(UTC)

    def now(self) -> datetime:
        """Return the current fake time (aware, UTC)."""
        with self._lock:
            return self._now

    __call__ = now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time.

        Raises:
            ValueError: if ``delta`` is negative (time does not run backwards; use :meth:`set`).
        """
        if delta < timedelta(0):
            raise ValueError(f"FakeClock.advance needs a non-negative timedelta, got {delta}")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, dt: datetime) -> datetime:
        """Set the clock to ``dt`` (aware; may move backwards) and return it in UTC."""
        value = self._check(dt)
        with self._lock:
            self._now = value
            return value

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"
