#!/usr/bin/env python3
"""Mutation testing of the core rules: plant small bugs one at a time and check that the tests notice.

Usage (``nox -s mutation`` runs it with the default pieces)::

    python scripts/mutation.py                     # every piece in scripts/mutation_pieces.toml
    python scripts/mutation.py retry dimse-status  # some pieces
    python scripts/mutation.py --list retry        # the mutants, without running anything
    python scripts/mutation.py --budget 1800       # stop planting after this many seconds (default 1800)

Each piece in ``scripts/mutation_pieces.toml`` names its ``targets`` (``path::Qualified.name`` of functions,
methods or whole classes), the ``tests`` that pin it (pytest arguments), optional ``planted`` text mutations
for what the AST cannot reach (SQL), and ``equivalent`` mutants with the reason each changes nothing
observable. Adding a piece is adding a table there.

Mutants come from the AST of each target: comparison operators flipped (``<``/``<=``, ``==``/``!=``, ``is``/
``is not``, ``in``/``not in``), arithmetic and bit operators swapped, ``and``/``or`` swapped, ``not`` dropped,
integers incremented, booleans flipped, string operands of comparisons changed, ``break``/``continue``
swapped, ``min``/``max`` and ``any``/``all`` swapped, and ``return <bool>`` inverted. Docstrings, f-strings,
annotations and the arguments of ``raise`` are left alone (they change messages, not rules).

A mutant is applied to a private copy of ``src/`` and ``tests/`` taken when the run starts (the working tree is
never touched, and editing it during a run changes nothing), then the piece's tests run there in a child forked
from this process (pytest and the heavy libraries already imported, the
package itself not), first failure stops them. A failing run or a time-out kills the mutant; a passing run
is a survivor. The score is killed / (mutants - equivalent), per piece; exit status 1 when a piece is
below ``--min-score`` (default 90 %).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scripts" / "mutation_pieces.toml"
# not hypothesis: it is a pytest plugin too, and pytest refuses a plugin imported before it starts
#: what each private copy holds: the package, its tests and pytest's configuration (the tests run there)
SNAPSHOT = ("src", "tests", "scripts", "pyproject.toml")
PRELOAD = ("pytest", "attrs", "pydicom", "numpy", "pynetdicom", "psycopg", "psycopg_pool")


# --- configuration ---------------------------------------------------------------------------------------


@dataclass
class Planted:
    file: str
    old: str
    new: str
    why: str


@dataclass
class Piece:
    name: str
    description: str
    targets: list[str]
    tests: list[str]
    planted: list[Planted] = field(default_factory=list)
    equivalent: dict[str, str] = field(default_factory=dict)


def load_pieces(path: Path = CONFIG) -> dict[str, Piece]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pieces = {}
    for name, raw in data.get("pieces", {}).items():
        pieces[name] = Piece(
            name=name,
            description=raw.get("description", ""),
            targets=list(raw["targets"]),
            tests=list(raw["tests"]),
            planted=[Planted(**p) for p in raw.get("planted", [])],
            equivalent=dict(raw.get("equivalent", {})),
        )
    return pieces


# --- mutants ---------------------------------------------------------------------------------------------


@dataclass
class Mutant:
    piece: str
    key: str  # stable: qualified name, source line, operator (equivalent mutants are listed by it)
    file: str  # relative to the repository
    line: int
    source: str  # the whole mutated file


_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd,
    ast.LShift: ast.RShift, ast.RShift: ast.LShift,
}
_CALL_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any"}
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
    ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
    ast.LShift: "<<", ast.RShift: ">>", ast.And: "and", ast.Or: "or",
}


def _skipped_children(node: ast.AST) -> set[int]:
    """ids of subtrees that are not mutated: docstrings, f-strings, annotations, raise arguments."""
    skip: set[int] = set()
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            skip.update(id(n) for n in ast.walk(body[0]))
        if isinstance(sub, ast.JoinedStr | ast.Raise):
            skip.update(id(n) for n in ast.walk(sub))
        if isinstance(sub, ast.AnnAssign):
            skip.update(id(n) for n in ast.walk(sub.annotation))
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            skip.update(id(n) for n in ast.walk(sub.args))
            if sub.returns is not None:
                skip.update(id(n) for n in ast.walk(sub.returns))
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for deco in sub.decorator_list:
                skip.update(id(n) for n in ast.walk(deco))
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in {
            "debug", "info", "warning", "error", "exception", "isEnabledFor"
        } and isinstance(sub.func.value, ast.Name) and sub.func.value.id in {"log", "logger"}:
            skip.update(id(n) for n in ast.walk(sub))
    return skip


def _mutations(node: ast.AST, compare_strings: set[int]) -> Iterator[tuple[str, Any]]:
    """(description, apply) for every mutation of this one node; ``apply(node)`` mutates it in place and
    returns the node to put in its place (usually itself)."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swap = _CMP_SWAP.get(type(op))
            if swap is not None:
                def flip(n: ast.Compare, i: int = i, swap: type[ast.cmpop] = swap) -> ast.AST:
                    n.ops[i] = swap()
                    return n
                yield f"{_SYMBOL[type(op)]} -> {_SYMBOL[swap]}", flip
    elif isinstance(node, ast.BinOp):
        bswap = _BIN_SWAP.get(type(node.op))
        if bswap is not None:
            def binop(n: ast.BinOp, swap: type[ast.operator] = bswap) -> ast.AST:
                n.op = swap()
                return n
            yield f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[bswap]}", binop
    elif isinstance(node, ast.AugAssign):
        aswap = _BIN_SWAP.get(type(node.op))
        if aswap is not None:
            def aug(n: ast.AugAssign, swap: type[ast.operator] = aswap) -> ast.AST:
                n.op = swap()
                return n
            yield f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[aswap]}=", aug
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        def boolop(n: ast.BoolOp, other: type[ast.boolop] = other) -> ast.AST:
            n.op = other()
            return n
        yield f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[other]}", boolop
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not x -> x", lambda n: n.operand
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            def flip_bool(n: ast.Constant) -> ast.AST:
                n.value = not n.value
                return n
            yield f"{value} -> {not value}", flip_bool
        elif isinstance(value, int):
            def inc(n: ast.Constant) -> ast.AST:
                n.value = n.value + 1
                return n
            yield f"{value} -> {value + 1}", inc
        elif isinstance(value, str) and id(node) in compare_strings:
            def change(n: ast.Constant) -> ast.AST:
                n.value = n.value + "\x01" if n.value else "\x01"
                return n
            yield f"{value!r} -> {value!r}+'\\x01'", change
    elif isinstance(node, ast.Break):
        yield "break -> continue", lambda n: ast.copy_location(ast.Continue(), n)
    elif isinstance(node, ast.Continue):
        yield "continue -> break", lambda n: ast.copy_location(ast.Break(), n)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALL_SWAP:
        new_name = _CALL_SWAP[node.func.id]
        def call(n: ast.Call, new_name: str = new_name) -> ast.AST:
            assert isinstance(n.func, ast.Name)
            n.func.id = new_name
            return n
        yield f"{node.func.id}() -> {new_name}()", call


def _find(tree: ast.Module, qualname: str) -> ast.AST:
    scope: ast.AST = tree
    for part in qualname.split("."):
        for child in ast.iter_child_nodes(scope):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and child.name == part:
                scope = child
                break
        else:
            raise SystemExit(f"mutation: no {qualname!r} (stale target in {CONFIG.name}?)")
    return scope


def _candidates(target: ast.AST) -> list[tuple[ast.AST, ast.AST | None, str, Any]]:
    """(node, parent, description, apply) in a deterministic order."""
    skip = _skipped_children(target)
    compare_strings: set[int] = set()
    for sub in ast.walk(target):
        if isinstance(sub, ast.Compare):
            for operand in [sub.left, *sub.comparators]:
                for n in ast.walk(operand):
                    if isinstance(n, ast.Constant) and isinstance(n.value, str):
                        compare_strings.add(id(n))
    parents: dict[int, ast.AST] = {}
    for sub in ast.walk(target):
        for child in ast.iter_child_nodes(sub):
            parents[id(child)] = sub
    out = []
    for node in ast.walk(target):
        if id(node) in skip or node is target:
            continue
        for description, apply in _mutations(node, compare_strings):
            out.append((node, parents.get(id(node)), description, apply))
    return out


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise AssertionError("mutation: node not found in its parent")


def _splice(source: str, node: ast.AST, replacement: ast.AST) -> str:
    """The file's text with the lines of ``node`` (a function or class) replaced by ``replacement``."""
    lines = source.splitlines(keepends=True)
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])  # type: ignore[attr-defined]
    end = node.end_lineno  # type: ignore[attr-defined]
    indent = " " * node.col_offset  # type: ignore[attr-defined]
    text = "".join(indent + line if line.strip() else line
                   for line in ast.unparse(replacement).splitlines(keepends=True))
    return "".join(lines[: start - 1]) + text + "\n" + "".join(lines[end:])


def mutants_of(piece: Piece, root: Path = ROOT) -> list[Mutant]:
    """The mutants of ``piece`` from the sources under ``root`` (a run's snapshot, or the working tree)."""
    found: list[Mutant] = []
    seen: dict[str, int] = {}
    for target in piece.targets:
        rel, _, qualname = target.partition("::")
        source = (root / rel).read_text(encoding="utf-8")
        lines = source.splitlines()
        count = len(_candidates(_find(ast.parse(source), qualname)))
        for k in range(count):
            tree = ast.parse(source)
            node_of_target = _find(tree, qualname)
            mutated_target = copy.deepcopy(node_of_target)
            node, parent, description, apply = _candidates(mutated_target)[k]
            line = getattr(node, "lineno", 0)
            replacement = apply(node)
            if replacement is not node:
                assert parent is not None
                _replace_child(parent, node, replacement)
            ast.fix_missing_locations(mutated_target)
            key = f"{qualname} | {lines[line - 1].strip() if line else ''} | {description}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key += f" #{seen[key]}"
            found.append(Mutant(piece.name, key, rel, line, _splice(source, node_of_target, mutated_target)))
    for planted in piece.planted:
        source = (root / planted.file).read_text(encoding="utf-8")
        if planted.old not in source:
            raise SystemExit(f"mutation: planted text not found in {planted.file} (stale?): {planted.old!r}")
        line = source[: source.index(planted.old)].count("\n") + 1
        found.append(Mutant(piece.name, f"planted | {planted.file} | {planted.why}", planted.file, line,
                            source.replace(planted.old, planted.new)))
    return found


# --- running ---------------------------------------------------------------------------------------------


def _start_tests(overlay: Path, tests: list[str]) -> int:
    """Fork a child that runs the tests with the package imported from ``overlay``; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: import the package from the overlay, run pytest, leave without cleanup
        try:
            os.chdir(overlay)
            sys.path.insert(0, str(overlay / "src"))
            os.environ["PYTHONPATH"] = str(overlay / "src")
            if not os.environ.get("MUTATION_DEBUG"):  # MUTATION_DEBUG=1 shows the children's pytest output
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            import pytest

            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-o", f"pythonpath={overlay / 'src'}",
                                "-W", "ignore::pytest.PytestUnraisableExceptionWarning", *tests])
            os._exit(int(code))
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(99)
    return pid


def _run_tests(overlay: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """``passed``, ``failed`` or ``timeout`` for one run of the tests."""
    started = time.monotonic()
    pid = _start_tests(overlay, tests)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return _verdict(status), time.monotonic() - started
        if time.monotonic() > started + timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - started
        time.sleep(0.02)


def _verdict(status: int) -> str:
    return "passed" if os.waitstatus_to_exitcode(status) == 0 else "failed"


@dataclass
class Result:
    piece: str
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: list[Mutant] = field(default_factory=list)
    not_run: int = 0
    seconds: float = 0.0
    stale_equivalents: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        relevant = self.total - self.equivalent - self.not_run
        return 100.0 * self.killed / relevant if relevant else 100.0


def run_piece(
    piece: Piece,
    overlays: list[Path],
    *,
    deadline: float,
    verbose: bool,
    match: str | None = None,
    only: set[str] | None = None,
) -> Result:
    """Try every mutant of ``piece`` (or those whose key contains ``match``), ``len(overlays)`` at a time (one
    private ``src/`` copy each)."""
    result = Result(piece.name)
    mutants = [m for m in mutants_of(piece, overlays[0])
               if (match is None or match in m.key) and (only is None or m.key in only)]
    result.total = len(mutants)
    keys = {m.key for m in mutants}
    result.stale_equivalents = [k for k in piece.equivalent if k not in keys] if match is None and only is None else []
    started = time.monotonic()
    status, baseline = _run_tests(overlays[0], piece.tests, timeout=600)
    if status != "passed":
        raise SystemExit(f"mutation: the tests of {piece.name!r} fail without any mutant: {piece.tests}")
    if not mutants:
        return result
    timeout = 3 * baseline * len(overlays) + 15  # parallel runs share the cores
    pending = [m for m in mutants if m.key not in piece.equivalent]
    result.equivalent = len(mutants) - len(pending)
    free = list(overlays)
    running: dict[int, tuple[Mutant, Path, str, float]] = {}  # pid -> (mutant, overlay, original text, start)

    def finish(pid: int, verdict: str) -> None:
        mutant, overlay, original, began = running.pop(pid)
        (overlay / mutant.file).write_text(original, encoding="utf-8")
        free.append(overlay)
        if verdict == "passed":
            result.survivors.append(mutant)
        elif verdict == "interrupted":
            result.not_run += 1
        else:
            result.killed += 1
        if verbose:
            took = time.monotonic() - began
            print(f"  {verdict:8} {took:5.1f}s  {mutant.file}:{mutant.line}  {mutant.key}", flush=True)

    try:
        _loop(pending, running, free, result, piece, timeout, deadline, finish)
    finally:  # interrupted: no child outlives the run, no mutant stays in an overlay
        for pid in list(running):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            finish(pid, "interrupted")
    result.seconds = time.monotonic() - started
    return result


def _loop(pending: list[Mutant], running: dict[int, tuple[Mutant, Path, str, float]], free: list[Path],
          result: Result, piece: Piece, timeout: float, deadline: float, finish: Any) -> None:
    while pending or running:
        while pending and free:
            mutant = pending.pop(0)
            if time.monotonic() > deadline:
                result.not_run += 1
                continue
            overlay = free.pop()
            path = overlay / mutant.file
            original = path.read_text(encoding="utf-8")
            path.write_text(mutant.source, encoding="utf-8")
            running[_start_tests(overlay, piece.tests)] = (mutant, overlay, original, time.monotonic())
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                finish(pid, _verdict(status))
            elif time.monotonic() > running[pid][3] + timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                finish(pid, "timeout")
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pieces", nargs="*", help="pieces to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--budget", type=float, default=1800, help="seconds for the whole run (default 1800)")
    parser.add_argument("--min-score", type=float, default=90.0, help="percent killed per piece (default 90)")
    parser.add_argument("-k", "--match", default=None,
                        help="only mutants whose key contains this text (to recheck survivors)")
    parser.add_argument("--recheck", type=Path, default=None,
                        help="only the mutants a previous run's output lists as SURVIVED (after adding tests)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="mutants tried at once (default 2)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per mutant")
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    pieces = load_pieces(args.config)
    unknown = [p for p in args.pieces if p not in pieces]
    if unknown:
        parser.error(f"unknown piece(s) {', '.join(unknown)}; known: {', '.join(pieces)}")
    chosen = [pieces[p] for p in (args.pieces or list(pieces))]
    only: dict[str, set[str]] | None = None
    if args.recheck is not None:  # "SURVIVED piece: file:line  key" lines of an earlier run's output
        only = {}
        for line in args.recheck.read_text(encoding="utf-8").splitlines():
            m = re.match(r"SURVIVED (\S+): \S+  (.*)$", line)
            if m:
                only.setdefault(m.group(1), set()).add(m.group(2))
        chosen = [p for p in chosen if p.name in only]
    if args.list:
        for piece in chosen:
            for m in mutants_of(piece):
                if args.match is not None and args.match not in m.key:
                    continue
                mark = "  (equivalent)" if m.key in piece.equivalent else ""
                print(f"{piece.name}: {m.file}:{m.line}  {m.key}{mark}")
        return 0
    for module in PRELOAD:  # imported once here, so that every forked child starts warm
        try:
            __import__(module)
        except ImportError:
            pass
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # clean up like on Ctrl-C
    deadline = time.monotonic() + args.budget
    results = []
    with tempfile.TemporaryDirectory(prefix="dcm-mutation-") as tmp:
        overlays = [Path(tmp) / f"overlay-{n}" for n in range(max(1, args.jobs))]
        for overlay in overlays:  # a snapshot: edits to the working tree during the run change nothing here
            for part in SNAPSHOT:
                if (ROOT / part).is_dir():
                    shutil.copytree(ROOT / part, overlay / part, symlinks=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"))
                elif (ROOT / part).exists():
                    shutil.copy2(ROOT / part, overlay / part)
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of the same size and second must not reuse a .pyc
        for piece in chosen:
            print(f"== {piece.name}: {piece.description}", flush=True)
            results.append(run_piece(piece, overlays, deadline=deadline, verbose=args.verbose, match=args.match,
                                     only=only.get(piece.name, set()) if only is not None else None))
    failed = False
    print()
    print(f"{'piece':22} {'mutants':>7} {'equiv.':>6} {'killed':>6} {'survived':>8} {'not run':>7} "
          f"{'score':>7} {'time':>7}")
    for r in results:
        print(f"{r.piece:22} {r.total:7d} {r.equivalent:6d} {r.killed:6d} {len(r.survivors):8d} {r.not_run:7d} "
              f"{r.score:6.1f}% {r.seconds:6.0f}s")
        failed |= r.score < args.min_score or r.not_run > 0
    for r in results:
        for m in r.survivors:
            print(f"SURVIVED {r.piece}: {m.file}:{m.line}  {m.key}")
        for k in r.stale_equivalents:
            print(f"STALE equivalent entry in {r.piece} (no such mutant any more): {k}")
    if any(r.not_run for r in results):
        print("the time budget ran out before every mutant was tried")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
