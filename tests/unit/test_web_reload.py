"""Live configuration from a file: the modification time triggers a reload, POST /ctrl/reload forces one, a
configuration that does not load or check is refused (the old one stays; /healthz and the metrics say why).

The LDAP change marker and the ldapmodify-while-running test are in ``tests/integration/test_web_live_reload.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from _helpers import wait_for
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.exporter import Exporter
from dcm_exporter.queue import InMemoryTaskStore
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.web.reload import ConfigurationReloader, file_marker


def _write(path: Path, port: int, *, bump: int = 0) -> None:
    path.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", port)))
    st = path.stat()
    # a second write within the file system's time resolution must still look changed
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def _port(exporter: Exporter) -> int:
    port = exporter.configuration.remote_ae("STORESCP").connection.port
    assert port is not None
    return port


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Exporter]:
    (tmp_path / "data").mkdir()
    with FileSystemSource(tmp_path / "data") as source, \
            Exporter(with_port(demo_configuration(), "STORESCP", 11001), source, store=InMemoryTaskStore()) as exporter:
        yield exporter


def test_a_changed_file_is_noticed_and_taken(tmp_path: Path, exporter: Exporter) -> None:
    config = tmp_path / "config.ldif"
    _write(config, 11001)
    reloader = ConfigurationReloader.for_file(exporter, config, interval=0.05)
    assert reloader.check() is None  # unchanged since the reloader was made
    _write(config, 11002, bump=1)
    result = reloader.check()
    assert result is not None and result.ok and result.changed and result.trigger == "poll"
    assert _port(exporter) == 11002 and reloader.reloads == 1
    assert reloader.check() is None
    with reloader:  # the polling thread
        _write(config, 11003, bump=2)
        assert wait_for(lambda: _port(exporter) == 11003, timeout=30)
    assert not reloader.is_running


def test_a_broken_file_is_refused_and_the_old_configuration_stays(tmp_path: Path, exporter: Exporter) -> None:
    config = tmp_path / "config.ldif"
    _write(config, 11001)
    reloader = ConfigurationReloader.for_file(exporter, config)
    seen = []
    reloader.on_reload(seen.append)
    config.write_text("dn: dcmExporterID=X,dicomDeviceName=dcm-exporter-demo,cn=Devices,cn=DICOM Configuration,"
                      "dc=dcm4che,dc=org\nobjectClass: dcmExporter\ndcmExporterID: X\n")
    os.utime(config, ns=(0, 10**18))
    before = exporter.configuration
    result = reloader.check()
    assert result is not None and not result.ok and result.error
    assert exporter.configuration is before and reloader.failures == 1
    assert seen == [result]
    assert reloader.check() is None  # the same broken file is not tried again every poll
    _write(config, 11005, bump=3)
    assert reloader.check() is not None and _port(exporter) == 11005


def test_a_configuration_without_the_runners_device_is_refused(tmp_path: Path, exporter: Exporter) -> None:
    config = tmp_path / "config.ldif"
    configuration = demo_configuration()
    renamed = configuration.replace_device(attrs.evolve(configuration.device("dcm-exporter-demo"),
                                                        device_name="other"))
    other = renamed.remove_device("dcm-exporter-demo") if renamed.has_device("dcm-exporter-demo") else renamed
    config.write_text(ldif.dumps(other))
    assert exporter.queue.device_name == "dcm-exporter-demo"  # the device the queue works for
    result = ConfigurationReloader.for_file(exporter, config).reload()
    assert not result.ok and "no device dcm-exporter-demo" in (result.error or ""), result


def test_a_missing_file_is_refused(tmp_path: Path, exporter: Exporter) -> None:
    result = ConfigurationReloader.for_file(exporter, tmp_path / "gone.ldif").reload("signal")
    assert not result.ok and "does not exist" in (result.error or "") and result.trigger == "signal"


def test_the_marker_follows_replacement_by_rename(tmp_path: Path) -> None:
    config = tmp_path / "c.ldif"
    config.write_text("a")
    marker = file_marker(config)
    first = marker()
    tmp = tmp_path / "c.tmp"
    tmp.write_text("a")
    os.replace(tmp, config)
    assert marker() != first
    config.unlink()
    assert marker() is None


def test_the_interval_must_be_positive(exporter: Exporter) -> None:
    with pytest.raises(ConfigurationError, match="positive"):
        ConfigurationReloader(exporter, demo_configuration, interval=0)


# --- through the web app ------------------------------------------------------------------------------------


def test_post_ctrl_reload_and_what_healthz_and_metrics_show(tmp_path: Path, exporter: Exporter) -> None:
    pytest.importorskip("starlette")
    pytest.importorskip("httpx2")
    from starlette.testclient import TestClient

    from dcm_exporter.web import create_app

    config = tmp_path / "config.ldif"
    _write(config, 11001)
    reloader = ConfigurationReloader.for_file(exporter, config)
    reloader.note_loaded(0.25)
    auth = {"Authorization": "Bearer t"}
    with TestClient(create_app(exporter, token="t", reloader=reloader)) as client:
        text = client.get("/metrics").text
        assert "dcm_exporter_configuration_load_seconds 0.25" in text
        assert "dcm_exporter_configuration_last_reload_success 1.0" in text
        _write(config, 11009)
        assert client.post("/dcm4chee-arc/ctrl/reload", headers=auth).status_code == 204
        assert _port(exporter) == 11009
        config.write_text("not: ldif at all\n")
        r = client.post("/dcm4chee-arc/ctrl/reload", headers=auth)
        assert r.status_code == 500 and "the previous one stays in use" in r.json()["errorMessage"]
        assert _port(exporter) == 11009
        health = client.get("/healthz").json()
        assert health["status"] == "ok"  # the runner and the store work; the configuration in use is fine
        last = health["configuration"]["last_reload"]
        assert last["ok"] is False and last["trigger"] == "request" and last["error"]
        assert health["configuration"]["refused"] == 1 and health["configuration"]["source"] == str(config)
        text = client.get("/metrics").text
        assert "dcm_exporter_configuration_last_reload_success 0.0" in text
        assert 'dcm_exporter_configuration_reloads_total{result="refused"} 1.0' in text
        assert 'dcm_exporter_configuration_reloads_total{result="taken"} 1.0' in text
