"""The examples of docs/how-to/dicom-export.md run as written (against the in-process Store SCP)."""

from __future__ import annotations

from pathlib import Path

from _helpers import run_page_doctests

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "dicom-export.md"


def test_dicom_export_howto_examples() -> None:
    result = run_page_doctests(DOC, text=DOC.read_text(encoding="utf-8"))
    assert result.attempted >= 15
    assert result.failed == 0
