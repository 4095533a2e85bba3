"""The configuration reference page and the docstring examples of the models and codecs run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import dcm_exporter.codecs.ldap_mapping
import dcm_exporter.models.device
import dcm_exporter.models.duration
import dcm_exporter.models.exporter
import dcm_exporter.models.queue

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "configuration.md"


def test_reference_page_examples() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 10
    assert result.failed == 0


@pytest.mark.parametrize(
    "module",
    [
        dcm_exporter.models.duration,
        dcm_exporter.models.exporter,
        dcm_exporter.models.queue,
        dcm_exporter.models.device,
        dcm_exporter.codecs.ldap_mapping,
    ],
)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
