"""Pure logic of the after-export actions: follow-up scheduling, report parsing, results, IAN data set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydicom import Dataset

from dcm_exporter.actions import CommitmentResult, CommittedInstance, FailedCommitment, build_ian
from dcm_exporter.actions.stgcmt import action_information, commitment_timeout, outcome_of, parse_event_report
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.export import InstanceRef, Outcome, OutcomeStatus
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import InMemoryTaskStore, TaskManager, TaskStatus, TaskType

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


def ref(n: int, series: str = "1.2.3.1") -> InstanceRef:
    return InstanceRef(
        study_uid="1.2.3",
        series_uid=series,
        sop_instance_uid=f"1.2.3.1.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        size=0,
        path=f"{n}.dcm",
    )


def manager(*queues: str, **exporter: object) -> TaskManager:
    desc = ExporterDescriptor(
        exporter_id="E",
        uri="noop:x",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        **exporter,  # type: ignore[arg-type]
    )
    config = Configuration(
        devices=(
            Device(
                device_name="arc",
                exporters=(desc,),
                queues=tuple(QueueDescriptor(queue_name=q) for q in ("Export1", *queues)),
            ),
        )
    )
    return TaskManager(InMemoryTaskStore(), config, clock=lambda: T0)


def run_one(m: TaskManager, queue: str, outcome: Outcome) -> None:
    ((task, _),) = m.claim(queue, 1)
    m.finish(task, outcome=outcome)


def test_completed_export_schedules_stgcmt_and_one_ian_per_destination() -> None:
    m = manager("StgCmtSCU", stgcmt_scp="PACS", ian_destinations=("RIS", "HIS", "RIS"))
    export = m.schedule_export("E", "1.2.3", "1.2.3.1", batch_id="b", requester="me")
    run_one(m, "Export1", Outcome.noop())
    stgcmt = m.tasks(filter=None)
    by_type = {(t.task_type, t.destination_aet): t for t in stgcmt}
    assert set(by_type) == {
        (TaskType.EXPORT, None),
        (TaskType.STGCMT, "PACS"),
        (TaskType.IAN, "RIS"),
        (TaskType.IAN, "HIS"),
    }
    commit = by_type[(TaskType.STGCMT, "PACS")]
    assert commit.queue_name == "StgCmtSCU"  # configured
    assert (commit.series_uid, commit.batch_id, commit.requester) == ("1.2.3.1", "b", "me")  # export's scope
    ian = by_type[(TaskType.IAN, "RIS")]
    assert ian.queue_name == "Export1"  # no IANSCU queue: the exporter's
    assert (ian.series_uid, ian.sop_instance_uid) == ("*", "*")  # the whole study
    assert ian.status is TaskStatus.SCHEDULED and ian.scheduled_time == T0
    assert m.get(export.task_id).status is TaskStatus.COMPLETED


@pytest.mark.parametrize("status", [OutcomeStatus.WARNING, OutcomeStatus.FAILED, OutcomeStatus.CANCELED])
def test_no_follow_ups_unless_completed(status: OutcomeStatus) -> None:
    m = manager(stgcmt_scp="PACS", ian_destinations=("RIS",))
    m.schedule_export("E", "1.2.3")
    run_one(m, "Export1", Outcome(status=status, message="x"))
    assert m.count() == 1


def test_follow_ups_do_not_trigger_follow_ups() -> None:
    m = manager(stgcmt_scp="PACS")
    m.schedule_export("E", "1.2.3")
    run_one(m, "Export1", Outcome.noop())
    run_one(m, "Export1", Outcome(status=OutcomeStatus.COMPLETED, message="committed"))
    assert m.count() == 2


def test_report_parsing_counts_unnamed_instances_failed() -> None:
    requested = [ref(1), ref(2), ref(3)]
    info = Dataset()
    info.TransactionUID = "2.25.1"
    ok = Dataset()
    ok.ReferencedSOPClassUID = requested[0].sop_class_uid
    ok.ReferencedSOPInstanceUID = requested[0].sop_instance_uid
    ok.RetrieveAETitle = ["A", "B"]
    bad = Dataset()
    bad.ReferencedSOPClassUID = requested[1].sop_class_uid
    bad.ReferencedSOPInstanceUID = requested[1].sop_instance_uid
    bad.FailureReason = 0x0112
    stranger = Dataset()
    stranger.ReferencedSOPClassUID = "1.2"
    stranger.ReferencedSOPInstanceUID = "9.9.9"
    info.ReferencedSOPSequence = [ok, stranger]
    info.FailedSOPSequence = [bad]
    result = parse_event_report(2, info, ae_title="PACS", requested=requested, same_association=False)
    assert result.committed == (
        CommittedInstance(
            sop_class_uid=ok.ReferencedSOPClassUID, sop_instance_uid="1.2.3.1.1", retrieve_ae_title="A\\B"
        ),
    )
    assert [(f.sop_instance_uid, f.failure_reason) for f in result.failed] == [
        ("1.2.3.1.2", 0x0112),
        ("1.2.3.1.3", None),
    ]
    assert result.failed[1].reason == "not named in the N-EVENT-REPORT"
    assert result.status is OutcomeStatus.WARNING
    outcome = outcome_of(result, "Study[1.2.3]")
    assert outcome.message == "Storage commitment of Study[1.2.3] by PACS - committed:1, failed:2"
    assert (outcome.completed, outcome.failed, outcome.status) == (1, 2, OutcomeStatus.WARNING)
    assert CommitmentResult.from_json(outcome.result_json or "") == result


def test_result_status() -> None:
    f = FailedCommitment(sop_class_uid="1", sop_instance_uid="2", failure_reason=0x0110)
    c = CommittedInstance(sop_class_uid="1", sop_instance_uid="3")
    base = {"transaction_uid": "2.25.1", "ae_title": "X", "event_type_id": 2}
    assert CommitmentResult(**base, committed=(c,)).status is OutcomeStatus.COMPLETED  # type: ignore[arg-type]
    assert CommitmentResult(**base, failed=(f,)).status is OutcomeStatus.FAILED  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a storage commitment result"):
        CommitmentResult.from_json('{"type": "other"}')


def test_action_information() -> None:
    ds = action_information("2.25.7", [ref(1), ref(2)])
    assert ds.TransactionUID == "2.25.7"
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedSOPSequence] == ["1.2.3.1.1", "1.2.3.1.2"]


@pytest.mark.parametrize(("value", "seconds"), [(None, 42.0), ("5", 5.0), ("PT2M", 120.0), ("0.5", 0.5)])
def test_commitment_timeout(value: str | None, seconds: float) -> None:
    props = {} if value is None else {"StgCmtTimeout": value}
    e = ExporterDescriptor(exporter_id="E", uri="noop:x", queue_name="Q", properties=props)
    assert commitment_timeout(e, 42.0) == seconds


@pytest.mark.parametrize("value", ["soon", "-1", "0"])
def test_commitment_timeout_rejects(value: str) -> None:
    e = ExporterDescriptor(exporter_id="E", uri="noop:x", queue_name="Q", properties={"StgCmtTimeout": value})
    with pytest.raises(ConfigurationError, match="StgCmtTimeout"):
        commitment_timeout(e, None)


def test_ian_groups_instances_by_series() -> None:
    ds = build_ian(
        "1.2.3",
        [ref(1, "1.2.3.10"), ref(2, "1.2.3.20"), ref(3, "1.2.3.10")],
        retrieve_ae_titles=(),
        retrieve_location_uid=None,
        instance_availability="OFFLINE",
    )
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == ["1.2.3.10", "1.2.3.20"]
    first = ds.ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert [i.ReferencedSOPInstanceUID for i in first] == ["1.2.3.1.1", "1.2.3.1.3"]
    assert "RetrieveAETitle" not in first[0] and first[0].InstanceAvailability == "OFFLINE"
