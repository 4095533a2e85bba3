"""Models <-> LDAP entries: DN handling, the attribute table, errors with DN and line, minimal diffs."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from dcm_exporter.codecs import ldap_mapping as lm
from dcm_exporter.codecs import ldif
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    Entity,
    ExporterDescriptor,
    ExportRule,
    InstanceAvailability,
    QueueDescriptor,
)

BASE = "dc=dcm4che,dc=org"
DEV = f"dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,{BASE}"

LDIF = f"""version: 1

dn: {DEV}
objectClass: dicomDevice
objectClass: dcmDevice
objectClass: dcmArchiveDevice
dicomDeviceName: dcm4chee-arc
dicomInstalled: TRUE
dcmFuzzyAlgorithmClass: org.dcm4che3.soundex.ESoundex

dn: cn=dicom,{DEV}
objectClass: dicomNetworkConnection
objectClass: dcmNetworkConnection
cn: dicom
dicomHostname: localhost
dicomPort: 11112
dcmAARQTimeout: 5000
dcmMaxOpsInvoked: 0

dn: dicomAETitle=DCM4CHEE,{DEV}
objectClass: dicomNetworkAE
objectClass: dcmNetworkAE
objectClass: dcmArchiveNetworkAE
dicomAETitle: DCM4CHEE
dicomNetworkConnectionReference: cn=dicom,{DEV}
dicomAssociationInitiator: true
dicomAssociationAcceptor: TRUE
dcmQueryRetrieveViewID: hideRejected

dn: dcmQueueName=Export1,{DEV}
objectClass: dcmQueue
dcmQueueName: Export1
dcmMaxRetries: 10
dcmRetryDelay: PT30S
dcmRetryDelayMultiplier: 200
dcmMaxRetryDelay: PT10M
dcmMaxTasksParallel: 1

dn: dcmExporterID=STORESCP,{DEV}
objectClass: dcmExporter
dcmExporterID: STORESCP
dcmURI: dicom:STORESCP
dicomAETitle: DCM4CHEE
dcmQueueName: Export1
dicomDescription: Forward to STORESCP
dcmExportAsSourceAE: FALSE
dcmInstanceAvailability: NEARLINE
dcmSchedule: dayOfWeek=1-5
dcmProperty: a=1
dcmProperty: b=x=y
dcmExportPriority: 4
dcmSomethingNew: kept

dn: cn=Forward\\, CT\\+MR,{DEV}
objectClass: dcmExportRule
cn: Forward, CT+MR
dcmEntity: Study
dcmExporterID: STORESCP
dcmExporterID: OTHER
dcmProperty: Modality=CT|MR
dcmDuration: PT1M
dcmExportReoccurredInstances: NEVER

dn: hl7ApplicationName=*,{DEV}
objectClass: hl7Application
hl7ApplicationName: *
"""


def load(text: str = LDIF) -> Configuration:
    return ldif.load(text)


# --- DNs -------------------------------------------------------------------------------------------


def test_escape_and_parse_rdn_values_round_trip() -> None:
    for value in ["Forward, to + STORESCP", " lead", "trail ", "#hash", 'a"b<c>d;e\\f=g', "ümlaut"]:
        dn = f"cn={lm.escape_rdn_value(value)},{DEV}"
        assert lm.parse_dn(dn)[0] == [("cn", value)]
    assert lm.parse_dn("cn=a\\2Cb,dc=x") == [[("cn", "a,b")], [("dc", "x")]]
    assert lm.parse_dn("a=1+b=2,c=3") == [[("a", "1"), ("b", "2")], [("c", "3")]]
    assert lm.normalize_dn("CN=Dicom , dicomDeviceName=X") == lm.normalize_dn("cn=dicom,dicomdevicename=x")
    assert lm.parent_dn(f"cn=dicom,{DEV}") == DEV
    with pytest.raises(ConfigurationError, match="malformed DN"):
        lm.parse_dn("cn=a,")
    assert lm.device_dn("a,b") == f"dicomDeviceName=a\\,b,cn=Devices,cn=DICOM Configuration,{BASE}"


# --- reading -----------------------------------------------------------------------------------


def test_read_models_and_values() -> None:
    config = load()
    device = config.device("dcm4chee-arc")
    assert device.extra["dcmFuzzyAlgorithmClass"] == ("org.dcm4che3.soundex.ESoundex",)
    assert device.object_classes == ("dicomDevice", "dcmDevice", "dcmArchiveDevice")
    conn = device.connection("dicom")
    assert (conn.hostname, conn.port, conn.aarq_timeout) == ("localhost", 11112, 5000)
    assert conn.extra == {"dcmMaxOpsInvoked": ("0",)}
    ae = device.application_entity("DCM4CHEE")
    assert ae is not None and ae.connection_refs == ("dicom",) and ae.association_initiator
    q = config.queues["Export1"]
    assert (q.max_retries, q.retry_delay, q.max_retry_delay) == (
        10,
        timedelta(seconds=30),
        timedelta(minutes=10),
    )
    e = config.exporters["STORESCP"]
    assert e.instance_availability is InstanceAvailability.NEARLINE
    assert e.schedules.to_strings() == ("hour=* dayOfWeek=1-5",)
    assert dict(e.properties) == {"a": "1", "b": "x=y"}
    assert e.export_priority == 4 and e.extra == {"dcmSomethingNew": ("kept",)}
    (rule,) = config.export_rules
    assert rule.name == "Forward, CT+MR" and rule.entity is Entity.STUDY
    assert rule.exporter_ids == ("STORESCP", "OTHER") and rule.conditions == ("Modality=CT|MR",)
    assert [o.dn for o in config.other_entries] == [f"hl7ApplicationName=*,{DEV}"]


def test_write_omits_defaults_and_normalises() -> None:
    entries = dict(lm.configuration_to_entries(load()))
    queue = entries[f"dcmQueueName=Export1,{DEV}"]
    assert "dcmMaxTasksParallel" not in queue  # default 1 is not written
    assert queue["dcmRetryDelay"] == ["PT30S"] and queue["dcmMaxRetryDelay"] == ["PT10M"]
    exp = entries[f"dcmExporterID=STORESCP,{DEV}"]
    assert "dcmExportAsSourceAE" not in exp
    assert exp["dcmSchedule"] == ["hour=* dayOfWeek=1-5"]
    assert exp["dcmProperty"] == ["a=1", "b=x=y"]
    assert exp["dcmSomethingNew"] == ["kept"] and exp["dcmExportPriority"] == ["4"]
    ae = entries[f"dicomAETitle=DCM4CHEE,{DEV}"]
    assert ae["dicomAssociationInitiator"] == ["TRUE"]  # required attributes are always written
    assert ae["dcmQueryRetrieveViewID"] == ["hideRejected"]
    assert f"cn=Forward\\, CT\\+MR,{DEV}" in entries


def test_round_trip_is_stable() -> None:
    config = load()
    text = ldif.dumps(config)
    again = ldif.load(text)
    assert again == config
    assert ldif.dumps(again) == text


def test_new_models_get_object_classes_and_aux_classes() -> None:
    conn = Connection(name="dicom", hostname="h", port=104, idle_timeout=1000)
    dn, attrs_ = lm.model_to_entry(conn, DEV)
    assert dn == f"cn=dicom,{DEV}"
    assert attrs_["objectClass"] == ["dicomNetworkConnection", "dcmNetworkConnection"]
    dn, attrs_ = lm.model_to_entry(QueueDescriptor(queue_name="Q", installed=False), DEV)
    assert attrs_ == {"objectClass": ["dcmQueue"], "dcmQueueName": ["Q"], "dicomInstalled": ["FALSE"]}


def test_plain_entries_from_an_ldap_server_work_too() -> None:
    exporter = lm.model_from_entry(
        ExporterDescriptor,
        f"dcmExporterID=X,{DEV}",
        {
            "objectclass": ["dcmExporter"],
            "dcmexporterid": ["X"],
            "dcmuri": ["noop:x"],
            "dcmqueuename": ["Q"],
            "dcmRejectForDataRetentionExpiry": ["true"],
        },
    )
    assert exporter.uri == "noop:x" and exporter.reject_for_data_retention_expiry is True
    assert exporter.extra == {}


# --- errors naming DN and line --------------------------------------------------------------------


def _error(text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        ldif.load(text, filename="bad.ldif")
    return info.value


def _with(dn_part: str, old: str, new: str) -> str:
    start = LDIF.index(f"dn: {dn_part}")
    end = LDIF.index("\n\n", start)
    block = LDIF[start:end]
    assert old in block
    return LDIF[:start] + block.replace(old, new) + LDIF[end:]


def _line_of(text: str, dn_part: str) -> int:
    return text[: text.index(f"dn: {dn_part}")].count("\n") + 1


def test_exporter_without_uri() -> None:
    text = _with("dcmExporterID=STORESCP", "dcmURI: dicom:STORESCP\n", "")
    err = _error(text)
    assert f"bad.ldif:{_line_of(text, 'dcmExporterID=STORESCP')}:" in str(err)
    assert "no dcmURI" in str(err) and err.dn == f"dcmExporterID=STORESCP,{DEV}"


def test_property_without_equals() -> None:
    text = _with("dcmExporterID=STORESCP", "dcmProperty: a=1", "dcmProperty: chunked")
    err = _error(text)
    assert "dcmProperty: 'chunked' has no '='" in str(err)
    assert f"bad.ldif:{_line_of(text, 'dcmExporterID=STORESCP')}:" in str(err)


def test_unknown_instance_availability() -> None:
    err = _error(_with("dcmExporterID=STORESCP", "NEARLINE", "SOMEWHERE"))
    assert "dcmInstanceAvailability" in str(err) and "ONLINE, NEARLINE, OFFLINE, UNAVAILABLE" in str(err)


def test_non_integer_port() -> None:
    text = _with("cn=dicom", "dicomPort: 11112", "dicomPort: eleven")
    err = _error(text)
    assert "dicomPort: 'eleven' is not an integer" in str(err)
    assert err.dn == f"cn=dicom,{DEV}" and f"bad.ldif:{_line_of(text, 'cn=dicom')}:" in str(err)


def test_dangling_connection_reference() -> None:
    text = _with("dicomAETitle=DCM4CHEE", f"Reference: cn=dicom,{DEV}", f"Reference: cn=dicom-tls,{DEV}")
    err = _error(text)
    assert "points nowhere" in str(err) and "cn=dicom-tls" in str(err)
    assert f"bad.ldif:{_line_of(text, 'dicomAETitle=DCM4CHEE')}:" in str(err)


def test_bad_schedule_boolean_and_duration() -> None:
    assert "dcmSchedule" in str(_error(_with("dcmExporterID=STORESCP", "dayOfWeek=1-5", "hour=")))
    assert "not a boolean" in str(
        _error(_with("dcmExporterID=STORESCP", "dcmExportAsSourceAE: FALSE", "dcmExportAsSourceAE: maybe"))
    )
    assert "dcmRetryDelay" in str(_error(_with("dcmQueueName=Export1", "PT30S", "30 seconds")))


def test_a_missing_queue_loads_and_validate_reports_it_as_a_warning() -> None:
    # as dcm4chee-arc, which loads it and fails only when it queues a task (see docs/explanation/deviations.md)
    config = ldif.load(
        _with("dcmExporterID=STORESCP", "dcmQueueName: Export1", "dcmQueueName: Gone"), filename="warn.ldif"
    )
    (issue,) = [i for i in config.validate() if "queue" in i.message]
    assert issue.severity.value == "warning" and "queue Gone does not exist" in issue.message
    assert issue.location is not None and str(issue.location).startswith("warn.ldif:")


def test_devices_under_another_base_dn() -> None:
    other = LDIF.replace(BASE, "dc=example,dc=com")
    config = ldif.load(other)
    assert config.base_dn == "dc=example,dc=com"
    assert "dc=example,dc=com" in ldif.dumps(config)
    with pytest.raises(ConfigurationError, match="pass the right base_dn"):
        ldif.load(other, base_dn=BASE)


# --- diffs ---------------------------------------------------------------------------------------


def test_diff_models_is_minimal() -> None:
    config = load()
    before = config.exporters["STORESCP"]
    after = attrs.evolve(before, description="changed", schedules=(), export_as_source_ae=True)
    (op,) = lm.diff_models(before, after, DEV)
    assert isinstance(op, lm.ModifyEntry) and op.dn == f"dcmExporterID=STORESCP,{DEV}"
    assert set(op.modifications) == {
        lm.Modification("replace", "dicomDescription", ("changed",)),
        lm.Modification("add", "dcmExportAsSourceAE", ("TRUE",)),
        lm.Modification("delete", "dcmSchedule"),
    }
    assert lm.diff_models(before, before, DEV) == []


def test_reordered_schedules_and_properties_are_equal_and_need_no_modify() -> None:
    # LDAP returns multi-valued attributes in any order: the same exporter read back in another order is equal,
    # and pushing it sends nothing
    two = LDIF.replace("dcmSchedule: dayOfWeek=1-5\n", "dcmSchedule: dayOfWeek=1-5\ndcmSchedule: hour=18-6\n")
    swapped = two.replace("dcmSchedule: dayOfWeek=1-5\ndcmSchedule: hour=18-6\n",
                          "dcmSchedule: hour=18-6\ndcmSchedule: dayOfWeek=1-5\n")
    swapped = swapped.replace("dcmProperty: a=1\ndcmProperty: b=x=y\n", "dcmProperty: b=x=y\ndcmProperty: a=1\n")
    assert swapped != two
    config, reordered = load(two), load(swapped)
    before, after = config.exporters["STORESCP"], reordered.exporters["STORESCP"]
    assert before.schedules.to_strings() == tuple(reversed(after.schedules.to_strings()))
    assert before == after and hash(before.schedules) == hash(after.schedules)
    assert config == reordered
    assert lm.diff_models(before, after, DEV) == []
    assert lm.diff_configurations(config, reordered) == []
    # ... while a real change of one value is one replace of the attribute, with the values in the new order
    changed = attrs.evolve(before, schedules=("hour=18-6", "dayOfWeek=1-4"))
    assert changed != before
    (op,) = lm.diff_models(before, changed, DEV)
    assert isinstance(op, lm.ModifyEntry) and op.dn == f"dcmExporterID=STORESCP,{DEV}"
    assert op.modifications == (lm.Modification("replace", "dcmSchedule", changed.schedules.to_strings()),)
    (op,) = lm.diff_configurations(config, config.put_exporter(changed, device_name="dcm4chee-arc"))
    assert isinstance(op, lm.ModifyEntry)
    assert [m.attribute for m in op.modifications] == ["dcmSchedule"]


def test_diff_configurations_add_and_delete_order() -> None:
    config = load()
    remote = Device(
        device_name="storescp",
        connections=[Connection(name="dicom", hostname="localhost", port=11117)],
        application_entities=[
            ApplicationEntity(ae_title="STORESCP", connection_refs=["dicom"], association_acceptor=True)
        ],
    )
    grown = config.add_device(remote)
    ops = lm.diff_configurations(config, grown)
    assert all(isinstance(o, lm.AddEntry) for o in ops)
    dns = [o.dn for o in ops]
    assert dns.index(lm.device_dn("storescp")) < dns.index(f"cn=dicom,{lm.device_dn('storescp')}")
    assert f"dicomAETitle=STORESCP,cn=Unique AE Titles Registry,cn=DICOM Configuration,{BASE}" in dns
    back = lm.diff_configurations(grown, grown.remove_device("storescp"))
    assert all(isinstance(o, lm.DeleteEntry) for o in back)
    assert back[-1].dn in (
        lm.device_dn("storescp"),
        f"dicomAETitle=STORESCP,cn=Unique AE Titles Registry,cn=DICOM Configuration,{BASE}",
    )
    assert [o.dn for o in back].index(lm.device_dn("storescp")) > [o.dn for o in back].index(
        f"cn=dicom,{lm.device_dn('storescp')}"
    )


def test_object_class_changes_are_value_by_value() -> None:
    before = [(DEV, {"objectClass": ["dicomDevice"], "dicomDeviceName": ["x"]})]
    after = [(DEV, {"objectClass": ["dicomDevice", "dcmDevice"], "dicomDeviceName": ["x"]})]
    (op,) = lm.diff_entries(before, after)
    assert isinstance(op, lm.ModifyEntry)
    assert op.modifications == (lm.Modification("add", "objectClass", ("dcmDevice",)),)


def test_every_model_field_is_in_the_table_or_structural() -> None:
    structural = {
        "extra",
        "object_classes",
        "transfer_capabilities",
        "export_rules",
        "connections",
        "application_entities",
        "exporters",
        "queues",
        "web_applications",
        "storages",
        "attribute_coercions",
        "legacy_attribute_coercions",
        "ae_title",
    }
    for spec in lm.OBJECT_SPECS:
        mapped = {a.field for a in spec.attributes}
        for field in attrs.fields(spec.model):
            assert field.name in mapped or field.name in structural, (spec.model.__name__, field.name)
    rule_fields = {a.field for a in lm.spec_for(ExportRule).attributes}
    assert "ae_title" not in rule_fields  # derived from the DN


def test_writing_a_cron_schedule_warns_that_dcm4chee_cannot_read_it(caplog: pytest.LogCaptureFixture) -> None:
    from dcm_exporter.codecs.ldap_mapping import model_to_entry
    from dcm_exporter.models import ExporterDescriptor
    from dcm_exporter.schedule import Schedules

    parent = "dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
    plain = ExporterDescriptor(exporter_id="A", uri="noop:x", queue_name="Export1",
                               schedules=Schedules.parse(["hour=18-6"]))
    cron = ExporterDescriptor(exporter_id="B", uri="noop:x", queue_name="Export1",
                              schedules=Schedules.parse(["cron:* 18-23 * * 1-5"]))
    with caplog.at_level("WARNING", logger="dcm_exporter"):
        model_to_entry(plain, parent)
        assert not caplog.records
        _dn, attributes = model_to_entry(cron, parent)
    assert attributes["dcmSchedule"] == ["cron:* 18-23 * * 1-5"]
    assert len(caplog.records) == 1
    assert "dcmExporterID=B" in caplog.records[0].getMessage()
    assert "cannot read" in caplog.records[0].getMessage()
