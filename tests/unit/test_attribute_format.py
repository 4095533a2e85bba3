"""dcm4che's attribute format (dcmStoragePathFormat): values checked against upstream's own test vector
and against independently computed hashes."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import datetime, timedelta, timezone

import pytest
from pydicom import Dataset

from dcm_exporter.attribute_format import (
    DEFAULT_STORAGE_PATH_FORMAT,
    AttributesFormat,
    java_string_hash,
    md5_base32,
)
from dcm_exporter.errors import ConfigurationError, UnsafePathError

UTC1 = timezone(timedelta(hours=1))


def upstream_dataset() -> Dataset:
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyDate = "20111012"
    ds.StudyTime = "0930"
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = "1.2.3.4"
    ds.SOPInstanceUID = "1.2.3.4.5"
    return ds


def test_upstream_test_vector() -> None:
    # dcm4che-core AttributesFormatTest: the expected string is upstream's
    pattern = (
        "{00080020,date,yyyy/MM/dd}/{00080030,time,HH}/{0020000D,hash}/{0020000E,hash}/{00080008[1]}/{00080018}.dcm"
    )
    assert AttributesFormat(pattern).format(upstream_dataset()) == (
        "2011/10/12/09/02C82A3A/71668980/PRIMARY/1.2.3.4.5.dcm"
    )


def _java_hash_reference(s: str) -> int:
    # textbook definition: s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, as a 32-bit int
    raw = s.encode("utf-16-be")
    units = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    n = len(units)
    return sum(u * 31 ** (n - 1 - i) for i, u in enumerate(units)) % 2**32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "00000000"),
        ("hello", f"{99162322:08X}"),  # "hello".hashCode() == 99162322
        ("Aa", f"{2112:08X}"),  # the classic collision: "Aa" and "BB" both hash to 2112
        ("BB", f"{2112:08X}"),
        ("polygenelubricants", "80000000"),  # hashes to Integer.MIN_VALUE
    ],
)
def test_java_hash_known_values(text: str, expected: str) -> None:
    assert java_string_hash(text) == expected


@pytest.mark.parametrize("text", ["1.2.840.113619.2.55.3.604688119", "Müller^Ärger", "😀 non-BMP", "x" * 300])
def test_java_hash_matches_the_textbook_formula(text: str) -> None:
    assert java_string_hash(text) == f"{_java_hash_reference(text):08X}"


def _md5_reference(text: str) -> str:
    # dcm4che reads each 8-byte half shifted left by one byte (the first byte falls off), then writes the
    # 130-bit number l1 + l2 * 2**64 as 26 base-32 digits, least significant first
    d = hashlib.md5(text.encode()).digest()
    l1 = (int.from_bytes(d[0:8], "big") << 8) % 2**64
    l2 = (int.from_bytes(d[8:16], "big") << 8) % 2**64
    m = l1 + (l2 << 64)
    return "".join("0123456789abcdefghijklmnopqrstuv"[(m >> (5 * i)) & 31] for i in range(26))


@pytest.mark.parametrize("text", ["1.2.3", "", "Müller", "1.2.840.10008.5.1.4.1.1.2"])
def test_md5_base32(text: str) -> None:
    value = md5_base32(text)
    assert len(value) == 26
    assert re.fullmatch(r"[0-9a-v]{26}", value)
    assert value == _md5_reference(text)


def test_md5_field() -> None:
    ds = upstream_dataset()
    assert AttributesFormat("{0020000D,md5}").format(ds) == _md5_reference("1.2.3")


def test_keywords_nested_paths_and_missing_values() -> None:
    ds = upstream_dataset()
    item = Dataset()
    item.UniversalEntityID = "ISSUER"
    ds.IssuerOfPatientIDQualifiersSequence = [item]
    fmt = AttributesFormat(
        "{StudyInstanceUID}/{00100024.00400032}/{IssuerOfPatientIDQualifiersSequence.UniversalEntityID}/{00100020}"
    )
    assert fmt.format(ds) == "1.2.3/ISSUER/ISSUER/"  # absent values give the empty string, as upstream
    assert AttributesFormat("{00080008[2]}-{00080008[7]}").format(ds) == "AXIAL-"


def test_urlencoded_like_java_urlencoder() -> None:
    ds = Dataset()
    ds.PatientID = "a b/c~ä*._-"
    assert AttributesFormat("{PatientID,urlencoded}").format(ds) == "a+b%2Fc%7E%C3%A4*._-"


def test_offset_and_number() -> None:
    ds = Dataset()
    ds.InstanceNumber = 5
    ds.SliceThickness = "1234.5"
    assert AttributesFormat("{00200013,offset,100}").format(ds) == "105"
    assert AttributesFormat("{00201000,offset,-1}").format(ds) == "-1"  # absent counts as 0
    assert AttributesFormat("{00200013,number,0000}").format(ds) == "0005"
    assert AttributesFormat("{00180050,number}").format(ds) == "1,234.5"
    assert AttributesFormat("{00180050,number,#.00}").format(ds) == "1234.50"
    assert AttributesFormat("{00180050,number,integer}").format(ds) == "1,234"  # half-even


def test_now_date_patterns() -> None:
    now = datetime(2024, 3, 5, 7, 8, 9, 123000, tzinfo=UTC1)
    fmt = AttributesFormat("{now,date,yyyy/MM/dd}/{now,date,yyyyMMdd'T'HHmmss.SSS}/{now,date,yy-M-d EEE MMM}",
                           tz=UTC1)
    assert fmt.format(Dataset(), now=now) == "2024/03/05/20240305T070809.123/24-3-5 Tue Mar"
    assert AttributesFormat("{now,time,HH:mm}", tz=UTC1).format(Dataset(), now=now) == "07:08"


def test_random_fields() -> None:
    fmt = AttributesFormat("{rnd}/{rnd,uuid}/{rnd,uid}")
    a, b, c = fmt.format(Dataset(), rng=random.Random(1)).split("/")
    assert re.fullmatch(r"[0-9A-F]{8}", a)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", b)
    assert c.startswith("2.25.") and c[5:].isdigit()


def test_message_format_quoting_in_literal_text() -> None:
    ds = upstream_dataset()
    assert AttributesFormat("it''s/'x'/{0020000D}").format(ds) == "it's/x/1.2.3"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{0020000D,sha1}", "unknown type"),
        ("{0020000D", "unbalanced"),
        ("0020000D}", "unbalanced"),
        ("{NoSuchKeyword}", "neither a hex tag nor a DICOM keyword"),
        ("{00200013,choice,0#a|1#b}", "not supported"),
        ("{now}", "needs type date or time"),
        ("{now,date,yyyy-QQ}", "illegal pattern character 'Q'"),
        ("{now,date,zzzz}", "long zone names"),
        ("{00180050,number,¤#,##0.00}", "currency"),
        ("{00180050,number,0.0.0}", "malformed number pattern"),
        ("{00080020,dateP1X,yyyy}", "not an ISO 8601 period"),
        ("{00080030,timeP1H,HH}", "not an ISO 8601 duration"),
        ("{0020000D,slice}", "slice takes a start"),
        ("{0020000D,slice,a}", "invalid literal"),
        ("'{'{00100020}", "unbalanced"),
        ("'}'{00100020}", "unbalanced"),
        ("{rnd,hash}", "only uuid or uid"),
        ("{}", "empty field"),
    ],
)
def test_malformed_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AttributesFormat(pattern)


def test_default_storage_path_layout() -> None:
    ds = upstream_dataset()
    now = datetime(2024, 1, 31, 23, 0, tzinfo=UTC1)
    path = AttributesFormat(DEFAULT_STORAGE_PATH_FORMAT, tz=UTC1).format_path(ds, now=now)
    assert path == "2024/01/31/02C82A3A/71668980/" + java_string_hash("1.2.3.4.5")


@pytest.mark.parametrize("evil", ["../../etc/passwd", "..", "a/b", ".", "x\x00y"])
def test_dataset_values_cannot_make_a_path_escape(evil: str) -> None:
    ds = Dataset()
    ds.PatientID = evil
    for pattern in ("{00100020}", "data/{00100020}/x", "{00100020,urlencoded}"):
        fmt = AttributesFormat(pattern)
        if pattern.endswith("urlencoded}") and evil not in ("..", "."):
            fmt.format_path(ds)  # encoded: no separator survives
            continue
        with pytest.raises(UnsafePathError):
            fmt.format_path(ds)


def test_backslash_in_a_text_value_is_refused() -> None:
    ds = Dataset()
    ds.add_new(0x00324000, "LT", "x\\..\\..\\y")  # LT does not split at backslashes
    with pytest.raises(UnsafePathError, match="path separator"):
        AttributesFormat("{00324000}").format_path(ds)


def test_hashed_values_are_always_safe() -> None:
    ds = Dataset()
    ds.PatientID = "../../etc"
    assert re.fullmatch(r"[0-9A-F]{8}", AttributesFormat("{00100020,hash}").format_path(ds))


def test_empty_values_in_paths() -> None:
    # upstream formats an absent value as the empty string: a//b is written (file systems read it as a/b);
    # an empty first or last component would make the path absolute or a folder, so those stay refused
    ds = upstream_dataset()
    assert AttributesFormat("a/{00100020}/b/{0020000E}.dcm").format_path(ds) == "a//b/1.2.3.4.dcm"
    with pytest.raises(UnsafePathError, match="empty first component"):
        AttributesFormat("{00100020}/{0020000E}.dcm").format_path(ds)
    with pytest.raises(UnsafePathError, match="names a folder"):
        AttributesFormat("{0020000E}/{00100020}").format_path(ds)
    with pytest.raises(UnsafePathError, match="not a relative path"):
        AttributesFormat("{00100020}").format_path(ds)


def test_upper_and_slice_values_are_checked_for_separators() -> None:
    ds = Dataset()
    ds.PatientID = "a/b"
    for pattern in ("x/{00100020,upper}", "x/{00100020,slice,0}"):
        with pytest.raises(UnsafePathError, match="path separator"):
            AttributesFormat(pattern).format_path(ds)


def test_absolute_or_dotted_patterns_are_refused() -> None:
    with pytest.raises(UnsafePathError, match="not a relative path"):
        AttributesFormat("/abs/{0020000D}").format_path(upstream_dataset())
    with pytest.raises(UnsafePathError, match="segment"):
        AttributesFormat("a/../{0020000D}").format_path(upstream_dataset())
