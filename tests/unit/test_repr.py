"""Notebook display: HTML reprs of configuration, exporters, tasks, outcomes, batches; to_dataframe()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from _helpers import parse
from dcm_exporter._repr import STATUS_COLOURS, BatchList, TaskList, to_dataframe
from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.export import FailedInstance, Outcome, OutcomeStatus
from dcm_exporter.models import ExporterDescriptor
from dcm_exporter.notebook import to_html
from dcm_exporter.queue import BatchSummary, ExportTask, TaskStatus

T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def task(task_id: int, status: TaskStatus, **kw: object) -> ExportTask:
    return ExportTask(task_id=task_id, created_time=T0, updated_time=T0, device_name="dev", queue_name="Export1",
                      exporter_id="STORESCP", study_uid=f"1.2.{task_id}", scheduled_time=T0 + timedelta(seconds=5),
                      status=status, **kw)  # type: ignore[arg-type]


def test_configuration_and_exporter_html() -> None:
    # the notebook layer draws them (registered with IPython); the models carry no HTML
    assert not hasattr(ExporterDescriptor, "_repr_html_")
    configuration = demo_configuration()
    cells = [c for c, _ in parse(str(to_html(configuration))).cells]
    assert "dcm-exporter-demo" in cells and "storescp" in cells and "dicom:STORESCP" in cells
    assert "localhost:11117" in cells and "Export1" in cells
    exporter = ExporterDescriptor(exporter_id="X<1>", uri="dicom:A&B", queue_name="Q", schedules=["hour=18-6"],
                                  properties={"k": "v"})
    markup = str(to_html(exporter))
    assert "X&lt;1&gt;" in markup and "dicom:A&amp;B" in markup  # escaped
    cells = [c for c, _ in parse(markup).cells]
    assert "hour=18-6 dayOfWeek=*" in cells and "k=v" in cells


def test_task_list_and_task_html_colour_the_status() -> None:
    tasks = TaskList([task(1, TaskStatus.COMPLETED, outcome_message="Export ... - completed:3"),
                      task(2, TaskStatus.FAILED, error_message="refused"), task(3, TaskStatus.SCHEDULED_FOR_RETRY)])
    cells = parse(tasks._repr_html_()).cells
    by_text = {text: style for text, style in cells}
    assert STATUS_COLOURS["COMPLETED"] in by_text["COMPLETED"]
    assert STATUS_COLOURS["FAILED"] in by_text["FAILED"]
    assert STATUS_COLOURS["SCHEDULED FOR RETRY"] in by_text["SCHEDULED FOR RETRY"]
    assert "Study[1.2.1]" in by_text
    one = parse(tasks[1]._repr_html_()).cells
    assert ("refused", one[[t for t, _ in one].index("refused")][1]) in one
    assert isinstance(tasks, list) and tasks == list(tasks)


def test_outcome_html_lists_failures() -> None:
    outcome = Outcome(status=OutcomeStatus.WARNING, message="Export Study[uid=1] to AE: X - completed:1, failed:1",
                      completed=1, failed=1,
                      failures=[FailedInstance(sop_instance_uid="1.2.3", reason="out of resources",
                                               status_code=0xA700)])
    cells = [c for c, _ in parse(outcome._repr_html_()).cells]
    assert "WARNING" in cells and "1.2.3" in cells and "0xA700" in cells and "out of resources" in cells


def test_batches_html_and_dataframes() -> None:
    pd = pytest.importorskip("pandas", reason="to_dataframe() needs pandas (in the test extra)")
    batch = BatchSummary(batch_id="B1", counts={TaskStatus.COMPLETED: 2, TaskStatus.FAILED: 1})
    cells = parse(BatchList([batch])._repr_html_()).cells
    assert [c for c, _ in cells][:2] == ["batch_id", "total"]
    assert parse(batch._repr_html_()).cells
    frame = BatchList([batch]).to_dataframe()
    assert frame.loc[0, "COMPLETED"] == 2 and frame.loc[0, "total"] == 3
    tasks = TaskList([task(1, TaskStatus.COMPLETED), task(2, TaskStatus.WARNING)])
    df = tasks.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == [1, 2] and list(df["status"]) == ["COMPLETED", "WARNING"]
    assert df.loc[2, "scheduled_time"] == T0 + timedelta(seconds=5)
    assert to_dataframe([]).empty


def test_exporter_tasks_returns_a_task_list(tmp_path: Path) -> None:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import InMemoryTaskStore
    from dcm_exporter.sources import FileSystemSource

    with Exporter(demo_configuration(), FileSystemSource(tmp_path), store=InMemoryTaskStore()) as exporter:
        exporter.schedule_export("STORESCP", "1.2.3", batch_id="B")
        assert isinstance(exporter.queue.tasks(), TaskList)
        assert isinstance(exporter.queue.batches(), BatchList)
        assert "SCHEDULED" in exporter.queue.tasks()._repr_html_()


def test_task_and_batch_lists_are_public_names() -> None:
    # what Exporter.tasks() / batches() return can be imported for annotations and isinstance checks
    import subprocess
    import sys

    import dcm_exporter
    import dcm_exporter.queue

    assert dcm_exporter.queue.TaskList is TaskList and dcm_exporter.queue.BatchList is BatchList
    assert dcm_exporter.TaskList is TaskList and dcm_exporter.BatchList is BatchList
    assert {"TaskList", "BatchList"} <= set(dcm_exporter.queue.__all__) & set(dcm_exporter.__all__)
    code = ("import sys; from dcm_exporter.queue import TaskList, BatchList; "
            "print(sorted({'pandas', 'ldap3', 'psycopg', 'httpx', 'pynetdicom'} & set(sys.modules)))")
    src = str(Path(dcm_exporter.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src})
    assert out.stdout.strip() == "[]"
