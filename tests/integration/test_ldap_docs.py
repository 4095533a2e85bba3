"""The examples of docs/how-to/ldap.md run as written, against a real slapd (compact schema, LDAPS on)."""

from __future__ import annotations

import doctest
from collections.abc import Callable
from pathlib import Path

import pytest

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
    result = doctest.testfile(
        str(DOC), module_relative=False, globs=globs, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 25
    assert result.failed == 0
