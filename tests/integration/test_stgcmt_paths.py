"""Storage commitment paths Orthanc does not exercise, against a real pynetdicom SCP on loopback.

- the N-EVENT-REPORT on the same association as the N-ACTION;
- an SCP that accepts the request but never reports (timeout: the task fails and is retried);
- the SCP down, then up (retried, then COMPLETED);
- an N-ACTION refused with a failure status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pynetdicom import AE, evt

from _helpers import exported, started_and_stopped
from dcm_exporter.actions import STORAGE_COMMITMENT_PUSH_MODEL
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
)
from dcm_exporter.queue import TaskStatus, TaskType
from dcm_exporter.sample import StudyInfo, generate_study
from servers.ports import free_port

TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
INSTANCE = "1.2.840.10008.1.20.1.1"


class StgCmtSCP:
    """A pynetdicom Storage Commitment SCP: ``mode`` is ``"same"`` (report on the request's association,
    all committed but ``fail_uids``), ``"silent"`` (never reports) or ``"refuse"`` (N-ACTION status 0x0110)."""

    def __init__(self, mode: str, port: int | None = None, fail_uids: frozenset[str] = frozenset()) -> None:
        self.mode = mode
        self.port = port or free_port()
        self.fail_uids = fail_uids
        self.requests: list[Dataset] = []
        self.report_status: list[int] = []
        self.action_status = 0x0000  # the N-ACTION-RSP status unless refusing
        ae = AE(ae_title="STGCMTSCP")
        ae.add_supported_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
        self._server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_N_ACTION, self._on_n_action)]
        )

    def _on_n_action(self, event: Any) -> tuple[int, None]:
        info = event.action_information
        self.requests.append(info)
        if self.mode == "refuse":
            return 0x0110, None
        if self.mode == "same":
            threading.Thread(target=self._report, args=(event.assoc, info), daemon=True).start()
        return self.action_status, None

    def _report(self, assoc: Any, info: Dataset) -> None:
        time.sleep(0.2)  # after our N-ACTION-RSP went out
        report = Dataset()
        report.TransactionUID = info.TransactionUID
        ok, failed = [], []
        for item in info.ReferencedSOPSequence:
            out = Dataset()
            out.ReferencedSOPClassUID = item.ReferencedSOPClassUID
            out.ReferencedSOPInstanceUID = item.ReferencedSOPInstanceUID
            if item.ReferencedSOPInstanceUID in self.fail_uids:
                out.FailureReason = 0x0110
                failed.append(out)
            else:
                out.RetrieveAETitle = "STGCMTSCP"
                ok.append(out)
        report.ReferencedSOPSequence = ok
        if failed:
            report.FailedSOPSequence = failed
        status, _ = assoc.send_n_event_report(report, 2 if failed else 1, STORAGE_COMMITMENT_PUSH_MODEL, INSTANCE)
        self.report_status.append(int(getattr(status, "Status", -1)))

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def scp_factory() -> Iterator[Any]:
    yield from started_and_stopped(StgCmtSCP, StgCmtSCP.stop)


@pytest.fixture
def study(tmp_path: Path) -> StudyInfo:
    return generate_study(tmp_path / "archive", series=1, instances_per_series=4, kind="small")


def config(scp_port: int, *, timeout: str = "5", max_retries: int = 1, delay: float = 0.0) -> Configuration:
    exporter = ExporterDescriptor(
        exporter_id="COMMIT",
        uri="noop:commit",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        stgcmt_scp="STGCMTSCP",
        properties={"StgCmtTimeout": timeout},
    )
    return Configuration(
        devices=(
            Device(
                # DCM4CHEE has no listening connection: reports can only come on the request's association
                device_name="dcm4chee-arc",
                exporters=(exporter,),
                queues=(
                    QueueDescriptor(queue_name="Export1"),
                    QueueDescriptor(
                        queue_name="StgCmtSCU", max_retries=max_retries, retry_delay=timedelta(seconds=delay)
                    ),
                ),
            ),
            Device(
                device_name="stgcmt",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=scp_port),),
                application_entities=(ApplicationEntity(ae_title="STGCMTSCP", connection_refs=("dicom",)),),
            ),
        )
    )


def test_report_on_the_same_association(scp_factory: Any, study: StudyInfo) -> None:
    failing = study.instances[1].sop_instance_uid
    scp = scp_factory("same", fail_uids=frozenset({failing}))
    with exported(config(scp.port), study.directory, "COMMIT", study.study_uid) as ex:
        (task,) = ex.queue.tasks(task_type=TaskType.STGCMT)
        assert task.status is TaskStatus.WARNING, task.error_message
        result = ex.queue.commitment_result(task.task_id)
    assert result is not None and result.same_association
    assert result.event_type_id == 2
    assert [f.sop_instance_uid for f in result.failed] == [failing]
    assert result.failed[0].reason == "0x0110 (Processing failure)"
    assert {c.sop_instance_uid for c in result.committed} == {
        i.sop_instance_uid for i in study.instances if i.sop_instance_uid != failing
    }
    assert {c.retrieve_ae_title for c in result.committed} == {"STGCMTSCP"}
    assert scp.report_status == [0x0000]  # we answered the N-EVENT-REPORT with Success
    (request,) = scp.requests
    assert request.TransactionUID == result.transaction_uid
    assert {i.ReferencedSOPInstanceUID for i in request.ReferencedSOPSequence} == {
        i.sop_instance_uid for i in study.instances
    }


def test_a_warning_n_action_status_still_waits_for_the_report(
    scp_factory: Any, study: StudyInfo, caplog: pytest.LogCaptureFixture
) -> None:
    scp = scp_factory("same")
    scp.action_status = 0x0107  # Attribute list error: a warning by PS3.7 Annex C, the request was taken
    with caplog.at_level("WARNING", logger="dcm_exporter.actions"), exported(
        config(scp.port), study.directory, "COMMIT", study.study_uid
    ) as ex:
        (task,) = ex.queue.tasks(task_type=TaskType.STGCMT)
        assert task.status is TaskStatus.COMPLETED
        result = ex.queue.commitment_result(task.task_id)
    assert result is not None and len(result.committed) == 4
    assert any("N-ACTION status 0x0107 (Attribute list error)" in r.getMessage() for r in caplog.records)


def test_no_report_within_the_timeout_fails_and_is_retried(scp_factory: Any, study: StudyInfo) -> None:
    scp = scp_factory("silent")
    with exported(
        config(scp.port, timeout="PT1S", max_retries=1), study.directory, "COMMIT", study.study_uid,
        wait_for_scheduled=True,
    ) as ex:
        (task,) = ex.queue.tasks(task_type=TaskType.STGCMT)
        assert task.status is TaskStatus.FAILED
        assert task.number_of_failures == 2  # the first attempt and one retry
        assert task.error_message is not None
        assert task.error_message.startswith("no N-EVENT-REPORT from AE STGCMTSCP for transaction 2.25.")
        assert task.error_message.endswith("within 1 s")
        assert ex.queue.commitment_result(task.task_id) is None
    assert len(scp.requests) == 2
    assert scp.requests[0].TransactionUID != scp.requests[1].TransactionUID  # a new transaction per attempt


def test_scp_down_then_up_is_retried_then_completed(scp_factory: Any, study: StudyInfo) -> None:
    port = free_port()
    with exported(config(port, max_retries=3, delay=1.0), study.directory, "COMMIT", study.study_uid) as ex:
        (task,) = ex.queue.tasks(task_type=TaskType.STGCMT)
        assert task.status is TaskStatus.SCHEDULED_FOR_RETRY
        assert task.error_message is not None and f"Cannot connect to AE STGCMTSCP at 127.0.0.1:{port}" in (
            task.error_message
        )
        scp_factory("same", port=port)
        ex.run_until_idle(timeout=60, wait_for_scheduled=True)
        done = ex.queue.task(task.task_id)
        assert done.status is TaskStatus.COMPLETED
        assert done.number_of_failures == 1
        result = ex.queue.commitment_result(task.task_id)
        assert result is not None and len(result.committed) == 4 and result.failed == ()


def test_refused_request_fails_the_task(scp_factory: Any, study: StudyInfo) -> None:
    scp = scp_factory("refuse")
    with exported(config(scp.port, max_retries=0), study.directory, "COMMIT", study.study_uid) as ex:
        (task,) = ex.queue.tasks(task_type=TaskType.STGCMT)
        assert task.status is TaskStatus.FAILED
        assert task.error_message == (
            f"storage commitment request refused by AE STGCMTSCP at 127.0.0.1:{scp.port}: "
            "N-ACTION status 0x0110 (Processing failure)"
        )
