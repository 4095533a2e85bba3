"""The ``Exporter`` facade's public surface, its queue view, and what it does without a task store."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from dcm_exporter.errors import ConfigurationError, TaskNotFoundError
from dcm_exporter.export_queue import ExportQueue
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, ExportRule, QueueDescriptor
from dcm_exporter.queue import InMemoryTaskStore, SqliteTaskStore, TaskStatus, open_store
from dcm_exporter.sources import FileSystemSource

CONFIGURATION = Configuration(devices=[Device(
    device_name="arc",
    exporters=[ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1")],
    queues=[QueueDescriptor(queue_name="Export1")],
    export_rules=[ExportRule(name="all CT", entity="Study", exporter_ids=["NOOP"], conditions=["Modality=CT"])],
)])

#: What an archive developer reads in a minute (issue 16): exports, queue, rules, life cycle, hooks.
SURFACE = {
    "configuration", "source", "export_now", "schedule_export", "schedule_exports", "on_store", "rules", "start",
    "stop", "run_until_idle", "reload", "close", "exporter", "transport", "on_task_started", "on_task_finished",
    "queue",
}
QUEUE_VIEW = {
    "store", "device_name", "task", "tasks", "count", "cancel", "reschedule", "delete", "batches", "purge",
    "commitment_result",
}


def _public(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def test_the_exporter_has_at_most_twenty_public_members() -> None:
    public = _public(Exporter)
    assert public == SURFACE
    assert len(public) <= 20


def test_the_queue_view_holds_the_task_operations() -> None:
    assert _public(ExportQueue) == QUEUE_VIEW


def _dataset(modality: str) -> Any:
    from pydicom import Dataset

    ds = Dataset()
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = modality, "1.2", "1.2.1", "1.2.1.1"
    return ds


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("schedule_export", lambda e: e.schedule_export("NOOP", "1.2.3")),
        ("start", lambda e: e.start()),
        ("run_until_idle", lambda e: e.run_until_idle()),
        ("exporter.queue", lambda e: e.queue.tasks()),
        ("exporter.queue", lambda e: e.queue.count(status="FAILED")),
        ("exporter.queue", lambda e: e.queue.cancel(1)),
        ("exporter.queue", lambda e: e.queue.purge()),
        ("export queue", lambda e: e.on_store(_dataset("CT"), sending_aet="MOD", receiving_aet="ARC")),
    ],
)
def test_queued_operations_without_a_store_say_how_to_give_one(tmp_path: Path, what: str, call: Any) -> None:
    with Exporter(CONFIGURATION, FileSystemSource(tmp_path)) as exporter:
        with pytest.raises(ConfigurationError, match=rf"{what} needs a task store.*open_store\("):
            call(exporter)
        assert exporter.queue.store is None


def test_without_a_store_export_now_and_rules_that_match_nothing_still_work(tmp_path: Path) -> None:
    with Exporter(CONFIGURATION, FileSystemSource(tmp_path)) as exporter:
        assert exporter.export_now("NOOP", "1.2.3").message == "NOOP"
        assert exporter.on_store(_dataset("MR"), sending_aet="MOD", receiving_aet="ARC") == []
        assert [r.name for r in exporter.rules.rules] == ["all CT"]
        exporter.stop()  # nothing started: nothing to stop
        assert "queue=none (export_now only)" in repr(exporter)


def test_the_queue_view_works_on_the_given_store(tmp_path: Path) -> None:
    store = InMemoryTaskStore()
    with Exporter(CONFIGURATION, FileSystemSource(tmp_path), store=store) as exporter:
        [task] = exporter.on_store(_dataset("CT"), sending_aet="MOD", receiving_aet="ARC")
        assert exporter.queue.store is store and exporter.queue.device_name == "arc"
        assert exporter.queue.task(task.task_id) == task
        assert exporter.run_until_idle(wait_for_scheduled=True, timeout=30) == 1  # due at the next whole second
        assert exporter.queue.count(status=TaskStatus.COMPLETED) == 1
        with pytest.raises(ValueError, match="not a storage commitment"):
            exporter.queue.commitment_result(task.task_id)
        with pytest.raises(TaskNotFoundError):
            exporter.queue.task(task.task_id + 100)


@pytest.mark.parametrize("form", ["sqlite:{path}", "sqlite://{path}", "{path}"])
def test_open_store_opens_sqlite_from_the_cli_url_forms(tmp_path: Path, form: str) -> None:
    path = tmp_path / "q.sqlite"
    store = open_store(form.format(path=path))
    try:
        assert isinstance(store, SqliteTaskStore) and store.path == path
    finally:
        store.close()
    assert path.exists()


def test_open_store_memory_and_errors() -> None:
    assert isinstance(open_store("memory:"), InMemoryTaskStore)
    with pytest.raises(ConfigurationError, match=r"unknown task store scheme 'mysql'.*sqlite:PATH.*memory:"):
        open_store("mysql://x/y")
    with pytest.raises(ConfigurationError, match=r"'mysql://u:\*\*\*@h/db'"):  # no password in the message
        open_store("mysql://u:secret@h/db")
    with pytest.raises(ConfigurationError, match="names no file"):
        open_store("sqlite:")
    with pytest.raises(ConfigurationError, match="takes no path"):
        open_store("memory:/tmp/x")
