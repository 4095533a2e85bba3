"""Writing a changed configuration over the LDIF it was read from (:func:`dcm_exporter.codecs.ldif.update`).

Upstream's files are read from ``../shared`` (skipped when absent); they are never copied into the repository.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import attrs
import pytest

from dcm_exporter.codecs import ldif
from dcm_exporter.models import ExporterDescriptor

DEVICE = "dicomDeviceName=storescp,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
TEXT = (
    "version: 1\n"
    "\n"
    "# the test SCP, do not remove\n"
    f"dn: {DEVICE}\n"
    "objectClass: dicomDevice\n"
    "dicomDeviceName: storescp\n"
    "dicomDescription: a rather long description that is folded by whoever wrote this file, not by\n"
    "  us\n"
    "dicomInstalled: TRUE\n"
    "\n"
    "# the second one\n"
    "dn: dicomDeviceName=other,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\n"
    "dicomInstalled: TRUE\n"
    "objectClass: dicomDevice\n"
    "dicomDeviceName: other\n"
)


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_an_unchanged_configuration_gives_the_text_back() -> None:
    assert ldif.update(TEXT, ldif.load(TEXT)) == TEXT


def test_crlf_text_stays_crlf() -> None:
    text = TEXT.replace("\n", "\r\n")
    configuration = ldif.load(text)
    assert ldif.update(text, configuration) == text
    other = configuration.devices[1]
    changed = ldif.update(text, configuration.add_device(attrs.evolve(other, device_name="third"),
                                                         register=False))
    assert "\n" not in changed.replace("\r\n", "")
    assert "dicomDeviceName: third\r\n" in changed


def test_a_changed_entry_is_rewritten_in_place_keeping_its_other_lines() -> None:
    configuration = ldif.load(TEXT)
    device = configuration.devices[1]
    changed = configuration.replace_device(attrs.evolve(device, description="now described"))
    out = ldif.update(TEXT, changed)
    assert _changed_lines(TEXT, out) == ["+dicomDescription: now described"]
    # attribute order of the file (dicomInstalled first) is kept
    assert out.endswith("dicomInstalled: TRUE\nobjectClass: dicomDevice\ndicomDeviceName: other\n"
                        "dicomDescription: now described\n")


def test_a_removed_entry_goes_with_its_comment_and_nothing_else_changes() -> None:
    configuration = ldif.load(TEXT)
    out = ldif.update(TEXT, configuration.remove_device("other"))
    assert out == TEXT.split("\n# the second one")[0]


def test_a_new_entry_is_added_and_the_rest_stays(tmp_path: Path) -> None:
    configuration = ldif.load(TEXT)
    device = configuration.devices[0]
    new = configuration.add_device(attrs.evolve(device, device_name="third", description=None), register=False)
    out = ldif.update(TEXT, new)
    assert [line for line in _changed_lines(TEXT, out) if line.startswith("-")] == []
    assert "dn: dicomDeviceName=third,cn=Devices" in out
    assert ldif.load(out).device("third") is not None


# --- upstream's files -----------------------------------------------------------------------------------------


@pytest.fixture
def config_dir(upstream_dir: Path) -> Path:
    folder = upstream_dir / "ldap" / "config"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.mark.parametrize("name", ["default-config.ldif", "sample-device.ldif", "sample-export.ldif",
                                  "init-config.ldif"])
def test_upstream_files_written_back_unchanged_are_byte_identical(config_dir: Path, name: str) -> None:
    path = config_dir / name
    text = path.read_text(encoding="utf-8")
    assert ldif.update(text, ldif.load(path), filename=str(path)) == text


def test_adding_one_exporter_to_default_config_changes_only_that_entry(config_dir: Path) -> None:
    path = config_dir / "default-config.ldif"
    text = "# our archive: keep this comment\n\n" + path.read_text(encoding="utf-8")
    configuration = ldif.load(text)
    exporter = ExporterDescriptor(exporter_id="NEWPACS", uri="dicom:STORESCP", queue_name="Export1",
                                  ae_title="DCM4CHEE", description="added by a test")
    out = ldif.update(text, configuration.put_exporter(exporter, device_name="dcm4chee-arc"))
    changed = _changed_lines(text, out)
    assert all(line.startswith("+") for line in changed), changed
    added = "\n".join(line[1:] for line in changed)
    assert added.startswith("dn: dcmExporterID=NEWPACS,dicomDeviceName=dcm4chee-arc,")
    assert "dcmURI: dicom:STORESCP" in added
    # one entry: its lines and the blank line that separates it
    assert added.count("dn: ") == 1 and changed.count("+") == 1
    assert out.startswith("# our archive: keep this comment\n")
    assert ldif.load(out).exporters["NEWPACS"].description == "added by a test"


def test_changing_and_removing_exporters_of_default_config(config_dir: Path) -> None:
    path = config_dir / "sample-export.ldif"
    default = (config_dir / "default-config.ldif").read_text(encoding="utf-8")
    # sample-export.ldif adds to a device of default-config.ldif: edit the two as one text
    both = default.rstrip("\n") + "\n\n" + path.read_text(encoding="utf-8")
    configuration = ldif.load(both)
    exporter_id = next(iter(configuration.exporters))
    old = configuration.exporters[exporter_id]
    device = configuration.exporter_device(exporter_id).device_name
    out = ldif.update(both, configuration.put_exporter(attrs.evolve(old, description="changed"),
                                                       device_name=device))
    changed = _changed_lines(both, out)
    assert len([line for line in changed if line.startswith("+")]) == 1, changed
    assert any("dicomDescription: changed" in line for line in changed)
    removed = ldif.update(both, configuration.remove_exporter(exporter_id))
    gone = _changed_lines(both, removed)
    assert all(line.startswith("-") for line in gone)
    assert any(line.startswith(f"-dn: dcmExporterID={exporter_id},") for line in gone)
    assert exporter_id not in ldif.load(removed).exporters
