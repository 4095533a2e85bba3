"""Run the benchmarks in this folder: ``python benchmarks/run.py [name ...]``.

Each ``bench_<name>.py`` module has ``main(argv: list[str]) -> list[Result]`` and measures dcm_exporter against its
named peer in the same run. This runner prints one table with the ratios. Nothing here is a test: timings are
reported, never asserted.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import Result, print_results  # noqa: E402


def load(name: str):  # type: ignore[no-untyped-def]
    path = HERE / f"bench_{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no benchmark named {name!r} ({path})")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    selected = names or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    results: list[Result] = []
    for name in selected:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        results.extend(load(name).main([a for a in argv if a.startswith("-")]))
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    print()
    print_results(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
