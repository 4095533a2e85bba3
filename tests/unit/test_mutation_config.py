"""The mutation-testing configuration still names code that exists (``nox -s mutation`` is not run by default,
so a target that moved would otherwise go unnoticed until someone runs it)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_runner", ROOT / "scripts" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_runner"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


RUNNER = _runner()
PIECES = RUNNER.load_pieces()


def test_the_six_core_pieces_are_configured() -> None:
    assert {"retry", "outcome", "schedules", "coalescing", "dimse-status", "conditions"} <= set(PIECES)


@pytest.mark.parametrize("name", sorted(PIECES))
def test_every_target_exists_and_yields_mutants(name: str) -> None:
    piece = PIECES[name]
    assert piece.tests, name
    for target in piece.targets:
        rel, _, qualname = target.partition("::")
        node = RUNNER._find(ast.parse((ROOT / rel).read_text(encoding="utf-8")), qualname)
        assert RUNNER._candidates(node), f"{target} has nothing to mutate"
    for planted in piece.planted:
        assert planted.old in (ROOT / planted.file).read_text(encoding="utf-8"), planted.why
    for test in piece.tests:
        if not test.startswith("-") and test.startswith("tests/"):
            assert (ROOT / test.split("::")[0]).exists(), test


def test_a_mutant_is_the_file_with_one_change(tmp_path: Path) -> None:
    piece = PIECES["dimse-status"]
    mutants = RUNNER.mutants_of(piece)
    assert len({m.key for m in mutants}) == len(mutants)  # keys are unique (equivalents are listed by key)
    for mutant in mutants:
        original = (ROOT / mutant.file).read_text(encoding="utf-8")
        assert mutant.source != original
        compile(mutant.source, mutant.file, "exec")  # every mutant is valid Python
        assert ast.dump(ast.parse(mutant.source)) != ast.dump(ast.parse(original))


@pytest.mark.parametrize("name", sorted(PIECES))
def test_every_equivalent_entry_names_a_mutant_of_today(name: str) -> None:
    # an entry whose line changed no longer matches, and its mutant would count as a survivor of the next run
    piece = PIECES[name]
    keys = {m.key for m in RUNNER.mutants_of(piece)}
    assert sorted(set(piece.equivalent) - keys) == []
