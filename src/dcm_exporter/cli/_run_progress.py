"""What ``dcm-exporter run`` shows while it works: a live status line on a terminal, a periodic summary line
otherwise (a log that a service manager keeps).

Both say the same: tasks done (per status) and waiting, the tasks running (with the instances each has dealt
with so far), instances/s and MB/s. On a terminal the line is redrawn every second on stderr, with the rates
over the last seconds; otherwise one line every ``interval`` seconds on stdout, with the rates since the
previous line, and only when something happened since.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["RunProgress"]

#: seconds of history behind the rates of the live line
_WINDOW = 5.0


class RunProgress:
    """Counts what the runner does (hooks: :meth:`started`, :meth:`instance`, :meth:`finished`) and shows it.

    Args:
        waiting: how many tasks wait (SCHEDULED or SCHEDULED FOR RETRY); ``None`` when the store does not say.
        live: a live status line on ``stream`` (a terminal), else periodic lines through ``emit``.
        interval: seconds between two summary lines (not live); 0 for none.
        emit: writes one summary line (not live).
        stream: the terminal of the live line.
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        waiting: Callable[[], int | None],
        *,
        live: bool,
        interval: float,
        emit: Callable[[str], None],
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._waiting = waiting
        self.live = live
        self.interval = interval
        self._emit = emit
        self._stream = stream or sys.stderr
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = clock()
        self.instances = 0
        self.bytes = 0
        self.done: collections.Counter[str] = collections.Counter()
        self._running: dict[int, int] = {}  # task id -> instances dealt with so far
        self._samples: collections.deque[tuple[float, int, int]] = collections.deque()
        self._samples.append((self._started_at, 0, 0))
        self._shown = False  # a live line is on the terminal
        self._last_state: tuple[Any, ...] | None = None

    # --- hooks (worker threads) ----------------------------------------------------------------------

    def started(self, task: Any) -> None:
        with self._lock:
            self._running[int(task.task_id)] = 0

    def instance(self, task: Any, ref: Any, result: Any) -> None:
        with self._lock:
            self.instances += 1
            if result.kind in ("completed", "warning"):
                self.bytes += int(ref.size or 0)
            task_id = int(task.task_id)
            if task_id in self._running:
                self._running[task_id] += 1

    def finished(self, result: Any) -> None:
        task = result.task
        with self._lock:
            if task is not None:
                self._running.pop(int(task.task_id), None)
                self.done[task.status.value] += 1

    # --- the line --------------------------------------------------------------------------------------

    def line(self, *, window: float | None = None) -> str:
        """The summary: tasks done and waiting, running tasks, rates (over ``window`` seconds, or since the
        previous call when ``None``)."""
        now = self._clock()
        with self._lock:
            instances, sent = self.instances, self.bytes
            done = dict(self.done)
            running = dict(self._running)
            if window is not None:
                while len(self._samples) > 1 and self._samples[1][0] <= now - window:
                    self._samples.popleft()
            t0, i0, b0 = self._samples[0]
            self._samples.append((now, instances, sent))
            if window is None:
                while len(self._samples) > 1:
                    self._samples.popleft()
        try:
            waiting: int | None = self._waiting()
        except Exception:  # the store's trouble is reported by the runner; the line just cannot say
            waiting = None
        elapsed = max(now - t0, 1e-9)
        parts = [_done_text(done)]
        parts.append(f"{'?' if waiting is None else waiting} waiting")
        if running:
            shown = ", ".join(f"task {t} ({n} instances)" for t, n in sorted(running.items())[:4])
            more = f" and {len(running) - 4} more" if len(running) > 4 else ""
            parts.append(f"{len(running)} running: {shown}{more}")
        else:
            parts.append("0 running")
        rates = f"{(instances - i0) / elapsed:.1f} instances/s, {(sent - b0) / elapsed / 1e6:.2f} MB/s"
        return "; ".join(parts) + f"; {rates}"

    def _state(self) -> tuple[Any, ...]:
        with self._lock:
            return (self.instances, tuple(sorted(self.done.items())), tuple(sorted(self._running)))

    def totals(self) -> str:
        """The whole run in one line: tasks per status, instances and bytes, the time."""
        with self._lock:
            done = dict(self.done)
            instances, sent = self.instances, self.bytes
        seconds = self._clock() - self._started_at
        return f"{_done_text(done)}; {instances} instances, {sent / 1e6:.1f} MB in {seconds:.1f} s"

    # --- showing it --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start showing (a thread that redraws or writes the periodic line)."""
        if not self.live and self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="dcm-exporter-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        period = 1.0 if self.live else self.interval
        while not self._stop.wait(period):
            if self.live:
                self._redraw()
            else:
                state = self._state()
                if state != self._last_state or self._running:
                    self._last_state = state
                    self._emit(f"progress: {self.line()}")

    def _redraw(self) -> None:
        text = self.line(window=_WINDOW)
        with self._lock:
            self._stream.write("\r\033[K" + text[: _columns() - 1])
            self._stream.flush()
            self._shown = True

    def clear(self) -> None:
        """Erase the live line (before another line is printed); it comes back at the next redraw."""
        with self._lock:
            if self._shown:
                self._stream.write("\r\033[K")
                self._stream.flush()
                self._shown = False

    def stop(self) -> None:
        """Stop showing; erase the live line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.clear()


_RETRY = "SCHEDULED FOR RETRY"


def _done_text(ends: dict[str, int]) -> str:
    """``3 task(s) done (2 COMPLETED, 1 WARNING); 2 attempt(s) to retry``: attempts that ended in a final
    status are tasks done; the others wait for their retry (counted among the waiting tasks too)."""
    final = {status: n for status, n in ends.items() if status != _RETRY}
    per_status = ", ".join(f"{n} {status}" for status, n in sorted(final.items()))
    text = f"{sum(final.values())} task(s) done" + (f" ({per_status})" if per_status else "")
    retries = ends.get(_RETRY, 0)
    return text + (f"; {retries} attempt(s) to retry" if retries else "")


def _columns() -> int:
    import shutil

    return max(shutil.get_terminal_size((120, 24)).columns, 20)
