"""Configuration models: construction-time validation, the retry formula, lookups and resolved views."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from dcm_exporter.errors import AENotInstalledError, ConfigurationError, ScheduleSyntaxError, UnknownAEError
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
    ReoccurredInstances,
    Severity,
    StorageDescriptor,
    TransferCapability,
    TransferRole,
    WebApplication,
    format_duration,
    parse_duration,
)
from dcm_exporter.schedule import Schedules

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
IVLE = "1.2.840.10008.1.2"
EVLE = "1.2.840.10008.1.2.1"


def exporter(**kw: object) -> ExporterDescriptor:
    base: dict[str, object] = {"exporter_id": "STORESCP", "uri": "dicom:STORESCP", "queue_name": "Export1"}
    base.update(kw)
    return ExporterDescriptor(**base)  # type: ignore[arg-type]


# --- ExporterDescriptor ------------------------------------------------------------------------


def test_exporter_defaults_are_upstreams() -> None:
    e = exporter()
    assert e.ae_title is None and e.description is None
    assert e.export_as_source_ae is False
    assert e.instance_availability is InstanceAvailability.ONLINE
    assert e.reject_for_data_retention_expiry is False
    assert e.check_if_already_exists_on_destination is False
    assert e.schedules == Schedules.ALWAYS and e.schedules.is_always
    assert dict(e.properties) == {}
    assert e.ian_destinations == () and e.retrieve_ae_titles == ()
    assert e.export_priority is None


def test_exporter_first_fields_in_contract_order() -> None:
    names = [f.name for f in attrs.fields(ExporterDescriptor)]
    assert names[:5] == ["exporter_id", "uri", "queue_name", "ae_title", "description"]


def test_scheme_and_destination_split_at_first_colon() -> None:
    e = exporter(uri="STOW:my:web:app")
    assert e.scheme == "stow"
    assert e.destination == "my:web:app"


def test_properties_parse_first_equals_and_last_wins() -> None:
    e = exporter(properties=["a=1", "url=http://x/?q=1", "a=2"])
    assert list(e.properties.items()) == [("url", "http://x/?q=1"), ("a", "2")]
    with pytest.raises(TypeError):
        e.properties["a"] = "3"  # type: ignore[index]


def test_property_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="no '='"):
        exporter(properties=["chunked"])


def test_exporter_is_frozen_and_hashable() -> None:
    e = exporter(properties={"k": "v"}, schedules=["hour=18-6"])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        e.uri = "noop:x"  # type: ignore[misc]
    assert hash(e) == hash(exporter(properties=["k=v"], schedules=["hour=18-6 dayOfWeek=*"]))
    assert attrs.evolve(e, uri="noop:x").scheme == "noop"


@pytest.mark.parametrize(
    "kw",
    [
        {"exporter_id": ""},
        {"uri": "STORESCP"},
        {"uri": ":x"},
        {"queue_name": ""},
        {"export_as_source_ae": "TRUE"},
        {"export_priority": "5"},
    ],
)
def test_invalid_exporters_fail_on_construction(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        exporter(**kw)


def test_exporter_schedules_from_strings() -> None:
    e = exporter(schedules=["hour=18-6 dayOfWeek=*", "dayOfWeek=0,6"])
    assert e.schedules.to_strings() == ("hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6")
    with pytest.raises(ScheduleSyntaxError):
        exporter(schedules=["hour=25"])


# --- QueueDescriptor ---------------------------------------------------------------------------


def test_queue_defaults() -> None:
    q = QueueDescriptor(queue_name="Export1")
    assert q.max_tasks_parallel == 1 and q.max_retries == 0
    assert q.retry_delay == timedelta(minutes=1) and q.max_retry_delay is None
    assert q.retry_delay_multiplier == 100 and q.retry_on_warning is False
    assert q.installed is True and q.schedules.is_always
    assert q.retry_delay_for(1) is None  # no retries by default


def test_retry_formula_reference_example() -> None:
    q = QueueDescriptor(
        queue_name="Export",
        max_retries=10,
        retry_delay=timedelta(seconds=30),
        retry_delay_multiplier=200,
        max_retry_delay=timedelta(minutes=10),
    )
    delays = [q.retry_delay_for(n) for n in range(1, 12)]
    assert [int(d.total_seconds()) for d in delays[:10] if d is not None] == [
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
    assert delays[10] is None


def test_retry_formula_truncates_at_each_step() -> None:
    q = QueueDescriptor(
        queue_name="q", max_retries=5, retry_delay=timedelta(seconds=7), retry_delay_multiplier=150
    )
    # 7 -> 10 (10.5) -> 15 -> 22 (22.5) -> 33
    assert [int(q.retry_delay_for(n).total_seconds()) for n in range(1, 6)] == [7, 10, 15, 22, 33]  # type: ignore[union-attr]


def test_retry_formula_without_cap_and_multiplier_100_is_constant() -> None:
    q = QueueDescriptor(queue_name="q", max_retries=3, retry_delay=timedelta(seconds=90))
    assert {q.retry_delay_for(n) for n in (1, 2, 3)} == {timedelta(seconds=90)}
    with pytest.raises(ValueError):
        q.retry_delay_for(0)


@pytest.mark.parametrize(
    "kw",
    [{"max_tasks_parallel": 0}, {"max_retries": -1}, {"retry_delay": "PT1M"}, {"retry_delay_multiplier": 0}],
)
def test_invalid_queues(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        QueueDescriptor(queue_name="q", **kw)  # type: ignore[arg-type]


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta", "normal"),
    [
        ("PT30S", timedelta(seconds=30), "PT30S"),
        ("PT10M", timedelta(minutes=10), "PT10M"),
        ("P1D", timedelta(days=1), "P1D"),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30), "P1DT2H30M"),
        ("PT90M", timedelta(minutes=90), "PT1H30M"),
        ("PT0.5S", timedelta(milliseconds=500), "PT0.5S"),
        ("PT0S", timedelta(0), "PT0S"),
    ],
)
def test_durations(text: str, delta: timedelta, normal: str) -> None:
    assert parse_duration(text) == delta
    assert format_duration(delta) == normal


@pytest.mark.parametrize("text", ["", "P", "PT", "30S", "P1Y", "PT1H30", "P1DT"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid duration"):
        parse_duration(text)


# --- ExportRule --------------------------------------------------------------------------------


def test_export_rule() -> None:
    r = ExportRule(
        name="Forward to STORESCP",
        entity="Series",  # type: ignore[arg-type]
        exporter_ids=["STORESCP"],
        delay=timedelta(minutes=1),
        conditions=["Modality=CT|MR", "SendingApplicationEntityTitle!=FORWARD"],
    )
    assert r.entity is Entity.SERIES
    assert r.exporter_ids == ("STORESCP",)
    assert r.export_reoccurred_instances is ReoccurredInstances.REPLACE
    assert r.ae_title is None
    with pytest.raises(ConfigurationError):
        ExportRule(name="x", entity=Entity.STUDY, exporter_ids=[])
    with pytest.raises(ConfigurationError, match="Key=regex"):
        ExportRule(name="x", entity=Entity.STUDY, exporter_ids=["A"], conditions=["Modality"])
    with pytest.raises(ValueError):
        ExportRule(name="x", entity="Patient", exporter_ids=["A"])  # type: ignore[arg-type]


def test_ae_level_rules_get_the_ae_title() -> None:
    rule = ExportRule(name="r", entity=Entity.STUDY, exporter_ids=["X"])
    ae = ApplicationEntity(ae_title="DCM4CHEE", export_rules=[rule])
    assert ae.export_rules[0].ae_title == "DCM4CHEE"
    with pytest.raises(ConfigurationError, match="device-level"):
        Device(device_name="d", export_rules=[attrs.evolve(rule, ae_title="X")])


# --- devices, connections, AEs -----------------------------------------------------------------


def test_connection_flags() -> None:
    plain = Connection(name="dicom", hostname="localhost", port=11112)
    tls = Connection(
        name="dicom-tls", hostname="localhost", port=2762, tls_cipher_suites=["TLS_RSA_WITH_AES_128_CBC_SHA"]
    )
    client = Connection(name="syslog", hostname="localhost")
    assert plain.is_listening and not plain.is_tls
    assert tls.is_tls and tls.effective_tls_protocols == ("TLSv1.2",)
    assert not client.is_listening and not Connection(hostname="h", port=-1).is_listening
    assert Connection(hostname="h", port=104).key == "h:104"
    with pytest.raises(ConfigurationError, match="invalid port"):
        Connection(hostname="h", port=70000)


def test_device_checks_references_and_uniqueness() -> None:
    conn = Connection(name="dicom", hostname="localhost", port=11112)
    with pytest.raises(ConfigurationError, match="refers to connection 'dicom-tls'"):
        Device(
            device_name="d",
            connections=[conn],
            application_entities=[ApplicationEntity(ae_title="A", connection_refs=["dicom-tls"])],
        )
    with pytest.raises(ConfigurationError, match="duplicate exporter"):
        Device(device_name="d", exporters=[exporter(), exporter()])
    with pytest.raises(ConfigurationError, match="web application W refers"):
        Device(
            device_name="d",
            web_applications=[WebApplication(name="W", service_path="/x", connection_refs=["h"])],
        )


def _remote_config(*, installed: bool = True, ae_installed: bool | None = None) -> Configuration:
    tls_suite = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    archive = Device(
        device_name="dcm4chee-arc",
        connections=[
            Connection(name="dicom-tls", hostname="arc", port=2762, tls_cipher_suites=[tls_suite]),
        ],
        application_entities=[
            ApplicationEntity(ae_title="DCM4CHEE", connection_refs=["dicom-tls"], association_initiator=True)
        ],
        exporters=[exporter(ae_title="DCM4CHEE")],
        queues=[QueueDescriptor(queue_name="Export1")],
    )
    remote = Device(
        device_name="storescp",
        installed=installed,
        connections=[
            Connection(name="client", hostname="pacs"),
            Connection(name="off", hostname="pacs", port=104, installed=False),
            Connection(name="dicom", hostname="pacs", port=11117, aarq_timeout=5000, idle_timeout=300000),
            Connection(
                name="dicom-tls",
                hostname="pacs",
                port=2762,
                tls_cipher_suites=[tls_suite],
                tcp_connect_timeout=3000,
            ),
        ],
        application_entities=[
            ApplicationEntity(
                ae_title="STORESCP",
                connection_refs=["client", "off", "dicom", "dicom-tls"],
                association_acceptor=True,
                installed=ae_installed,
                transfer_capabilities=[
                    TransferCapability(
                        name="CT", sop_class=CT, role=TransferRole.SCP, transfer_syntaxes=[IVLE, EVLE]
                    ),
                    TransferCapability(name="MR", sop_class=MR, role="SCU", transfer_syntaxes=[IVLE]),  # type: ignore[arg-type]
                ],
            )
        ],
    )
    return Configuration(devices=[archive, remote])


def test_remote_ae_picks_first_installed_listening_connection() -> None:
    remote = _remote_config().remote_ae("STORESCP")
    assert (remote.ae_title, remote.device_name, remote.hostname, remote.port) == (
        "STORESCP",
        "storescp",
        "pacs",
        11117,
    )
    assert remote.tls is False and remote.installed is True
    assert remote.request_timeout == 5000 and remote.idle_timeout == 300000 and remote.connect_timeout is None


def test_remote_ae_with_local_tls_connection_picks_compatible_one() -> None:
    remote = _remote_config().remote_ae("STORESCP", local_ae_title="DCM4CHEE")
    assert remote.port == 2762 and remote.tls is True
    assert remote.tls_protocols == ("TLSv1.2",) and remote.connect_timeout == 3000


def test_remote_ae_errors() -> None:
    config = _remote_config()
    with pytest.raises(UnknownAEError, match="Unknown AE: NOPE"):
        config.remote_ae("NOPE")
    with pytest.raises(AENotInstalledError, match="AE: STORESCP not installed"):
        _remote_config(installed=False).remote_ae("STORESCP")
    with pytest.raises(AENotInstalledError):
        _remote_config(ae_installed=False).remote_ae("STORESCP")
    view = _remote_config(ae_installed=False).remote_ae("STORESCP", require_installed=False)
    assert view.installed is False
    client_only = Configuration(
        devices=[
            Device(
                device_name="x",
                connections=[Connection(name="c", hostname="h")],
                application_entities=[ApplicationEntity(ae_title="X", connection_refs=["c"])],
            )
        ]
    )
    with pytest.raises(ConfigurationError, match="no installed listening connection"):
        client_only.remote_ae("X")
    # STORESCP has TLS, the archive's only connection is TLS: plain remote connections are skipped
    assert config.remote_ae("STORESCP", local_ae_title="DCM4CHEE").tls


def test_accepted_transfer_syntaxes() -> None:
    remote = _remote_config().remote_ae("STORESCP")
    assert remote.accepted_transfer_syntaxes(CT) == (IVLE, EVLE)
    assert remote.accepted_transfer_syntaxes(MR) == ()  # only an SCU capability for MR
    assert remote.accepts(CT, EVLE) and not remote.accepts(CT, "1.2.840.10008.1.2.4.50")
    assert not remote.accepts(MR)
    bare = Configuration(
        devices=[
            Device(
                device_name="d",
                connections=[Connection(name="c", hostname="h", port=1)],
                application_entities=[ApplicationEntity(ae_title="ANY", connection_refs=["c"])],
            )
        ]
    ).remote_ae("ANY")
    assert bare.accepted_transfer_syntaxes(CT) is None and bare.accepts(CT, "anything")


def test_configuration_lookups_and_changes() -> None:
    config = _remote_config()
    assert set(config.exporters) == {"STORESCP"}
    assert set(config.queues) == {"Export1"}
    device, ae = config.find_ae("DCM4CHEE")
    assert device.device_name == "dcm4chee-arc" and ae.association_initiator
    added = config.put_exporter(exporter(exporter_id="NOOP", uri="noop:x"))
    assert set(added.exporters) == {"STORESCP", "NOOP"} and set(config.exporters) == {"STORESCP"}
    replaced = added.put_exporter(exporter(description="changed"))
    assert replaced.exporters["STORESCP"].description == "changed"
    assert [e.exporter_id for e in replaced.device("dcm4chee-arc").exporters] == ["STORESCP", "NOOP"]
    assert set(replaced.remove_exporter("NOOP").exporters) == {"STORESCP"}
    with_q = config.put_queue(QueueDescriptor(queue_name="Export2", max_retries=3))
    assert with_q.queues["Export2"].max_retries == 3
    assert "Export2" not in with_q.remove_queue("Export2").queues
    without = config.remove_device("storescp")
    with pytest.raises(UnknownAEError):
        without.find_ae("STORESCP")
    with pytest.raises(ConfigurationError, match="exists already"):
        config.add_device(config.device("storescp"))
    with pytest.raises(ConfigurationError, match="duplicate device"):
        Configuration(devices=[config.device("storescp"), config.device("storescp")])


def test_validate_reports_missing_queue_and_unknown_destination() -> None:
    config = _remote_config().put_exporter(
        exporter(exporter_id="BAD", uri="dicom:NOWHERE", queue_name="Missing", ae_title=None)
    )
    issues = config.validate()
    messages = [i.message for i in issues]
    severity = {i.message: i.severity for i in issues}
    # what cannot work is an error; what may still work is a warning. A missing queue is a warning: dcm4chee-arc
    # loads such a configuration (its own sample-export.ldif names a queue its default-config.ldif lacks) and
    # fails only when it queues a task, as the task manager does
    assert [severity[m] for m in messages if "queue Missing does not exist" in m] == [Severity.WARNING]
    assert [severity[m] for m in messages if "Unknown AE: NOWHERE" in m] == [Severity.ERROR]
    assert [severity[m] for m in messages if "has no dicomAETitle" in m] == [Severity.WARNING]
    assert all(i.dn and i.dn.startswith("dcmExporterID=BAD,") for i in issues)
    assert _remote_config().validate() == []


def test_web_application_resolution() -> None:
    device = Device(
        device_name="stowrsd",
        connections=[
            Connection(name="http", hostname="localhost", port=18080, protocol="HTTP"),
            Connection(
                name="https", hostname="localhost", port=8443, protocol="HTTP", tls_cipher_suites=["X"]
            ),
        ],
        web_applications=[
            WebApplication(
                name="stowrsd",
                service_path="/stowrs",
                service_classes=["STOW_RS"],
                connection_refs=["https"],
                properties=["bearer-token=abc"],
            ),
            WebApplication(name="plain", service_path="dicom-web/", service_classes=["STOW_RS"]),
        ],
        storages=[StorageDescriptor(storage_id="fs2", uri="file:///tmp/fs2/")],
    )
    config = Configuration(devices=[device])
    web = config.web_application("stowrsd")
    assert (web.scheme, web.hostname, web.port) == ("https", "localhost", 8443)
    assert web.base_url == "https://localhost:8443/stowrs"
    assert web.properties["bearer-token"] == "abc"
    assert config.web_application("plain").base_url == "http://localhost:18080/dicom-web"
    assert config.web_applications["stowrsd"].serves("stow_rs")
    assert config.storages["fs2"].effective_path_format.startswith("{now,date,yyyy/MM/dd}")
    with pytest.raises(ConfigurationError, match="Unknown Web Application: nope"):
        config.web_application("nope")
