"""The offline examples of docs/how-to/stow-export.md run as written (sending is tested against Orthanc)."""

from __future__ import annotations

from pathlib import Path

from _helpers import run_page_doctests

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "stow-export.md"


def test_configuration_examples() -> None:
    text = DOC.read_text(encoding="utf-8").split("## 3. Send", 1)[0]
    result = run_page_doctests(DOC, text=text)
    assert result.attempted >= 10
    assert result.failed == 0
