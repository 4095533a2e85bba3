"""The examples of docs/how-to/postgresql.md run as written, against a throwaway PostgreSQL database."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "postgresql.md"

pytestmark = pytest.mark.postgres


def test_postgresql_how_to_examples(pg_database: Any) -> None:
    pytest.importorskip("psycopg")
    text = DOC.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {"dsn": pg_database.dsn}, DOC.name, str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    try:
        runner.run(test, clear_globs=False)  # keep the globals so the finally block can close them
    finally:
        for name in ("exporter", "store"):
            obj = test.globs.get(name)
            if obj is not None:
                obj.close()
    result = runner.summarize(verbose=False)
    assert result.attempted >= 30
    assert result.failed == 0
