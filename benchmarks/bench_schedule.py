"""Schedules: ``contains`` and ``ceil`` per second, against croniter on an equivalent cron expression.

The dcm4che expression ``hour=18-6 dayOfWeek=*`` ("after business hours") is the cron expression
``0 18-23,0-6 * * *`` when asked for the next opening: croniter's ``get_next`` gives the next matching minute,
our ``ceil`` the start of the next contained hour. The instants are random times between 07:00 and 17:59 in
Europe/Vienna (outside the window, so ``ceil`` has to compute) spread over ten years, DST included; ours get
them in UTC (as from ``datetime.now(UTC)``), croniter in Vienna time.

Both sides parse their expression once, before the clock starts, and per instant do only the query:

- ``contains``: ours ``ScheduleExpression.contains(t)``; croniter: one croniter object for the window as a
  set of minutes (``* 18-23,0-6 * * *``), re-positioned with ``set_current(t)`` and asked ``get_prev()``, the
  instant inside when that previous match is less than a minute away -- what ``croniter.match`` does, without
  parsing the expression again on every call (``croniter.match`` builds a new croniter object per call);
- ``ceil``: ours ``ceil(t)``; croniter: one croniter object re-positioned with ``set_current(t)`` and asked
  ``get_next()``.

Both answers are cross-checked on the first instants before timing.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import Result, median_rate, timed

from dcm_exporter.schedule import CronSchedule, ScheduleExpression, Schedules

VIENNA = ZoneInfo("Europe/Vienna")
EXPRESSION = "hour=18-6 dayOfWeek=*"
CRON = "0 18-23,0-6 * * *"


def _instants(n: int, seed: int = 5) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=VIENNA)
    out = []
    for _ in range(n):
        day = start + timedelta(days=rng.randrange(3650))
        out.append(day.replace(hour=rng.randrange(7, 18), minute=rng.randrange(60), second=rng.randrange(60)))
    return out


def _rate(fn_for: list[datetime], call: object, repeats: int) -> float:
    def run() -> None:
        for t in fn_for:
            call(t)  # type: ignore[operator]

    return median_rate(len(fn_for), [timed(run) for _ in range(repeats)])


def main(argv: list[str]) -> list[Result]:
    quick = "--quick" in argv
    n_ours = 5_000 if quick else 50_000
    n_peer = 500 if quick else 5_000
    repeats = 3 if quick else 5
    from croniter import croniter

    expr = ScheduleExpression.parse(EXPRESSION, tz=VIENNA)
    upstream_pair = Schedules.parse(["hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6"], tz=VIENNA)
    cron_window = CronSchedule.parse("cron:" + CRON, tz=VIENNA)
    ours_in = [t.astimezone(UTC) for t in _instants(n_ours)]  # callers pass datetime.now(UTC)
    peer_in = _instants(n_peer)

    # correctness of the comparison: both give the same next opening
    it = croniter(CRON, peer_in[0])
    for t in peer_in[:200]:
        it.set_current(t, force=True)
        assert expr.ceil(t) == it.get_next(datetime), t

    every_minute = "* " + CRON.split(" ", 1)[1]  # the same window as a set of minutes
    window = croniter(every_minute, peer_in[0], ret_type=datetime)  # parsed once, like ours

    def croniter_contains(t: datetime) -> bool:
        probe = t if t.microsecond else t + timedelta(microseconds=1)  # as croniter.match does
        window.set_current(probe, force=True)
        return (probe - window.get_prev(datetime)).total_seconds() < 60

    def croniter_next(t: datetime) -> datetime:
        it.set_current(t, force=True)
        return it.get_next(datetime)  # type: ignore[no-any-return]

    inside = [t.replace(hour=h) for t, h in zip(peer_in[:200], [19, 23, 0, 3, 6] * 40, strict=True)]
    for t in peer_in[:200] + inside:
        assert croniter_contains(t) is expr.contains(t) is bool(croniter.match(every_minute, t)), t

    peer_contains = _rate(peer_in, croniter_contains, repeats)
    peer_ceil = _rate(peer_in, croniter_next, repeats)
    results = [
        Result("schedule contains (dcm4che)", "calls/s", _rate(ours_in, expr.contains, repeats),
               "croniter (built once)", peer_contains),
        Result("schedule contains (2 values)", "calls/s", _rate(ours_in, upstream_pair.contains, repeats),
               "croniter (built once)", peer_contains),
        Result("schedule ceil (dcm4che)", "calls/s", _rate(ours_in, expr.ceil, repeats),
               "croniter (built once)", peer_ceil),
        Result("schedule ceil (2 values)", "calls/s", _rate(ours_in, upstream_pair.ceil, repeats),
               "croniter (built once)", peer_ceil),
        Result("schedule ceil (cron window)", "calls/s", _rate(ours_in, cron_window.ceil, repeats),
               "croniter (built once)", peer_ceil),
    ]
    return results


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
