"""The examples of docs/how-to/ldap.md run as written, against a real slapd (compact schema, LDAPS on)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from _helpers import run_page_doctests
from servers.slapd import SlapdServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "ldap.md"


@pytest.mark.slapd
def test_how_to_page_examples(slapd_factory: Callable[..., SlapdServer]) -> None:
    server = slapd_factory(schema="compact", content="init", ldaps=True)
    globs = {
        "LDAP_URL": server.url,
        "LDAPS_URL": server.ldaps_url,
        "BIND_DN": server.bind_dn,
        "PASSWORD": server.password,
        "CA_FILE": server.ca_file,
    }
    result = run_page_doctests(DOC, globs=globs)
    assert result.attempted > 25
    assert result.failed == 0
