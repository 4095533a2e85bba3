"""The real dcm4che configuration files: read, check values, write, read again.

The files live beside the repository in ``../shared/dcm4che/ldap/config`` (verbatim upstream); the tests skip
when that folder is absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.codecs import ldap_mapping as lm
from dcm_exporter.codecs.ldif import LdifEntry, iter_ldif
from dcm_exporter.errors import UnknownAEError
from dcm_exporter.models import Configuration, Entity, ExporterDescriptor, Severity, TransferRole

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dcm4che"
CONFIG = SHARED / "ldap" / "config"
FILES = [
    "default-config.ldif",
    "sample-export.ldif",
    "sample-device.ldif",
    "init-config.ldif",
    "init-baseDN.ldif",
]

pytestmark = [
    pytest.mark.upstream,
    pytest.mark.skipif(not CONFIG.is_dir(), reason=f"upstream dcm4che files not found in {CONFIG}"),
]

ARC = "dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"


@pytest.fixture(scope="module")
def default_config() -> Configuration:
    return ldif.load(CONFIG / "default-config.ldif")


@pytest.fixture(scope="module")
def combined() -> Configuration:
    """The archive's default configuration with the export sample and the sample device added."""
    return ldif.load(
        [CONFIG / "default-config.ldif", CONFIG / "sample-export.ldif", CONFIG / "sample-device.ldif"]
    )


def _entries(text_or_path: str | Path) -> list[LdifEntry]:
    return [r for r in iter_ldif(text_or_path) if isinstance(r, LdifEntry)]


def _canonical(attributes: Mapping[str, Sequence[str | bytes]]) -> dict[str, list[str | bytes]]:
    out: dict[str, list[str | bytes]] = {}
    for name, values in attributes.items():
        out.setdefault(name.lower(), []).extend(values)
    return {k: sorted(v, key=repr) for k, v in out.items()}


def _by_dn(entries: Iterable[LdifEntry]) -> dict[str, dict[str, list[str | bytes]]]:
    return {lm.normalize_dn(e.dn): _canonical(e.attributes) for e in entries}


# --- default-config.ldif -----------------------------------------------------------------------------


def test_default_config_devices(default_config: Configuration) -> None:
    assert [d.device_name for d in default_config.devices] == [
        "stowrsd",
        "keycloak",
        "logstash",
        "storescp",
        "dcm4chee-arc",
        "scheduledstation",
    ]
    assert default_config.base_dn == "dc=dcm4che,dc=org"
    arc = default_config.device("dcm4chee-arc")
    assert arc.installed is True and arc.primary_device_types == ("ARCHIVE",)
    assert arc.extra["dcmFuzzyAlgorithmClass"] == ("org.dcm4che3.soundex.ESoundex",)
    assert {"dicomDevice", "dcmDevice", "dcmArchiveDevice"} <= set(arc.object_classes)
    assert [ae.ae_title for ae in arc.application_entities] == [
        "DCM4CHEE",
        "WORKLIST",
        "AS_RECEIVED",
        "IOCM_EXPIRED",
        "IOCM_QUALITY",
        "IOCM_WRONG_MWL",
        "IOCM_PAT_SAFETY",
        "IOCM_REGULAR_USE",
    ]
    assert default_config.exporters == {} and default_config.export_rules == ()


def test_default_config_connections(default_config: Configuration) -> None:
    arc = default_config.device("dcm4chee-arc")
    dicom = arc.connection("dicom")
    assert (dicom.hostname, dicom.port, dicom.protocol) == ("localhost", 11112, "DICOM")
    assert (dicom.tcp_connect_timeout, dicom.aarq_timeout, dicom.aaac_timeout, dicom.arrp_timeout) == (
        5000,
        5000,
        5000,
        5000,
    )
    assert (dicom.response_timeout, dicom.idle_timeout, dicom.bind_address) == (5000, 300000, "0.0.0.0")
    assert dicom.extra["dcmMaxOpsInvoked"] == ("0",) and dicom.extra["dcmAATimeout"] == ("5000",)
    tls = arc.connection("dicom-tls")
    assert tls.is_tls and tls.port == 2762
    assert tls.tls_cipher_suites == ("TLS_RSA_WITH_AES_128_CBC_SHA", "SSL_RSA_WITH_3DES_EDE_CBC_SHA")
    syslog_tls = arc.connection("syslog-tls")
    assert (
        syslog_tls.installed is False and syslog_tls.protocol == "SYSLOG_TLS" and not syslog_tls.is_listening
    )
    assert arc.connection("hl7").protocol == "HL7"
    dcm4chee = arc.application_entity("DCM4CHEE")
    assert dcm4chee is not None
    assert dcm4chee.connection_refs == ("dicom", "dicom-tls")
    assert dcm4chee.association_initiator and dcm4chee.association_acceptor
    assert dcm4chee.description == "Hide instances rejected for Quality Reasons"
    assert dcm4chee.extra["dcmQueryRetrieveViewID"] == ("hideRejected",)
    assert len(dcm4chee.transfer_capabilities) == 520


def test_default_config_remote_storescp(default_config: Configuration) -> None:
    remote = default_config.remote_ae("STORESCP")
    assert (remote.ae_title, remote.device_name, remote.hostname, remote.port) == (
        "STORESCP",
        "storescp",
        "localhost",
        11117,
    )
    assert remote.tls is False and remote.installed is True
    assert len(remote.transfer_capabilities) == 253
    assert all(tc.role is TransferRole.SCP for tc in remote.transfer_capabilities)
    assert remote.accepted_transfer_syntaxes("1.2.840.10008.5.1.4.1.1.2") == (
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
    )
    assert remote.accepted_transfer_syntaxes("1.2.840.10008.1.1") == ("1.2.840.10008.1.2",)
    assert remote.accepted_transfer_syntaxes("1.2.3.4.5.6.7") == ()
    # the archive's DCM4CHEE AE calls from plain 'dicom' or TLS 'dicom-tls': the plain one matches
    assert default_config.remote_ae("STORESCP", local_ae_title="DCM4CHEE").port == 11117
    with pytest.raises(UnknownAEError, match="Unknown AE: SAMPLE_AET"):
        default_config.remote_ae("SAMPLE_AET")


def test_default_config_queues_storage_and_web_apps(default_config: Configuration) -> None:
    assert list(default_config.queues) == [
        "Export",
        "IANSCU",
        "HL7Send",
        "MPPSSCU",
        "RSClient",
        "Retrieve",
        "DiffTasks",
        "Rejection",
        "StgCmtSCP",
        "StgCmtSCU",
        "StgVerTasks",
    ]
    export = default_config.queues["Export"]
    assert export.description == "Export Tasks"
    assert (
        export.max_retries,
        export.retry_delay,
        export.retry_delay_multiplier,
        export.max_retry_delay,
    ) == (10, timedelta(seconds=30), 200, timedelta(minutes=10))
    assert export.purge_completed_delay == timedelta(days=1) and export.purge_failed_delay is None
    assert [int(export.retry_delay_for(n).total_seconds()) for n in range(1, 11)] == [  # type: ignore[union-attr]
        30,
        60,
        120,
        240,
        480,
        600,
        600,
        600,
        600,
        600,
    ]
    assert export.retry_delay_for(11) is None
    fs1 = default_config.storages["fs1"]
    assert fs1.uri == "${jboss.server.storage.url}/fs1/" and fs1.storage_path_format is None
    assert fs1.extra["dcmDigestAlgorithm"] == ("MD5",) and fs1.extra["dcmCheckMountFilePath"] == ("NO_MOUNT",)
    stow = default_config.web_application("stowrsd")
    assert stow.base_url == "http://localhost:18080/stowrs" and stow.service_classes == ("STOW_RS",)
    as_received = default_config.web_applications["AS_RECEIVED"]
    assert as_received.properties == {"roles": "admin"} and as_received.ae_title == "AS_RECEIVED"
    assert as_received.service_path == "/dcm4chee-arc/aets/AS_RECEIVED/rs"


def test_default_config_keeps_unmodelled_entries(default_config: Configuration) -> None:
    dns = {lm.normalize_dn(e.dn) for e in default_config.other_entries}
    assert lm.normalize_dn(f"hl7ApplicationName=*,{ARC}") in dns
    assert lm.normalize_dn(f"dcmAttributeSetID=all+dcmAttributeSetType=DIFF_RS,{ARC}") in dns
    assert (
        lm.normalize_dn(
            "dicomAETitle=STORESCP,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org"
        )
        in dns
    )
    modelled = len(list(lm.iter_model_entries(default_config)))
    assert modelled + len(default_config.other_entries) == len(_entries(CONFIG / "default-config.ldif"))


# --- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_round_trip_entry_by_entry(name: str) -> None:
    original = _entries(CONFIG / name)
    config = ldif.load(CONFIG / name)
    text = ldif.dumps(config)
    written = _entries(text)
    before, after = _by_dn(original), _by_dn(written)
    assert before.keys() == after.keys()
    for dn, attributes in before.items():
        out = after[dn]
        # every attribute is still there (unknown ones verbatim); only default values may be dropped
        dropped = set(attributes) - set(out)
        assert set(out) <= set(attributes), dn
        for attr in dropped:
            assert attr in _DEFAULT_VALUES and attributes[attr] == [_DEFAULT_VALUES[attr]], (dn, attr)
        for attr in set(attributes) & set(out):
            if attr in _NORMALISED:
                assert len(attributes[attr]) == len(out[attr]), (dn, attr)
            else:
                assert attributes[attr] == out[attr], (dn, attr)
    again = ldif.load(text)
    assert again == config
    assert ldif.dumps(again) == text


# attributes whose written form may differ from the upstream text (normalised), and defaults omitted
_NORMALISED = {
    "dicomassociationinitiator",
    "dicomassociationacceptor",
    "dicominstalled",
    "dcmschedule",
    "dcmretrydelay",
    "dcmmaxretrydelay",
    "dcmduration",
    "dcmpurgequeuemessagecompleteddelay",
}
_DEFAULT_VALUES = {
    "dcmmaxtasksparallel": "1",
    "dcmmaxretries": "0",
    "dcmretrydelaymultiplier": "100",
    "dcmprotocol": "DICOM",
    "dcmretrydelay": "PT1M",
}


def test_combined_round_trip(combined: Configuration) -> None:
    text = ldif.dumps(combined)
    assert ldif.load(text) == combined
    parents_first = [e.dn for e in _entries(text)]
    present = {lm.normalize_dn(d) for d in parents_first}
    seen: set[str] = set()
    for dn in parents_first:
        parent = lm.normalize_dn(lm.parent_dn(dn))
        assert parent not in present or parent in seen, dn
        seen.add(lm.normalize_dn(dn))


# --- the seed example (sample-export.ldif) ----------------------------------------------------------


def test_seed_exporter(combined: Configuration) -> None:
    exporter = combined.exporters["STORESCP"]
    assert (exporter.exporter_id, exporter.uri, exporter.ae_title, exporter.queue_name) == (
        "STORESCP",
        "dicom:STORESCP",
        "DCM4CHEE",
        "Export1",
    )
    assert exporter.scheme == "dicom" and exporter.destination == "STORESCP"
    assert exporter.schedules.is_always
    assert combined.exporter_device("STORESCP").device_name == "dcm4chee-arc"
    (rule,) = combined.export_rules
    assert (rule.name, rule.entity, rule.exporter_ids, rule.delay) == (
        "Forward to STORESCP",
        Entity.SERIES,
        ("STORESCP",),
        timedelta(minutes=1),
    )
    assert rule.conditions == () and rule.ae_title is None
    # its destination resolves through default-config.ldif
    assert combined.remote_ae(exporter.destination).port == 11117
    # queue Export1 is not in the default configuration: loading works, as in dcm4chee-arc, and validation
    # warns (its tasks are refused when queued; tests/unit/test_upstream_combined.py)
    issues = combined.validate()
    (missing,) = [i for i in issues if "queue" in i.message]
    assert missing.severity is Severity.WARNING and "Export1" in missing.message
    assert missing.location is not None and missing.location.filename.endswith("sample-export.ldif")
    assert missing.location.line == 21


def test_seed_exporter_description_and_schedules_uncommented() -> None:
    text = (CONFIG / "sample-export.ldif").read_text()
    text = text.replace("#dcmSchedule: hour=18-6", "dcmSchedule: hour=18-6")
    text = text.replace("#dcmSchedule: hour=* dayOfWeek=0,6", "dcmSchedule: hour=* dayOfWeek=0,6")
    text = text.replace(
        "dcmQueueName: Export1", "dcmQueueName: Export1\ndicomDescription: Forward to STORESCP"
    )
    (entry,) = [e for e in _entries(text) if e.has_object_class("dcmExporter")]
    exporter = lm.model_from_entry(ExporterDescriptor, entry.dn, entry.attributes)
    assert exporter.exporter_id == "STORESCP" and exporter.description == "Forward to STORESCP"
    assert exporter.schedules.to_strings() == ("hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6")
    # the rule's commented conditions, uncommented
    for line in (
        "dcmProperty: ReceivingApplicationEntityTitle=DCM4CHEE",
        "dcmProperty: Modality=CT|MR",
        "dcmProperty: SendingApplicationEntityTitle=FORWARD",
        "dcmSchedule: dayOfWeek=1-5",
    ):
        text = text.replace("#" + line, line)
    config = ldif.load([CONFIG / "default-config.ldif", text])
    (rule,) = config.export_rules
    assert rule.conditions == (
        "ReceivingApplicationEntityTitle=DCM4CHEE",
        "SendingApplicationEntityTitle=FORWARD",
        "Modality=CT|MR",
    )
    assert rule.schedules.to_strings() == ("hour=* dayOfWeek=1-5",)
    assert len(config.exporters["STORESCP"].schedules.expressions) == 2


def test_sample_device(combined: Configuration) -> None:
    device = combined.device("SAMPLE_DEVICE")
    assert device.installed and [c.key for c in device.connections] == ["dicom"]
    remote = combined.remote_ae("SAMPLE_AET")
    assert (remote.hostname, remote.port, remote.device_name) == ("sample.host.name", 12345, "SAMPLE_DEVICE")
    alone = ldif.load(CONFIG / "sample-device.ldif")
    assert [e.dn for e in alone.other_entries] == [
        "dicomAETitle=SAMPLE_AET,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org"
    ]
    rebuilt = Configuration().add_device(device)
    assert _by_dn(_entries(ldif.dumps(rebuilt))) == _by_dn(_entries(CONFIG / "sample-device.ldif"))


def test_init_config_is_all_unmodelled_roots() -> None:
    config = ldif.load(CONFIG / "init-config.ldif")
    assert config.devices == ()
    assert [e.attributes["objectClass"] for e in config.other_entries] == [
        ("dicomConfigurationRoot",),
        ("dicomDevicesRoot",),
        ("dicomUniqueAETitlesRegistryRoot",),
        ("hl7UniqueApplicationNamesRegistryRoot",),
        ("dcmUniqueWebAppNamesRegistryRoot",),
    ]


# --- device JSON ---------------------------------------------------------------------------------------

JSON_SCHEMAS = SHARED / "json-schema"
LDAP_SCHEMAS = SHARED / "ldap" / "schema"
DEVICES = "cn=devices,cn=dicom configuration,dc=dcm4che,dc=org"


def _exact(text: str) -> dict[str, dict[str, list[str | bytes]]]:
    """Entries by normalised DN, attribute names and value order as written."""
    return {lm.normalize_dn(e.dn): {k: list(v) for k, v in e.attributes.items()} for e in _entries(text)}


@pytest.mark.parametrize(
    "names",
    [["default-config.ldif"], ["default-config.ldif", "sample-export.ldif", "sample-device.ldif"]],
    ids=["default-config", "combined"],
)
def test_ldif_to_json_to_ldif_keeps_every_device_entry(names: list[str]) -> None:
    import json

    from dcm_exporter.codecs.device_json import entries_outside_devices

    config = ldif.load([CONFIG / n for n in names])
    direct = _exact(ldif.dumps(config))
    via_json = device_json.loads(device_json.dumps(config))
    back = _exact(ldif.dumps(via_json))
    below_devices = {dn for dn in direct if dn.endswith("," + DEVICES)}
    assert len(below_devices) > 1400
    # every entry below a device comes back, attribute by attribute, values and object classes in order
    for dn in below_devices:
        assert back.get(dn) == direct[dn], dn
    # ... and so does the upstream file itself (the LDIF round trip drops only default values, checked above)
    original = {}
    for name in names:
        original.update(_by_dn(_entries(CONFIG / name)))
    for dn, attributes in original.items():
        if dn.endswith("," + DEVICES):
            assert set(_canonical(back[dn])) <= set(attributes), dn
    # what JSON cannot hold: exactly the entries that are not below a device (the unique-name registries)
    lost = set(direct) - set(back)
    outside = {lm.normalize_dn(e.dn) for e in entries_outside_devices(config)}
    assert lost == outside == set(direct) - below_devices
    assert all("registry" in dn for dn in lost)
    # the acceptance report's examples: unmodelled children, auxiliary classes, unknown attributes
    counts = {
        c: sum(1 for a in back.values() if c in a.get("objectClass", []))
        for c in ("dcmAttributeFilter", "dcmImageReader", "dcmMetrics", "dcmIDGenerator", "dcmQueryRetrieveView",
                  "dcmRejectionNote", "dcmUPSProcessingRule", "dcmAuditLogger", "hl7Application",
                  "dcmTransferCapability")
    }
    assert counts == {
        c: sum(1 for a in direct.values() if c in a.get("objectClass", [])) for c in counts
    }
    assert counts["dcmTransferCapability"] >= 1332 and all(counts.values())
    # and JSON to JSON is a fixed point (members may come in another order; arrays keep theirs)
    assert json.loads(device_json.dumps(via_json)) == json.loads(device_json.dumps(config))


def test_device_json_places_attributes_and_children_where_dcm4che_does(default_config: Configuration) -> None:
    import json

    arc = next(d for d in json.loads(device_json.dumps(default_config)) if d["dicomDeviceName"] == "dcm4chee-arc")
    assert "dcmFuzzyAlgorithmClass" not in arc
    archive = arc["dcmDevice"]["dcmArchiveDevice"]
    assert archive["dcmFuzzyAlgorithmClass"] == "org.dcm4che3.soundex.ESoundex"
    assert {f["dcmEntity"] for f in archive["dcmAttributeFilter"]} >= {"Patient", "Study", "Series", "Instance"}
    for key in ("dcmQueryRetrieveView", "dcmRejectionNote", "dcmStorage", "dcmQueue", "dcmMetrics",
                "dcmIDGenerator", "dcmUPSProcessingRule", "dcmAttributeSet", "dcmBulkDataDescriptor",
                "hl7OrderSPSStatus", "hl7OrderScheduledStation"):
        assert archive[key] and all(isinstance(x, dict) for x in archive[key]), key
    assert {"dcmImageReader", "dcmImageWriter", "dcmAuditLogger", "hl7Application", "dcmWebApp"} <= set(
        arc["dcmDevice"]
    )
    assert all(isinstance(r["dicomTransferSyntax"], str) for r in arc["dcmDevice"]["dcmImageReader"])
    (hl7,) = arc["dcmDevice"]["hl7Application"]
    assert hl7["hl7ApplicationName"] == "*" and "dcmArchiveHL7Application" in hl7
    assert hl7["dicomNetworkConnectionReference"][0].startswith("/dicomNetworkConnection/")
    ae = next(a for a in arc["dicomNetworkAE"] if a["dicomAETitle"] == "DCM4CHEE")
    assert isinstance(ae["dcmNetworkAE"]["dcmArchiveNetworkAE"], dict)
    tc = ae["dicomTransferCapability"][0]
    assert "dcmTransferCapability" in tc or tc.keys() >= {"dicomSOPClass", "dicomTransferRole"}
    assert any("dcmTransferCapability" in t for t in ae["dicomTransferCapability"])
    assert "_ldap" not in json.dumps(arc)  # everything upstream writes needs no generic member


def _ldap_schema() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Attribute types and object classes of the dcm4che LDAP schema files (a small OpenLDAP .schema parser)."""
    import re

    types: dict[str, dict[str, Any]] = {}
    classes: dict[str, dict[str, Any]] = {}
    for path in sorted(LDAP_SCHEMAS.glob("*.schema")):
        for block in re.split(r"\n(?=objectclass|attributetype)", path.read_text()):
            name_match = re.search(r"NAME '([^']+)'", block)
            if name_match is None:
                continue
            name = name_match.group(1)
            if block.lower().startswith("attributetype"):
                syntax = re.search(r"SYNTAX ([0-9.]+)", block)
                sup = re.search(r"SUP (\w+)", block)
                types[name] = {
                    "single": "SINGLE-VALUE" in block,
                    "syntax": syntax.group(1) if syntax else None,
                    "sup": sup.group(1) if sup else None,
                }
            elif block.lower().startswith("objectclass"):
                members: list[str] = []
                for key in ("MUST", "MAY"):
                    found = re.search(key + r"\s*\(([^)]*)\)", block) or re.search(key + r"\s+(\w+)", block)
                    if found:
                        members += [m.strip() for m in found.group(1).split("$") if m.strip()]
                classes[name] = {"aux": "AUXILIARY" in block, "attributes": members}
    for t in types.values():
        base = t
        while base["syntax"] is None and base["sup"] in types:
            base = types[base["sup"]]
        t["syntax"] = base["syntax"]
    return types, classes


@pytest.mark.skipif(not LDAP_SCHEMAS.is_dir(), reason=f"upstream LDAP schema not found in {LDAP_SCHEMAS}")
def test_generated_schema_table_matches_the_ldap_schema() -> None:
    from dcm_exporter.codecs import _dcm4che_schema as table

    types, classes = _ldap_schema()
    assert {n for n, t in types.items() if t["syntax"] == "1.3.6.1.4.1.1466.115.121.1.27"} == table.INTEGER
    assert {n for n, t in types.items() if t["syntax"] == "1.3.6.1.4.1.1466.115.121.1.7"} == table.BOOLEAN
    assert {n for n, t in types.items() if not t["single"]} == table.MULTI_VALUED
    assert set(table.AUXILIARY_CLASSES) == {n for n, c in classes.items() if c["aux"]}
    for name, members in table.CLASS_ATTRIBUTES.items():
        assert members == set(classes[name]["attributes"]), name


@pytest.mark.skipif(not LDAP_SCHEMAS.is_dir(), reason=f"upstream LDAP schema not found in {LDAP_SCHEMAS}")
def test_every_attribute_sits_in_the_json_object_of_its_class(default_config: Configuration) -> None:
    """Per the LDAP schema: device, connection, AE and transfer capability attributes in their class's object."""
    import json

    _, classes = _ldap_schema()
    where = {
        "dicomDevice": (), "dcmDevice": ("dcmDevice",), "dcmArchiveDevice": ("dcmDevice", "dcmArchiveDevice"),
        "dicomNetworkAE": (), "dcmNetworkAE": ("dcmNetworkAE",),
        "dcmArchiveNetworkAE": ("dcmNetworkAE", "dcmArchiveNetworkAE"),
        "dicomNetworkConnection": (), "dcmNetworkConnection": ("dcmNetworkConnection",),
        "dicomTransferCapability": (), "dcmTransferCapability": ("dcmTransferCapability",),
    }
    direct = _exact(ldif.dumps(default_config))
    checked = 0

    def check(obj: Mapping[str, Any], dn: str) -> None:
        nonlocal checked
        attributes = direct[lm.normalize_dn(dn)]
        for cls in attributes["objectClass"]:
            place: Any = obj
            for part in where[cls]:
                place = place[part]
            for attr in classes[cls]["attributes"]:
                if attr in attributes and attr != "objectClass":
                    assert attr in place, (dn, cls, attr)
                    checked += 1

    for device in json.loads(device_json.dumps(default_config)):
        ddn = lm.device_dn(device["dicomDeviceName"])
        check(device, ddn)
        for conn in device.get("dicomNetworkConnection", []):
            check(conn, f"cn={lm.escape_rdn_value(conn['cn'])},{ddn}")
        for ae in device.get("dicomNetworkAE", []):
            aedn = f"dicomAETitle={lm.escape_rdn_value(ae['dicomAETitle'])},{ddn}"
            check(ae, aedn)
            for tc in ae.get("dicomTransferCapability", []):
                check(tc, f"cn={lm.escape_rdn_value(tc['cn'])},{aedn}")
    assert checked > 5000


def _validator(schema_file: str) -> Any:
    """A validator for one shipped JSON schema; references to schema files not shipped accept anything."""
    import json

    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT7

    def retrieve(uri: str) -> Any:
        path = JSON_SCHEMAS / uri
        contents = json.loads(path.read_text()) if path.is_file() else {}
        return referencing.Resource.from_contents(contents, default_specification=DRAFT7)

    schema = json.loads((JSON_SCHEMAS / schema_file).read_text())
    return jsonschema.Draft7Validator(schema, registry=referencing.Registry(retrieve=retrieve))


def _deviations(validator: Any, obj: Any) -> list[str]:
    """Schema errors other than a missing "required" member (we omit defaults, as the upstream sample does)."""
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(obj)
        if e.validator != "required"
    ]


@pytest.mark.skipif(not JSON_SCHEMAS.is_dir(), reason=f"upstream JSON schemas not found in {JSON_SCHEMAS}")
def test_device_sample_reads_writes_and_validates() -> None:
    import json

    sample = json.loads((JSON_SCHEMAS / "device-sample.json").read_text())
    validator = _validator("device.schema.json")
    assert _deviations(validator, sample) == []
    config = device_json.loads(sample)
    written = json.loads(device_json.dumps(config))
    assert written == [sample]  # the same JSON, member by member
    assert device_json.loads(written) == config
    assert _deviations(validator, written[0]) == []
    assert len(config.other_entries) == 1 + 17 + 1 + 13 + 1 + 1 + 1  # factories, readers, writers, logger, ...


@pytest.mark.skipif(not JSON_SCHEMAS.is_dir(), reason=f"upstream JSON schemas not found in {JSON_SCHEMAS}")
def test_json_of_the_upstream_configuration_validates(combined: Configuration) -> None:
    import json

    devices = json.loads(device_json.dumps(combined))
    device_validator = _validator("device.schema.json")
    deviations = [d for device in devices for d in _deviations(device_validator, device)]
    # the one deviation is upstream's own: the Keycloak device's primary device type is not in the schema's enum
    assert deviations == ["dicomPrimaryDeviceType.0: 'AUTH' is not one of " + deviations[0].split(" one of ")[1]]
    # the archive's objects have schemas of their own (dcmArchiveDevice has none shipped)
    checked = 0
    for key, schema_file in (("dcmExporter", "exporter.schema.json"), ("dcmQueue", "queue.schema.json"),
                             ("dcmExportRule", "exportRule.schema.json")):
        validator = _validator(schema_file)
        for device in devices:
            for obj in device.get("dcmDevice", {}).get("dcmArchiveDevice", {}).get(key, []):
                assert _deviations(validator, obj) == [], (key, obj)
                checked += 1
    assert checked >= 13
