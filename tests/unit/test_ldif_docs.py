"""The LDIF examples in the how-to page and in the module docstring run as written."""

from __future__ import annotations

from pathlib import Path

import dcm_exporter.codecs.ldif
from _helpers import run_docstring_doctests, run_page_doctests

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "ldif.md"


def test_how_to_page_examples() -> None:
    result = run_page_doctests(DOC)
    assert result.attempted > 20
    assert result.failed == 0


def test_docstring_examples() -> None:
    result = run_docstring_doctests(dcm_exporter.codecs.ldif)
    assert result.attempted > 0
    assert result.failed == 0
