"""Several ``Exporter`` runners on one task store: ``reset_on_start=False`` leaves live runners' tasks alone,
and ``lease`` is how long a dead runner's tasks stay its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from dcm_exporter.errors import QueueError
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.testing import FakeClock

CONFIGURATION = Configuration(devices=[Device(
    device_name="arc",
    exporters=[ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1")],
    queues=[QueueDescriptor(queue_name="Export1")],
)])


@contextmanager
def _exporter(tmp_path: Path, clock: FakeClock, **options: object) -> Iterator[Exporter]:
    """One runner process: its own store connection to the shared SQLite file, its own Exporter."""
    (tmp_path / "data").mkdir(exist_ok=True)
    with SqliteTaskStore(tmp_path / "q.sqlite") as store, \
            Exporter(CONFIGURATION, FileSystemSource(tmp_path / "data"), store=store, clock=clock.now,
                     **options) as exporter:  # type: ignore[arg-type]
        yield exporter


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_second_runner_without_reset_leaves_a_live_runners_task_alone(tmp_path: Path, clock: FakeClock) -> None:
    with _exporter(tmp_path, clock, lease=timedelta(seconds=30)) as first:
        task = first.schedule_export("NOOP", "1.2.3")
        ((claimed, _),) = first.task_manager.claim("Export1", 1)  # the first runner is exporting it
        assert claimed.task_id == task.task_id and claimed.status is TaskStatus.IN_PROCESS
        assert claimed.lease_owner == first.task_manager.owner
        assert claimed.lease_expires == clock.now() + timedelta(seconds=30)  # the lease passed through

        with _exporter(tmp_path, clock, reset_on_start=False) as second:
            assert second.runner.reset_on_start is False
            assert second.run_until_idle() == 0  # nothing to do: the only task is the first runner's
            held = second.task(task.task_id)
            assert held.status is TaskStatus.IN_PROCESS and held.lease_owner == first.task_manager.owner

            # the first runner dies (no heartbeat): once its lease ends, the second one takes the task over
            clock.advance(timedelta(seconds=31))
            assert second.run_until_idle() == 1
            done = second.task(task.task_id)
            assert done.status is TaskStatus.COMPLETED and done.lease_owner is None


def test_default_reset_on_start_takes_in_process_tasks_back(tmp_path: Path, clock: FakeClock) -> None:
    # dcm4chee's single-runner behaviour, still the default: a starting runner resets IN PROCESS tasks
    with _exporter(tmp_path, clock) as first:
        task = first.schedule_export("NOOP", "1.2.3")
        first.task_manager.claim("Export1", 1)
        assert first.task_manager.lease == timedelta(seconds=60)
        with _exporter(tmp_path, clock) as second:
            assert second.runner.reset_on_start is True
            assert second.run_until_idle() == 1  # reset to SCHEDULED, then run by the second runner
            assert second.task(task.task_id).status is TaskStatus.COMPLETED


@pytest.mark.parametrize("options", [{"lease": timedelta(0)}, {"lease": 60}, {"reset_on_start": "no"}])
def test_bad_queue_options_are_rejected_at_construction(tmp_path: Path, clock: FakeClock,
                                                        options: dict[str, object]) -> None:
    with pytest.raises(QueueError, match=r"lease must be a positive timedelta|reset_on_start must be a bool"):
        Exporter(CONFIGURATION, FileSystemSource(tmp_path), clock=clock.now, **options)  # type: ignore[arg-type]
