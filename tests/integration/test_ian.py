"""Instance Availability Notifications received by a real pynetdicom SCP on loopback.

The SCP fixture accepts the IAN SOP class, records every N-CREATE (calling / called AE, SOP class,
the decoded attribute list) and answers with the status it is told to.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from pynetdicom import AE, evt

from _helpers import exported, started_and_stopped
from dcm_exporter.actions import INSTANCE_AVAILABILITY_NOTIFICATION
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
)
from dcm_exporter.queue import ExportTask, InMemoryTaskStore, TaskStatus, TaskType
from dcm_exporter.sample import StudyInfo, generate_study
from dcm_exporter.sources import FileSystemSource
from servers.ports import free_port

TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
# exporter NOTIFY: noop:, then an IAN to RIS
NOTIFY_RIS = ExporterDescriptor(
    exporter_id="NOTIFY", uri="noop:x", queue_name="Export1", ae_title="DCM4CHEE", ian_destinations=("RIS",)
)


@attrs.define
class Received:
    calling_ae_title: str
    called_ae_title: str
    sop_class_uid: str
    sop_instance_uid: str
    dataset: Any


class IanSCP:
    """A pynetdicom IAN SCP on 127.0.0.1: ``.port``, ``.received``, ``.status`` (the answer)."""

    def __init__(self, ae_title: str, port: int | None = None) -> None:
        self.ae_title = ae_title
        self.port = port or free_port()
        self.status = 0x0000
        self.received: list[Received] = []
        self._lock = threading.Lock()
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(INSTANCE_AVAILABILITY_NOTIFICATION, TS)
        self._server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_N_CREATE, self._on_n_create)]
        )

    def _on_n_create(self, event: Any) -> tuple[int, Any]:
        req = event.request
        with self._lock:
            self.received.append(
                Received(
                    calling_ae_title=event.assoc.requestor.ae_title,
                    called_ae_title=event.assoc.acceptor.ae_title,
                    sop_class_uid=str(req.AffectedSOPClassUID),
                    sop_instance_uid=str(req.AffectedSOPInstanceUID),
                    dataset=event.attribute_list,
                )
            )
        return self.status, None

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def ian_scp_factory() -> Iterator[Any]:
    yield from started_and_stopped(IanSCP, IanSCP.stop)


@pytest.fixture
def study(tmp_path: Path) -> StudyInfo:
    return generate_study(tmp_path / "archive", series=2, instances_per_series=3, kind="small")


def remote(name: str, port: int) -> Device:
    return Device(
        device_name=name.lower(),
        connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
        application_entities=(ApplicationEntity(ae_title=name, connection_refs=("dicom",)),),
    )


def config(exporter: ExporterDescriptor, *remotes: Device, ian_queue: QueueDescriptor | None = None) -> Configuration:
    queues = (QueueDescriptor(queue_name="Export1"),) + ((ian_queue,) if ian_queue else ())
    return Configuration(
        devices=(
            Device(device_name="dcm4chee-arc", exporters=(exporter,), queues=queues),
            *remotes,
        )
    )


def notified_with_one_retry(ris: IanSCP, study: StudyInfo) -> ExportTask:
    """The IAN task after NOTIFY exported the study, its IAN on queue IANSCU (one retry, at once) to ``ris``."""
    ian_queue = QueueDescriptor(queue_name="IANSCU", max_retries=1, retry_delay=timedelta(0))
    configuration = config(NOTIFY_RIS, remote("RIS", ris.port), ian_queue=ian_queue)
    with exported(configuration, study.directory, "NOTIFY", study.study_uid, wait_for_scheduled=True) as ex:
        (ian,) = ex.queue.tasks(task_type=TaskType.IAN)
    return ian


def test_ian_to_each_destination_attribute_by_attribute(ian_scp_factory: Any, study: StudyInfo) -> None:
    ris, pacs = ian_scp_factory("RIS"), ian_scp_factory("PACS2")
    exporter = ExporterDescriptor(
        exporter_id="NOTIFY",
        uri="noop:ian",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        ian_destinations=("RIS", "PACS2"),
        retrieve_ae_titles=("DCM4CHEE", "DCM4CHEE2"),
        retrieve_location_uid="1.2.40.0.13.1.1.99",
        instance_availability="NEARLINE",
    )
    configuration = config(exporter, remote("RIS", ris.port), remote("PACS2", pacs.port))
    with Exporter(configuration, FileSystemSource(study.directory), store=InMemoryTaskStore()) as ex:
        export = ex.schedule_export("NOTIFY", study.study_uid, study.series[0].series_uid, batch_id="B")
        ex.run_until_idle(timeout=60)
        ex.run_until_idle(timeout=60)
        assert ex.queue.task(export.task_id).status is TaskStatus.COMPLETED
        tasks = ex.queue.tasks(task_type=TaskType.IAN, order_by="task_id")
        assert [t.destination_aet for t in tasks] == ["RIS", "PACS2"]
        for task in tasks:
            assert task.status is TaskStatus.COMPLETED, task.error_message
            assert task.batch_id == "B"
            assert task.queue_name == "Export1"  # no IANSCU queue configured
            assert (task.series_uid, task.sop_instance_uid) == ("*", "*")  # the whole study
            assert task.outcome_message == f"IAN of Study[{study.study_uid}] to {task.destination_aet} - instances:6"

    for scp in (ris, pacs):
        (got,) = scp.received
        assert got.calling_ae_title == "DCM4CHEE"
        assert got.called_ae_title == scp.ae_title
        assert got.sop_class_uid == INSTANCE_AVAILABILITY_NOTIFICATION
        assert got.sop_instance_uid.startswith("2.25.")
        ds = got.dataset
        assert ds.StudyInstanceUID == study.study_uid
        assert "ReferencedPerformedProcedureStepSequence" in ds
        assert len(ds.ReferencedPerformedProcedureStepSequence) == 0
        series_items = {s.SeriesInstanceUID: s for s in ds.ReferencedSeriesSequence}
        assert sorted(series_items) == sorted(study.series_uids)
        for series in study.series:
            sops = {i.ReferencedSOPInstanceUID: i for i in series_items[series.series_uid].ReferencedSOPSequence}
            assert sorted(sops) == sorted(i.sop_instance_uid for i in series.instances)
            for inst in series.instances:
                item = sops[inst.sop_instance_uid]
                assert item.ReferencedSOPClassUID == inst.sop_class_uid
                assert list(item.RetrieveAETitle) == ["DCM4CHEE", "DCM4CHEE2"]
                assert item.RetrieveLocationUID == "1.2.40.0.13.1.1.99"
                assert item.InstanceAvailability == "NEARLINE"
                assert set(item.keys()) == {
                    0x00081150,  # Referenced SOP Class UID
                    0x00081155,  # Referenced SOP Instance UID
                    0x00080054,  # Retrieve AE Title
                    0x0040E011,  # Retrieve Location UID
                    0x00080056,  # Instance Availability
                }


def test_defaults_online_and_the_exporter_ae_as_retrieve_ae(ian_scp_factory: Any, study: StudyInfo) -> None:
    ris = ian_scp_factory("RIS")
    with exported(config(NOTIFY_RIS, remote("RIS", ris.port)), study.directory, "NOTIFY", study.study_uid):
        pass  # what RIS received is all this test looks at
    (got,) = ris.received
    item = got.dataset.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert item.InstanceAvailability == "ONLINE"
    assert item.RetrieveAETitle == "DCM4CHEE"
    assert "RetrieveLocationUID" not in item


def test_no_ian_after_an_export_that_did_not_complete(ian_scp_factory: Any, study: StudyInfo) -> None:
    ris = ian_scp_factory("RIS")
    exporter = ExporterDescriptor(
        exporter_id="SEND",
        uri="dicom:DOWN",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        ian_destinations=("RIS",),
        stgcmt_scp="RIS",
    )
    configuration = config(exporter, remote("RIS", ris.port), remote("DOWN", free_port()))
    with Exporter(configuration, FileSystemSource(study.directory), store=InMemoryTaskStore()) as ex:
        export = ex.schedule_export("SEND", study.study_uid)
        ex.run_until_idle(timeout=60)
        ex.run_until_idle(timeout=60)
        assert ex.queue.task(export.task_id).status is TaskStatus.FAILED  # Export1 has no retries
        assert ex.queue.tasks(task_type=TaskType.IAN) == []
        assert ex.queue.tasks(task_type=TaskType.STGCMT) == []
        assert ex.queue.count() == 1
    assert ris.received == []


def test_ian_for_a_study_the_source_lacks_is_a_warning(ian_scp_factory: Any, tmp_path: Path) -> None:
    ris = ian_scp_factory("RIS")
    (tmp_path / "empty").mkdir()
    # noop completes without looking; the IAN task then finds no instance of the study: WARNING, nothing sent
    with exported(config(NOTIFY_RIS, remote("RIS", ris.port)), tmp_path / "empty", "NOTIFY", "1.2.3.4") as ex:
        (ian,) = ex.queue.tasks(task_type=TaskType.IAN)
        assert ian.status is TaskStatus.WARNING
        assert ian.outcome_message is not None and "Could not find" in ian.outcome_message
    assert ris.received == []


def test_destination_down_then_up_ends_as_a_retried_task(ian_scp_factory: Any, study: StudyInfo) -> None:
    port = free_port()  # nobody listens yet
    ian_queue = QueueDescriptor(queue_name="IANSCU", max_retries=3, retry_delay=timedelta(seconds=1))
    configuration = config(NOTIFY_RIS, remote("RIS", port), ian_queue=ian_queue)
    with exported(configuration, study.directory, "NOTIFY", study.study_uid) as ex:
        (ian,) = ex.queue.tasks(task_type=TaskType.IAN)
        assert ian.queue_name == "IANSCU"
        assert ian.status is TaskStatus.SCHEDULED_FOR_RETRY
        assert ian.number_of_failures == 1
        assert ian.error_message is not None and f"127.0.0.1:{port}" in ian.error_message
        ris = ian_scp_factory("RIS", port)
        ex.run_until_idle(timeout=60, wait_for_scheduled=True)
        done = ex.queue.task(ian.task_id)
        assert done.status is TaskStatus.COMPLETED
        assert done.number_of_failures == 1
    assert len(ris.received) == 1


def test_refused_notification_fails_and_is_retried_until_exhausted(ian_scp_factory: Any, study: StudyInfo) -> None:
    ris = ian_scp_factory("RIS")
    ris.status = 0x0110  # Processing failure
    ian = notified_with_one_retry(ris, study)
    assert ian.status is TaskStatus.FAILED
    assert ian.number_of_failures == 2  # first attempt + one retry
    assert ian.error_message == (
        f"IAN of Study[{study.study_uid}] refused by AE RIS at 127.0.0.1:{ris.port}: "
        "N-CREATE status 0x0110 (Processing failure)"
    )
    assert len(ris.received) == 2


@pytest.mark.parametrize("status", [0x0107, 0x0116, 0xB000])
def test_a_warning_status_ends_warning_not_retried(ian_scp_factory: Any, study: StudyInfo, status: int) -> None:
    # warnings by PS3.7 Annex C (dcm_exporter._dicom.status): the notification was taken, with a remark
    ris = ian_scp_factory("RIS")
    ris.status = status
    ian = notified_with_one_retry(ris, study)
    assert ian.status is TaskStatus.WARNING
    assert ian.number_of_failures == 0
    assert ian.outcome_message == (
        f"IAN of Study[{study.study_uid}] to RIS - instances:{len(study.instances)} "
        f"(N-CREATE status 0x{status:04X})"
    )
    assert len(ris.received) == 1
