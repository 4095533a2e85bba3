"""Untrusted input to ``dcm-exporter serve``'s REST API and page: every bad value is a 4xx saying which
parameter and why, never a 500 from deep inside (a store's integer overflow, a date past year 9999); what a
caller writes into a task (``batchID``) is bounded, and the CSV list cannot carry a spreadsheet formula.

One real server (a subprocess, as a user starts it) per task store, SQLite and PostgreSQL (which refuses what
SQLite takes: a NUL in a text, integers past 64 bits); the checks only read, or schedule tasks for 2099, so
they do not disturb each other.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx2")

from _web import Served, start_serve
from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.codecs import ldif
from dcm_exporter.sample import StudyInfo
from servers.postgres import create_database, drop_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BASE = "/dcm4chee-arc"
LATER = {"scheduledTime": "20991231000000"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           small_study: StudyInfo) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("hostile")
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(demo_configuration()))
    database = create_database() if request.param == "postgres" else None
    queue = database.url if database is not None else f"sqlite:{tmp_path / 'q.sqlite'}"
    try:
        server = start_serve(tmp_path, "--config", str(config), "--queue", queue,
                             "--source", str(small_study.directory), "--reload-interval", "0")
        try:
            yield server
        finally:
            code = server.stop()
        assert code == 0, server.output()
        assert "Traceback" not in server.output(), server.output()
    finally:
        if database is not None:
            drop_database(database.name)


def _export(served: Served, study: StudyInfo, **params: str) -> tuple[int, dict[str, str]]:
    r = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{study.study_uid}/export/STORESCP",
                    params={**LATER, **params})
    return r.status_code, r.json()


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"offset": "99999999999999999999999"}, "offset=99999999999999999999999: at most 2147483647"),
        ({"offset": "2147483648"}, "offset=2147483648: at most 2147483647"),
        ({"taskID": "99999999999999999999999"}, "taskID=99999999999999999999999: at most 9223372036854775807"),
        ({"limit": "0"}, "limit=0 must be at least 1"),
        ({"limit": "1_0"}, "limit='1_0' is not a number"),
        ({"limit": "\u0663"}, "is not a number"),  # ARABIC-INDIC DIGIT THREE: int() takes it, upstream does not
        ({"limit": " 1"}, "limit=' 1' is not a number"),
        ({"createdTime": "99991231235959"}, "createdTime='99991231235959'"),  # its end is past year 9999
        ({"updatedTime": "-99991231"}, "updatedTime='99991231'"),
        ({"createdTime": "00000101"}, "createdTime='00000101'"),
        ({"batchID": "\x00"}, "batchID='\\x00': control characters match no task"),  # PostgreSQL: no NUL
        ({"StudyInstanceUID": "1.2\x00"}, "StudyInstanceUID='1.2\\x00': control characters"),
        ({"dicomDeviceName": "a\nb"}, "dicomDeviceName='a\\nb': control characters"),
        ({"ExporterID": "\x7f"}, "ExporterID='\\x7f': control characters"),
    ],
)
def test_a_bad_list_parameter_is_400_naming_it(served: Served, params: dict[str, str], said: str) -> None:
    for path in ("/monitor/export", "/monitor/export/count", "/monitor/export/batch"):
        if path.endswith("/count") and {"offset", "limit"} & set(params):
            continue  # a count is not paged
        r = served.get(BASE + path, params=params)
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert said in r.json()["errorMessage"], r.text
    page = served.get("/ui/export", params=params)  # the page shows the reason beside its filters
    assert page.status_code == 200 and said.replace("'", "&#39;") in page.text, page.text[-2000:]


def test_the_largest_values_still_work(served: Served) -> None:
    assert served.get(f"{BASE}/monitor/export", params={"offset": "2147483647", "limit": "1"}).json() == []
    assert served.get(f"{BASE}/monitor/export/count", params={"taskID": str(2**63 - 1)}).json() == {"count": 0}


@pytest.mark.parametrize("task_id", [str(2**63), "99999999999999999999999"])
def test_a_task_id_no_store_can_hold_is_no_such_task(served: Served, task_id: str) -> None:
    for method, path in (("POST", "/cancel"), ("POST", "/reschedule"), ("POST", "/reschedule/STORESCP"),
                         ("DELETE", "")):
        r = served.client.request(method, f"{BASE}/monitor/export/{task_id}{path}", headers=served.auth())
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"errorMessage": f"No such Export Task: {task_id}"}
    page = served.get(f"/ui/export/{task_id}")
    assert page.status_code == 200 and f"No such task: {task_id}" in page.text


def test_a_scheduled_time_out_of_range_is_400(served: Served, small_study: StudyInfo) -> None:
    for text in ("0001-01-01T00:00:00+14:00", "00000101", "99991399"):
        status, body = _export(served, small_study, scheduledTime=text)
        assert status == 400 and body["errorMessage"].startswith(f"scheduledTime={text!r}"), body


def test_the_batch_id_is_bounded(served: Served, small_study: StudyInfo) -> None:
    status, body = _export(served, small_study, batchID="b" * 256)
    assert status == 400 and "at most 255 printable characters (256 given)" in body["errorMessage"], body
    status, body = _export(served, small_study, batchID="two\nlines")
    assert status == 400 and "printable" in body["errorMessage"], body
    status, body = _export(served, small_study, batchID="b" * 255)
    assert status == 202 and body["batchID"] == "b" * 255, body


def test_csv_cells_never_start_a_formula(served: Served, small_study: StudyInfo) -> None:
    formulas = ['=HYPERLINK("http://127.0.0.1/","x")', "+1+1", "-2+3", "@SUM(A1)"]
    ids = {}
    for batch in formulas:
        status, body = _export(served, small_study, batchID=batch)
        assert status == 202, body
        ids[body["taskID"]] = batch
    for accept in ("text/csv", "text/csv;delimiter=semicolon"):
        r = served.get(f"{BASE}/monitor/export", params={"accept": accept, "status": "SCHEDULED"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
        rows = list(csv.DictReader(io.StringIO(r.text), delimiter=";" if "semicolon" in accept else ","))
        cells = {row["taskID"]: row["batchID"] for row in rows if row["taskID"] in ids}
        assert cells == {task_id: "'" + batch for task_id, batch in ids.items()}
        assert all(not value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())
    listed = served.get(f"{BASE}/monitor/export", params={"status": "SCHEDULED"}).json()
    assert {t["taskID"]: t.get("batchID") for t in listed if t["taskID"] in ids} == ids  # JSON keeps them as given


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        ("application/json, text/csv;q=0.1", "application/json"),
        ("text/csv;q=0.5, application/json;q=0.9", "application/json"),
        ("text/csv, application/json", "text/csv"),
        ("application/json;q=0, text/csv", "text/csv"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"),  # a browser
        ("text/*", "text/csv"),
        ("application/xml", None),
    ],
)
def test_the_accept_header_is_taken_by_its_q_values(served: Served, accept: str, answer: str | None) -> None:
    r = served.get(f"{BASE}/monitor/export", params={"limit": "1"}, headers={"Accept": accept})
    if answer is None:
        assert r.status_code == 406, r.text
    else:
        assert r.status_code == 200 and r.headers["content-type"].startswith(answer), (r.status_code, r.headers)
