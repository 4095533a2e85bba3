"""LDIF: read and write dcm4che's default-config.ldif, dcm_exporter.codecs.ldif against the ``ldif`` package.

Both readers parse the same bytes held in memory (no disk I/O in the timing), both writers write the same
records to bytes; each figure is the median of 5 runs (``--quick``: 3), measured in the same process.
The upstream file is read from ``../shared/dcm4che/ldap/config/default-config.ldif`` next to the repository;
the benchmark is skipped with a message when it is absent.
"""

from __future__ import annotations

import io
import statistics
import sys
from pathlib import Path

from _common import Result, median_rate, timed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from dcm_exporter.codecs.ldif import LdifEntry, read_ldif, write_ldif  # noqa: E402

DEFAULT_CONFIG = HERE.parent.parent / "shared" / "dcm4che" / "ldap" / "config" / "default-config.ldif"
PEER = "ldif 4.x (PyPI)"


def main(argv: list[str]) -> list[Result]:
    if not DEFAULT_CONFIG.is_file():
        print(f"   skipped: {DEFAULT_CONFIG} is absent (the upstream dcm4che files are not next to the repo)")
        return []
    try:
        import ldif  # the peer, from the "bench" extra
    except ImportError:
        print("   skipped: the peer package 'ldif' is not installed (pip install 'dcm-exporter[bench]')")
        return []

    runs = 3 if "--quick" in argv else 5
    data = DEFAULT_CONFIG.read_bytes()
    megabytes = len(data) / 1e6

    def ours_read() -> list[object]:
        return list(read_ldif(data))

    def peer_read() -> list[object]:
        return list(ldif.LDIFParser(io.BytesIO(data)).parse())

    records = read_ldif(data)
    # the ldif package yields the "version: 1" block as a record without DN
    peer_records = [r for r in peer_read() if r[0] is not None]  # type: ignore[index]
    count = len(records)
    if len(peer_records) != count:
        raise SystemExit(
            f"the readers disagree: {count} records here, {len(peer_records)} from the ldif package"
        )
    entries = [r for r in records if isinstance(r, LdifEntry)]

    def ours_write() -> bytes:
        return write_ldif(entries).encode("utf-8")

    def peer_write() -> bytes:
        out = io.BytesIO()
        writer = ldif.LDIFWriter(out, cols=76)
        for entry in entries:
            writer.unparse(entry.dn, entry.attributes)
        return out.getvalue()

    # the same entries as LDIF folded at 76 columns, as slapcat and most tools write it
    folded = write_ldif(records).encode("utf-8")

    def ours_read_folded() -> list[object]:
        return list(read_ldif(folded))

    def peer_read_folded() -> list[object]:
        return list(ldif.LDIFParser(io.BytesIO(folded)).parse())

    ours_read()  # warm up both (imports, regex compilation)
    peer_read()
    # runs alternate between the two libraries, so that a busy machine slows both alike
    pairs = {
        "read": (ours_read, peer_read),
        "folded": (ours_read_folded, peer_read_folded),
        "write": (ours_write, peer_write),
    }
    times: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key in pairs}
    for _ in range(runs):
        for key, (ours, peer) in pairs.items():
            times[key][0].append(timed(ours))
            times[key][1].append(timed(peer))
    read_ours, read_peer = times["read"]
    folded_ours, folded_peer = times["folded"]
    write_ours, write_peer = times["write"]

    ms = {
        name: statistics.median(times) * 1e3
        for name, times in [
            ("read", read_ours),
            ("peer read", read_peer),
            ("write", write_ours),
            ("peer write", write_peer),
        ]
    }
    print(
        f"   {DEFAULT_CONFIG.name}: {len(data):,} bytes, {count:,} entries; median of {runs}: "
        f"read {ms['read']:.1f} ms (ldif {ms['peer read']:.1f} ms), "
        f"write {ms['write']:.1f} ms (ldif {ms['peer write']:.1f} ms)"
    )
    return [
        Result(
            "ldif read default-config",
            "entries/s",
            median_rate(count, read_ours),
            PEER,
            median_rate(count, read_peer),
        ),
        Result(
            "ldif read default-config",
            "MB/s",
            median_rate(1, read_ours) * megabytes,
            PEER,
            median_rate(1, read_peer) * megabytes,
        ),
        Result(
            "ldif read folded at 76 columns",
            "entries/s",
            median_rate(count, folded_ours),
            PEER,
            median_rate(count, folded_peer),
        ),
        Result(
            "ldif write default-config",
            "entries/s",
            median_rate(count, write_ours),
            PEER,
            median_rate(count, write_peer),
        ),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
