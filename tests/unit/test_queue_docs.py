"""The queue examples in the docs and docstrings run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import dcm_exporter.queue.memory
import dcm_exporter.queue.retry
import dcm_exporter.queue.sqlite

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "queue.md"


def test_how_to_page_examples() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 20
    assert result.failed == 0


@pytest.mark.parametrize(
    "module", [dcm_exporter.queue.memory, dcm_exporter.queue.retry, dcm_exporter.queue.sqlite]
)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
