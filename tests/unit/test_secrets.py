"""Credentials never show in reprs, HTML, messages or logs, yet LDIF/JSON keep them for the round trip."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from dcm_exporter._secrets import MASK, is_secret_name, mask_properties, mask_url
from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.models import (
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    LdapEntry,
    QueueDescriptor,
    StorageDescriptor,
    WebApplication,
)
from dcm_exporter.notebook import to_html

TOKEN = "tok-9f1c2e7a"
BASIC = "alice:pw-4b8d1e"
URL_PASSWORD = "urlpw-77aa21"
PROXY_PASSWORD = "proxypw-1c3e5a"
CLIENT_SECRET = "clientsecret-5d6e"
STORE_PIN = "pin-8e9f0a"
SECRETS = (TOKEN, BASIC, "pw-4b8d1e", URL_PASSWORD, PROXY_PASSWORD, CLIENT_SECRET, STORE_PIN)

UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "dcm4che" / "ldap" / "config" / "default-config.ldif"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _configuration(port: int = 8080) -> Configuration:
    exporter = ExporterDescriptor(
        exporter_id="WEB",
        uri=f"stow:http://bob:{URL_PASSWORD}@127.0.0.1:{port}/dicom-web",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        properties={"bearer-token": TOKEN, "chunked": "true", "Client-Secret": CLIENT_SECRET},
    )
    webapp = WebApplication(
        name="ORTHANC", service_path="/dicom-web", service_classes=("STOW_RS",), connection_refs=("http",),
        properties={"basic-auth": BASIC, "concurrency": "2"},
    )
    connection = Connection(name="http", hostname="127.0.0.1", port=port, protocol="HTTP",
                            http_proxy=f"http://proxy:{PROXY_PASSWORD}@127.0.0.1:3128")
    device = Device(
        device_name="dcm4chee-arc",
        connections=(connection,),
        exporters=(exporter,),
        queues=(QueueDescriptor(queue_name="Export1"),),
        web_applications=(webapp,),
        storages=(StorageDescriptor(storage_id="s3", uri="s3://minio.example/bucket",
                                    properties={"secret-key": CLIENT_SECRET, "region": "eu"}),),
        extra={"dcmKeyStorePin": STORE_PIN, "dcmKeyStorePinProperty": "key.pin"},
    )
    other = LdapEntry(dn="cn=admin,dc=dcm4che,dc=org",
                      attributes={"objectClass": ["person"], "cn": ["admin"], "userPassword": [STORE_PIN]})
    return Configuration(devices=(device,), other_entries=(other,))


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret!r} leaked into: {text[:300]}"


# --- which names are secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "bearer-token", "basic-auth", "BEARER-TOKEN", "password", "ClientPassword", "db.passwd", "client-secret",
    "accessToken", "dcmKeyStorePin", "dcmKeyStoreKeyPin", "dcmTrustStorePin", "dcmKeycloakClientSecret",
    "userPassword", "keystore-pin", "authorization", "api-key",
])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "chunked", "concurrency", "transfer-syntax", "ca-file", "read-timeout", "dcmKeyStorePinProperty",
    "TLSKey", "MultipleStoreAssociations", "objectClass", "dcmURI", "dicomAuthorizedNodeCertificateReference",
    "Priority", "mapping",
])
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(("text", "expected"), [
    ("stow:https://user:pw@host/dicom-web", "stow:https://user:***@host/dicom-web"),
    ("stow:https://tokenonly@host/rs", "stow:https://***@host/rs"),
    ("stow:https://host/rs", "stow:https://host/rs"),
    ("dicom:STORESCP", "dicom:STORESCP"),
    ("http://u:p@a:1/x and https://v:q@b/y", "http://u:***@a:1/x and https://v:***@b/y"),
    ("stow:http://u:p%40x@127.0.0.1:8042/dicom-web", "stow:http://u:***@127.0.0.1:8042/dicom-web"),
    ("mailto-like user@host without scheme", "mailto-like user@host without scheme"),
])
def test_mask_url(text: str, expected: str) -> None:
    assert mask_url(text) == expected


def test_mask_properties_keeps_order_and_plain_values() -> None:
    masked = mask_properties({"chunked": "true", "basic-auth": "a:b", "proxy": "http://u:p@h:1"})
    assert list(masked.items()) == [("chunked", "true"), ("basic-auth", MASK), ("proxy", "http://u:***@h:1")]


# --- models: repr, str, HTML -------------------------------------------------------------------------


def test_model_reprs_mask_every_secret() -> None:
    configuration = _configuration()
    device = configuration.devices[0]
    models: list[object] = [
        configuration, device, *device.exporters, *device.web_applications, *device.connections,
        *device.storages, *configuration.other_entries, configuration.web_application("ORTHANC"),
    ]
    for model in models:
        _assert_clean(repr(model))
        _assert_clean(str(model))
    # still informative: the keys and the non-secret values show
    text = repr(device.exporters[0])
    assert "'bearer-token': '***'" in text and "'chunked': 'true'" in text
    assert "http://bob:***@127.0.0.1:8080/dicom-web" in text
    assert "'basic-auth': '***'" in repr(configuration.web_application("ORTHANC"))
    assert "'userPassword': ('***',)" in repr(configuration.other_entries[0])


def test_html_reprs_mask_every_secret() -> None:
    configuration = _configuration()
    html_text = to_html(configuration)
    _assert_clean(html_text)
    assert "http://bob:***@127.0.0.1:8080/dicom-web" in html_text
    exporter_html = to_html(configuration.exporters["WEB"])
    _assert_clean(exporter_html)
    assert "bearer-token=***" in exporter_html and "chunked=true" in exporter_html


def test_secrets_keep_their_values_in_the_model() -> None:
    exporter = _configuration().exporters["WEB"]
    assert exporter.properties["bearer-token"] == TOKEN
    assert URL_PASSWORD in exporter.uri


# --- configuration output keeps them ---------------------------------------------------------------


def test_ldif_and_json_keep_secrets_and_round_trip() -> None:
    configuration = _configuration()
    text = ldif.dumps(configuration)
    for secret in (TOKEN, BASIC, URL_PASSWORD, PROXY_PASSWORD, CLIENT_SECRET, STORE_PIN):
        assert secret in text
    assert ldif.dumps(ldif.load(text)) == text  # exactly, secrets included
    as_json = device_json.dumps(configuration)
    for secret in (TOKEN, BASIC, URL_PASSWORD, PROXY_PASSWORD):
        assert secret in as_json
    back = device_json.loads(as_json)
    assert back.exporters["WEB"].properties["bearer-token"] == TOKEN
    assert back.web_application("ORTHANC").properties["basic-auth"] == BASIC


def test_redacted_copy_masks_everything_and_leaves_the_original() -> None:
    configuration = _configuration()
    redacted = configuration.redacted()
    _assert_clean(ldif.dumps(redacted))
    _assert_clean(device_json.dumps(redacted))
    assert redacted.exporters["WEB"].properties == {"bearer-token": MASK, "chunked": "true", "Client-Secret": MASK}
    assert redacted.devices[0].extra["dcmKeyStorePinProperty"] == ("key.pin",)
    assert redacted.devices[0].extra["dcmKeyStorePin"] == (MASK,)
    assert redacted.devices[0].storages[0].properties["region"] == "eu"
    # the original is untouched
    assert configuration.exporters["WEB"].properties["bearer-token"] == TOKEN
    assert redacted != configuration


def test_redacted_upstream_default_config_hides_store_pins() -> None:
    if not UPSTREAM.exists():
        pytest.skip(f"upstream dcm4che configuration not available at {UPSTREAM}")
    configuration = ldif.load(UPSTREAM)
    assert "StorePin: secret" in ldif.dumps(configuration)
    redacted_ldif = ldif.dumps(configuration.redacted())
    assert "StorePin: secret" not in redacted_ldif
    assert "dcmKeyStorePin: ***" in redacted_ldif
    assert "StorePin: secret" not in repr(configuration)


# --- messages and log records -------------------------------------------------------------------------


def test_validate_accepts_a_stow_url_and_does_not_echo_it() -> None:
    issues = _configuration().validate()
    assert not [i for i in issues if "Web Application" in i.message]
    for issue in issues:
        _assert_clean(str(issue))


def test_export_messages_and_log_records_mask_the_url(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import SqliteTaskStore
    from dcm_exporter.sample import generate_study
    from dcm_exporter.sources import FileSystemSource

    study = generate_study(tmp_path / "data", series=1, instances_per_series=1, kind="mr")
    configuration = _configuration(port=_free_port())  # nobody listens: the STOW-RS export fails
    caplog.set_level(logging.DEBUG, logger="dcm_exporter")
    with SqliteTaskStore(tmp_path / "tasks.sqlite") as store, \
            Exporter(configuration, FileSystemSource(tmp_path / "data"), store=store) as exporter:
        nothing = exporter.export_now("WEB", "1.2.3.4.5.6.7.8.9")  # no such study: a warning outcome
        assert nothing.destination is not None and "http://bob:***@127.0.0.1" in nothing.destination
        _assert_clean(repr(nothing))
        _assert_clean(nothing._repr_html_())
        exporter.schedule_export("WEB", study.study_uid)
        exporter.run_until_idle()
        tasks = exporter.queue.tasks()
    assert tasks and tasks[0].error_message
    for task in tasks:
        _assert_clean(repr(task))
        _assert_clean(task._repr_html_())
    assert caplog.records
    for record in caplog.records:
        _assert_clean(record.getMessage())
        _assert_clean(repr(record.__dict__))
