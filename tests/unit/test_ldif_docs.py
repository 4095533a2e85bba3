"""The LDIF examples in the how-to page and in the module docstring run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import dcm_exporter.codecs.ldif

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "ldif.md"


def test_how_to_page_examples() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 20
    assert result.failed == 0


def test_docstring_examples() -> None:
    result = doctest.testmod(dcm_exporter.codecs.ldif, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
