"""stow: through an HTTP proxy (dcm4che's dcmHTTPProxy on the web application's connection), against a real
tinyproxy in front of a real Orthanc."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from _helpers import write_ct_study
from dcm_exporter.errors import ConfigurationError, ConnectionFailedError, TransportError
from dcm_exporter.export import ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import Configuration, Connection, Device, ExporterDescriptor, WebApplication
from dcm_exporter.transports.stow import create_transport, resolve_settings

pytestmark = pytest.mark.orthanc

EXPORTER = ExporterDescriptor(exporter_id="STOW-ORTHANC", uri="stow:ORTHANC-WEB", queue_name="Export1")


def _config(orthanc: Any, proxy: str | None) -> Configuration:
    conn = Connection(name="http", hostname="127.0.0.1", port=orthanc.http_port, protocol="HTTP", http_proxy=proxy)
    web = WebApplication(
        name="ORTHANC-WEB", service_path="/dicom-web", service_classes=("STOW_RS",), connection_refs=("http",)
    )
    return Configuration(devices=[Device(device_name="orthanc", connections=[conn], web_applications=[web])])


def _export(refs: list[InstanceRef], config: Configuration) -> Any:
    with create_transport(EXPORTER, config) as transport:
        return transport.send(
            ExportRequest(exporter=EXPORTER, configuration=config, study_uid=refs[0].study_uid, instances=refs)
        )


def _study(tmp_path: Path) -> list[InstanceRef]:
    return write_ct_study(tmp_path, series=1, per_series=4, rows=64, seed=11, patient=("Proxy^Test", "PROXY"))


def test_stow_goes_through_the_configured_proxy_with_its_credentials(
    orthanc: Any, http_proxy_factory: Any, tmp_path: Path
) -> None:
    proxy = http_proxy_factory(user="alice", password="s3cret")
    refs = _study(tmp_path)
    config = _config(orthanc, proxy.address)
    outcome = _export(refs, config)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert len(orthanc.instances()) == 4
    # the proxy saw the POST (absolute-form request line: it was a proxy request)
    assert f"POST http://127.0.0.1:{orthanc.http_port}/dicom-web/studies HTTP/1.1" in proxy.requests()
    # the password shows nowhere: settings repr, messages
    settings = resolve_settings(EXPORTER, config)
    assert settings.proxy_address == f"127.0.0.1:{proxy.port}" and "s3cret" not in repr(settings)


@pytest.mark.parametrize("credentials", ["alice:wrong@", ""], ids=["wrong-password", "none"])
def test_refused_proxy_credentials_fail_clearly_and_are_not_retried(
    orthanc: Any, http_proxy_factory: Any, tmp_path: Path, credentials: str
) -> None:
    proxy = http_proxy_factory(user="alice", password="s3cret")
    with pytest.raises(TransportError) as info:
        _export(_study(tmp_path), _config(orthanc, f"{credentials}127.0.0.1:{proxy.port}"))
    message = str(info.value)
    # tinyproxy answers a missing password with 407 and a wrong one with 401
    expected = "HTTP 407 Proxy Authentication Required" if not credentials else "HTTP 401 Unauthorized (from tinyproxy"
    assert f"proxy 127.0.0.1:{proxy.port}" in message and expected in message, message
    assert info.value.retryable is False  # wrong credentials do not fix themselves
    assert "wrong" not in message
    assert orthanc.instances() == []


def test_proxy_not_listening_is_a_retryable_connect_failure_naming_the_proxy(
    orthanc: Any, http_proxy_factory: Any, tmp_path: Path
) -> None:
    proxy = http_proxy_factory()
    port = proxy.port
    proxy.stop()
    with pytest.raises(ConnectionFailedError) as info:
        _export(_study(tmp_path), _config(orthanc, f"127.0.0.1:{port}"))
    assert f"via proxy 127.0.0.1:{port}" in str(info.value) and info.value.retryable
    assert orthanc.instances() == []


@pytest.mark.parametrize("bad", ["127.0.0.1", "http://:3128", "ftp://alice:pw@proxy:21", "alice:pw@proxy:notaport"])
def test_a_malformed_dcmhttpproxy_is_a_configuration_error_without_the_password(orthanc: Any, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="dcmHTTPProxy") as info:
        resolve_settings(EXPORTER, _config(orthanc, bad))
    assert "pw@" not in str(info.value)


def test_no_proxy_configured_means_a_direct_connection(orthanc: Any) -> None:
    settings = resolve_settings(EXPORTER, _config(orthanc, None))
    assert settings.proxy_address is None and settings.via == ""
    assert attrs.evolve(settings).proxy_address is None
