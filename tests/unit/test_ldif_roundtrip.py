"""Property tests: whatever the writer produces, the reader reads back unchanged; the reader only ever raises
:class:`~dcm_exporter.errors.LdifError` on bad input."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcm_exporter.codecs.ldif import (
    LdifChange,
    LdifEntry,
    Modification,
    Value,
    format_entry,
    read_ldif,
    write_ldif,
)
from dcm_exporter.errors import LdifError

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,12}(;[A-Za-z0-9-]{1,6})?\Z").filter(
    lambda n: n.lower() != "dn" and ";binary" not in n.lower()
)
tricky_text = st.builds(
    lambda head, body, tail: head + body + tail,
    st.sampled_from(["", " ", "  ", ":", "::", "<", ":<", "#", "-", "\x00", "\n", "\r\n", "é", "\t"]),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\n", "\r", "\x00", "é", ":", "\u2028"]),
)
values = st.one_of(
    st.text(),
    st.binary(),
    tricky_text,
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=70, max_size=600),
    st.binary(min_size=100, max_size=400),
)
wraps = st.one_of(st.just(76), st.just(0), st.integers(min_value=2, max_value=120))


def normalise(value: Value) -> Value:
    """What the reader gives back for a written value: UTF-8 bytes come back as str."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def escape_rdn_value(value: str) -> str:
    """RFC 4514 escaping of an attribute value inside a DN (test-side, independent of the reader)."""
    out = []
    for i, ch in enumerate(value):
        if ch in '\\"+,;<>' or (i == 0 and ch in " #") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


rdn_types = st.sampled_from(["cn", "dicomDeviceName", "dicomAETitle", "dcmExporterID", "o", "dc", "2.5.4.3"])
rdn_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["Smith, John", "a+b", "#hash", " lead", "trail ", 'quo"te', "back\\slash", "x=y", "<>;", "Zürich"]
    ),
)
rdns = st.lists(st.tuples(rdn_types, rdn_values), min_size=1, max_size=2).map(
    lambda pairs: "+".join(f"{t}={escape_rdn_value(v)}" for t, v in pairs)
)
dns = st.lists(rdns, min_size=1, max_size=5).map(",".join)


@st.composite
def attribute_maps(draw: st.DrawFn) -> dict[str, list[Value]]:
    result: dict[str, list[Value]] = {}
    seen: set[str] = set()
    for name in draw(st.lists(names, min_size=1, max_size=6)):
        if name.lower() not in seen:  # names differing only in case would be merged by the reader
            seen.add(name.lower())
            result[name] = draw(st.lists(values, min_size=1, max_size=4))
    return result


entries = st.builds(lambda dn, attributes: LdifEntry(dn=dn, attributes=attributes), dns, attribute_maps())


def normalised_entry(entry: LdifEntry) -> LdifEntry:
    return LdifEntry(
        dn=entry.dn, attributes={k: [normalise(v) for v in vs] for k, vs in entry.attributes.items()}
    )


@SETTINGS
@given(value=values, wrap=wraps)
def test_any_value_round_trips(value: Value, wrap: int) -> None:
    text = format_entry(LdifEntry(dn="cn=x", attributes={"description": [value]}), wrap=wrap)
    [entry] = read_ldif(text)
    assert entry.attributes == {"description": [normalise(value)]}


@SETTINGS
@given(value=values, wrap=wraps)
def test_written_lines_are_ascii_and_within_wrap(value: Value, wrap: int) -> None:
    text = write_ldif([LdifEntry(dn="cn=Zürich,o=x", attributes={"description": [value, value]})], wrap=wrap)
    assert text.isascii()
    assert text.endswith("\n")
    for line in text.split("\n")[:-1]:
        assert "\r" not in line
        if wrap:
            assert len(line) <= wrap


@SETTINGS
@given(records=st.lists(entries, max_size=5), wrap=wraps, version=st.booleans())
def test_entries_round_trip(records: list[LdifEntry], wrap: int, version: bool) -> None:
    text = write_ldif(records, wrap=wrap, version=version)
    assert read_ldif(text) == [normalised_entry(e) for e in records]
    # CRLF line ends and bytes input read the same
    assert read_ldif(text.replace("\n", "\r\n").encode()) == read_ldif(text)


@SETTINGS
@given(dn=dns)
def test_escaped_dns_round_trip(dn: str) -> None:
    [entry] = read_ldif(format_entry(LdifEntry(dn=dn, attributes={"cn": ["x"]})))
    assert entry.dn == dn


modifications = st.builds(
    lambda op, attribute, vals: Modification(op=op, attribute=attribute, values=vals),
    st.sampled_from(["add", "delete", "replace"]),
    names,
    st.lists(values, max_size=3),
)
changes = st.one_of(
    st.builds(
        lambda dn, mods: LdifChange(dn=dn, changetype="modify", modifications=mods),
        dns,
        st.lists(modifications, max_size=4),
    ),
    st.builds(lambda dn, attrs: LdifChange(dn=dn, changetype="add", attributes=attrs), dns, attribute_maps()),
    st.builds(lambda dn: LdifChange(dn=dn, changetype="delete"), dns),
    st.builds(
        lambda dn, rdn, delete, sup, ct: LdifChange(
            dn=dn, changetype=ct, newrdn=rdn, deleteoldrdn=delete, newsuperior=sup
        ),
        dns,
        rdns,
        st.booleans(),
        st.none() | dns,
        st.sampled_from(["modrdn", "moddn"]),
    ),
)


def normalised_change(change: LdifChange) -> LdifChange:
    return LdifChange(
        dn=change.dn,
        changetype=change.changetype,
        attributes={k: [normalise(v) for v in vs] for k, vs in change.attributes.items()},
        modifications=[
            Modification(op=m.op, attribute=m.attribute, values=[normalise(v) for v in m.values])
            for m in change.modifications
        ],
        newrdn=change.newrdn,
        deleteoldrdn=change.deleteoldrdn,
        newsuperior=change.newsuperior,
    )


@SETTINGS
@given(records=st.lists(changes, max_size=5), wrap=wraps)
def test_change_records_round_trip(records: list[LdifChange], wrap: int) -> None:
    text = write_ldif(records, wrap=wrap)
    assert read_ldif(text) == [normalised_change(c) for c in records]
    assert text.isascii()
    assert not wrap or all(len(line) <= wrap for line in text.splitlines())


ldif_lines = st.sampled_from(
    [
        "version: 1",
        "version: 2",
        "dn: cn=x,o=y",
        "dn:: Y249eA==",
        "dn: broken",
        "cn: y",
        "cn:: QUJD",
        "cn:: !!",
        " folded",
        "#comment",
        "",
        "",
        "-",
        "changetype: modify",
        "changetype: add",
        "changetype: delete",
        "changetype: modrdn",
        "newrdn: cn=z",
        "deleteoldrdn: 1",
        "add: cn",
        "replace: cn",
        "delete: cn",
        "control: 1.2.3 true",
        "jpegPhoto:< file:missing.bin",
        "jpegPhoto:< http://127.0.0.1/x",
        "no colon",
    ]
)


@SETTINGS
@given(lines=st.lists(st.one_of(ldif_lines, st.text(max_size=20)), max_size=25), crlf=st.booleans())
def test_reader_raises_only_ldif_errors(lines: list[str], crlf: bool) -> None:
    text = ("\r\n" if crlf else "\n").join(lines)
    try:
        records = read_ldif(text, base_dir=Path(__file__).parent / "no-such-folder")
    except LdifError as exc:
        assert exc.line is None or exc.line >= 1
        assert exc.filename == "<string>"
        return
    # whatever was accepted can be written and read back
    assert read_ldif(write_ldif(records)) == records


@SETTINGS
@given(data=st.binary(max_size=200))
def test_reader_on_random_bytes_raises_only_ldif_errors(data: bytes) -> None:
    try:
        read_ldif(data)
    except LdifError:
        pass
