"""A progress bar for Jupyter: an HTML ``<progress>`` element updated in place; silent anywhere else.

A leaf of the display layer (it imports nothing from the package): :meth:`Exporter.export_now` and
``run_until_idle`` use it when they run inside an IPython kernel, so a notebook user sees how far an export
is. In a script, a terminal IPython, a test or a server it does nothing at all: no output, no IPython import.
Updates come from export worker threads; they are serialised and throttled (at most about ten a second, the
last one always shown) so a fast export does not flood the notebook with messages.

>>> with NotebookProgress("export to STORESCP", total=3) as bar:   # not in a kernel: does nothing
...     bar.advance()
...     bar.shown
False
"""

from __future__ import annotations

import html
import sys
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["NotebookProgress", "in_notebook"]

_MIN_INTERVAL = 0.1


def in_notebook() -> bool:
    """Whether this runs in a Jupyter (IPython) kernel, where HTML output is shown to a person."""
    ipython = sys.modules.get("IPython")
    if ipython is None:  # never import IPython: a plain script stays plain
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class NotebookProgress:
    """``done`` of ``total`` units, with counts per outcome (``completed``, ``failed``, ...).

    Args:
        description: what is being done (shown before the bar).
        total: units expected; ``None`` until known (:meth:`set_total`), the bar then shows only the count.
        unit: what is counted (``"instances"``, ``"tasks"``).
        enabled: ``None`` (default) shows the bar only in a notebook; ``False`` never; ``True`` always
            (IPython must be importable).
    """

    def __init__(self, description: str, *, total: int | None = None, unit: str = "instances",
                 enabled: bool | None = None) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.done = 0
        self.counts: dict[str, int] = {}
        self._enabled = in_notebook() if enabled is None else enabled
        self._handle: Any = None
        self._lock = threading.Lock()
        self._last = 0.0
        self._started = time.monotonic()
        self._finished = False

    @property
    def shown(self) -> bool:
        """Whether the bar is displayed (in a notebook, between enter and exit)."""
        return self._handle is not None

    def __enter__(self) -> NotebookProgress:
        if self._enabled:
            display = __import__("IPython.display", fromlist=["display"])
            self._handle = display.display(display.HTML(self._html()), display_id=True)
        return self

    def set_total(self, total: int) -> None:
        """The number of units, once known."""
        with self._lock:
            self.total = total
        self._refresh(force=True)

    def advance(self, n: int = 1, outcome: str | None = None) -> None:
        """``n`` more units done (``outcome`` counts them under that name too). Thread-safe."""
        with self._lock:
            self.done += n
            if outcome:
                self.counts[outcome] = self.counts.get(outcome, 0) + n
        self._refresh()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finished = True
        self._refresh(force=True, interrupted=exc_type is not None)
        self._handle = None

    def _refresh(self, *, force: bool = False, interrupted: bool = False) -> None:
        if self._handle is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < _MIN_INTERVAL:
                return
            self._last = now
            markup = self._html(interrupted=interrupted)
        display = __import__("IPython.display", fromlist=["HTML"])
        self._handle.update(display.HTML(markup))

    def _html(self, *, interrupted: bool = False) -> str:
        # retries can make more attempts than there were tasks waiting: never show 12 / 10
        total = None if self.total is None else max(self.total, self.done)
        value = f"value='{self.done}' max='{total}'" if total else ("value='1' max='1'" if self._finished else "")
        of = f"{self.done} / {total}" if total else f"{self.done}"
        elapsed = time.monotonic() - self._started
        details = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        state = " — interrupted" if interrupted else (" — done" if self._finished else "")
        return (
            "<div class='dcm-exporter-progress' style='font-family:monospace;font-size:0.9em'>"
            f"<span>{html.escape(self.description)}</span> "
            f"<progress {value} style='width:24em;vertical-align:middle'></progress> "
            f"<span>{of} {html.escape(self.unit)} in {elapsed:.1f} s{html.escape(state)}</span>"
            + (f"<span style='color:#666'> ({html.escape(details)})</span>" if details else "")
            + "</div>"
        )
