"""``queue.store.ended``: what every store writes over a task whose attempt ended, field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs

from dcm_exporter.queue.store import Transition, ended
from dcm_exporter.queue.task import ExportTask, TaskStatus, TaskType

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def _held() -> ExportTask:
    """A task IN PROCESS with every field set to something other than its default."""
    return ExportTask(
        task_id=7, created_time=T0, updated_time=T0 + timedelta(seconds=1), device_name="arc", queue_name="Q",
        exporter_id="E", local_ae_title="AE", study_uid="1.2", series_uid="1.2.3", sop_instance_uid="1.2.3.4",
        scheduled_time=T0, status=TaskStatus.IN_PROCESS, processing_start_time=T0 + timedelta(seconds=2),
        processing_end_time=T0 + timedelta(seconds=3), number_of_failures=2, batch_id="b", error_message="err",
        outcome_message="out", number_of_instances=5, modalities=("CT",), requester="me", lease_owner="runner",
        lease_expires=T0 + timedelta(minutes=5), task_type=TaskType.STGCMT, destination_aet="SCP",
        result_json="[]",
    )


def test_ended_keeps_every_field_the_transition_does_not_write() -> None:
    held = _held()
    # every field has a value other than its default: a field ended() forgot would come back as the default
    defaults = {a.name: a.default for a in attrs.fields(ExportTask) if a.default is not attrs.NOTHING}
    assert all(getattr(held, name) != default for name, default in defaults.items())
    end = T0 + timedelta(minutes=1)
    transition = Transition(status=TaskStatus.COMPLETED, processing_end_time=end, number_of_failures=2,
                            outcome_message="done")
    got = ended(held, transition, end, modalities=("MR",))
    assert got == attrs.evolve(
        held, status=TaskStatus.COMPLETED, processing_end_time=end, error_message=None, outcome_message="done",
        modalities=("MR",), result_json=None, updated_time=end, lease_owner=None, lease_expires=None,
    )


def test_ended_takes_what_the_transition_sets_and_converts_times_to_utc() -> None:
    held = _held()
    plus2 = timezone(timedelta(hours=2))
    end = datetime(2024, 1, 1, 15, 0, tzinfo=plus2)
    transition = Transition(
        status=TaskStatus.SCHEDULED_FOR_RETRY, processing_end_time=end, number_of_failures=3,
        scheduled_time=end + timedelta(minutes=10), error_message="refused", number_of_instances=9,
        result_json='[{"x": 1}]', processing_start_time=end - timedelta(seconds=30),
    )
    got = ended(held, transition, end, modalities=held.modalities)
    assert got.status is TaskStatus.SCHEDULED_FOR_RETRY and got.number_of_failures == 3
    assert got.processing_end_time == end and got.processing_end_time.tzinfo is UTC
    assert got.scheduled_time == end + timedelta(minutes=10) and got.scheduled_time.tzinfo is UTC
    assert got.processing_start_time == end - timedelta(seconds=30)
    assert (got.error_message, got.outcome_message, got.number_of_instances) == ("refused", None, 9)
    assert got.result_json == '[{"x": 1}]' and got.updated_time.tzinfo is UTC
