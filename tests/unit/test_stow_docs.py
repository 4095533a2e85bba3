"""The offline examples of docs/how-to/stow-export.md run as written (sending is tested against Orthanc)."""

from __future__ import annotations

import doctest
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "stow-export.md"


def test_configuration_examples() -> None:
    text = DOC.read_text(encoding="utf-8").split("## 3. Send", 1)[0]
    test = doctest.DocTestParser().get_doctest(text, {}, DOC.name, str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 10
    assert result.failed == 0
