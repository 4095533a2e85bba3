"""Live configuration from LDAP: slapd with dcm4che's schemas and default configuration, DCMTK storescp.

The STORESCP connection's ``dicomPort`` is changed with ``ldapmodify`` while ``dcm-exporter run`` / ``serve``
runs; the next export goes to the new port (noticed by polling the change marker, or told by SIGHUP or
``POST /ctrl/reload``). A configuration that does not load is refused and the old one keeps working.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx2")

from _helpers import received_sop_uids, wait_for
from _web import Served, cli_ok, start_cli, start_serve
from dcm_exporter.codecs import ldif
from dcm_exporter.config.ldap import LdapConfigStore
from dcm_exporter.sample import StudyInfo, generate_study
from servers.dcmtk import StorescpServer
from servers.ports import free_port
from servers.slapd import SlapdServer

DEVICES = "cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
ARC = f"dicomDeviceName=dcm4chee-arc,{DEVICES}"
SCP_CONNECTION = f"cn=dicom,dicomDeviceName=storescp,{DEVICES}"
BASE = "/dcm4chee-arc"

EXPORTER = f"""dn: dcmExporterID=STORESCP,{ARC}
objectClass: dcmExporter
dcmExporterID: STORESCP
dcmURI: dicom:STORESCP
dcmQueueName: Export
dicomAETitle: DCM4CHEE
"""


def _move_storescp(slapd: SlapdServer, port: int) -> None:
    slapd.ldapmodify(f"dn: {SCP_CONNECTION}\nchangetype: modify\nreplace: dicomPort\ndicomPort: {port}\n-\n"
                     "replace: dicomHostname\ndicomHostname: 127.0.0.1\n-\n")


def _ldap_args(slapd: SlapdServer, tmp_path: Path) -> list[str]:
    password = tmp_path / "ldap-password"
    password.write_text(slapd.password)
    return ["--ldap", slapd.url, "--bind-dn", slapd.bind_dn, "--password-file", str(password)]


@pytest.fixture
def archive(slapd_upstream: SlapdServer, storescp_factory: Callable[..., StorescpServer]) -> tuple[
        SlapdServer, StorescpServer, StorescpServer]:
    slapd_upstream.ldapadd(EXPORTER)
    first, second = storescp_factory(), storescp_factory()
    _move_storescp(slapd_upstream, first.port)
    return slapd_upstream, first, second


def _study(tmp_path: Path) -> StudyInfo:
    return generate_study(tmp_path / "archive", series=1, instances_per_series=3, kind="small")


def _received(scp: StorescpServer, study: StudyInfo) -> bool:
    return received_sop_uids(scp.output_dir) >= {i.sop_instance_uid for i in study.instances}


@pytest.mark.slow
def test_run_notices_a_changed_port_by_polling_ldap(tmp_path: Path, archive: tuple[
        SlapdServer, StorescpServer, StorescpServer]) -> None:
    slapd, first, second = archive
    ldap = _ldap_args(slapd, tmp_path)
    queue = ["--queue", f"sqlite:{tmp_path / 'q.sqlite'}"]
    before, after = _study(tmp_path), _study(tmp_path)
    cli_ok(tmp_path, "export", "STORESCP", "--study", before.study_uid, *ldap, *queue)
    port = free_port()
    served = start_cli(tmp_path, "run", *ldap, *queue, "--source", str(tmp_path / "archive"), "--poll-interval",
                       "0.1", "--reload-interval", "0.5", "--metrics-port", str(port), port=port, wait_path="/metrics")
    try:
        assert wait_for(lambda: _received(first, before), timeout=60), served.output()
        _move_storescp(slapd, second.port)
        assert wait_for(lambda: 'dcm_exporter_configuration_reloads_total{result="taken"} 1.0'
                        in served.get("/metrics").text, timeout=30), served.output()
        cli_ok(tmp_path, "export", "STORESCP", "--study", after.study_uid, *ldap, *queue)
        assert wait_for(lambda: _received(second, after), timeout=60), served.output()
    finally:
        code = served.stop(signal.SIGINT)
    assert code == 0, served.output()
    assert len(first.files()) == 3  # the export after the change went to the new port only
    assert "configuration" not in served.output() or "not taken" not in served.output()


def _export(served: Served, study: StudyInfo) -> str:
    r = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{study.study_uid}/export/STORESCP")
    assert r.status_code == 202, r.text
    return str(r.json()["taskID"])


def _completed(served: Served, task_id: str) -> bool:
    tasks = served.get(f"{BASE}/monitor/export", params={"taskID": task_id}).json()
    return bool(tasks) and tasks[0]["status"] == "COMPLETED"


@pytest.mark.slow
def test_serve_reloads_on_sighup_and_post_ctrl_reload_and_refuses_a_broken_configuration(
        tmp_path: Path, archive: tuple[SlapdServer, StorescpServer, StorescpServer]) -> None:
    slapd, first, second = archive
    studies = [_study(tmp_path) for _ in range(3)]
    served = start_serve(tmp_path, *_ldap_args(slapd, tmp_path), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                         "--source", str(tmp_path / "archive"), "--poll-interval", "0.1", "--reload-interval", "0")
    try:
        # no polling: the change is not noticed until SIGHUP
        _move_storescp(slapd, second.port)
        served.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: (served.get("/healthz").json()["configuration"]["last_reload"] or {}).get(
            "trigger") == "signal", timeout=30), served.output()
        assert served.get("/healthz").json()["configuration"]["reloads"] == 1
        task = _export(served, studies[0])
        assert wait_for(lambda: _completed(served, task), timeout=60), served.output()
        assert _received(second, studies[0]) and not first.files()

        _move_storescp(slapd, first.port)
        assert served.post(f"{BASE}/ctrl/reload").status_code == 204
        task = _export(served, studies[1])
        assert wait_for(lambda: _completed(served, task), timeout=60), served.output()
        assert _received(first, studies[1])

        # an exporter URI dcm4chee could not read: the whole configuration is refused, the old one stays
        slapd.ldapmodify(f"dn: dcmExporterID=STORESCP,{ARC}\nchangetype: modify\nreplace: dcmURI\n"
                         "dcmURI: dicom:STORE SCP\n-\n")
        r = served.post(f"{BASE}/ctrl/reload")
        assert r.status_code == 500 and "previous one stays in use" in r.json()["errorMessage"], r.text
        health = served.get("/healthz").json()
        assert health["status"] == "ok" and health["configuration"]["refused"] == 1, health
        assert "dcm_exporter_configuration_last_reload_success 0.0" in served.get("/metrics").text
        task = _export(served, studies[2])
        assert wait_for(lambda: _completed(served, task), timeout=60), served.output()
        assert _received(first, studies[2])
    finally:
        code = served.stop()
    assert code == 0, served.output()
    assert "not taken" in served.output()  # the refusal is logged with its reason


def test_the_change_marker_moves_on_modify_add_and_delete(slapd_upstream: SlapdServer) -> None:
    with LdapConfigStore(slapd_upstream.url, slapd_upstream.bind_dn, slapd_upstream.password) as store:
        markers = [store.change_marker()]
        assert store.change_marker() == markers[0]  # nothing changed: the same marker
        slapd_upstream.ldapadd(EXPORTER)
        markers.append(store.change_marker())
        _move_storescp(slapd_upstream, 11119)
        markers.append(store.change_marker())
        slapd_upstream.ldapmodify(f"dn: dcmExporterID=STORESCP,{ARC}\nchangetype: delete\n")
        markers.append(store.change_marker())
    assert len(set(markers)) == 4, markers


@pytest.mark.slow
def test_a_running_export_finishes_with_what_it_holds(tmp_path: Path) -> None:
    """Reloaded in the middle of an export: that export goes on to the old destination; the next one uses the
    new configuration."""
    from dcm_exporter.cli._demo import demo_configuration, with_port
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import SqliteTaskStore, TaskStatus
    from dcm_exporter.sources import FileSystemSource
    from dcm_exporter.testing import StoreSCP
    from dcm_exporter.web.reload import ConfigurationReloader

    slow, other = StoreSCP(delay=0.3).start(), StoreSCP().start()
    try:
        config = tmp_path / "config.ldif"
        config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", slow.port)))
        first, second = _study(tmp_path), _study(tmp_path)
        with SqliteTaskStore(tmp_path / "q.sqlite") as store, FileSystemSource(tmp_path / "archive") as source, \
                Exporter(demo_configuration(), source, store=store) as exporter:
            reloader = ConfigurationReloader.for_file(exporter, config)
            assert reloader.reload().ok
            exporter.start(poll_interval=0.05)
            running = exporter.schedule_export("STORESCP", first.study_uid)
            assert wait_for(lambda: len(slow.received) >= 1, timeout=30)
            config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", other.port)))
            result = reloader.reload()
            assert result.ok and result.changed
            assert exporter.queue.task(running.task_id).status is TaskStatus.IN_PROCESS  # still on its way
            assert wait_for(lambda: exporter.queue.task(running.task_id).status is TaskStatus.COMPLETED, timeout=60)
            nxt = exporter.schedule_export("STORESCP", second.study_uid)
            assert wait_for(lambda: exporter.queue.task(nxt.task_id).status is TaskStatus.COMPLETED, timeout=60)
            exporter.stop()
        assert {r.sop_instance_uid for r in slow.received} == {i.sop_instance_uid for i in first.instances}
        assert {r.sop_instance_uid for r in other.received} == {i.sop_instance_uid for i in second.instances}
    finally:
        slow.stop()
        other.stop()


def test_the_change_marker_is_the_context_csn_where_the_server_keeps_one(
        slapd_factory: Callable[..., SlapdServer]) -> None:
    """With the syncprov overlay (replicated set-ups) one base search of the suffix is the whole poll."""
    slapd = slapd_factory(schema="compact", content="init", syncprov=True)
    device = (f"dn: dicomDeviceName=poll,cn=Devices,cn=DICOM Configuration,{slapd.base_dn}\n"
              "objectClass: dicomDevice\ndicomDeviceName: poll\ndicomInstalled: TRUE\n")
    with LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password) as store:
        slapd.ldapadd(device)  # a first write: the overlay has a contextCSN from now on at the latest
        before = store.change_marker()
        assert before.startswith("contextCSN:"), before
        trips = store.round_trips
        assert store.change_marker() == before and store.round_trips == trips + 1
        slapd.ldapmodify(f"dn: dicomDeviceName=poll,cn=Devices,cn=DICOM Configuration,{slapd.base_dn}\n"
                         "changetype: modify\nreplace: dicomInstalled\ndicomInstalled: FALSE\n-\n")
        assert store.change_marker() != before
