"""How task statuses cross the REST API (dcm4chee's MONITOR-RS words in and out), case by case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dcm_exporter.queue.task import BatchSummary, ExportTask, TaskStatus
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
