"""How task statuses cross the REST API (dcm4chee's MONITOR-RS words in and out), case by case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dcm_exporter.exporter import Exporter
from dcm_exporter.queue import SqliteTaskStore
from dcm_exporter.queue.store import Claim
from dcm_exporter.queue.task import BatchSummary, ExportTask, TaskStatus
from dcm_exporter.sample import StudyInfo
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.web.dcm4chee import BadParameter, batch_json, task_filters, task_json

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def task(status: TaskStatus = TaskStatus.SCHEDULED, **kwargs: object) -> ExportTask:
    return ExportTask(task_id=7, created_time=T0, updated_time=T0, device_name="arc", queue_name="Export1",
                      exporter_id="E", study_uid="1.2", scheduled_time=T0, status=status, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [None, ""])
def test_no_status_or_an_empty_one_filters_nothing(text: str | None) -> None:
    params = {} if text is None else {"status": text}
    (f,) = task_filters(params)
    assert f.status is None


@pytest.mark.parametrize(
    ("text", "statuses"),
    [
        ("SCHEDULED", (TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY)),  # upstream has one SCHEDULED
        ("IN PROCESS", (TaskStatus.IN_PROCESS,)),
        ("COMPLETED", (TaskStatus.COMPLETED,)),
        ("WARNING", (TaskStatus.WARNING,)),
        ("FAILED", (TaskStatus.FAILED,)),
        ("CANCELED", (TaskStatus.CANCELED,)),
    ],
)
def test_status_words_in(text: str, statuses: tuple[TaskStatus, ...]) -> None:
    (f,) = task_filters({"status": text})
    assert f.status == statuses


def test_an_unknown_status_or_one_not_allowed_here_is_a_bad_parameter() -> None:
    with pytest.raises(BadParameter, match="status='DONE'"):
        task_filters({"status": "DONE"})
    with pytest.raises(BadParameter, match="only SCHEDULED or IN PROCESS here"):
        task_filters({"status": "COMPLETED"}, status_required=["SCHEDULED", "IN PROCESS"])
    with pytest.raises(BadParameter, match="status is required"):
        task_filters({}, status_required=["SCHEDULED", "IN PROCESS"])
    (f,) = task_filters({"status": "IN PROCESS"}, status_required=["SCHEDULED", "IN PROCESS"])
    assert f.status == (TaskStatus.IN_PROCESS,)


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (TaskStatus.SCHEDULED, "SCHEDULED"),
        (TaskStatus.SCHEDULED_FOR_RETRY, "SCHEDULED"),
        (TaskStatus.IN_PROCESS, "IN PROCESS"),
        (TaskStatus.COMPLETED, "COMPLETED"),
        (TaskStatus.WARNING, "WARNING"),
        (TaskStatus.FAILED, "FAILED"),
        (TaskStatus.CANCELED, "CANCELED"),
    ],
)
def test_status_words_out(status: TaskStatus, word: str) -> None:
    assert task_json(task(status))["status"] == word


def test_modalities_and_scope_are_left_out_when_unknown() -> None:
    bare = task_json(task())
    assert "Modality" not in bare and "SeriesInstanceUID" not in bare and "SOPInstanceUID" not in bare
    full = task_json(task(modalities=("CT", "SR"), series_uid="1.2.3", sop_instance_uid="1.2.3.4"))
    assert full["Modality"] == ["CT", "SR"]
    assert (full["SeriesInstanceUID"], full["SOPInstanceUID"]) == ("1.2.3", "1.2.3.4")


def test_batch_counts_use_upstreams_keys_and_add_retries_to_scheduled() -> None:
    counts = {TaskStatus.SCHEDULED: 2, TaskStatus.SCHEDULED_FOR_RETRY: 3, TaskStatus.IN_PROCESS: 1,
              TaskStatus.COMPLETED: 4, TaskStatus.WARNING: 5, TaskStatus.FAILED: 6, TaskStatus.CANCELED: 7}
    out = batch_json(BatchSummary(batch_id="b", counts=counts, device_names=("arc",), exporter_ids=("E",)))
    assert out["tasks"] == {"scheduled": 5, "in-process": 1, "completed": 4, "warning": 5, "failed": 6,
                            "canceled": 7}
    assert "createdTimeRange" not in out  # no task spans it: left out
    later = T0.replace(hour=13)
    spanned = batch_json(BatchSummary(batch_id="b", counts={TaskStatus.COMPLETED: 1},
                                      created_time_range=(T0, later), processing_end_time_range=(later, later)))
    first, last = spanned["createdTimeRange"]
    assert first == task_json(task())["createdTime"] and last != first
    assert datetime.fromisoformat(last) == later and "processingEndTimeRange" in spanned


# --- HTTP status of the operations that refuse (against the app, on an SQLite queue) -----------------------

BASE = "/dcm4chee-arc"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(tmp_path: Path, small_study: StudyInfo) -> Iterator[tuple[Any, Exporter, SqliteTaskStore]]:
    pytest.importorskip("starlette")
    pytest.importorskip("httpx2")
    from starlette.testclient import TestClient

    from dcm_exporter.cli._demo import demo_configuration
    from dcm_exporter.web import create_app

    with SqliteTaskStore(tmp_path / "q.sqlite") as store, FileSystemSource(small_study.directory) as source, \
            Exporter(demo_configuration(), source, store=store) as exporter, \
            TestClient(create_app(exporter, token=TOKEN)) as client:
        yield client, exporter, store


def test_reschedule_answers_400_for_a_bad_time_and_409_while_in_process(
    api: tuple[Any, Exporter, SqliteTaskStore], small_study: StudyInfo
) -> None:
    client, exporter, store = api
    r = client.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/STORESCP", headers=AUTH)
    assert r.status_code == 202, r.text
    task_id = r.json()["taskID"]
    r = client.post(f"{BASE}/monitor/export/{task_id}/reschedule", params={"scheduledTime": "tomorrow"},
                    headers=AUTH)
    assert r.status_code == 400 and "scheduledTime" in r.json()["errorMessage"]
    task = exporter.queue.task(int(task_id))
    now = datetime.now(UTC)
    claimed = store.claim(Claim(device_name=task.device_name, queue_name=task.queue_name, limit=1, owner="test",
                                lease_until=now + timedelta(minutes=5)), now=max(now, task.scheduled_time))
    assert [t.task_id for t in claimed] == [int(task_id)]
    r = client.post(f"{BASE}/monitor/export/{task_id}/reschedule", headers=AUTH)
    assert r.status_code == 409 and "IN PROCESS" in r.json()["errorMessage"]
    r = client.post(f"{BASE}/monitor/export/{task_id}/cancel", headers=AUTH)
    assert r.status_code == 204  # an IN PROCESS task can be canceled (it is aborted)
