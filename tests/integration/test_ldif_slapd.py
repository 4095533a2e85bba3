"""The LDIF codec against a real OpenLDAP: slapd's own tools read what we write, we read what they write."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dcm_exporter.codecs.ldif import LdifChange, LdifEntry, Modification, read_ldif, write_ldif
from servers.slapd import SlapdServer

Values = dict[str, frozenset[str | bytes]]


def comparable(records: Iterable[LdifEntry | LdifChange]) -> dict[str, Values]:
    """DN (lower case) -> attribute (lower case) -> set of values: what LDAP guarantees to keep."""
    result: dict[str, Values] = {}
    for record in records:
        assert isinstance(record, LdifEntry)
        # slapd writes an escaped comma in a DN as \2C, the same DN as \, (RFC 4514)
        result[record.dn.lower().replace("\\2c", "\\,")] = {
            name.lower(): frozenset(values) for name, values in record.attributes.items()
        }
    return result


def test_reads_ldapsearch_output_of_the_upstream_configuration(
    slapd_upstream: SlapdServer, upstream_dir: Path
) -> None:
    """What ldapadd loaded from the upstream files comes back equal through ldapsearch and our reader."""
    config = upstream_dir / "ldap" / "config"
    loaded = comparable(read_ldif(config / "init-config.ldif") + read_ldif(config / "default-config.ldif"))
    served = comparable(read_ldif(slapd_upstream.ldapsearch(base=slapd_upstream.config_root_dn)))
    assert len(served) == len(loaded) == 1513
    assert served == loaded


def test_ldapmodify_applies_our_change_records(slapd: SlapdServer) -> None:
    """Folded lines, base64 values and DNs and every change type, as written by write_ldif, work in slapd."""
    base = slapd.base_dn
    long_text = "A very long description that the writer has to fold over several lines. " * 4
    changes = [
        LdifChange(
            dn=f"ou=Zürich,{base}",
            changetype="add",
            attributes={
                "objectClass": ["organizationalUnit"],
                "ou": ["Zürich"],
                "description": [" starts with a space", ":colon first", "<angle", long_text],
            },
        ),
        LdifChange(
            dn=f"cn=Gerät 1,ou=Zürich,{base}",
            changetype="add",
            attributes={"objectClass": ["device"], "cn": ["Gerät 1"], "l": ["Genève"]},
        ),
        LdifChange(
            dn=f"cn=Gerät 1,ou=Zürich,{base}",
            changetype="modify",
            modifications=[
                Modification(op="add", attribute="description", values=["trailing space ", "Ünïcödé"]),
                Modification(op="replace", attribute="l", values=["Lübeck"]),
                Modification(op="add", attribute="seeAlso", values=[f"ou=Zürich,{base}"]),
                Modification(op="delete", attribute="seeAlso", values=[]),
            ],
        ),
        LdifChange(
            dn=f"cn=Gerät 1,ou=Zürich,{base}", changetype="modrdn", newrdn="cn=Gerät 2", deleteoldrdn=True
        ),
        LdifChange(
            dn=f"cn=Temporary,{base}",
            changetype="add",
            attributes={"objectClass": ["device"], "cn": ["Temporary"]},
        ),
        LdifChange(dn=f"cn=Temporary,{base}", changetype="delete"),
    ]
    text = write_ldif(changes)
    assert "::" in text and "\n " in text  # base64 and folding are exercised
    slapd.ldapmodify(text)

    unit, device = read_ldif(slapd.ldapsearch(base=f"ou=Zürich,{base}"))
    assert isinstance(unit, LdifEntry) and isinstance(device, LdifEntry)
    assert unit.dn == f"ou=Zürich,{base}"
    assert sorted(unit.get("description")) == sorted(
        [" starts with a space", ":colon first", "<angle", long_text]
    )
    assert device.dn == f"cn=Gerät 2,ou=Zürich,{base}"
    assert sorted(device.get("cn")) == ["Gerät 2"]
    assert device.get("l") == ["Lübeck"]
    assert sorted(device.get("description")) == sorted(["trailing space ", "Ünïcödé"])
    assert device.get("seeAlso") == []
    assert slapd.count("(cn=Temporary)") == 0


def test_ldapadd_loads_our_content_records(slapd: SlapdServer) -> None:
    """Content records written by write_ldif load with ldapadd and read back equal."""
    base = slapd.base_dn
    entries = [
        LdifEntry(dn=f"ou=Ünits,{base}", attributes={"objectClass": ["organizationalUnit"], "ou": ["Ünits"]}),
        *(
            LdifEntry(
                dn=f"cn=device {i}\\, number {i},ou=Ünits,{base}",
                attributes={
                    "objectClass": ["device"],
                    "cn": [f"device {i}, number {i}"],
                    "description": [f"#{i} " + "x" * (i * 40)],
                },
            )
            for i in range(1, 6)
        ),
    ]
    slapd.ldapadd(write_ldif(entries, wrap=40))
    served = comparable(read_ldif(slapd.ldapsearch(base=f"ou=Ünits,{base}")))
    assert served == comparable(entries)
