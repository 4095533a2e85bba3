"""Failed instances are kept with the task (bounded) and shown by the task's views."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dcm_exporter.export import (
    MAX_RECORDED_FAILURES,
    FailedInstance,
    InstanceRef,
    OutcomeBuilder,
    OutcomeStatus,
    failed_instances,
)
from dcm_exporter.queue import ExportTask, TaskStatus
from dcm_exporter.queue.attempts import end_of_attempt
from dcm_exporter.queue.retry import RetryPolicy


def _ref(n: int) -> InstanceRef:
    return InstanceRef(study_uid="1.2", series_uid="1.2.3", sop_instance_uid=f"1.2.3.{n}",
                       sop_class_uid="1.2.840.10008.5.1.4.1.1.7", transfer_syntax_uid="1.2.840.10008.1.2.1",
                       size=10, path=f"{n}.dcm")


def _task() -> ExportTask:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return ExportTask(task_id=7, created_time=now, updated_time=now, device_name="d", queue_name="Export1",
                      exporter_id="STORESCP", study_uid="1.2", scheduled_time=now, status=TaskStatus.IN_PROCESS)


def test_the_first_100_failures_in_full_plus_counts_and_a_one_line_summary() -> None:
    builder = OutcomeBuilder("Study[uid=1.2]", "STORESCP")
    builder.completed(_ref(0))
    for n in range(1, 151):
        builder.failed(_ref(n), f"refused {n}", 0xA700 if n % 3 else 0xC000)
    outcome = builder.build()
    doc = json.loads(outcome.result_json or "")
    assert len(doc["failures"]) == MAX_RECORDED_FAILURES
    assert (doc["failed"], doc["omitted"]) == (150, 50)
    assert doc["by_status"] == {"0xA700": 100, "0xC000": 50}
    assert [f.sop_instance_uid for f in failed_instances(outcome.result_json)][:2] == ["1.2.3.1", "1.2.3.2"]
    summary = outcome.failure_summary or ""
    assert "\n" not in summary
    assert summary == ("150 instances failed: 1.2.3.1: refused 1 (status 0xA700) (first of them; by status: "
                       "0xA700: 100, 0xC000: 50)")
    transition = end_of_attempt(_task(), outcome, None, policy=RetryPolicy(), exporter=None, queue_names=(),
                                now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    assert transition.status is TaskStatus.WARNING  # per-instance refusals: as upstream, not retried
    assert transition.error_message == summary
    assert transition.result_json == outcome.result_json


def test_an_interrupted_export_is_failed_and_retried_with_the_reason() -> None:
    builder = OutcomeBuilder("Study[uid=1.2]", "STORESCP")
    builder.completed(_ref(1))
    outcome = builder.build(remaining=5, interrupted="association to AE STORESCP broke: connection reset")
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.message == "Export Study[uid=1.2] to STORESCP interrupted - remaining:5, completed:1"
    assert outcome.interrupted == "association to AE STORESCP broke: connection reset"
    policy = RetryPolicy(max_retries=3)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    transition = end_of_attempt(_task(), outcome, None, policy=policy, exporter=None, queue_names=(), now=now)
    assert transition.status is TaskStatus.SCHEDULED_FOR_RETRY
    assert transition.error_message == "association to AE STORESCP broke: connection reset"
    assert transition.outcome_message == outcome.message
    assert json.loads(transition.result_json or "")["remaining"] == 5


def test_task_views_carry_the_failed_instances() -> None:
    pytest.importorskip("pandas")
    from dcm_exporter._repr import TaskList

    outcome = OutcomeBuilder("Study[uid=1.2]", "STORESCP")
    outcome.failed(_ref(9), "truncated data set: (7FE0,0010) at offset 6316 declares 32768 bytes, only 13295 left")
    built = outcome.build()
    task = ExportTask(**{**{a.name: getattr(_task(), a.name) for a in ExportTask.__attrs_attrs__},
                         "status": TaskStatus.WARNING, "result_json": built.result_json,
                         "outcome_message": built.message, "error_message": built.failure_summary})
    assert task.failed_instances == [FailedInstance(
        sop_instance_uid="1.2.3.9",
        reason="truncated data set: (7FE0,0010) at offset 6316 declares 32768 bytes, only 13295 left")]
    page = task._repr_html_()
    assert "1.2.3.9" in page and "only 13295 left" in page
    listing = TaskList([task])._repr_html_()
    assert "1 instance failed: 1.2.3.9" in listing
    frame = TaskList([task]).to_dataframe()
    assert frame.loc[7, "failed_instances"] == [{"sop_instance_uid": "1.2.3.9", "reason": built.failures[0].reason,
                                                  "status_code": None}]
    assert frame.loc[7, "error_message"].startswith("1 instance failed: 1.2.3.9: truncated data set")
