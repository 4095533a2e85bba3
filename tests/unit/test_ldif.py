"""The LDIF reader and writer on small samples: every RFC 2849 feature, the SAFE-STRING rules, folding."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from dcm_exporter.codecs.ldif import (
    Control,
    LdifChange,
    LdifEntry,
    Modification,
    format_entry,
    iter_ldif,
    read_ldif,
    write_ldif,
)
from dcm_exporter.errors import LdifError

GOOD = Path(__file__).resolve().parents[1] / "data" / "ldif" / "good"
DEVICE_DN = "dicomDeviceName=sample,cn=Devices,cn=DICOM Configuration,dc=example,dc=org"


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# --- reading -------------------------------------------------------------------------------------


def test_features_sample() -> None:
    device, zurich = read_ldif(GOOD / "features.ldif", allow_file_urls=True)
    assert isinstance(device, LdifEntry) and isinstance(zurich, LdifEntry)
    assert device.dn == DEVICE_DN
    assert device.line == 7
    assert device.filename == str(GOOD / "features.ldif")
    # "objectclass" (other letter case, last line) joins "objectClass"
    assert device.attributes["objectClass"] == ["dicomDevice", "dcmDevice", "dcmArchiveDevice"]
    assert "objectclass" not in device.attributes
    assert device.first("dicomDescription") == (
        "A description that is long enough to be folded over two lines, as LDIF writers do at 76 columns."
    )
    assert device.first("dicomInstitutionName") == "Hôpital Général"
    certificate = device.first("userCertificate;binary")
    assert (
        isinstance(certificate, bytes)
        and certificate.startswith(b"\x30\x82\x01\x0a")
        and len(certificate) == 80
    )
    assert device.first("jpegPhoto") == (GOOD / "photo.bin").read_bytes()
    assert device.first("description") == " leading space"
    assert device.first("dicomManufacturer") == "no-space-after-colon"
    assert device.first("dicomSoftwareVersion") == "extra fill"
    assert list(device.attributes)[:4] == [
        "objectClass",
        "dicomDeviceName",
        "dicomDescription",
        "dicomInstalled",
    ]
    assert zurich.dn == "cn=Zürich,dc=example,dc=org"
    assert zurich.line == 26
    assert zurich.attributes == {"objectClass": ["organizationalRole"], "cn": ["Zürich"], "description": [""]}


def test_changes_sample() -> None:
    add, delete, modify, modrdn, moddn, controlled = read_ldif(GOOD / "changes.ldif")
    assert add == LdifChange(
        dn="cn=new,dc=example,dc=org", changetype="add", attributes={"objectClass": ["device"], "cn": ["new"]}
    )
    assert add.first("CN") == "new"
    assert delete == LdifChange(
        dn="cn=old,dc=example,dc=org",
        changetype="delete",
        controls=[Control(oid="1.2.840.113556.1.4.805", critical=True)],
    )
    assert isinstance(modify, LdifChange)
    assert modify.changetype == "modify"
    assert modify.modifications == [
        Modification(op="add", attribute="description", values=["first", "second"]),
        Modification(op="delete", attribute="seeAlso", values=[]),
        Modification(op="replace", attribute="l", values=["Lübeck"]),
    ]
    assert (modify.line, modrdn.line, moddn.line, controlled.line) == (13, 25, 31, 36)
    assert isinstance(modrdn, LdifChange) and isinstance(moddn, LdifChange)
    assert (modrdn.changetype, modrdn.newrdn, modrdn.deleteoldrdn, modrdn.newsuperior) == (
        "modrdn",
        "cn=renamed",
        True,
        "ou=moved,dc=example,dc=org",
    )
    assert (moddn.changetype, moddn.newrdn, moddn.deleteoldrdn, moddn.newsuperior) == (
        "moddn",
        "cn=again",
        False,
        None,
    )
    assert isinstance(controlled, LdifChange)
    assert controlled.controls == [
        Control(oid="1.3.6.1.1.13.1", critical=False, value="cn"),
        Control(oid="1.2.3", critical=False, value=b"\x00\x01\xff"),
    ]


@pytest.mark.parametrize("sample", ["features.ldif", "changes.ldif"])
def test_samples_round_trip(sample: str) -> None:
    records = read_ldif(GOOD / sample, allow_file_urls=True)
    text = write_ldif(records)
    assert read_ldif(text) == records
    assert write_ldif(read_ldif(text)) == text


@pytest.mark.parametrize("sample", ["features.ldif", "changes.ldif"])
def test_crlf_line_ends_read_the_same(sample: str) -> None:
    lf = read_ldif(GOOD / sample, allow_file_urls=True)
    crlf_bytes = (GOOD / sample).read_bytes().replace(b"\n", b"\r\n")
    crlf = read_ldif(crlf_bytes, base_dir=GOOD, allow_file_urls=True)
    assert crlf == lf
    assert [r.line for r in crlf] == [r.line for r in lf]


def test_sources_text_bytes_path_and_files(tmp_path: Path) -> None:
    text = "version: 1\n\ndn: cn=x\ncn: x\n"
    path = tmp_path / "x.ldif"
    path.write_text(text)
    expected = [LdifEntry(dn="cn=x", attributes={"cn": ["x"]})]
    assert read_ldif(text) == expected
    assert read_ldif(text.encode()) == expected
    assert read_ldif(path) == expected
    assert read_ldif(path)[0].filename == str(path)
    with path.open("rb") as binary:
        assert read_ldif(binary)[0].filename == str(path)
    with path.open() as textfile:
        assert read_ldif(textfile) == expected
    assert read_ldif(io.StringIO(text))[0].filename is None
    assert read_ldif(io.BytesIO(text.encode()), filename="given.ldif")[0].filename == "given.ldif"


def test_version_is_optional_and_may_share_the_first_block() -> None:
    assert read_ldif("dn: cn=x\ncn: x")[0].line == 1
    [entry] = read_ldif("version: 1\ndn: cn=x\ncn: x\n")
    assert entry.line == 2
    assert read_ldif("version:1\n") == []
    assert read_ldif("") == []
    assert read_ldif("# only a comment\n\n\n") == []


def test_byte_order_mark_blank_lines_and_keyword_case() -> None:
    text = "\ufeffversion: 1\n\n\n\nDN: cn=a\nCN: a\n\n\n\ndn: cn=b\ncn: b\n\n\n"
    first, second = read_ldif(text)
    assert (first.dn, first.line, second.line) == ("cn=a", 5, 10)
    assert first.attributes == {"CN": ["a"]}
    assert first.get("cn") == ["a"]
    change = read_ldif("dn: cn=a\nChangeType: MODIFY\nREPLACE: cn\ncn: b\n-\n")[0]
    assert isinstance(change, LdifChange) and change.changetype == "modify"
    assert change.modifications == [Modification(op="replace", attribute="cn", values=["b"])]


def test_folding_joins_without_the_leading_space() -> None:
    [entry] = read_ldif(
        "dn: cn=a,dc=exa\n mple,dc=org\ndescription: one \n two\n  three\n# comment\n still comment\ncn: a\n"
    )
    assert entry.dn == "cn=a,dc=example,dc=org"
    assert entry.attributes == {"description": ["one two three"], "cn": ["a"]}


def test_attribute_options_and_oids() -> None:
    [entry] = read_ldif("dn: cn=a\ncn;lang-de: a\n2.5.4.3: b\ndescription:: AAE=\n")
    assert entry.attributes == {"cn;lang-de": ["a"], "2.5.4.3": ["b"], "description": ["\x00\x01"]}


def test_binary_option_values_are_always_bytes() -> None:
    text = (
        "dn: cn=a\nuserCertificate;binary:: QUJD\nuserCertificate;binary: plain\n"
        "USERCERTIFICATE;BINARY:: AAE=\n"
    )
    [entry] = read_ldif(text)
    assert entry.attributes == {"userCertificate;binary": [b"ABC", b"plain", b"\x00\x01"]}
    assert read_ldif(write_ldif([entry])) == [entry]
    [change] = read_ldif(
        "dn: cn=a\nchangetype: modify\nadd: userCertificate;binary\nuserCertificate;binary: x\n-\n"
    )
    assert isinstance(change, LdifChange)
    assert change.modifications[0].values == [b"x"]


def test_dn_escapes_and_base64_dn() -> None:
    dn = r"cn=Smith\, John+uid=js,ou=R\C3\A9seau,o=a\=b"
    [entry] = read_ldif(f"dn: {dn}\ncn: x\n")
    assert entry.dn == dn
    [entry] = read_ldif(f"dn:: {b64('cn=Grüße,dc=org')}\ncn: x\n")
    assert entry.dn == "cn=Grüße,dc=org"
    [root] = read_ldif("dn:\nobjectClass: top\n")
    assert root.dn == ""


def test_url_values(tmp_path: Path) -> None:
    data = bytes(range(256))
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "blob.bin").write_bytes(data)
    (tmp_path / "text.txt").write_text("from a file")
    ldif = tmp_path / "urls.ldif"
    ldif.write_text(
        "dn: cn=x\n"
        "a:< file:sub%20dir/blob.bin\n"
        f"b:< file://{(tmp_path / 'text.txt').as_posix()}\n"
        f"c:< file://localhost{(tmp_path / 'text.txt').as_posix()}\n"
        "d:<file:text.txt\n"
    )
    [entry] = read_ldif(ldif, allow_file_urls=True)
    assert entry.attributes == {"a": [data], "b": ["from a file"], "c": ["from a file"], "d": ["from a file"]}
    # text with a file name resolves against that file's folder; base_dir overrides
    text = ldif.read_text()
    assert read_ldif(text, filename=str(ldif), allow_file_urls=True) == [entry]
    assert read_ldif(text, base_dir=tmp_path, allow_file_urls=True) == [entry]
    with pytest.raises(LdifError, match="cannot read the value of 'a'") as caught:
        read_ldif(text, base_dir=tmp_path / "elsewhere", allow_file_urls=True)
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1/x", "(https:); only file: URLs are read"),
        ("ldap://127.0.0.1/cn=x", "(ldap:); only file: URLs are read"),
        ("x.bin", "(no scheme); only file: URLs are read"),
        ("", "expected a file: URL after ':<'"),
        ("file:", "has no path"),
    ],
)
def test_url_values_refused(url: str, message: str) -> None:
    with pytest.raises(LdifError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        read_ldif(f"dn: cn=x\ncn: x\njpegPhoto:< {url}\n")
    assert caught.value.line == 3


def test_plain_values_keep_inner_and_trailing_spaces() -> None:
    [entry] = read_ldif("dn: cn=x\ndescription: a  b \nother::\nempty:\n")
    assert entry.attributes == {"description": ["a  b "], "other": [""], "empty": [""]}


# --- writing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("plain", "v: plain"),
        ("", "v:"),
        (b"", "v:"),
        ("inner space and : colon < and # hash", "v: inner space and : colon < and # hash"),
        (" leading space", f"v:: {b64(' leading space')}"),
        (":leading colon", f"v:: {b64(':leading colon')}"),
        ("<leading angle", f"v:: {b64('<leading angle')}"),
        ("trailing space ", f"v:: {b64('trailing space ')}"),
        ("line\nfeed", "v:: bGluZQpmZWVk"),
        ("carriage\rreturn", "v:: Y2FycmlhZ2UNcmV0dXJu"),
        ("nul\x00byte", "v:: bnVsAGJ5dGU="),
        ("Zürich", f"v:: {b64('Zürich')}"),
        ("#not a comment", "v: #not a comment"),
        ("-", "v: -"),
        (b"ascii bytes", "v: ascii bytes"),
        (b"\xff\xfe", "v:: //4="),
        (b" ", f"v:: {b64(' ')}"),
    ],
)
def test_writer_base64_exactly_when_rfc2849_requires(value: str | bytes, line: str) -> None:
    text = format_entry(LdifEntry(dn="cn=x", attributes={"v": [value]}), wrap=0)
    assert text == f"dn: cn=x\n{line}\n"
    [entry] = read_ldif(text)
    expected = value.decode() if isinstance(value, bytes) and value.isascii() else value
    assert entry.attributes["v"] == [expected]


@pytest.mark.parametrize(
    ("dn", "line"),
    [("cn=x", "dn: cn=x"), ("cn=Zürich", f"dn:: {b64('cn=Zürich')}"), ("cn=x ", f"dn:: {b64('cn=x ')}")],
)
def test_writer_dn_base64_when_needed(dn: str, line: str) -> None:
    assert format_entry(LdifEntry(dn=dn, attributes={"cn": ["x"]})).splitlines()[0] == line


@pytest.mark.parametrize("wrap", [2, 10, 40, 76, 77])
def test_writer_folds_at_wrap_columns(wrap: int) -> None:
    value = "0123456789" * 30
    entry = LdifEntry(dn="cn=" + "d" * 120, attributes={"description": [value], "photo": [bytes(range(256))]})
    text = write_ldif([entry], wrap=wrap)
    lines = text.splitlines()
    assert max(len(line) for line in lines) == wrap
    assert all(len(line) <= wrap for line in lines)
    assert read_ldif(text) == [entry]


def test_writer_without_folding_and_version() -> None:
    entry = LdifEntry(dn="cn=x", attributes={"description": ["y" * 500]})
    assert write_ldif([entry], wrap=0, version=False) == f"dn: cn=x\ndescription: {'y' * 500}\n"
    assert write_ldif([]) == "version: 1\n"
    assert write_ldif([entry, entry], version=False).count("\n\n") == 1


def test_writer_change_records() -> None:
    records = [
        LdifChange(dn="cn=a", changetype="add", attributes={"cn": ["a"], "objectClass": ["device"]}),
        LdifChange(
            dn="cn=a",
            changetype="modify",
            modifications=[
                Modification(op="replace", attribute="description", values=[" spaced", b"\xff"]),
                Modification(op="delete", attribute="seeAlso"),
            ],
        ),
        LdifChange(dn="cn=a", changetype="modrdn", newrdn="cn=b", deleteoldrdn=True, newsuperior="o=x"),
        LdifChange(
            dn="cn=b,o=x", changetype="delete", controls=[Control(oid="1.2.3", critical=True, value="v")]
        ),
    ]
    text = write_ldif(records)
    assert text == (
        "version: 1\n\n"
        "dn: cn=a\nchangetype: add\ncn: a\nobjectClass: device\n\n"
        f"dn: cn=a\nchangetype: modify\nreplace: description\ndescription:: {b64(' spaced')}\n"
        "description:: /w==\n-\ndelete: seeAlso\n-\n\n"
        "dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 1\nnewsuperior: o=x\n\n"
        "dn: cn=b,o=x\ncontrol: 1.2.3 true: v\nchangetype: delete\n"
    )
    assert read_ldif(text) == records


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([LdifEntry(dn="not a dn", attributes={"cn": ["x"]})], "invalid distinguished name 'not a dn'"),
        ([LdifEntry(dn="cn=x", attributes={"bad name": ["x"]})], "invalid attribute description 'bad name'"),
        ([LdifEntry(dn="cn=x", attributes={"cn": []})], "it has no attribute values"),
        (
            [LdifEntry(dn="cn=x", attributes={"cn": ["x"]}), LdifChange(dn="cn=x", changetype="delete")],
            "cannot write a change record",
        ),
        ([LdifChange(dn="cn=x", changetype="rename")], "unknown changetype 'rename'"),  # type: ignore[arg-type]
        ([LdifChange(dn="cn=x", changetype="modrdn")], "invalid newrdn None"),
        ([LdifChange(dn="cn=x", changetype="add")], "it has no attribute values"),
        ([LdifChange(dn="cn=x", changetype="delete", controls=[Control(oid="x")])], "not a dotted OID"),
        (
            [LdifChange(dn="cn=x", changetype="delete", attributes={"cn": ["x"]}, newrdn="cn=y")],
            "it has attributes and newrdn, which a 'changetype: delete' record cannot hold",
        ),
        (
            [
                LdifChange(
                    dn="cn=x",
                    changetype="modrdn",
                    newrdn="cn=y",
                    modifications=[Modification(op="add", attribute="cn")],
                )
            ],
            "it has modifications, which",
        ),
        ([LdifEntry(dn="cn=x", attributes={"cn": ["\udcff"]})], "cannot be encoded as UTF-8"),
    ],
)
def test_writer_refuses_what_it_cannot_write(records: list[LdifEntry | LdifChange], message: str) -> None:
    with pytest.raises(LdifError, match=message):
        write_ldif(records)


def test_writer_type_errors() -> None:
    with pytest.raises(TypeError, match="must be str or bytes, not int"):
        format_entry(LdifEntry(dn="cn=x", attributes={"cn": [1]}))  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be a list of str or bytes, not a single str"):
        format_entry(LdifEntry(dn="cn=x", attributes={"cn": "x"}))  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="wrap must be 0"):
        format_entry(LdifEntry(dn="cn=x", attributes={"cn": ["x"]}), wrap=1)


# --- records -------------------------------------------------------------------------------------


def test_equality_ignores_where_a_record_came_from() -> None:
    a = LdifEntry(dn="cn=x", attributes={"cn": ["x"]}, line=3, filename="a.ldif")
    b = LdifEntry(dn="cn=x", attributes={"cn": ["x"]})
    assert a == b
    assert a != LdifEntry(dn="cn=x", attributes={"cn": ["y"]})


def test_case_insensitive_access() -> None:
    entry = LdifEntry(dn="cn=x", attributes={"objectClass": ["top", "dcmDevice"], "ObjectClass": ["extra"]})
    assert entry.get("objectClass") == ["top", "dcmDevice"]  # exact spelling first
    assert entry.get("OBJECTCLASS") == ["top", "dcmDevice", "extra"]
    assert entry.first("objectclass") == "top"
    assert entry.first("missing", "default") == "default"
    assert entry.has_object_class("DCMDEVICE")
    assert not entry.has_object_class("dicomDevice")
    values = entry.get("objectClass")
    values.append("changed")
    assert entry.attributes["objectClass"] == ["top", "dcmDevice"]  # get returns a copy


def test_iter_ldif_is_lazy() -> None:
    records = iter_ldif("dn: cn=a\ncn: a\n\ndn: cn=b\nbroken line\n")
    assert next(records).dn == "cn=a"
    with pytest.raises(LdifError, match="<string>:5"):
        next(records)


@pytest.mark.parametrize("comment", ["", "# a comment\n"])
def test_error_lines_in_folded_records(comment: str) -> None:
    """Folded records with and without comments report the line where the bad logical line starts."""
    text = f"version: 1\n\ndn: cn=a,\n o=x\n{comment}description: a\n b\n c\nbad:: YW\n Jj*\ncn x\n"
    offset = comment.count("\n")
    with pytest.raises(LdifError) as caught:
        read_ldif(text)
    assert caught.value.line == 8 + offset
    assert "invalid base64 value of 'bad'" in caught.value.reason
    with pytest.raises(LdifError) as caught:
        read_ldif(text.replace("bad:: YW\n Jj*", "bad:: YW\n Jj"))
    assert caught.value.line == 10 + offset
    assert "no ':'" in caught.value.reason
    # version line and a folded record in one block
    with pytest.raises(LdifError) as caught:
        read_ldif("version: 1\ndn: cn=a\ndescription: x\n y\ncn x\n")
    assert caught.value.line == 5
    [entry] = read_ldif(f"dn: cn=a,\n o=x\n{comment}description: a\n b\n c\n")
    assert (entry.dn, entry.line, entry.attributes) == ("cn=a,o=x", 1, {"description": ["abc"]})
