"""The schedule examples in the docs and docstrings run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

import dcm_exporter.schedule
import dcm_exporter.schedule.cron
import dcm_exporter.schedule.dcm4che
from _helpers import run_docstring_doctests, run_page_doctests

DOC = Path(__file__).resolve().parents[2] / "docs" / "explanation" / "schedules.md"


def test_explanation_page_examples() -> None:
    result = run_page_doctests(DOC)
    assert result.attempted > 10
    assert result.failed == 0


@pytest.mark.parametrize(
    "module", [dcm_exporter.schedule, dcm_exporter.schedule.cron, dcm_exporter.schedule.dcm4che]
)
def test_docstring_examples(module: object) -> None:
    result = run_docstring_doctests(module)
    assert result.attempted > 0
    assert result.failed == 0
