"""The filesystem index against hostile headers: repeated or multi-valued UIDs, a 4 GB element.

One rule for a file carrying an indexed attribute (SOP Class / Instance UID, Study / Series Instance UID,
Modality) twice: it is not indexed and ``refresh()`` reports it unreadable, whichever reader meets it (a
reader that stops early would take the first value, pydicom takes the last). A multi-valued UID is reported
unreadable too, never stored as the text of a list. A file declaring a huge element costs bounded memory
(checked under an address-space limit, in a subprocess). None of this is fatal to ``refresh()``.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dcm_exporter._dicom.part10 import RepeatedAttributeError, UncheckedFileError, parse_header, scan_header
from dcm_exporter.sources import FileSystemSource

EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY, SERIES, SOP, OTHER = "2.25.1", "2.25.2", "2.25.3", "2.25.99"
LONG = {"OB", "OW", "SQ", "UN", "UT"}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def el(tag: int, vr: str, value: bytes, *, explicit: bool = True, length: int | None = None) -> bytes:
    group, elem = tag >> 16, tag & 0xFFFF
    n = len(value) if length is None else length
    if not explicit:
        return struct.pack("<HHL", group, elem, n) + value
    if vr in LONG:
        return struct.pack("<HH2s2xL", group, elem, vr.encode(), n) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), n) + value


def ui(text: str) -> bytes:
    raw = text.encode()
    return raw + b"\x00" if len(raw) % 2 else raw


def part10(dataset: bytes, *, ts: str = EXPLICIT_LE) -> bytes:
    meta = el(0x00020001, "OB", b"\x00\x01") + el(0x00020002, "UI", ui(CT)) + el(0x00020003, "UI", ui(SOP))
    meta += el(0x00020010, "UI", ui(ts))
    return b"\x00" * 128 + b"DICM" + el(0x00020000, "UL", struct.pack("<L", len(meta))) + meta + dataset


def dataset(*, explicit: bool = True, study: str = STUDY, middle: bytes = b"", tail: bytes = b"") -> bytes:
    e = explicit
    return (
        el(0x00080016, "UI", ui(CT), explicit=e)
        + el(0x00080018, "UI", ui(SOP), explicit=e)
        + el(0x00080060, "CS", b"CT", explicit=e)
        + middle
        + el(0x0020000D, "UI", ui(study), explicit=e)
        + el(0x0020000E, "UI", ui(SERIES), explicit=e)
        + el(0x00200013, "IS", b"1 ", explicit=e)
        + tail
        + el(0x7FE00010, "OW", b"\x00\x00", explicit=e)
    )


def refresh(tmp_path: Path, files: dict[str, bytes]) -> tuple[FileSystemSource, dict[str, str]]:
    root = tmp_path / "archive"
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    source = FileSystemSource(root)
    report = source.refresh()
    return source, {p.name: reason for p, reason in ((u.path, u.reason) for u in report.unreadable)}


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
@pytest.mark.parametrize(
    ("where", "tag", "vr", "value"),
    [
        ("tail", 0x00080018, "UI", OTHER),  # a second SOP Instance UID after the Series Instance UID
        ("tail", 0x0020000D, "UI", OTHER),  # a second Study Instance UID after the Series Instance UID
        ("middle", 0x00080018, "UI", OTHER),  # a second SOP Instance UID before the Study Instance UID
        ("tail", 0x00080060, "CS", "MR"),  # a second Modality
    ],
)
def test_an_indexed_attribute_carried_twice_is_unreadable(
    tmp_path: Path, explicit: bool, where: str, tag: int, vr: str, value: str
) -> None:
    raw_value = ui(value) if vr == "UI" else value.encode()
    extra = el(tag, vr, raw_value, explicit=explicit)
    body = dataset(explicit=explicit, **{where: extra})
    data = part10(body, ts=EXPLICIT_LE if explicit else IMPLICIT_LE)
    with pytest.raises(RepeatedAttributeError, match=rf"\({tag >> 16:04X},{tag & 0xFFFF:04X}\) appears twice"):
        parse_header(data)
    good = part10(dataset(explicit=explicit), ts=EXPLICIT_LE if explicit else IMPLICIT_LE)
    source, unreadable = refresh(tmp_path, {"twice.dcm": data, "good.dcm": good})
    with source:
        assert list(unreadable) == ["twice.dcm"]
        assert f"({tag >> 16:04X},{tag & 0xFFFF:04X}) appears twice" in unreadable["twice.dcm"]
        assert [r.sop_instance_uid for r in source.find(STUDY)] == [SOP]  # the good file, alone
        assert source.find(OTHER) == []


def test_an_indexed_attribute_only_out_of_order_is_read_where_it_is(tmp_path: Path) -> None:
    """Not repeated, only misplaced (Modality after the Series Instance UID): declined to pydicom, which finds
    it; the index keeps its value."""
    body = (
        el(0x00080016, "UI", ui(CT)) + el(0x00080018, "UI", ui(SOP)) + el(0x0020000D, "UI", ui(STUDY))
        + el(0x0020000E, "UI", ui(SERIES)) + el(0x00200013, "IS", b"1 ") + el(0x00080060, "CS", b"MR")
    )
    data = part10(body)
    assert parse_header(data) is None  # declined
    source, unreadable = refresh(tmp_path, {"late.dcm": data})
    with source:
        assert unreadable == {}
        (ref,) = source.find(STUDY)
        assert (ref.sop_instance_uid, ref.modality) == (SOP, "MR")


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
@pytest.mark.parametrize("tag", [0x0020000D, 0x0020000E, 0x00080018])
def test_a_multi_valued_uid_is_unreadable_not_indexed_as_a_list(tmp_path: Path, explicit: bool, tag: int) -> None:
    two = ui(f"{OTHER}\\1.2.3.4")
    body = dataset(explicit=explicit)
    single = {0x0020000D: STUDY, 0x0020000E: SERIES, 0x00080018: SOP}[tag]
    body = body.replace(el(tag, "UI", ui(single), explicit=explicit), el(tag, "UI", two, explicit=explicit))
    data = part10(body, ts=EXPLICIT_LE if explicit else IMPLICIT_LE)
    assert parse_header(data) is None  # declined to pydicom, which reads a list
    label = {0x0020000D: "Study Instance UID", 0x0020000E: "Series Instance UID", 0x00080018: "SOP Instance UID"}
    source, unreadable = refresh(tmp_path, {"multi.dcm": data})
    with source:
        assert unreadable == {"multi.dcm": f"{label[tag]} has 2 values, the index keeps one"}
        assert source.find(STUDY) == [] and source.find(OTHER) == []


def test_the_scanner_reads_at_most_its_limit_of_a_file(tmp_path: Path) -> None:
    """A real 100 MB value before the Study Instance UID: the scanner gives up at MAX_SCAN_BYTES (16 MiB)
    and declines; pydicom then steps over the value (deferred) and the file is indexed."""
    big = 100 << 20
    body = dataset(middle=el(0x00091010, "OB", b"", length=big))
    head, _, rest = body.partition(el(0x00091010, "OB", b"", length=big))
    path = tmp_path / "archive" / "big.dcm"
    path.parent.mkdir()
    with path.open("wb") as fp:  # sparse: the 100 MB are a hole
        fp.write(part10(head + el(0x00091010, "OB", b"", length=big)))
        fp.seek(big, os.SEEK_CUR)
        fp.write(rest)
    assert scan_header(path) is None
    source = FileSystemSource(path.parent)
    with source:
        report = source.refresh()
        assert report.unreadable == ()
        assert [r.sop_instance_uid for r in source.find(STUDY)] == [SOP]


_UNDER_A_MEMORY_LIMIT = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, sys.argv[1])
    from dcm_exporter.sources import FileSystemSource
    source = FileSystemSource(sys.argv[2])
    import pydicom.filereader  # everything imported before the limit applies
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
    report = source.refresh()
    for item in sorted(report.unreadable, key=lambda u: u.path.name):
        print("unreadable", item.path.name, item.reason)
    print("indexed", len(source.find(sys.argv[4])))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS as on Linux")
def test_a_file_declaring_a_4_gb_element_never_makes_refresh_raise(tmp_path: Path) -> None:
    """Under an address-space limit far below 4 GB: the file that declares a 4 GB element (a few bytes long,
    and one where the 4 GB are really there, sparse) costs no such memory; refresh() goes on."""
    root = tmp_path / "archive"
    root.mkdir()
    huge = 0xFFFFFFF0
    for explicit in (True, False):
        ts = EXPLICIT_LE if explicit else IMPLICIT_LE
        vr = "OB" if explicit else "UN"
        declared = el(0x00091010, vr, b"abcd", explicit=explicit, length=huge)
        (root / f"declared_{ts}.dcm").write_bytes(part10(dataset(explicit=explicit, middle=declared), ts=ts))
    with (root / "sparse.dcm").open("wb") as fp:
        head, _, rest = dataset(middle=b"\x00MARK").partition(b"\x00MARK")
        fp.write(part10(head + el(0x00091010, "OB", b"", length=huge)))
        fp.seek(huge, os.SEEK_CUR)
        fp.write(rest)
    (root / "good.dcm").write_bytes(part10(dataset(study="2.25.5")))
    import resource

    current = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: a bound for the child's imports
    limit = max(2 << 30, current * 1024 + (1 << 30))
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_A_MEMORY_LIMIT, SRC, str(root), str(limit), "2.25.5"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "indexed 1"
    unreadable = [line.split()[1] for line in lines if line.startswith("unreadable")]
    assert unreadable == [f"declared_{EXPLICIT_LE}.dcm", f"declared_{IMPLICIT_LE}.dcm"]
    assert "MemoryError" not in done.stdout


# --- past the header: to the end of the file, at a cost that does not grow with the pixel data -------------

ITEM, SEQ_END = 0xFFFEE000, 0xFFFEE0DD
JPEG_BASELINE, DEFLATED, BIG_ENDIAN = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"


def item(value: bytes, tag: int = ITEM) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value)) + value


def encapsulated(fragments: list[bytes]) -> bytes:
    """Pixel Data (7FE0,0010) OB of undefined length: an empty offset table, the fragments, the delimiter."""
    head = struct.pack("<HH2s2xL", 0x7FE0, 0x0010, b"OB", 0xFFFFFFFF)
    return head + item(b"") + b"".join(item(f) for f in fragments) + item(b"", SEQ_END)


def header_only(*, explicit: bool = True) -> bytes:
    """The indexed attributes and one more element, without pixel data (for files that add their own)."""
    return dataset(explicit=explicit).rpartition(el(0x7FE00010, "OW", b"\x00\x00", explicit=explicit))[0]


SECOND_SOP = el(0x00080018, "UI", ui(OTHER))
TRAILING_PADDING = el(0xFFFCFFFC, "OB", b"\x00" * 16)


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
def test_a_repeated_uid_after_large_native_pixel_data_is_found(tmp_path: Path, explicit: bool) -> None:
    """A second SOP Instance UID behind 1 MB of pixel data: far past the bytes the scanner reads at first."""
    pixels = el(0x7FE00010, "OW", bytes(1 << 20), explicit=explicit)
    data = part10(header_only(explicit=explicit) + pixels + el(0x00080018, "UI", ui(OTHER), explicit=explicit),
                  ts=EXPLICIT_LE if explicit else IMPLICIT_LE)
    with pytest.raises(RepeatedAttributeError, match=r"\(0008,0018\) appears twice, the second time at offset "):
        parse_header(data)
    good = part10(header_only(explicit=explicit) + pixels, ts=EXPLICIT_LE if explicit else IMPLICIT_LE)
    source, unreadable = refresh(tmp_path, {"twice.dcm": data, "good.dcm": good})
    with source:
        assert list(unreadable) == ["twice.dcm"]
        assert f"twice.dcm: (0008,0018) appears twice, the second time at offset {len(good)}" in unreadable["twice.dcm"]
        assert [r.sop_instance_uid for r in source.find(STUDY)] == [SOP]
        assert source.find(OTHER) == []


@pytest.mark.parametrize("fragments", [1, 300], ids=["one-fragment", "300-fragments"])
def test_a_repeated_uid_after_encapsulated_pixel_data_is_found(tmp_path: Path, fragments: int) -> None:
    """A second Study Instance UID (an element out of order, as a hostile writer would put it) behind
    encapsulated pixel data of 1 or 300 fragments of 20 KB: the check steps from fragment header to fragment
    header to the end of the file."""
    frames = [bytes([n % 256]) * 20_000 for n in range(fragments)]
    pixels = encapsulated(frames)
    body = header_only() + pixels
    good = part10(body + TRAILING_PADDING, ts=JPEG_BASELINE)
    data = part10(body + el(0x0020000D, "UI", ui(OTHER)) + TRAILING_PADDING, ts=JPEG_BASELINE)
    assert parse_header(good) is not None
    with pytest.raises(RepeatedAttributeError, match=r"\(0020,000D\) appears twice"):
        parse_header(data)
    source, unreadable = refresh(tmp_path, {"twice.dcm": data, "good.dcm": good})
    with source:
        assert list(unreadable) == ["twice.dcm"]
        assert [r.path.name for r in source.find(STUDY)] == ["good.dcm"]


def test_the_same_tag_inside_a_sequence_after_the_pixel_data_is_no_repeat(tmp_path: Path) -> None:
    """Referenced UIDs in a sequence item (here after the pixel data) are not the file's own: indexed."""
    nested = el(0x00080018, "UI", ui(OTHER)) + el(0x0020000D, "UI", ui(OTHER))
    sequence = struct.pack("<HH2s2xL", 0x0009, 0x1010, b"SQ", 0xFFFFFFFF) + (
        struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + nested + item(b"", 0xFFFEE00D)
    ) + item(b"", SEQ_END)
    pixels = el(0x7FE00010, "OW", bytes(200_000))
    data = part10(header_only() + pixels + sequence)
    assert parse_header(data) is not None
    source, unreadable = refresh(tmp_path, {"nested.dcm": data})
    with source:
        assert unreadable == {}
        assert [r.sop_instance_uid for r in source.find(STUDY)] == [SOP]


def test_a_4_gb_sparse_pixel_data_is_stepped_over_not_read(tmp_path: Path) -> None:
    """4 GB of pixel data (a hole in a sparse file), then a second SOP Instance UID: found by reading the
    headers on either side of the value, never the value."""
    huge = 0xFFFFFFF0
    path = tmp_path / "archive" / "sparse.dcm"
    path.parent.mkdir()
    with path.open("wb") as fp:
        fp.write(part10(header_only() + el(0x7FE00010, "OW", b"", length=huge)))
        fp.seek(huge, os.SEEK_CUR)
        fp.write(SECOND_SOP)
    with pytest.raises(RepeatedAttributeError, match="appears twice"):
        scan_header(path)
    with FileSystemSource(path.parent) as source:
        (unreadable,) = source.refresh().unreadable
        assert "(0008,0018) appears twice" in unreadable.reason


def test_more_fragments_than_the_check_reads_is_unreadable_not_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check reads at most MAX_CHECKED_HEADERS element and item headers past the header (a million; here
    lowered to 100): a file with more is reported unreadable with that reason, never indexed unchecked."""
    from dcm_exporter._dicom import part10 as part10_module

    monkeypatch.setattr(part10_module, "MAX_CHECKED_HEADERS", 100)
    many = part10(header_only() + encapsulated([b"\xff\xd8\xff\xd9"] * 150), ts=JPEG_BASELINE)
    few = part10(header_only() + encapsulated([b"\xff\xd8\xff\xd9"] * 50), ts=JPEG_BASELINE)
    with pytest.raises(UncheckedFileError, match="more than 100 elements and items after the header"):
        parse_header(many)
    source, unreadable = refresh(tmp_path, {"many.dcm": many, "few.dcm": few})
    with source:
        assert list(unreadable) == ["many.dcm"]
        assert "not checked for a repeated indexed attribute: more than 100 elements" in unreadable["many.dcm"]
        assert [r.path.name for r in source.find(STUDY)] == ["few.dcm"]


def big_endian_el(tag: int, vr: str, value: bytes) -> bytes:
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in LONG:
        return struct.pack(">HH2s2xL", group, elem, vr.encode(), len(value)) + value
    return struct.pack(">HH2sH", group, elem, vr.encode(), len(value)) + value


def test_files_read_by_pydicom_are_checked_too(tmp_path: Path) -> None:
    """Files the scanner declines (here Big Endian and Deflated) are read by pydicom, which keeps the last of
    a repeated attribute silently: the same check runs over their whole data set first."""
    import zlib

    def be_dataset(tail: bytes = b"") -> bytes:
        return (big_endian_el(0x00080016, "UI", ui(CT)) + big_endian_el(0x00080018, "UI", ui("2.25.4"))
                + big_endian_el(0x0020000D, "UI", ui(STUDY)) + big_endian_el(0x0020000E, "UI", ui(SERIES))
                + big_endian_el(0x7FE00010, "OW", bytes(100_000)) + tail)

    def deflate(raw: bytes) -> bytes:
        z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return z.compress(raw) + z.flush()

    files = {
        "be_good.dcm": part10(be_dataset(), ts=BIG_ENDIAN),
        "be_twice.dcm": part10(be_dataset(big_endian_el(0x00080018, "UI", ui(OTHER))), ts=BIG_ENDIAN),
        "deflated_good.dcm": part10(deflate(dataset()), ts=DEFLATED),
        "deflated_twice.dcm": part10(deflate(dataset(tail=SECOND_SOP)), ts=DEFLATED),
    }
    for name, data in files.items():
        assert parse_header(data) is None, name  # declined: pydicom's files
    source, unreadable = refresh(tmp_path, files)
    with source:
        assert sorted(unreadable) == ["be_twice.dcm", "deflated_twice.dcm"]
        assert "(0008,0018) appears twice, the second time at offset " in unreadable["be_twice.dcm"]
        assert "(0008,0018) appears twice, the second time at offset " in unreadable["deflated_twice.dcm"]
        assert "of the inflated data set" in unreadable["deflated_twice.dcm"]
        assert sorted(r.path.name for r in source.find(STUDY)) == ["be_good.dcm", "deflated_good.dcm"]


def test_a_deflated_data_set_that_inflates_past_the_bound_is_not_handed_to_pydicom(tmp_path: Path) -> None:
    """100 MB of zeros deflate to 100 KB: pydicom would inflate them whole in memory. The check inflates them
    as a stream, stops at MAX_INFLATED_BYTES (64 MiB) and the file is reported unreadable."""
    import zlib

    from dcm_exporter._dicom.part10 import MAX_INFLATED_BYTES

    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = header_only() + struct.pack("<HH2s2xL", 0x7FE0, 0x0010, b"OW", 100_000_000)
    bomb = z.compress(head) + b"".join(z.compress(bytes(1 << 20)) for _ in range(95))
    bomb += z.compress(bytes(100_000_000 - 95 * (1 << 20))) + z.flush()
    assert len(bomb) < 200_000
    source, unreadable = refresh(tmp_path, {"bomb.dcm": part10(bomb, ts=DEFLATED)})
    with source:
        assert unreadable == {"bomb.dcm": unreadable["bomb.dcm"]}
        assert f"the deflated data set inflates to more than {MAX_INFLATED_BYTES} bytes" in unreadable["bomb.dcm"]
