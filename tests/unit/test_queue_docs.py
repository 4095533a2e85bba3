"""The queue examples in the docs and docstrings run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

import dcm_exporter.queue.memory
import dcm_exporter.queue.retry
import dcm_exporter.queue.sqlite
from _helpers import run_docstring_doctests, run_page_doctests

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "queue.md"


def test_how_to_page_examples() -> None:
    result = run_page_doctests(DOC)
    assert result.attempted > 20
    assert result.failed == 0


@pytest.mark.parametrize(
    "module", [dcm_exporter.queue.memory, dcm_exporter.queue.retry, dcm_exporter.queue.sqlite]
)
def test_docstring_examples(module: object) -> None:
    result = run_docstring_doctests(module)
    assert result.attempted > 0
    assert result.failed == 0
