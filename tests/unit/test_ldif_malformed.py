"""Every file of the malformed LDIF corpus (tests/data/ldif/malformed) fails with its error and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcm_exporter.codecs.ldif import iter_ldif, read_ldif
from dcm_exporter.errors import CodecError, LdifError

MALFORMED = Path(__file__).resolve().parents[1] / "data" / "ldif" / "malformed"

# file -> (1-based line of the error, fragment of the message)
EXPECTED: dict[str, tuple[int, str]] = {
    "add-without-attributes.ldif": (2, "'changetype: add' record needs at least one 'attribute: value' line"),
    "attribute-without-colon.ldif": (5, "expected 'attribute: value', found 'cn x' (no ':')"),
    "bad-base64.ldif": (5, "invalid base64 value of 'description'"),
    "bad-base64-padding.ldif": (4, "invalid base64 value of 'description'"),
    "bad-control.ldif": (2, "expected 'control: <OID> [true|false] [: value]'"),
    "bad-deleteoldrdn.ldif": (6, "deleteoldrdn must be 0 or 1, found 'yes'"),
    "bad-version.ldif": (1, "unsupported LDIF version 2; only version 1"),
    "continuation-after-blank.ldif": (7, "continuation line (starting with a space) with no line before it"),
    "continuation-first.ldif": (1, "continuation line (starting with a space) with no line before it"),
    "control-without-changetype.ldif": (3, "expected 'changetype:' after the 'control:' lines"),
    "dash-in-content-record.ldif": (3, "'-' only ends a modification in a 'changetype: modify' record"),
    "delete-with-attributes.ldif": (
        3,
        "a 'changetype: delete' record ends after 'changetype:', found 'cn: x'",
    ),
    "dn-base64-not-utf8.ldif": (3, "the base64 value of 'dn' is not UTF-8 text"),
    "entry-without-attributes.ldif": (3, "entry 'cn=x,dc=example,dc=org' has no attributes"),
    "invalid-attribute-name.ldif": (3, "invalid attribute description 'object_class'"),
    "invalid-dn.ldif": (3, "invalid distinguished name 'just some words'"),
    "missing-dn.ldif": (8, "expected 'dn:' to start a record, found 'objectClass: device'"),
    "mixed-change-and-content.ldif": (6, "this content record follows a change record (line 1)"),
    "mixed-content-and-change.ldif": (7, "this change record follows a content record (line 3)"),
    "modify-bad-operation.ldif": (3, "expected 'add:', 'delete:' or 'replace:' to start a modification"),
    "modify-last-without-dash.ldif": (6, "the modification 'delete: seeAlso' is not ended by a '-' line"),
    "modify-without-dash.ldif": (7, "expected '-' to end the modification 'replace: description' (line 5)"),
    "modify-wrong-attribute.ldif": (4, "expected a value of 'description' or '-', found 'cn: y'"),
    "modrdn-extra-line.ldif": (6, "unexpected line in the 'changetype: modrdn' record"),
    "modrdn-without-newrdn.ldif": (3, "expected 'newrdn:' in the 'changetype: moddn' record"),
    "not-utf8.ldif": (3, "byte 0xe9 is not valid UTF-8"),
    "second-dn-line.ldif": (4, "a second 'dn:' line in one record"),
    "stray-carriage-return.ldif": (3, "stray carriage return"),
    "unknown-changetype.ldif": (
        4,
        "unknown changetype 'rename'; expected one of add, delete, modify, modrdn, moddn",
    ),
    "url-http.ldif": (5, "only file: URLs are read"),
    "url-in-dn.ldif": (1, "a URL (':<') is not allowed for 'dn'"),
    "url-missing-file.ldif": (5, "cannot read the value of 'jpegPhoto' from 'file:does-not-exist.jpg'"),
    "url-remote-host.ldif": (3, "names the host 'fileserver'"),
    "version-not-a-number.ldif": (2, "expected 'version: 1', found 'version: one'"),
    "version-not-first.ldif": (4, "a 'version:' line is only allowed as the first line of the file"),
}

# files whose bytes matter as they are (no CRLF variant)
BYTE_EXACT = {"not-utf8.ldif", "stray-carriage-return.ldif"}


def test_corpus_and_table_agree() -> None:
    assert sorted(p.name for p in MALFORMED.glob("*.ldif")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file(name: str) -> None:
    line, fragment = EXPECTED[name]
    path = MALFORMED / name
    with pytest.raises(LdifError) as caught:
        read_ldif(path, allow_file_urls=True)  # the URL cases are refused for what they name, not as off
    error = caught.value
    assert fragment in error.reason
    assert error.line == line
    assert error.filename == str(path)
    assert str(error).startswith(f"{path}:{line}: ")
    assert isinstance(error, CodecError) and isinstance(error, ValueError)


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - BYTE_EXACT))
def test_malformed_text_with_crlf_line_ends(name: str) -> None:
    """The same error and line when the file uses CRLF line ends and is given as text with a file name."""
    line, fragment = EXPECTED[name]
    text = (MALFORMED / name).read_text(encoding="utf-8").replace("\n", "\r\n")
    with pytest.raises(LdifError) as caught:
        list(iter_ldif(text, filename="crlf.ldif", base_dir=MALFORMED, allow_file_urls=True))
    assert fragment in caught.value.reason
    assert caught.value.line == line
    assert str(caught.value).startswith(f"crlf.ldif:{line}: ")


def test_error_from_text_without_name() -> None:
    with pytest.raises(LdifError, match=r"^<string>:2: expected 'attribute: value'") as caught:
        read_ldif("dn: cn=x\nnonsense\n")
    assert caught.value.filename == "<string>"


def test_records_before_the_error_are_yielded() -> None:
    records = iter_ldif(MALFORMED / "missing-dn.ldif")
    first = next(records)
    assert first.dn == "cn=ok,dc=example,dc=org"
    with pytest.raises(LdifError, match="expected 'dn:'"):
        next(records)


def test_missing_ldif_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.ldif"
    with pytest.raises(LdifError, match=r"absent\.ldif: cannot read LDIF file: No such file") as caught:
        iter_ldif(path)  # fails when called, not on first next()
    assert caught.value.line is None


def test_str_that_looks_like_a_path_gets_a_hint() -> None:
    with pytest.raises(LdifError, match=r"pass a pathlib\.Path to read a file"):
        read_ldif("config/default-config.ldif")


def test_unsupported_source_type() -> None:
    with pytest.raises(TypeError, match="LDIF source must be text, bytes, a path or a file object, not int"):
        read_ldif(42)  # type: ignore[arg-type]
