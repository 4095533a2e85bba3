"""dcm4chee's export REST API served by ``dcm_exporter.web``: paths, parameters, status codes, JSON and CSV.

The app runs in-process (Starlette's test client) on a real SQLite queue and a generated study; tasks are not
run here except where an answer depends on a finished task (then ``noop:``). Exports to a real peer are in
``tests/integration/test_web_serve.py``; the JSON checked against upstream's OpenAPI schemas in
``test_web_openapi.py``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, ExporterDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sample import StudyInfo
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.web import create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "/dcm4chee-arc"


def configuration() -> Configuration:
    """The demo archive (device dcm-exporter-demo, AE DCM4CHEE, exporter STORESCP) plus a NOOP exporter."""
    config = demo_configuration()
    return config.put_exporter(ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1",
                                                  ae_title="DCM4CHEE"))


@pytest.fixture
def exporter(tmp_path: Path, small_study: StudyInfo) -> Iterator[Exporter]:
    with SqliteTaskStore(tmp_path / "q.sqlite") as store, \
            FileSystemSource(small_study.directory) as source, \
            Exporter(configuration(), source, store=store) as exporter:
        yield exporter


@pytest.fixture
def client(exporter: Exporter) -> Iterator[TestClient]:
    with TestClient(create_app(exporter, token=TOKEN)) as client:
        yield client


def export(client: TestClient, study: str, exporter_id: str = "STORESCP", *, aet: str = "DCM4CHEE",
           headers: dict[str, str] | None = AUTH, **params: str) -> Any:
    return client.post(f"{BASE}/aets/{aet}/rs/studies/{study}/export/{exporter_id}", params=params,
                       headers=headers)


# --- EXPORT-RS -------------------------------------------------------------------------------------------


def test_export_study_answers_202_with_the_scheduled_export_task(client: TestClient, exporter: Exporter,
                                                                 small_study: StudyInfo) -> None:
    r = export(client, small_study.study_uid, batchID="b1", scheduledTime="20991231235900")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["type"] == "EXPORT" and body["status"] == "SCHEDULED" and body["ExporterID"] == "STORESCP"
    assert body["StudyInstanceUID"] == small_study.study_uid and body["batchID"] == "b1"
    assert body["queue"] == "Export1" and body["dicomDeviceName"] == "dcm-exporter-demo"
    assert body["LocalAET"] == "DCM4CHEE" and body["failures"] == 0
    assert "SeriesInstanceUID" not in body  # the whole study ("*" is not written)
    task = exporter.queue.task(int(body["taskID"]))
    assert task.batch_id == "b1" and task.requester == "testclient"
    assert task.scheduled_time == datetime(2099, 12, 31, 23, 59).astimezone()  # the server's local time
    assert datetime.fromisoformat(body["scheduledTime"]) == task.scheduled_time


def test_export_series_and_instance(client: TestClient, exporter: Exporter, small_study: StudyInfo) -> None:
    series = small_study.series[1]
    instance = series.instances[2]
    r = client.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/series/{series.series_uid}"
                    "/export/NOOP", headers=AUTH)
    assert r.status_code == 202, r.text
    assert r.json()["SeriesInstanceUID"] == series.series_uid and "SOPInstanceUID" not in r.json()
    r = client.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/series/{series.series_uid}"
                    f"/instances/{instance.sop_instance_uid}/export/STORESCP", headers=AUTH)
    assert r.status_code == 202, r.text
    task = exporter.queue.task(int(r.json()["taskID"]))
    assert (task.series_uid, task.sop_instance_uid) == (series.series_uid, instance.sop_instance_uid)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/aets/NOBODY/rs/studies/{study}/export/STORESCP", "No such Archive AE Title: NOBODY"),
        ("/aets/DCM4CHEE/rs/studies/{study}/export/NOPE", "No such Exporter: NOPE"),
        ("/aets/DCM4CHEE/rs/studies/1.2.3.4/export/STORESCP", "No such Study: 1.2.3.4"),
        ("/aets/DCM4CHEE/rs/studies/{study}/series/1.2.3.5/export/STORESCP", "No such Series: 1.2.3.5"),
        ("/aets/DCM4CHEE/rs/studies/{study}/series/{series}/instances/1.2.3.6/export/STORESCP",
         "No such Instance: 1.2.3.6"),
    ],
)
def test_export_of_unknown_things_is_404_saying_what(client: TestClient, exporter: Exporter,
                                                     small_study: StudyInfo, path: str, message: str) -> None:
    url = BASE + path.format(study=small_study.study_uid, series=small_study.series[0].series_uid)
    r = client.post(url, headers=AUTH)
    assert r.status_code == 404 and r.json() == {"errorMessage": message}
    assert exporter.queue.count() == 0


def test_export_with_a_bad_scheduled_time_is_400(client: TestClient, small_study: StudyInfo) -> None:
    r = export(client, small_study.study_uid, scheduledTime="tomorrow")
    assert r.status_code == 400 and "scheduledTime='tomorrow'" in r.json()["errorMessage"]


# --- security ----------------------------------------------------------------------------------------------


def test_changes_need_the_bearer_token_reads_do_not(client: TestClient, exporter: Exporter,
                                                   small_study: StudyInfo) -> None:
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = export(client, small_study.study_uid, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), r.text
    assert exporter.queue.count() == 0
    assert client.get(f"{BASE}/monitor/export").status_code == 200
    assert client.post(f"{BASE}/monitor/export/cancel", params={"status": "SCHEDULED"}).status_code == 401
    assert client.delete(f"{BASE}/monitor/export").status_code == 401
    assert client.post(f"{BASE}/ctrl/reload").status_code == 401


def test_an_app_without_token_is_read_only_unless_the_host_authenticates(exporter: Exporter,
                                                                        small_study: StudyInfo) -> None:
    with TestClient(create_app(exporter)) as client:
        r = export(client, small_study.study_uid, headers=None)
        assert r.status_code == 403 and "--token-file" in r.json()["errorMessage"]
        assert client.get(f"{BASE}/monitor/export/count").json() == {"count": 0}
    with TestClient(create_app(exporter, require_token=False)) as client:
        assert export(client, small_study.study_uid, headers=None).status_code == 202


# --- MONITOR-RS ----------------------------------------------------------------------------------------------


def _three_tasks(client: TestClient, small_study: StudyInfo) -> list[str]:
    s0, s1 = small_study.series
    ids = []
    for exporter_id, series, batch in (("STORESCP", s0, "b1"), ("NOOP", s1, "b1"), ("STORESCP", s1, "b2")):
        r = client.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/series/{series.series_uid}"
                        f"/export/{exporter_id}", params={"batchID": batch}, headers=AUTH)
        assert r.status_code == 202, r.text
        ids.append(r.json()["taskID"])
    return ids


def test_list_filters_pages_and_orders(client: TestClient, small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    listed = client.get(f"{BASE}/monitor/export").json()
    assert [t["taskID"] for t in listed] == ids[::-1]  # default -updatedTime
    assert [t["taskID"] for t in client.get(f"{BASE}/monitor/export", params={"orderby": "createdTime"}).json()
            ] == ids
    assert [t["taskID"] for t in client.get(f"{BASE}/monitor/export",
                                            params={"orderby": "createdTime", "offset": 1, "limit": 1}).json()
            ] == ids[1:2]
    by = client.get(f"{BASE}/monitor/export", params={"ExporterID": "NOOP"}).json()
    assert [t["taskID"] for t in by] == [ids[1]]
    both = client.get(f"{BASE}/monitor/export?ExporterID=NOOP&ExporterID=STORESCP&orderby=createdTime").json()
    assert [t["taskID"] for t in both] == ids
    assert [t["taskID"] for t in client.get(f"{BASE}/monitor/export",
                                            params={"batchID": "b2"}).json()] == [ids[2]]
    assert len(client.get(f"{BASE}/monitor/export",
                          params={"StudyInstanceUID": small_study.study_uid, "status": "SCHEDULED"}).json()) == 3
    assert client.get(f"{BASE}/monitor/export", params={"status": "COMPLETED"}).json() == []
    assert client.get(f"{BASE}/monitor/export", params={"taskID": ids[0]}).json()[0]["taskID"] == ids[0]
    today = datetime.now().astimezone().strftime("%Y%m%d")
    assert len(client.get(f"{BASE}/monitor/export", params={"createdTime": f"{today}-"}).json()) == 3
    assert client.get(f"{BASE}/monitor/export", params={"createdTime": "-20000101"}).json() == []
    assert client.get(f"{BASE}/monitor/export/count", params={"ExporterID": "STORESCP"}).json() == {"count": 2}
    assert client.get(f"{BASE}/monitor/export/count").json() == {"count": 3}


@pytest.mark.parametrize(
    ("params", "word"),
    [({"orderby": "scheduledTime"}, "orderby"), ({"limit": "x"}, "limit"), ({"offset": "-1"}, "offset"),
     ({"status": "DONE"}, "status"), ({"limit": "10001"}, "at most 10000"),
     ({"createdTime": "2026-13"}, "createdTime"), ({"taskID": "a"}, "taskID")],
)
def test_list_rejects_bad_parameters_with_400(client: TestClient, params: dict[str, str], word: str) -> None:
    r = client.get(f"{BASE}/monitor/export", params=params)
    assert r.status_code == 400 and word in r.json()["errorMessage"], r.text


def test_list_as_csv(client: TestClient, small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    r = client.get(f"{BASE}/monitor/export", params={"accept": "text/csv", "orderby": "createdTime"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["taskID"] for row in rows] == ids and rows[1]["ExporterID"] == "NOOP"
    assert rows[0]["SeriesInstanceUID"] == small_study.series[0].series_uid
    r = client.get(f"{BASE}/monitor/export", headers={"Accept": "text/csv;delimiter=semicolon"})
    assert r.text.splitlines()[0].startswith("taskID;dicomDeviceName;queue;")
    r = client.get(f"{BASE}/monitor/export", headers={"Accept": "application/xml"})
    assert r.status_code == 406


def test_cancel_one_then_409_then_404(client: TestClient, exporter: Exporter, small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    r = client.post(f"{BASE}/monitor/export/{ids[0]}/cancel", headers=AUTH)
    assert r.status_code == 204 and r.content == b""
    assert exporter.queue.task(int(ids[0])).status is TaskStatus.CANCELED
    r = client.post(f"{BASE}/monitor/export/{ids[0]}/cancel", headers=AUTH)
    assert r.status_code == 409 and "CANCELED" in r.json()["errorMessage"]
    assert client.post(f"{BASE}/monitor/export/999/cancel", headers=AUTH).status_code == 404


def test_cancel_many_needs_a_status(client: TestClient, exporter: Exporter, small_study: StudyInfo) -> None:
    _three_tasks(client, small_study)
    r = client.post(f"{BASE}/monitor/export/cancel", headers=AUTH)
    assert r.status_code == 400 and "status is required" in r.json()["errorMessage"]
    r = client.post(f"{BASE}/monitor/export/cancel", params={"status": "COMPLETED"}, headers=AUTH)
    assert r.status_code == 400
    r = client.post(f"{BASE}/monitor/export/cancel", params={"status": "SCHEDULED", "ExporterID": "STORESCP"},
                    headers=AUTH)
    assert r.json() == {"count": 2}
    assert exporter.queue.count(status="CANCELED") == 2


def test_reschedule_one_and_many_also_to_another_exporter(client: TestClient, exporter: Exporter,
                                                          small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    client.post(f"{BASE}/monitor/export/cancel", params={"status": "SCHEDULED"}, headers=AUTH)
    r = client.post(f"{BASE}/monitor/export/{ids[0]}/reschedule/NOOP", headers=AUTH,
                    params={"scheduledTime": "20991231000000"})
    assert r.status_code == 204, r.text
    task = exporter.queue.task(int(ids[0]))
    assert (task.status, task.exporter_id) == (TaskStatus.SCHEDULED, "NOOP")
    assert task.scheduled_time == datetime(2099, 12, 31).astimezone()
    assert client.post(f"{BASE}/monitor/export/{ids[0]}/reschedule/NOPE", headers=AUTH).status_code == 404
    assert client.post(f"{BASE}/monitor/export/999/reschedule", headers=AUTH).status_code == 404
    r = client.post(f"{BASE}/monitor/export/{ids[0]}/reschedule", params={"newDeviceName": "other"}, headers=AUTH)
    assert r.status_code == 400 and "dcm-exporter-demo" in r.json()["errorMessage"]
    r = client.post(f"{BASE}/monitor/export/reschedule", headers=AUTH)
    assert r.status_code == 400
    r = client.post(f"{BASE}/monitor/export/reschedule/NOOP", params={"status": "CANCELED"}, headers=AUTH)
    assert r.json() == {"count": 2}
    assert {t.exporter_id for t in exporter.queue.tasks()} == {"NOOP"}


def test_delete_one_and_many(client: TestClient, exporter: Exporter, small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    assert client.delete(f"{BASE}/monitor/export/{ids[0]}", headers=AUTH).status_code == 204
    assert client.delete(f"{BASE}/monitor/export/{ids[0]}", headers=AUTH).status_code == 404
    assert client.delete(f"{BASE}/monitor/export", params={"batchID": "b1"}, headers=AUTH).json() == {"deleted": 1}
    assert client.delete(f"{BASE}/monitor/export", headers=AUTH).json() == {"deleted": 1}
    assert exporter.queue.count() == 0


def test_batches_count_tasks_per_status(client: TestClient, exporter: Exporter, small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    client.post(f"{BASE}/monitor/export/{ids[0]}/cancel", headers=AUTH)
    exporter.run_until_idle()  # NOOP completes; STORESCP fails (nothing listens on the demo port) or retries
    batches = {b["batchID"]: b for b in client.get(f"{BASE}/monitor/export/batch").json()}
    assert set(batches) == {"b1", "b2"}
    b1 = batches["b1"]
    assert b1["tasks"]["canceled"] == 1 and b1["tasks"]["completed"] == 1, b1
    assert b1["ExporterID"] == ["NOOP", "STORESCP"] and b1["dicomDeviceName"] == ["dcm-exporter-demo"]
    assert len(b1["createdTimeRange"]) == 2
    only = client.get(f"{BASE}/monitor/export/batch", params={"batchID": "b2"}).json()
    assert [b["batchID"] for b in only] == ["b2"]


def test_a_retry_is_scheduled_for_upstream_clients(client: TestClient, exporter: Exporter,
                                                   small_study: StudyInfo) -> None:
    """Upstream's task status has no SCHEDULED FOR RETRY: a waiting retry shows as SCHEDULED with failures > 0,
    and status=SCHEDULED finds it."""
    r = export(client, small_study.study_uid)  # the demo port: nobody listens, the attempt fails
    task_id = int(r.json()["taskID"])
    exporter.run_until_idle()
    task = exporter.queue.task(task_id)
    assert task.status is TaskStatus.SCHEDULED_FOR_RETRY and task.error_message, task
    listed = client.get(f"{BASE}/monitor/export", params={"status": "SCHEDULED"}).json()
    assert [(t["taskID"], t["status"], t["failures"]) for t in listed] == [(str(task_id), "SCHEDULED", 1)]
    assert listed[0]["errorMessage"] == task.error_message


# --- operations -----------------------------------------------------------------------------------------------


def test_healthz_reports_runner_and_store(tmp_path: Path, small_study: StudyInfo) -> None:
    store = SqliteTaskStore(tmp_path / "q.sqlite")
    with FileSystemSource(small_study.directory) as source, \
            Exporter(configuration(), source, store=store) as exporter, \
            TestClient(create_app(exporter, token=TOKEN)) as client:
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["runner"] == "not in this process"
        exporter.start(poll_interval=0.05)
        assert client.get("/healthz").json()["runner"] == "running"
        exporter.stop()
        r = client.get("/healthz")
        assert r.status_code == 503 and r.json()["reasons"] == ["the queue runner is not running"]
        store.close()
        r = client.get("/healthz")
        assert r.status_code == 503 and any("task store" in reason for reason in r.json()["reasons"]), r.json()
        r = client.get("/dcm4chee-arc/monitor/export")  # the store's error as JSON, not a traceback
        assert r.status_code == 500 and r.json()["errorMessage"].startswith("QueueError"), r.text


def test_metrics_name_tasks_instances_bytes_and_durations(client: TestClient, exporter: Exporter,
                                                          small_study: StudyInfo) -> None:
    export(client, small_study.study_uid, "NOOP")
    export(client, small_study.study_uid, "STORESCP")
    exporter.run_until_idle()
    text = client.get("/metrics").text
    assert 'dcm_exporter_tasks{queue="Export1",status="COMPLETED"} 1.0' in text
    assert 'dcm_exporter_tasks{queue="Export1",status="SCHEDULED FOR RETRY"} 1.0' in text
    assert 'dcm_exporter_tasks_finished_total{exporter="NOOP",status="COMPLETED"} 1.0' in text
    assert 'dcm_exporter_tasks_finished_total{exporter="STORESCP",status="SCHEDULED FOR RETRY"} 1.0' in text
    assert 'dcm_exporter_export_duration_seconds_count{exporter="NOOP"} 1.0' in text
    assert "# TYPE dcm_exporter_instances_total counter" in text
    assert "# TYPE dcm_exporter_bytes_sent_total counter" in text


def test_the_page_lists_tasks_with_the_rest_filters(client: TestClient, small_study: StudyInfo) -> None:
    ids = _three_tasks(client, small_study)
    page = client.get("/ui/export", params={"ExporterID": "NOOP"}).text
    assert f'data-task-id="{ids[1]}"' in page and f'data-task-id="{ids[0]}"' not in page
    assert client.get("/ui/export", params={"orderby": "x"}).text.count('id="filter-error"') == 1
    detail = client.get(f"/ui/export/{ids[0]}").text
    assert small_study.study_uid in detail and f"{BASE}/monitor/export/{ids[0]}/cancel" in detail
    assert client.get("/ui/batches").text.count("data-batch-id=") == 2
    assert client.get("/static/monitor.js").status_code == 200


def test_mounted_below_a_prefix_the_page_links_stay_inside(exporter: Exporter, small_study: StudyInfo) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/exporter", app=create_app(exporter, token=TOKEN))])
    with TestClient(host) as client:
        r = client.post(f"/exporter{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/NOOP",
                        headers=AUTH)
        assert r.status_code == 202
        page = client.get("/exporter/ui/export").text
        assert f'data-url="/exporter{BASE}/monitor/export/{r.json()["taskID"]}/cancel"' in page
        assert 'src="/exporter/static/monitor.js"' in page


def test_a_scheduled_time_without_zone_is_local(client: TestClient, exporter: Exporter,
                                                small_study: StudyInfo) -> None:
    at = (datetime.now() + timedelta(days=1)).replace(microsecond=0)
    r = export(client, small_study.study_uid, scheduledTime=at.strftime("%Y%m%d%H%M%S"))
    assert exporter.queue.task(int(r.json()["taskID"])).scheduled_time == at.astimezone()
