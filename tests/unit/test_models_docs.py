"""The configuration reference page and the docstring examples of the models and codecs run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

import dcm_exporter.codecs.ldif
import dcm_exporter.config.load
import dcm_exporter.dn
import dcm_exporter.models.device
import dcm_exporter.models.duration
import dcm_exporter.models.exporter
import dcm_exporter.models.queue
from _helpers import run_docstring_doctests, run_page_doctests

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "configuration.md"


def test_reference_page_examples() -> None:
    result = run_page_doctests(DOC)
    assert result.attempted > 10
    assert result.failed == 0


@pytest.mark.parametrize(
    "module",
    [
        dcm_exporter.models.duration,
        dcm_exporter.models.exporter,
        dcm_exporter.models.queue,
        dcm_exporter.models.device,
        dcm_exporter.dn,
        dcm_exporter.codecs.ldif,
        dcm_exporter.config.load,
    ],
)
def test_docstring_examples(module: object) -> None:
    result = run_docstring_doctests(module)
    assert result.attempted > 0
    assert result.failed == 0
