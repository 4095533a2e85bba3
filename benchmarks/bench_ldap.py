"""LDAP: ``LdapConfigStore.load()`` of dcm4che's full default-config.ldif tree against ``ldapsearch``.

A throwaway slapd with dcm4che's upstream schemas and ``init-config.ldif`` + ``default-config.ldif`` (about
1,500 entries) runs on 127.0.0.1. Each run, alternating:

- ``load()`` row, both cold (a new connection and bind each run): ours, a new ``LdapConfigStore`` connects,
  binds and ``load()``s the ``cn=DICOM Configuration`` subtree into a ``Configuration`` (typed models for six
  devices), then closes; peer, ``ldapsearch -x -LLL -o ldif-wrap=no`` (OpenLDAP's C client, a new process)
  connects, binds and dumps the same subtree as LDIF into a pipe;
- search-only row, both warm (a connection opened and bound before the clock starts): ours, the same paged
  search (pages of 500) on an open store, entries decoded to ``(dn, {attribute: [values]})`` but no models
  built; peer, ldap3's own ``extend.standard.paged_search`` (pages of 500, ``generator=False``) on an open,
  bound ldap3 ``Connection``, which returns the entries decoded to dicts the same way.

Figures are entries per second from the median of 5 runs (``--quick``: 3); the LDAP round trips of one
``load()`` (bind + search pages) are printed. Needs slapd/ldap-utils and ``../shared/dcm4che``; skipped with
a message otherwise.

One more line without a server: ``ldif.load`` of the same ``default-config.ldif`` (bytes in
memory: parse and build the typed models) against the ``ldif`` package parsing the same bytes into a plain
``{dn: {attribute: [values]}}`` dict (the least any reader does; skipped when ``ldif`` is not installed).
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import Result, median_rate, timed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))

from dcm_exporter.codecs.ldif import load as load_ldif  # noqa: E402
from dcm_exporter.config.ldap import LdapConfigStore  # noqa: E402
from dcm_exporter.models import Configuration  # noqa: E402

UPSTREAM = Path(os.environ.get("DCM_EXPORTER_UPSTREAM_DIR") or HERE.parent.parent / "shared" / "dcm4che")
PEER = "ldapsearch (OpenLDAP C)"


def main(argv: list[str]) -> list[Result]:
    if not UPSTREAM.is_dir():
        print(f"   skipped: {UPSTREAM} is absent (the upstream dcm4che files are not next to the repo)")
        return []
    runs = 3 if "--quick" in argv else 5
    results = _from_ldif(runs)
    if not (shutil.which("slapd") or Path("/usr/sbin/slapd").exists()) or not shutil.which("ldapsearch"):
        print("   skipped: slapd / ldapsearch not installed (Debian packages slapd, ldap-utils)")
        return results
    from servers.slapd import SlapdFactory  # the test suite's throwaway-server code

    with tempfile.TemporaryDirectory(prefix="bench-ldap-") as tmp:
        factory = SlapdFactory(Path(tmp))
        try:
            server = factory.start(schema="upstream", content="default")
            return _measure(server, runs) + _marker(server, runs) + results
        finally:
            factory.stop_all()


def _from_ldif(runs: int) -> list[Result]:
    try:
        import ldif  # the peer, from the "bench" extra
    except ImportError:
        print("   from_ldif skipped: the peer package 'ldif' is not installed (pip install 'dcm-exporter[bench]')")
        return []
    data = (UPSTREAM / "ldap" / "config" / "default-config.ldif").read_bytes()

    def ours() -> Configuration:
        return load_ldif(data)

    def peer() -> dict[str, dict[str, list[bytes]]]:
        return {dn: {k.lower(): v for k, v in entry.items()} for dn, entry in ldif.LDIFParser(io.BytesIO(data)).parse()
                if dn is not None}

    count = len(peer())
    config = ours()
    if len(config.other_entries) + sum(1 for _ in _models(config)) != count:
        raise SystemExit(f"entry counts disagree: ldif package {count}, ldif.load differs")
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    for _ in range(runs):
        times["ours"].append(timed(ours))
        times["peer"].append(timed(peer))
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"   from_ldif: {count:,} entries, {len(data) / 1e3:.0f} KB; median of {runs}: "
          f"ldif.load {ms['ours']:.0f} ms, ldif package + dicts {ms['peer']:.0f} ms")
    return [Result("ldif.load default-config", "entries/s", median_rate(count, times["ours"]),
                   "ldif pkg + plain dicts", median_rate(count, times["peer"]))]


def _models(config: Configuration) -> list[object]:
    from dcm_exporter.codecs.ldap_mapping import iter_model_entries

    return [model for model, _ in iter_model_entries(config)]


def _measure(server: object, runs: int) -> list[Result]:
    url, bind_dn, password = server.url, server.bind_dn, server.password  # type: ignore[attr-defined]
    root = f"cn=DICOM Configuration,{server.base_dn}"  # type: ignore[attr-defined]
    argv = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", url, "-D", bind_dn, "-w", password,
            "-b", root, "-s", "sub", "(objectClass=*)"]
    env = {"LDAPRC": "/dev/null", "PATH": "/usr/bin:/bin"}

    def peer() -> bytes:
        return subprocess.run(argv, capture_output=True, check=True, env=env).stdout

    def ours_cold() -> object:
        with LdapConfigStore(url, bind_dn, password) as store:
            return store.load()

    import ldap3

    warm_store = LdapConfigStore(url, bind_dn, password).open()
    warm_peer = ldap3.Connection(ldap3.Server(url), bind_dn, password, auto_bind=True, raise_exceptions=True)

    def ours_search() -> object:
        return warm_store._ldap.search(root, "(objectClass=*)", ldap3.SUBTREE)

    def peer_search() -> list[dict[str, object]]:
        return list(warm_peer.extend.standard.paged_search(  # type: ignore[union-attr]
            root, "(objectClass=*)", ldap3.SUBTREE, attributes=["*"], paged_size=500, generator=False
        ))

    count = sum(1 for line in peer().decode().splitlines() if line.startswith("dn: ") or line.startswith("dn:: "))
    probe = LdapConfigStore(url, bind_dn, password)
    config = probe.load()
    round_trips = probe.round_trips
    probe.close()
    if len(ours_search()) != count:  # type: ignore[arg-type]
        raise SystemExit(f"entry counts disagree: ldapsearch {count}, LdapConfigStore {len(ours_search())}")  # type: ignore[arg-type]
    peer_entries = [e for e in peer_search() if e.get("type") == "searchResEntry"]
    if len(peer_entries) != count:
        raise SystemExit(f"entry counts disagree: ldapsearch {count}, ldap3 paged_search {len(peer_entries)}")

    times: dict[str, list[float]] = {"cold": [], "search": [], "peer": [], "peer search": []}
    for _ in range(runs):
        times["cold"].append(timed(ours_cold))
        times["search"].append(timed(ours_search))
        times["peer"].append(timed(peer))
        times["peer search"].append(timed(peer_search))
    warm_store.close()
    warm_peer.unbind()
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(
        f"   {count:,} entries, {len(config.devices)} devices; one load() = {round_trips} LDAP round trips "
        f"(bind + {round_trips - 1} search pages of 500); median of {runs}: load() {ms['cold']:.0f} ms, "
        f"search only {ms['search']:.0f} ms, ldapsearch {ms['peer']:.0f} ms, "
        f"ldap3 paged_search {ms['peer search']:.0f} ms"
    )
    return [
        Result("ldap load() default-config", "entries/s", median_rate(count, times["cold"]), PEER,
               median_rate(count, times["peer"])),
        Result("ldap paged search, warm, no models", "entries/s", median_rate(count, times["search"]),
               "ldap3 paged_search (warm)", median_rate(count, times["peer search"])),
    ]


def _marker(server: object, runs: int) -> list[Result]:
    """What live reload costs per poll: ``change_marker()`` (one subtree search returning entryCSN and
    modifyTimestamp) on an open store, against ldapsearch of the same two attributes, and against a whole load."""
    url, bind_dn, password = server.url, server.bind_dn, server.password  # type: ignore[attr-defined]
    root = f"cn=DICOM Configuration,{server.base_dn}"  # type: ignore[attr-defined]
    argv = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", url, "-D", bind_dn, "-w", password,
            "-b", root, "-s", "sub", "(objectClass=*)", "entryCSN", "modifyTimestamp"]
    env = {"LDAPRC": "/dev/null", "PATH": "/usr/bin:/bin"}
    with LdapConfigStore(url, bind_dn, password) as store:
        store.change_marker()  # the contextCSN probe happens once
        marker = [timed(store.change_marker) for _ in range(runs * 4)]
        load = [timed(store.load) for _ in range(runs)]
    peer = [timed(lambda: subprocess.run(argv, capture_output=True, check=True, env=env)) for _ in range(runs * 4)]
    ms = {k: statistics.median(v) * 1e3 for k, v in (("marker", marker), ("load", load), ("peer", peer))}
    print(f"   live-reload poll: change_marker() {ms['marker']:.1f} ms (a whole load() {ms['load']:.0f} ms), "
          f"ldapsearch of the same two attributes {ms['peer']:.1f} ms")
    return [Result("ldap change marker (poll)", "polls/s", 1 / statistics.median(marker), "ldapsearch 2 attrs",
                   1 / statistics.median(peer))]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
