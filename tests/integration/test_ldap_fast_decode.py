"""The LDAP store's one-pass entry decoding gives what ldap3's own decoding gives, on dcm4che's default tree."""

from __future__ import annotations

import ldap3
import pytest

from dcm_exporter.config.ldap import LdapConfigStore
from servers.slapd import SlapdServer

pytestmark = [pytest.mark.slapd, pytest.mark.upstream]


def _store(server: SlapdServer, **kwargs: object) -> LdapConfigStore:
    return LdapConfigStore(server.url, server.bind_dn, server.password, server.base_dn, **kwargs)  # type: ignore[arg-type]


def test_fast_and_ldap3_decoding_give_the_same_entries_and_configuration(slapd_upstream: SlapdServer) -> None:
    with _store(slapd_upstream) as fast, _store(slapd_upstream) as plain:
        assert fast._ldap._sink is not None  # the one-pass decoder is in use
        plain._ldap._sink = None  # ldap3 decodes everything, as before
        root = fast.config_root_dn
        got = fast._ldap.search(root, "(objectClass=*)", ldap3.SUBTREE)
        want = plain._ldap.search(root, "(objectClass=*)", ldap3.SUBTREE)
        assert len(got) == slapd_upstream.count(base=root) > 1000
        assert got == want  # DNs, attribute names, order, and str/bytes of every value
        assert [list(a) for _, a in got] == [list(a) for _, a in want]
        assert [[type(v) for vs in a.values() for v in vs] for _, a in got] == [
            [type(v) for vs in a.values() for v in vs] for _, a in want
        ]
        first, second = fast.load(), plain.load()
        assert first == second
        assert fast.load() == first and fast.load() is not first  # every load builds a new configuration


def test_small_pages_and_a_size_limit_with_the_fast_decoder(slapd_upstream: SlapdServer) -> None:
    with _store(slapd_upstream, page_size=7) as store:
        entries = store._ldap.search(store.config_root_dn, "(objectClass=dicomDevice)", ldap3.SUBTREE)
        assert len(entries) == slapd_upstream.count("(objectClass=dicomDevice)", base=store.config_root_dn)
        limited = store._ldap.search(store.config_root_dn, "(objectClass=*)", ldap3.SUBTREE, size_limit=3)
        assert len(limited) == 3
        assert store.load().devices  # the connection is still in step after a size-limited search
