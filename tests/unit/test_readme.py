"""The README's test command is the one CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_COMMAND = "scripts/install-system-deps.sh && python3 -m nox -s tests"
DEMO_COMMAND = "python3 -m pip install nox && python3 -m nox -s demo"


def test_readme_holds_both_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert TEST_COMMAND in readme
    assert DEMO_COMMAND in readme


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in [line.strip() for line in ci]
