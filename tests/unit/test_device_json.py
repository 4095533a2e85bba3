"""dcm4che device JSON: the upstream sample, round trips, typed values, errors with JSON paths."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

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
    again = Configuration.from_json(config.to_json())
    assert strip(again.devices) == strip(config.devices)
    assert again.device("dcm4chee-arc").application_entities[0].export_rules[0].ae_title == "DCM4CHEE"
    assert Configuration.from_json(again.to_json()) == again  # a fixed point
    assert Configuration.from_json({"devices": [device_to_json(device)]}) == again
    assert Configuration.from_json(device_to_json(device)) == again


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
    config = Configuration.from_json(sample)
    assert json.loads(config.to_json()) == [sample]
    assert device_to_json(device, other_entries=config.other_entries) == sample
    remote = Configuration(devices=[device]).remote_ae("TEST-AET1")
    assert (remote.hostname, remote.port) == ("host.dcm4che.org", 11112)


@pytest.mark.upstream
@pytest.mark.skipif(not DEFAULT_CONFIG.is_file(), reason=f"upstream config not found at {DEFAULT_CONFIG}")
def test_ldif_to_json_and_back_keeps_every_modelled_value() -> None:
    config = Configuration.from_ldif(DEFAULT_CONFIG)
    again = Configuration.from_json(config.to_json())
    assert [strip(d) for d in again.devices] == [strip(d) for d in config.devices]
    arc = json.loads(config.to_json())[4]
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
        Configuration.from_json("{nope")
