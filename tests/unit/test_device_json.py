"""dcm4che device JSON: the upstream sample, round trips, typed values, errors with JSON paths."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.codecs.device_json import device_from_json, device_to_json
from dcm_exporter.errors import JsonCodecError
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    Entity,
    ExporterDescriptor,
    ExportRule,
    QueueDescriptor,
    TransferRole,
    WebApplication,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dcm4che"
SAMPLE = SHARED / "json-schema" / "device-sample.json"
DEFAULT_CONFIG = SHARED / "ldap" / "config" / "default-config.ldif"


def archive() -> Device:
    return Device(
        device_name="dcm4chee-arc",
        object_classes=("dicomDevice", "dcmDevice", "dcmArchiveDevice"),
        connections=[
            Connection(name="dicom", hostname="localhost", port=11112, aarq_timeout=5000),
            Connection(name="http", hostname="localhost", port=8080, protocol="HTTP"),
        ],
        application_entities=[
            ApplicationEntity(
                ae_title="DCM4CHEE",
                connection_refs=["dicom"],
                association_initiator=True,
                association_acceptor=True,
                export_rules=[ExportRule(name="CT", entity=Entity.STUDY, exporter_ids=["STORESCP"])],
            )
        ],
        exporters=[
            ExporterDescriptor(
                exporter_id="STORESCP",
                uri="dicom:STORESCP",
                queue_name="Export1",
                ae_title="DCM4CHEE",
                schedules=["hour=18-6"],
                properties=["a=1"],
                export_as_source_ae=True,
            )
        ],
        queues=[QueueDescriptor(queue_name="Export1", max_retries=3, retry_delay=timedelta(seconds=30))],
        export_rules=[
            ExportRule(
                name="Forward", entity=Entity.SERIES, exporter_ids=["STORESCP"], delay=timedelta(minutes=1)
            )
        ],
        web_applications=[
            WebApplication(
                name="stow", service_path="/rs", service_classes=["STOW_RS"], connection_refs=["http"]
            )
        ],
    )


def test_device_json_layout() -> None:
    obj = device_to_json(archive())
    assert obj["dicomDeviceName"] == "dcm4chee-arc" and obj["dicomInstalled"] is True
    assert obj["dicomNetworkConnection"][0] == {
        "cn": "dicom",
        "dicomHostname": "localhost",
        "dicomPort": 11112,
        "dcmNetworkConnection": {"dcmAARQTimeout": 5000},
    }
    ae = obj["dicomNetworkAE"][0]
    assert ae["dicomNetworkConnectionReference"] == ["/dicomNetworkConnection/0"]
    assert ae["dicomAssociationInitiator"] is True
    assert ae["dcmNetworkAE"]["dcmArchiveNetworkAE"]["dcmExportRule"] == [
        {"cn": "CT", "dcmEntity": "Study", "dcmExporterID": ["STORESCP"]}
    ]
    arc = obj["dcmDevice"]["dcmArchiveDevice"]
    assert arc["dcmExporter"] == [
        {
            "dcmExporterID": "STORESCP",
            "dcmURI": "dicom:STORESCP",
            "dcmQueueName": "Export1",
            "dicomAETitle": "DCM4CHEE",
            "dcmExportAsSourceAE": True,
            "dcmSchedule": ["hour=18-6 dayOfWeek=*"],
            "dcmProperty": ["a=1"],
        }
    ]
    assert arc["dcmQueue"] == [{"dcmQueueName": "Export1", "dcmMaxRetries": 3, "dcmRetryDelay": "PT30S"}]
    assert arc["dcmExportRule"][0]["dcmDuration"] == "PT1M"
    assert obj["dcmDevice"]["dcmWebApp"][0]["dicomNetworkConnectionReference"] == [
        "/dicomNetworkConnection/1"
    ]


def strip(value: Any) -> Any:
    """The same model without object classes (auxiliary classes without attributes have no JSON form)."""
    if attrs.has(type(value)) and "object_classes" in attrs.fields_dict(type(value)):
        changes = {f.name: strip(getattr(value, f.name)) for f in attrs.fields(type(value)) if f.init}
        changes["object_classes"] = ()
        return type(value)(**changes)
    if isinstance(value, tuple):
        return tuple(strip(v) for v in value)
    return value


def test_json_round_trip_of_models() -> None:
    device = archive()
    config = Configuration(devices=[device])
    again = device_json.loads(device_json.dumps(config))
    assert strip(again.devices) == strip(config.devices)
    assert again.device("dcm4chee-arc").application_entities[0].export_rules[0].ae_title == "DCM4CHEE"
    assert device_json.loads(device_json.dumps(again)) == again  # a fixed point
    assert device_json.loads({"devices": [device_to_json(device)]}) == again
    assert device_json.loads(device_to_json(device)) == again


@pytest.mark.upstream
@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"upstream sample not found at {SAMPLE}")
def test_upstream_device_sample() -> None:
    sample = json.loads(SAMPLE.read_text())
    device = device_from_json(sample)
    assert device.device_name == "Test-Device-1" and device.installed
    assert [c.key for c in device.connections] == ["host.dcm4che.org:11112", "audit-udp", "hl7"]
    assert device.connections[1].protocol == "SYSLOG_UDP" and not device.connections[1].is_listening
    assert device.connections[2].bind_address == "0.0.0.0"
    (ae,) = device.application_entities
    assert ae.ae_title == "TEST-AET1" and ae.connection_refs == ("host.dcm4che.org:11112",)
    assert not ae.association_initiator and ae.association_acceptor
    assert [(tc.sop_class, tc.role) for tc in ae.transfer_capabilities][:2] == [
        ("1.2.840.10008.1.1", TransferRole.SCP),
        ("1.2.840.10008.5.1.4.1.1.2", TransferRole.SCP),
    ]
    assert ae.transfer_capabilities[1].transfer_syntaxes == ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
    # child entries no model covers (audit logger, image readers/writers, HL7 application) are not part of a
    # Device; a Configuration keeps them (other_entries) and writes them back in place
    assert "dcmAuditLogger" not in device_to_json(device).get("dcmDevice", {})
    config = device_json.loads(sample)
    assert json.loads(device_json.dumps(config)) == [sample]
    assert device_to_json(device, other_entries=config.other_entries) == sample
    remote = Configuration(devices=[device]).remote_ae("TEST-AET1")
    assert (remote.hostname, remote.port) == ("host.dcm4che.org", 11112)


@pytest.mark.upstream
@pytest.mark.skipif(not DEFAULT_CONFIG.is_file(), reason=f"upstream config not found at {DEFAULT_CONFIG}")
def test_ldif_to_json_and_back_keeps_every_modelled_value() -> None:
    config = ldif.load(DEFAULT_CONFIG)
    again = device_json.loads(device_json.dumps(config))
    assert [strip(d) for d in again.devices] == [strip(d) for d in config.devices]
    arc = json.loads(device_json.dumps(config))[4]
    assert arc["dicomDeviceName"] == "dcm4chee-arc"
    # an attribute only LDIF knows sits in the object of its class (dcmArchiveDevice), as dcm4che writes it
    assert "dcmFuzzyAlgorithmClass" not in arc
    assert arc["dcmDevice"]["dcmArchiveDevice"]["dcmFuzzyAlgorithmClass"] == "org.dcm4che3.soundex.ESoundex"
    export = next(
        q for q in arc["dcmDevice"]["dcmArchiveDevice"]["dcmQueue"] if q["dcmQueueName"] == "Export"
    )
    assert export["dcmMaxRetries"] == 10 and export["dcmRetryDelayMultiplier"] == 200


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (
            lambda d: d["dicomNetworkConnection"][0].update(dicomPort="x"),
            "dicomNetworkConnection[0].dicomPort",
            "integer",
        ),
        (
            lambda d: d["dicomNetworkAE"][0].update(
                dicomNetworkConnectionReference=["/dicomNetworkConnection/9"]
            ),
            "dicomNetworkAE[0].dicomNetworkConnectionReference[0]",
            "points nowhere",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"]["dcmExporter"][0].pop("dcmURI"),
            "dcmDevice.dcmArchiveDevice.dcmExporter[0]",
            "missing dcmURI",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"]["dcmExporter"][0].update(dcmProperty=["chunked"]),
            "dcmDevice.dcmArchiveDevice.dcmExporter[0].dcmProperty[0]",
            "no '='",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"]["dcmExporter"][0].update(
                dcmInstanceAvailability="X"
            ),
            "dcmDevice.dcmArchiveDevice.dcmExporter[0].dcmInstanceAvailability",
            "ONLINE",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"]["dcmQueue"][0].update(dcmRetryDelay="soon"),
            "dcmDevice.dcmArchiveDevice.dcmQueue[0].dcmRetryDelay",
            "invalid duration",
        ),
        (lambda d: d.update(dicomInstalled="yes"), "dicomInstalled", "true or false"),
    ],
)
def test_errors_name_the_json_path(mutate: Any, path: str, message: str) -> None:
    obj = device_to_json(archive())
    mutate(obj)
    with pytest.raises(JsonCodecError) as info:
        device_from_json(obj)
    assert info.value.path == path
    assert message in str(info.value)


def test_malformed_json_text() -> None:
    with pytest.raises(JsonCodecError, match="not JSON"):
        device_json.loads("{nope")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # RecursionError from the json module before
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
        ('{"dicomDeviceName": "x", "dicomNetworkConnection": [{"cn": "d", "dicomPort": ' + "9" * 5000 + "}]}",
         "Exceeds the limit (4300 digits)"),  # a bare ValueError before
        (b'{"dicomDeviceName": "\xff\xfe"}', "not UTF-8 text"),  # a UnicodeDecodeError before
    ],
    ids=["deep-arrays", "deep-objects", "5000-digits", "not-utf8"],
)
def test_json_no_reader_takes_is_a_codec_error(text: str | bytes, said: str) -> None:
    """Hostile device JSON (issue 18): every text the json module refuses is a JsonCodecError saying why."""
    with pytest.raises(JsonCodecError, match="not JSON") as info:
        device_json.loads(text)
    assert said in str(info.value)


# --- everything below a device (no upstream files needed) ---------------------------------------------------

_D = "dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
_P = "dicomDeviceName=plain,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
_AE = f"dicomAETitle=ARC,{_D}"
_CONN = f"cn=dicom,{_D}"
_HL7 = f"hl7ApplicationName=*,{_D}"
_REGISTRY = "dicomAETitle=ARC,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org"

LDIF = f"""\
dn: {_D}
objectClass: dicomDevice
objectClass: dcmDevice
objectClass: dcmArchiveDevice
dicomDeviceName: arc
dicomInstalled: TRUE
dcmFuzzyAlgorithmClass: org.dcm4che3.soundex.ESoundex
dcmQueryMaxNumberOfResults: 007
dcmQidoMaxNumberOfResults: 100
dcmLimitOpenAssociations: 10
dcmWadoSupportedSRClasses: 1.2.840.10008.5.1.4.1.1.88.11
myCustomAttribute: hello
userCertificate;binary:: AAECAw==

dn: {_CONN}
objectClass: dicomNetworkConnection
objectClass: dcmNetworkConnection
cn: dicom
dicomHostname: localhost
dicomPort: 11112
dcmTCPNoDelay: FALSE

dn: {_AE}
objectClass: dicomNetworkAE
objectClass: dcmNetworkAE
objectClass: dcmArchiveNetworkAE
dicomAETitle: ARC
dicomNetworkConnectionReference: {_CONN}
dicomAssociationInitiator: TRUE
dicomAssociationAcceptor: TRUE
dcmStorageID: fs1

dn: cn=CT,{_AE}
objectClass: dicomTransferCapability
objectClass: dcmTransferCapability
cn: CT
dicomSOPClass: 1.2.840.10008.5.1.4.1.1.2
dicomTransferRole: SCP
dicomTransferSyntax: *
dcmStorageConformance: 2

dn: cn=Coerce,{_AE}
objectClass: dcmArchiveAttributeCoercion2
cn: Coerce
dcmDIMSE: C_STORE_RQ
dicomTransferRole: SCU
dcmURI: xslt:coerce.xsl

dn: dcmEntity=Patient,{_D}
objectClass: dcmAttributeFilter
dcmEntity: Patient
dcmTag: 00100010
dcmTag: 00100020

dn: dcmAttributeSetID=x+dcmAttributeSetType=DIFF_RS,{_D}
objectClass: dcmAttributeSet
dcmAttributeSetID: x
dcmAttributeSetType: DIFF_RS
dcmAttributeSetTitle: X

dn: fooName=bar,{_D}
objectClass: fooThing
fooName: bar
cn: not the RDN

dn: cn=Auditor,{_D}
objectClass: dcmAuditLogger
cn: Auditor
dicomNetworkConnectionReference: {_CONN}
dcmAuditRecordRepositoryDeviceName: logstash

dn: cn=Quiet,cn=Auditor,{_D}
objectClass: dcmAuditSuppressCriteria
cn: Quiet
dcmAuditUserIsRequestor: TRUE

dn: cn=Audit Record Repository,{_D}
objectClass: dcmAuditRecordRepository
cn: Audit Record Repository
dicomNetworkConnectionReference: {_CONN}

dn: cn=Image Reader Factory,{_D}
objectClass: dcmImageReaderFactory
cn: Image Reader Factory

dn: dicomTransferSyntax=1.2.840.10008.1.2.5,cn=Image Reader Factory,{_D}
objectClass: dcmImageReader
dicomTransferSyntax: 1.2.840.10008.1.2.5
dcmIIOFormatName: rle
dcmJavaClassName: org.example.RLEImageReader

dn: cn=My Writers,{_D}
objectClass: dcmImageWriterFactory
cn: My Writers

dn: dicomTransferSyntax=1.2.840.10008.1.2.4.50,cn=My Writers,{_D}
objectClass: dcmImageWriter
dicomTransferSyntax: 1.2.840.10008.1.2.4.50
dcmIIOFormatName: jpeg
dcmJavaClassName: org.example.JPEGImageWriter

dn: {_HL7}
objectClass: hl7Application
objectClass: dcmArchiveHL7Application
hl7ApplicationName: *
dicomNetworkConnectionReference: {_CONN}
hl7PatientUpdateTemplateURI: hl7-adt2dcm.xsl

dn: cn=Forward,{_HL7}
objectClass: hl7ForwardRule
cn: Forward
dcmURI: hl7:somewhere

dn: {_P}
objectClass: dicomDevice
dicomDeviceName: plain
dicomInstalled: FALSE

dn: dcmQueueName=Export1,{_P}
objectClass: dcmQueue
dcmQueueName: Export1
dcmMaxRetries: 3

dn: {_REGISTRY}
objectClass: dicomUniqueAETitle
dicomAETitle: ARC
"""


def _exact(text: str) -> dict[str, dict[str, list[str | bytes]]]:
    from dcm_exporter.codecs.ldap_mapping import normalize_dn
    from dcm_exporter.codecs.ldif import read_ldif

    return {normalize_dn(r.dn): {k: list(v) for k, v in r.attributes.items()} for r in read_ldif(text)}


def test_every_entry_below_a_device_goes_through_json_unchanged() -> None:
    from dcm_exporter.codecs.device_json import entries_outside_devices
    from dcm_exporter.codecs.ldap_mapping import normalize_dn

    config = ldif.load(LDIF)
    again = device_json.loads(device_json.dumps(config))
    before, after = _exact(ldif.dumps(config)), _exact(ldif.dumps(again))
    registry = normalize_dn(_REGISTRY)
    assert set(before) - set(after) == {registry}
    assert [e.dn for e in entries_outside_devices(config)] == [_REGISTRY]
    for dn, attributes in before.items():
        if dn != registry:
            assert after[dn] == attributes, dn  # names, values, value order and object classes in order
    assert after[normalize_dn(_D)]["userCertificate;binary"] == [b"\x00\x01\x02\x03"]
    assert json.loads(device_json.dumps(again)) == json.loads(device_json.dumps(config))


def test_json_layout_of_unmodelled_entries_and_attributes() -> None:
    arc, plain = json.loads(device_json.dumps(ldif.load(LDIF)))
    dcm = arc["dcmDevice"]
    archive = dcm["dcmArchiveDevice"]
    # attributes in the object of their class, typed from the LDAP schema; unknown ones at the top
    assert archive["dcmFuzzyAlgorithmClass"] == "org.dcm4che3.soundex.ESoundex"
    assert archive["dcmQidoMaxNumberOfResults"] == 100
    assert archive["dcmQueryMaxNumberOfResults"] == "007"  # would not read back the same as a number
    assert archive["dcmWadoSupportedSRClasses"] == ["1.2.840.10008.5.1.4.1.1.88.11"]  # multi-valued: an array
    assert dcm["dcmLimitOpenAssociations"] == 10
    assert arc["myCustomAttribute"] == "hello"
    assert arc["_ldap"] == {"binary": {"userCertificate;binary": ["AAECAw=="]}}
    assert arc["dicomNetworkConnection"][0]["dcmNetworkConnection"] == {"dcmTCPNoDelay": False}
    # children where dcm4che puts them
    (ae,) = arc["dicomNetworkAE"]
    assert ae["dcmNetworkAE"]["dcmArchiveNetworkAE"]["dcmStorageID"] == "fs1"
    assert ae["dcmNetworkAE"]["dcmArchiveNetworkAE"]["dcmArchiveAttributeCoercion2"] == [
        {"cn": "Coerce", "dcmDIMSE": "C_STORE_RQ", "dicomTransferRole": "SCU", "dcmURI": "xslt:coerce.xsl"}
    ]
    assert ae["dicomTransferCapability"][0]["dcmTransferCapability"] == {"dcmStorageConformance": 2}
    assert archive["dcmAttributeFilter"] == [{"dcmEntity": "Patient", "dcmTag": ["00100010", "00100020"]}]
    assert archive["dcmAttributeSet"][0]["dcmAttributeSetType"] == "DIFF_RS"
    assert dcm["dcmAuditLogger"] == [
        {
            "cn": "Auditor",
            "dicomNetworkConnectionReference": ["/dicomNetworkConnection/0"],
            "dcmAuditRecordRepositoryDeviceName": "logstash",
            "dcmAuditSuppressCriteria": [{"cn": "Quiet", "dcmAuditUserIsRequestor": True}],
        }
    ]
    assert dcm["dcmAuditRecordRepository"]["cn"] == "Audit Record Repository"  # one object, not an array
    assert dcm["dcmImageReader"] == [
        {"dicomTransferSyntax": "1.2.840.10008.1.2.5", "dcmIIOFormatName": "rle",
         "dcmJavaClassName": "org.example.RLEImageReader"}
    ]
    (hl7,) = dcm["hl7Application"]
    assert hl7["dcmArchiveHL7Application"]["hl7PatientUpdateTemplateURI"] == "hl7-adt2dcm.xsl"
    assert hl7["dcmArchiveHL7Application"]["hl7ForwardRule"] == [{"cn": "Forward", "dcmURI": "hl7:somewhere"}]
    # the generic form, only where the entry cannot be inferred
    assert archive["fooThing"] == [{"fooName": "bar", "cn": "not the RDN", "_ldap": {"rdn": "fooName=bar"}}]
    (writers,) = dcm["dcmImageWriterFactory"]  # not the factory dcm4che leaves out: kept as an entry
    assert writers["cn"] == "My Writers" and writers["dcmImageWriter"][0]["dcmIIOFormatName"] == "jpeg"
    assert plain["_ldap"] == {"objectClass": ["dicomDevice"]}  # holds a queue, but has no dcmArchiveDevice
    assert plain["dcmDevice"]["dcmArchiveDevice"]["dcmQueue"] == [{"dcmQueueName": "Export1", "dcmMaxRetries": 3}]
    assert sum(text.count('"_ldap"') for text in (json.dumps(arc), json.dumps(plain))) == 3


def test_reading_hand_written_json_with_unmodelled_entries() -> None:
    from dcm_exporter.codecs.ldap_mapping import normalize_dn

    doc = {
        "dicomDeviceName": "arc",
        "dicomInstalled": True,
        "dicomNetworkConnection": [{"dicomHostname": "localhost", "dicomPort": 104}],
        "dcmDevice": {
            "dcmImageReader": [{"dicomTransferSyntax": "1.2.840.10008.1.2.5", "dcmIIOFormatName": "rle"}],
            "dcmAuditRecordRepository": {"cn": "ARR", "dicomNetworkConnectionReference": ["/dicomNetworkConnection/0"]},
            "dcmArchiveDevice": {
                "dcmFuzzyAlgorithmClass": "x",
                "custom": [{"_ldap": {"rdn": "customID=1", "objectClass": ["customThing", "extensibleObject"]},
                            "customID": 1, "flag": True, "ratio": 0.5}],
            },
        },
    }
    config = device_json.loads(doc)
    entries = {normalize_dn(e.dn): dict(e.attributes) for e in config.other_entries}
    base = normalize_dn(_D)
    assert entries[f"cn=image reader factory,{base}"]["objectClass"] == ("dcmImageReaderFactory",)
    reader = entries[f"dicomtransfersyntax=1.2.840.10008.1.2.5,cn=image reader factory,{base}"]
    assert reader["dcmIIOFormatName"] == ("rle",)
    arr = entries[f"cn=arr,{base}"]
    assert arr["dicomNetworkConnectionReference"] == (f"dicomHostname=localhost+dicomPort=104,{_D}",)
    custom = entries[f"customid=1,{base}"]
    assert custom == {"objectClass": ("customThing", "extensibleObject"), "customID": ("1",), "flag": ("TRUE",),
                      "ratio": ("0.5",)}
    device = config.device("arc")
    assert device.object_classes == ("dicomDevice", "dcmDevice", "dcmArchiveDevice")
    assert device.extra["dcmFuzzyAlgorithmClass"] == ("x",)
    assert json.loads(device_json.dumps(config))[0]["dcmDevice"]["dcmArchiveDevice"]["customThing"][0]["_ldap"] == {
        "rdn": "customID=1", "objectClass": ["customThing", "extensibleObject"]
    }


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"].update(dcmMetrics=[{"dicomDescription": "no name"}]),
            "dcmDevice.dcmArchiveDevice.dcmMetrics[0]",
            "needs dcmMetricsName",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"].update(dcmMetrics=[{"dcmMetricsName": "a"}, "b"]),
            "dcmDevice.dcmArchiveDevice.dcmMetrics[1]",
            "mixes objects and values",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"].update(
                dcmMetrics=[{"dcmMetricsName": "a"}, {"dcmMetricsName": "a"}]
            ),
            "dcmDevice.dcmArchiveDevice.dcmMetrics[1]",
            "a second entry 'dcmMetricsName=a' (the first is at dcmDevice.dcmArchiveDevice.dcmMetrics[0])",
        ),
        (
            lambda d: d["dcmDevice"]["dcmArchiveDevice"].update(dcmMetrics=[{"dcmMetricsName": "a", "x": [[1]]}]),
            "dcmDevice.dcmArchiveDevice.dcmMetrics[0].x[0]",
            "expected a string, number or boolean",
        ),
        (lambda d: d.update(_ldap={"dn": "x"}), "_ldap", "unknown member(s) dn"),
        (lambda d: d.update(_ldap={"binary": {"a": ["!!"]}}), "_ldap.binary.a", "not base64"),
        (
            lambda d: d["dcmDevice"].update(
                dcmAuditLogger=[{"cn": "a", "dicomNetworkConnectionReference": ["/dicomNetworkConnection/7"]}]
            ),
            "dcmDevice.dcmAuditLogger[0].dicomNetworkConnectionReference[0]",
            "points nowhere",
        ),
        (
            lambda d: d["dicomNetworkAE"][0].update(dicomNetworkConnectionReference=["/dicomNetworkAE/0"]),
            "dicomNetworkAE[0].dicomNetworkConnectionReference[0]",
            "expected a reference like",
        ),
        (
            lambda d: d["dicomNetworkAE"][0].update(dicomNetworkConnectionReference=["cn=nowhere"]),
            "dicomNetworkAE[0]",
            "points nowhere",
        ),
    ],
)
def test_errors_below_a_device_name_the_json_path(mutate: Any, path: str, message: str) -> None:
    obj = device_to_json(archive())
    mutate(obj)
    with pytest.raises(JsonCodecError) as info:
        device_json.loads(obj)
    assert info.value.path == path
    assert message in str(info.value)


_CLASSES = ["dcmMetrics", "dcmIDGenerator", "dcmAttributeFilter", "fooThing", "hl7OrderScheduledStation"]
_ATTRS = ["cn", "dcmMetricsName", "dcmEntity", "fooName", "dcmTag", "dcmRulePriority", "dcmNoKeywords",
          "dicomDescription", "dcmProperty", "myAttribute", "hl7OrderControlStatus", "dicomInstalled"]
_VALUES = st.one_of(
    st.sampled_from(["TRUE", "FALSE", "true", "007", "-0", "12", "0.5", "", " x ", "a,b+c=d", "/x"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
)


@st.composite
def _children(draw: st.DrawFn) -> list[tuple[str, dict[str, list[str | bytes]]]]:
    out: list[tuple[str, dict[str, list[str | bytes]]]] = []
    seen: set[str] = set()
    for _ in range(draw(st.integers(0, 4))):
        cls = draw(st.sampled_from(_CLASSES))
        attributes: dict[str, list[str | bytes]] = {"objectClass": [cls]}
        for name in draw(st.lists(st.sampled_from(_ATTRS), max_size=4, unique=True)):
            attributes[name] = draw(st.lists(_VALUES, min_size=1, max_size=3, unique=True))
        naming = draw(st.sampled_from(_ATTRS))
        value = draw(st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=6))
        attributes[naming] = [value]
        if draw(st.booleans()):
            attributes["photo"] = [b"\xff" + draw(st.binary(max_size=4))]  # not UTF-8: stays bytes
        dn = f"{naming}={value},{_D}"
        if dn.lower() in seen:
            continue
        seen.add(dn.lower())
        out.append((dn, attributes))
    return out


@settings(max_examples=60, deadline=None)
@given(_children())
def test_any_child_entry_survives_json(children: list[tuple[str, dict[str, list[str | bytes]]]]) -> None:
    from dcm_exporter.codecs.ldap_mapping import normalize_dn
    from dcm_exporter.codecs.ldif import LdifEntry, write_ldif

    device = (_D, {"objectClass": ["dicomDevice", "dcmDevice", "dcmArchiveDevice"], "dicomDeviceName": ["arc"],
                   "dicomInstalled": ["TRUE"]})
    text = write_ldif([LdifEntry(dn=dn, attributes=a, line=0) for dn, a in [device, *children]])
    config = ldif.load(text)
    back = device_json.loads(device_json.dumps(config))
    expected = _exact(ldif.dumps(config))
    assert _exact(ldif.dumps(back)) == expected
    for dn, attributes in children:
        assert expected[normalize_dn(dn)] == attributes
