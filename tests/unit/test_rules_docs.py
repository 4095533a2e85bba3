"""The export-rules how-to and the ExportRules docstring run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import dcm_exporter.rules.engine

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "export-rules.md"


def test_how_to_page_examples() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 15
    assert result.failed == 0


def test_docstring_examples() -> None:
    result = doctest.testmod(dcm_exporter.rules.engine, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
