"""Acceptance: 500 instances of one study (3 series) arrive over simulated minutes; export rules coalesce them.

The archive calls ``Exporter.on_store`` for each stored object (headers read back from the generated files,
as an archive would have them). The task store is SQLite on disk, the clock is a ``FakeClock`` advanced one
second per arrival, and the export goes over a real DICOM association to the loopback Store SCP once the
coalesced task is due:

* Study rule (``dcmDuration`` PT2M): one task, scheduled at last arrival + 2 minutes, then 500 instances sent.
* Series rule: three tasks, each scheduled at the last arrival *of its series* + 2 minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest

from dcm_exporter.exporter import Exporter
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    ExportRule,
    QueueDescriptor,
)
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sample import StudyInfo, generate_study, new_uid
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.testing import FakeClock, StoreSCP

START = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
DELAY = timedelta(minutes=2)


def configuration(port: int, entity: str) -> Configuration:
    return Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=11112),),
                application_entities=(
                    ApplicationEntity(
                        ae_title="DCM4CHEE",
                        connection_refs=("dicom",),
                        export_rules=(
                            # an AE-level rule for another modality: must never fire here
                            ExportRule(name="CT only", entity="Instance", exporter_ids=("STORESCP",),
                                       conditions=("Modality=CT",)),
                        ),
                    ),
                ),
                exporters=(
                    ExporterDescriptor(
                        exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1", ae_title="DCM4CHEE"
                    ),
                ),
                queues=(QueueDescriptor(queue_name="Export1"),),
                export_rules=(
                    ExportRule(
                        name=f"Forward MR by {entity}",
                        entity=entity,
                        exporter_ids=("STORESCP",),
                        conditions=("Modality=MR", "SendingApplicationEntityTitle=MODALITY"),
                        delay=DELAY,
                    ),
                ),
            ),
            Device(
                device_name="storescp",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
                application_entities=(ApplicationEntity(ae_title="STORESCP", connection_refs=("dicom",)),),
            ),
        )
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> StudyInfo:
    """500 MR instances of one study in 3 series (167 + 167 + 166)."""
    root = tmp_path_factory.mktemp("arrivals")
    uid = new_uid()
    first = generate_study(root, series=2, instances_per_series=167, kind="mr", study_uid=uid)
    third = generate_study(root, series=1, instances_per_series=166, kind="mr", study_uid=uid)
    info = StudyInfo(
        directory=first.directory,
        study_uid=uid,
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        accession_number=first.accession_number,
        series=first.series + third.series,
    )
    assert len(info.instances) == 500 and len(set(info.series_uids)) == 3
    return info


def arrive(exporter: Exporter, clock: FakeClock, study: StudyInfo) -> tuple[dict[str, datetime], set[int]]:
    """Store every instance, series by series, one second apart; returns each series' last arrival time and
    the ids of the tasks on_store reported."""
    last: dict[str, datetime] = {}
    ids: set[int] = set()
    for n, inst in enumerate(study.instances):
        if n:
            clock.advance(timedelta(seconds=1))
        ds = pydicom.dcmread(inst.path, stop_before_pixels=True)
        tasks = exporter.on_store(ds, sending_aet="MODALITY", receiving_aet="DCM4CHEE", sending_host="10.0.0.7")
        assert len(tasks) == 1
        ids.add(tasks[0].task_id)
        last[inst.series_uid] = clock.now()
        if n == 250:  # half-way: nothing is due yet
            assert exporter.run_until_idle() == 0
    return last, ids


@pytest.mark.slow
def test_study_rule_makes_one_task_at_last_arrival_plus_delay(tmp_path: Path, study: StudyInfo) -> None:
    clock = FakeClock(START)
    with StoreSCP("STORESCP", output_dir=None) as scp, Exporter(
        configuration(scp.port, "Study"),
        FileSystemSource(study.directory, tmp_path / "index.db"),
        store=SqliteTaskStore(tmp_path / "tasks.db"),
        clock=clock,
    ) as exporter:
        last, ids = arrive(exporter, clock, study)
        [task] = exporter.queue.tasks()
        assert ids == {task.task_id}
        last_arrival = max(last.values())
        assert last_arrival == START + timedelta(seconds=499)
        assert (task.study_uid, task.series_uid, task.sop_instance_uid) == (study.study_uid, "*", "*")
        assert task.status is TaskStatus.SCHEDULED
        assert task.scheduled_time == last_arrival + DELAY
        # one second before it is due nothing runs; at the scheduled time the whole study goes out
        clock.set(last_arrival + DELAY - timedelta(seconds=1))
        assert exporter.run_until_idle() == 0
        clock.set(last_arrival + DELAY)
        assert exporter.run_until_idle() == 1
        done = exporter.queue.task(task.task_id)
        assert done.status is TaskStatus.COMPLETED, done.error_message or done.outcome_message
        assert scp.count == 500
        assert set(scp.sop_instance_uids()) == set(study.sop_instance_uids)
        # a late instance after the export starts a new task
        late = pydicom.dcmread(study.instances[0].path, stop_before_pixels=True)
        [again] = exporter.on_store(late, sending_aet="MODALITY", receiving_aet="DCM4CHEE", reoccurred="replaced")
        assert again.task_id != task.task_id


@pytest.mark.slow
def test_series_rule_makes_three_tasks(tmp_path: Path, study: StudyInfo) -> None:
    clock = FakeClock(START)
    with StoreSCP("STORESCP", output_dir=None) as scp, Exporter(
        configuration(scp.port, "Series"),
        FileSystemSource(study.directory, tmp_path / "index.db"),
        store=SqliteTaskStore(tmp_path / "tasks.db"),
        clock=clock,
    ) as exporter:
        last, ids = arrive(exporter, clock, study)
        tasks = exporter.queue.tasks()
        assert len(tasks) == 3 and {t.task_id for t in tasks} == ids
        assert {t.series_uid: t.scheduled_time for t in tasks} == {s: t + DELAY for s, t in last.items()}
        assert all(t.sop_instance_uid == "*" and t.status is TaskStatus.SCHEDULED for t in tasks)
        clock.set(max(last.values()) + DELAY)
        assert exporter.run_until_idle() == 3
        assert [t.status for t in exporter.queue.tasks()] == [TaskStatus.COMPLETED] * 3
        assert scp.count == 500
