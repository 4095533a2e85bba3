"""The LDIF reader on the real dcm4che configuration files (``../shared/dcm4che/ldap/config``).

Skipped when the upstream folder is absent (the ``upstream_dir`` fixture skips and marks ``upstream``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dcm_exporter.codecs.ldif import LdifEntry, format_entry, iter_ldif, read_ldif, write_ldif

DEVICES = "cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
STORESCP_DEVICE = f"dicomDeviceName=storescp,{DEVICES}"
STORESCP_AE = f"dicomAETitle=STORESCP,{STORESCP_DEVICE}"
UPSTREAM_FILES = [
    "default-config.ldif",
    "init-baseDN.ldif",
    "init-config.ldif",
    "sample-device.ldif",
    "sample-export.ldif",
]


@pytest.fixture(scope="module")
def config_dir(upstream_dir: Path) -> Path:
    folder = upstream_dir / "ldap" / "config"
    if not (folder / "default-config.ldif").is_file():
        pytest.skip(f"{folder / 'default-config.ldif'} is absent")
    return folder


@pytest.fixture(scope="module")
def default_config(config_dir: Path) -> list[LdifEntry]:
    records = read_ldif(config_dir / "default-config.ldif")
    assert all(isinstance(r, LdifEntry) for r in records)
    return records  # type: ignore[return-value]


def by_dn(records: list[LdifEntry]) -> dict[str, LdifEntry]:
    return {r.dn: r for r in records}


def test_default_config_counts(default_config: list[LdifEntry], config_dir: Path) -> None:
    assert len(default_config) == 1508
    assert len(by_dn(default_config)) == 1508  # DNs are unique
    devices = [r.dn for r in default_config if r.dn.endswith(f",{DEVICES}") and r.dn.count(",") == 4]
    assert [d.split(",")[0] for d in devices] == [
        "dicomDeviceName=stowrsd",
        "dicomDeviceName=keycloak",
        "dicomDeviceName=logstash",
        "dicomDeviceName=storescp",
        "dicomDeviceName=dcm4chee-arc",
        "dicomDeviceName=scheduledstation",
    ]
    under_archive = [r for r in default_config if r.dn.endswith(f"dicomDeviceName=dcm4chee-arc,{DEVICES}")]
    assert len(under_archive) == 1211
    # the line numbers are those of the dn: lines in the file
    lines = (config_dir / "default-config.ldif").read_text().splitlines()
    assert default_config[0].line == 3
    assert default_config[-1].line == 19340
    assert all(lines[r.line - 1] == f"dn: {r.dn}" for r in default_config)
    assert default_config[0].filename == str(config_dir / "default-config.ldif")


def test_default_config_storescp_entries(default_config: list[LdifEntry]) -> None:
    entries = by_dn(default_config)
    device = entries[STORESCP_DEVICE]
    assert device.line == 30
    assert device.attributes == {
        "dicomInstalled": ["TRUE"],
        "dicomDeviceName": ["storescp"],
        "objectClass": ["dicomDevice", "dcmDevice"],
    }
    assert device.has_object_class("DCMDEVICE")

    connection = entries[f"cn=dicom,{STORESCP_DEVICE}"]
    assert connection.first("dicomHostname") == "localhost"
    assert connection.first("DICOMPORT") == "11117"

    ae = entries[STORESCP_AE]
    assert ae.line == 219
    assert ae.first("dicomAETitle") == "STORESCP"
    assert ae.get("dicomNetworkConnectionReference") == [f"cn=dicom,{STORESCP_DEVICE}"]
    assert ae.first("dicomAssociationAcceptor") == "TRUE"
    assert ae.get("objectClass") == ["dicomNetworkAE", "dcmNetworkAE"]

    capabilities = [r for r in default_config if r.dn.endswith(f",{STORESCP_AE}")]
    assert len(capabilities) == 253
    rt_dose = entries[f"cn=RT Dose Storage SCP,{STORESCP_AE}"]
    assert rt_dose.attributes["dicomSOPClass"] == ["1.2.840.10008.5.1.4.1.1.481.2"]
    assert rt_dose.attributes["dicomTransferRole"] == ["SCP"]
    assert rt_dose.attributes["dicomTransferSyntax"] == ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]
    assert all(c.has_object_class("dicomTransferCapability") for c in capabilities)


def test_default_config_archive_device(default_config: list[LdifEntry]) -> None:
    archive = by_dn(default_config)[f"dicomDeviceName=dcm4chee-arc,{DEVICES}"]
    assert archive.line == 36
    assert archive.first("dcmSendPendingCMoveInterval") == "PT5S"
    assert archive.first("hl7PatientArrivalMessageType") == "ADT^A10"
    assert (
        archive.first("dcmAudit2XmlFhirTemplateURI")
        == "${jboss.server.temp.url}/dcm4chee-arc/audit2xml+fhir.xsl"
    )
    sr_classes = archive.get("dcmWadoSupportedSRClasses")
    assert len(sr_classes) == 22
    assert sr_classes[0] == "1.2.840.10008.5.1.4.1.1.88.74"
    assert archive.get("objectClass") == ["dicomDevice", "dcmDevice", "dcmArchiveDevice"]
    assert archive.first("noSuchAttribute") is None
    assert archive.get("noSuchAttribute") == []


def test_init_config(config_dir: Path) -> None:
    records = read_ldif(config_dir / "init-config.ldif")
    assert [r.dn for r in records] == [
        "cn=DICOM Configuration,dc=dcm4che,dc=org",
        "cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org",
        "cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org",
        "cn=Unique HL7 Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org",
        "cn=Unique Web Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org",
    ]
    assert [r.line for r in records] == [3, 7, 11, 15, 19]
    assert isinstance(records[1], LdifEntry)
    assert records[1].attributes == {"objectClass": ["dicomDevicesRoot"], "cn": ["Devices"]}


def test_init_base_dn(config_dir: Path) -> None:
    [base] = read_ldif(config_dir / "init-baseDN.ldif")
    assert isinstance(base, LdifEntry)
    assert base.dn == "dc=dcm4che,dc=org"
    assert base.get("objectClass") == ["top", "dcObject", "organization"]
    assert base.first("o") == "dcm4che.org"


def test_sample_device_skips_comments(config_dir: Path) -> None:
    records = read_ldif(config_dir / "sample-device.ldif")
    assert [r.line for r in records] == [9, 14, 20, 36]
    ae = records[-1]
    assert isinstance(ae, LdifEntry)
    assert ae.dn == f"dicomAETitle=SAMPLE_AET,dicomDeviceName=SAMPLE_DEVICE,{DEVICES}"
    # the commented-out second connection reference is not a value
    assert ae.get("dicomNetworkConnectionReference") == [
        "cn=dicom,dicomDeviceName=SAMPLE_DEVICE,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
    ]
    assert list(ae.attributes) == [
        "objectClass",
        "dicomAETitle",
        "dicomNetworkConnectionReference",
        "dicomAssociationInitiator",
        "dicomAssociationAcceptor",
    ]
    connection = records[2]
    assert isinstance(connection, LdifEntry)
    assert connection.first("dicomPort") == "12345"
    assert not any("dicom-tls" in r.dn for r in records)


def test_sample_export(config_dir: Path) -> None:
    rule, exporter = read_ldif(config_dir / "sample-export.ldif")
    assert isinstance(rule, LdifEntry) and isinstance(exporter, LdifEntry)
    assert rule.dn == f"cn=Forward to STORESCP,dicomDeviceName=dcm4chee-arc,{DEVICES}"
    assert rule.attributes == {
        "objectClass": ["dcmExportRule"],
        "cn": ["Forward to STORESCP"],
        "dcmEntity": ["Series"],
        "dcmDuration": ["PT1M"],
        "dcmExporterID": ["STORESCP"],
    }
    assert rule.get("dcmProperty") == []  # commented out upstream
    assert exporter.line == 21
    assert exporter.first("dcmURI") == "dicom:STORESCP"
    assert exporter.first("dicomAETitle") == "DCM4CHEE"
    assert exporter.first("dcmQueueName") == "Export1"
    assert exporter.get("dcmSchedule") == []


@pytest.mark.parametrize("name", UPSTREAM_FILES)
def test_upstream_round_trip(config_dir: Path, name: str) -> None:
    path = config_dir / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    records = read_ldif(path)
    text = write_ldif(records)
    assert read_ldif(text) == records
    # folded at 76 columns, and stable: writing what was read back gives the same text
    assert max(len(line) for line in text.splitlines()) <= 76
    assert write_ldif(read_ldif(text)) == text
    # without folding each record is its original lines, comments and order aside
    unfolded = write_ldif(records, wrap=0, version=False)
    assert read_ldif(unfolded) == records
    for record in records:
        assert format_entry(record, wrap=0).startswith(f"dn: {record.dn}\n")


def test_iter_is_lazy_and_equal(config_dir: Path, default_config: list[LdifEntry]) -> None:
    iterator = iter_ldif(config_dir / "default-config.ldif")
    assert next(iterator) == default_config[0]
    assert list(iterator) == default_config[1:]
    with (config_dir / "default-config.ldif").open("rb") as binary:
        assert read_ldif(binary) == default_config
    with (config_dir / "default-config.ldif").open(encoding="utf-8") as text:
        assert read_ldif(text)[-1].filename == str(config_dir / "default-config.ldif")
