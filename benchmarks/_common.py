"""Shared helpers for the benchmarks: timing, medians and the ratio table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One measured figure of dcm_exporter next to the same figure of its peer, measured in the same run.

    ``peer`` is ``None`` for a figure reported alone (no peer does the same work): the table shows the
    absolute figure and no ratio.
    """

    benchmark: str
    metric: str  # e.g. "instances/s"; higher is better
    ours: float
    peer_name: str
    peer: float | None

    @property
    def ratio(self) -> float | None:
        if self.peer is None:
            return None
        return self.ours / self.peer if self.peer else float("inf")


def ours_only(benchmark: str, metric: str, ours: float, why: str = "ours only") -> Result:
    """A figure without a peer (reported as an absolute number, no ratio)."""
    return Result(benchmark, metric, ours, f"({why})", None)


def median_rate(count: int, runs: list[float]) -> float:
    """Items per second from the median of several wall-clock durations."""
    return count / statistics.median(runs)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def print_results(results: list[Result]) -> None:
    header = f"{'benchmark':<34} {'metric':<16} {'dcm_exporter':>14} {'peer':<26} {'peer value':>12} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        peer = "" if r.peer is None else f"{r.peer:,.1f}"
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        print(f"{r.benchmark:<34} {r.metric:<16} {r.ours:>14,.1f} {r.peer_name:<26} {peer:>12} {ratio:>8}")


def native_binary(name: str) -> str | None:
    """The first compiled program ``name`` on ``PATH`` (or in /usr/bin), skipping scripts of the same name.

    pynetdicom installs Python console scripts ``storescp``/``storescu`` into a virtual environment's ``bin``,
    which shadow DCMTK's programs there; the benchmarks compare against DCMTK's.
    """
    import os
    from pathlib import Path

    for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin", "/usr/sbin"]:
        candidate = Path(folder) / name if folder else None
        if candidate and candidate.is_file() and os.access(candidate, os.X_OK):
            with candidate.open("rb") as f:
                if f.read(2) != b"#!":
                    return str(candidate)
    return None
