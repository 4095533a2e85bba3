"""``dcm-exporter serve`` exporting to DCMTK storescp through dcm4chee's REST API, watched with /metrics and
/healthz; ``run --metrics-port`` serves the same metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx2")

from _helpers import received_sop_uids, wait_for
from _web import cli_ok, start_cli, start_serve
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.sample import StudyInfo, generate_study
from servers.dcmtk import StorescpServer
from servers.ports import free_port

BASE = "/dcm4chee-arc"


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" (\S+)"
    m = re.search("^" + pattern + "$", text, re.M)
    assert m, f"{name}{{{wanted}}} not in\n{text}"
    return float(m.group(1))


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", port)))
    return path


@pytest.mark.slow
def test_export_through_rest_reaches_storescp(tmp_path: Path, storescp: StorescpServer,
                                              small_study: StudyInfo) -> None:
    config = _config(tmp_path, storescp.port)
    served = start_serve(tmp_path, "--config", str(config), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                         "--source", str(small_study.directory), "--poll-interval", "0.1")
    try:
        assert "read-only" not in served.output()
        r = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/STORESCP",
                        params={"batchID": "rest"})
        assert r.status_code == 202, r.text
        task_id = r.json()["taskID"]
        assert wait_for(lambda: served.get(f"{BASE}/monitor/export/count",
                                           params={"status": "COMPLETED"}).json()["count"] == 1, timeout=60)
        (task,) = served.get(f"{BASE}/monitor/export", params={"taskID": task_id}).json()
        assert task["status"] == "COMPLETED" and task["NumberOfInstances"] == 6, task
        assert task["outcomeMessage"] == f"Export Study[uid={small_study.study_uid}] to STORESCP - completed:6"
        assert received_sop_uids(storescp.output_dir) == {i.sop_instance_uid for i in small_study.instances}

        text = served.get("/metrics").text
        assert _metric(text, "dcm_exporter_instances_total", exporter="STORESCP", result="completed") == 6
        assert _metric(text, "dcm_exporter_bytes_sent_total", exporter="STORESCP") == sum(
            i.size for i in small_study.instances)
        assert _metric(text, "dcm_exporter_tasks_finished_total", exporter="STORESCP", status="COMPLETED") == 1
        assert _metric(text, "dcm_exporter_export_duration_seconds_count", exporter="STORESCP") == 1
        assert _metric(text, "dcm_exporter_tasks", queue="Export1", status="COMPLETED") == 1
        assert _metric(text, "dcm_exporter_configuration_last_reload_success") == 1
        assert _metric(text, "dcm_exporter_configuration_load_seconds") > 0
        health = served.get("/healthz")
        assert health.status_code == 200 and health.json()["runner"] == "running", health.text
        # without the token nothing changes
        r = served.client.post(f"{BASE}/monitor/export/{task_id}/reschedule")
        assert r.status_code == 401
    finally:
        code = served.stop()
    assert code == 0, served.output()
    assert "stopped" in served.output() and "Traceback" not in served.output()


@pytest.mark.slow
def test_run_metrics_port(tmp_path: Path, storescp: StorescpServer) -> None:
    study = generate_study(tmp_path / "archive", series=1, instances_per_series=2, kind="small")
    config = _config(tmp_path, storescp.port)
    queue = f"sqlite:{tmp_path / 'q.sqlite'}"
    cli_ok(tmp_path, "export", "STORESCP", "--study", study.study_uid, "--config", str(config), "--queue", queue)
    port = free_port()
    served = start_cli(tmp_path, "run", "--config", str(config), "--queue", queue, "--source",
                       str(study.directory), "--metrics-port", str(port), "--poll-interval", "0.1", port=port,
                       wait_path="/metrics")
    try:
        assert wait_for(lambda: 'status="COMPLETED"} 1.0' in served.get("/metrics").text, timeout=60)
        text = served.get("/metrics").text
        assert _metric(text, "dcm_exporter_instances_total", exporter="STORESCP", result="completed") == 2
        assert f"metrics at http://127.0.0.1:{port}/metrics" in served.output()
        # the health check a liveness probe calls: the runner's and the store's state, not the metrics text
        health = served.get("/healthz")
        assert health.status_code == 200 and health.headers["content-type"] == "application/json", health.text
        assert health.json()["runner"] == "running" and health.json()["store"] == "ok", health.json()
        assert health.json()["configuration"]["last_reload"]["ok"] is True, health.json()
    finally:
        code = served.stop()
    assert code == 0, served.output()


def test_serve_over_tls_with_its_certificate(tmp_path: Path, small_study: StudyInfo) -> None:
    """``--tls-cert``/``--tls-key``: HTTPS with the given certificate; plain HTTP is not answered."""
    import httpx2

    from servers.slapd import make_tls

    ca, cert, key = make_tls(tmp_path / "tls")
    served = start_serve(tmp_path, "--config", str(_config(tmp_path, 11117)), "--queue",
                         f"sqlite:{tmp_path / 'q.sqlite'}", "--source", str(small_study.directory),
                         "--tls-cert", str(cert), "--tls-key", str(key), ca_file=ca)
    try:
        assert served.url.startswith("https://")
        assert served.get("/healthz").status_code == 200
        r = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/STORESCP",
                        params={"scheduledTime": "20991231000000"})
        assert r.status_code == 202, r.text
        with pytest.raises(httpx2.HTTPError):
            httpx2.get(served.url.replace("https://", "http://") + "/healthz", timeout=5)
        assert "at https://127.0.0.1:" in served.output()
    finally:
        code = served.stop()
    assert code == 0, served.output()


def test_serve_refuses_a_bad_token_file_and_half_tls(tmp_path: Path) -> None:
    import subprocess
    import sys

    from _web import _env

    (tmp_path / "empty").write_text("\n")
    for extra, message in (
        (["--token-file", str(tmp_path / "empty")], "must hold one token"),
        (["--token-file", str(tmp_path / "missing")], "--token-file"),
        (["--tls-cert", str(tmp_path / "c.pem")], "--tls-cert and --tls-key go together"),
    ):
        r = subprocess.run([sys.executable, "-m", "dcm_exporter.cli", "serve", "--config", "x.ldif", *extra],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_run_reloads_its_file_on_sighup(tmp_path: Path) -> None:
    """``run --reload-interval 0``: the changed file is not looked at until SIGHUP; then it is taken."""
    import signal

    (tmp_path / "archive").mkdir()
    config = _config(tmp_path, 11117)
    port = free_port()
    served = start_cli(tmp_path, "run", "--config", str(config), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                       "--source", str(tmp_path / "archive"), "--reload-interval", "0", "--metrics-port", str(port),
                       port=port, wait_path="/metrics")
    try:
        taken = 'dcm_exporter_configuration_reloads_total{result="taken"} 1.0'
        config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", 11119)))
        assert taken not in served.get("/metrics").text
        served.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: taken in served.get("/metrics").text, timeout=30), served.output()
        config.write_text("broken\n")
        served.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: 'reloads_total{result="refused"} 1.0' in served.get("/metrics").text, timeout=30)
    finally:
        code = served.stop(signal.SIGINT)
    assert code == 0, served.output()
    assert "not taken (signal)" in served.output()


@pytest.mark.slow
def test_repeated_exporter_ids_list_count_and_batch_as_one_filter(tmp_path: Path, small_study: StudyInfo) -> None:
    """``ExporterID`` may repeat (upstream: ``ExporterID IN (...)``): the list, its pages, the count and the
    batches answer as for one filter matching both, and a batch holding tasks of both is one item with all its
    counts."""
    from dcm_exporter.models import ExporterDescriptor

    configuration = demo_configuration().put_exporter(
        ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1", ae_title="DCM4CHEE"))
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(configuration))
    served = start_serve(tmp_path, "--config", str(config), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                         "--source", str(small_study.directory), "--poll-interval", "0.1")
    export = f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export"
    try:  # a NOOP export that completes, a STORESCP export waiting for 2099, in one batch
        assert served.post(f"{export}/NOOP", params={"batchID": "mix"}).status_code == 202
        assert served.post(f"{export}/STORESCP",
                           params={"batchID": "mix", "scheduledTime": "20991231000000"}).status_code == 202
        assert wait_for(lambda: served.get(f"{BASE}/monitor/export/count",
                                           params={"status": "COMPLETED"}).json()["count"] == 1, timeout=60)
        both = {"ExporterID": ["NOOP", "STORESCP"]}

        (whole,) = served.get(f"{BASE}/monitor/export/batch").json()
        (merged,) = served.get(f"{BASE}/monitor/export/batch", params=both).json()
        assert merged == whole, (merged, whole)
        assert merged["tasks"] == {"completed": 1, "scheduled": 1}
        assert sorted(merged["ExporterID"]) == ["NOOP", "STORESCP"]

        listed = served.get(f"{BASE}/monitor/export", params=both).json()
        assert len(listed) == served.get(f"{BASE}/monitor/export/count", params=both).json()["count"] == 2
        paged = [t["taskID"] for offset in (0, 1) for t in served.get(
            f"{BASE}/monitor/export", params={**both, "orderby": "createdTime", "offset": offset, "limit": 1}).json()]
        assert paged == sorted((t["taskID"] for t in listed), key=int)  # created in the order of their IDs
    finally:
        code = served.stop()
    assert code == 0, served.output()
