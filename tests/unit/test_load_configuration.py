"""``dcm_exporter.load_configuration`` for files and text, the codec functions, and the deprecated aliases.

The ``ldap://`` / ``ldaps://`` sources run against a real slapd in ``tests/integration/test_ldap_docs.py``
(docs/how-to/ldap.md) and ``tests/integration/test_ldap_store.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dcm_exporter
from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.errors import ConfigurationError, JsonCodecError, LdifError
from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, WebApplication

ARC = "dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
LDIF = f"""\
dn: {ARC}
objectClass: dicomDevice
dicomDeviceName: arc
dicomInstalled: TRUE

dn: cn=dicom,{ARC}
objectClass: dicomNetworkConnection
cn: dicom
dicomHostname: localhost
dicomPort: 11112

dn: dicomAETitle=ARC,{ARC}
objectClass: dicomNetworkAE
dicomAETitle: ARC
dicomNetworkConnectionReference: cn=dicom,{ARC}
dicomAssociationInitiator: TRUE
dicomAssociationAcceptor: TRUE
"""


@pytest.fixture
def expected() -> Configuration:
    return ldif.load(LDIF)


def test_ldif_file_text_bytes_and_list_of_files(tmp_path: Path, expected: Configuration) -> None:
    path = tmp_path / "archive.ldif"
    path.write_text(LDIF, encoding="utf-8")
    assert dcm_exporter.load_configuration(path) == expected
    assert dcm_exporter.load_configuration(str(path)) == expected
    assert dcm_exporter.load_configuration(LDIF) == expected
    assert dcm_exporter.load_configuration(LDIF.encode()) == expected
    head, _, tail = LDIF.partition("\ndn: dicomAETitle")
    first, second = tmp_path / "first.ldif", tmp_path / "second.ldif"
    first.write_text(head + "\n", encoding="utf-8")
    second.write_text("dn: dicomAETitle" + tail, encoding="utf-8")
    assert dcm_exporter.load_configuration([first, second]) == expected
    # where an entry was read is kept for messages
    assert str(next(iter(dcm_exporter.load_configuration(path).locations.values()))) == f"{path}:1"


def test_device_json_file_and_text(tmp_path: Path, expected: Configuration) -> None:
    text = device_json.dumps(expected)
    path = tmp_path / "archive.json"
    path.write_text(text, encoding="utf-8")
    assert dcm_exporter.load_configuration(path) == expected
    assert dcm_exporter.load_configuration(text) == expected
    assert device_json.load(path) == device_json.loads(text) == expected
    assert json.loads(text)[0]["dicomDeviceName"] == "arc"


def test_bad_sources_say_what_and_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        dcm_exporter.load_configuration(tmp_path / "missing.ldif")
    with pytest.raises(ConfigurationError, match="is a folder"):
        dcm_exporter.load_configuration(tmp_path)
    with pytest.raises(LdifError, match="line"):
        dcm_exporter.load_configuration("dn: cn=x\nnot an attribute line\n")
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"broken\.json: not JSON") as info:
        dcm_exporter.load_configuration(broken)
    assert isinstance(info.value.__cause__, JsonCodecError)
    with pytest.raises(ConfigurationError, match="ldap:// or ldaps:// URL only"):
        dcm_exporter.load_configuration(LDIF, password="secret")


def test_ldap_url_checks_before_connecting() -> None:
    # no server is contacted: the URL and the arguments disagree, or the URL is not one the store takes
    url = "ldap://cn=admin,dc=dcm4che,dc=org:s3cret@127.0.0.1:1/dc=dcm4che,dc=org"
    with pytest.raises(ConfigurationError, match="two different bind DNs") as info:
        dcm_exporter.load_configuration(url, bind_dn="cn=other,dc=dcm4che,dc=org")
    assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigurationError, match="base DN only") as info:
        dcm_exporter.load_configuration("ldaps://cn=admin:s3cret@127.0.0.1:1?one")
    assert "s3cret" not in str(info.value)


def test_deprecated_aliases_warn_and_work(expected: Configuration) -> None:
    with pytest.warns(DeprecationWarning, match=r"Configuration.from_ldif\(\) is deprecated"):
        assert Configuration.from_ldif(LDIF) == expected
    with pytest.warns(DeprecationWarning, match=r"to_ldif\(\) is deprecated"):
        assert expected.to_ldif() == ldif.dumps(expected)
    with pytest.warns(DeprecationWarning, match=r"from_json\(\) is deprecated"):
        assert Configuration.from_json(device_json.dumps(expected)) == expected
    with pytest.warns(DeprecationWarning, match=r"to_json\(\) is deprecated"):
        assert expected.to_json(indent=None) == device_json.dumps(expected, indent=None)


def test_the_top_level_configuration_has_the_aliases_without_importing_a_codec_first() -> None:
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "import dcm_exporter.models\n"
        "print(sorted(m for m in sys.modules if m.startswith('dcm_exporter.codecs')))\n"
        "from dcm_exporter import Configuration\n"
        "print(Configuration.from_ldif('dn: cn=x\\nobjectClass: top\\n').other_entries[0].dn)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}).stdout.split("\n")
    assert out[:2] == ["[]", "cn=x"]


# --- the unique-name registries: derived when writing -----------------------------------------------------

_REG = "cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org"
_WEB_REG = "cn=Unique Web Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org"


def _remote(*aets: str, web: str | None = None) -> Device:
    return Device(
        device_name="pacs",
        connections=[Connection(name="dicom", hostname="127.0.0.1", port=11117)],
        application_entities=[ApplicationEntity(ae_title=a, connection_refs=["dicom"]) for a in aets],
        web_applications=[WebApplication(name=web, service_path="/rs")] if web else [],
    )


def _dns(configuration: Configuration) -> list[str]:
    return [r.dn for r in ldif.read_ldif(ldif.dumps(configuration))]


def test_add_device_registers_its_names_when_written(expected: Configuration) -> None:
    grown = expected.add_device(_remote("PACS", web="PACS-RS"))
    assert grown.registered_devices == {"pacs"} and grown.other_entries == ()
    dns = _dns(grown)
    assert dns[-2:] == [f"dicomAETitle=PACS,{_REG}", f"dcmWebAppName=PACS-RS,{_WEB_REG}"]
    # the entries are derived: they follow a later change of the device's AEs
    changed = grown.replace_device(_remote("PACS", "PACS2"))
    assert [d for d in _dns(changed) if "Registry" in d] == [f"dicomAETitle=PACS,{_REG}", f"dicomAETitle=PACS2,{_REG}"]
    assert [d for d in _dns(expected.add_device(_remote("PACS"), register=False)) if "Registry" in d] == []
    assert "Registry" not in " ".join(_dns(grown.remove_device("pacs")))
    assert grown.remove_device("pacs").registered_devices == frozenset()


def test_registry_entries_read_back_verbatim_and_are_not_written_twice(expected: Configuration) -> None:
    text = ldif.dumps(expected.add_device(_remote("PACS")))
    again = ldif.load(text)
    assert [e.dn for e in again.other_entries] == [f"dicomAETitle=PACS,{_REG}"]
    assert ldif.dumps(again) == text
    # an entry read already is not derived a second time, and remove_device drops the verbatim one too
    registered = again.remove_device("pacs").add_device(_remote("PACS"))
    assert ldif.dumps(registered) == text
    assert ldif.dumps(again.remove_device("pacs")) == ldif.dumps(expected)
