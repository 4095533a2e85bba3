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
from dcm_exporter.queue import SqliteTaskStore, TaskManager, TaskStatus
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


@contextmanager
def _claiming_runner(tmp_path: Path, clock: FakeClock, lease: timedelta) -> Iterator[TaskManager]:
    """A runner caught in the middle of an export: its manager has claimed a task (and then dies)."""
    with SqliteTaskStore(tmp_path / "q.sqlite") as store:
        yield TaskManager(store, CONFIGURATION, clock=clock.now, lease=lease)


def test_second_runner_without_reset_leaves_a_live_runners_task_alone(tmp_path: Path, clock: FakeClock) -> None:
    with _exporter(tmp_path, clock) as scheduler, _claiming_runner(tmp_path, clock, timedelta(seconds=30)) as first:
        task = scheduler.schedule_export("NOOP", "1.2.3")
        ((claimed, _),) = first.claim("Export1", 1)  # the first runner is exporting it
        assert claimed.task_id == task.task_id and claimed.status is TaskStatus.IN_PROCESS
        assert claimed.lease_owner == first.owner
        assert claimed.lease_expires == clock.now() + timedelta(seconds=30)  # the lease passed through

        with _exporter(tmp_path, clock, reset_on_start=False) as second:
            assert second.run_until_idle() == 0  # nothing to do: the only task is the first runner's
            held = second.queue.task(task.task_id)
            assert held.status is TaskStatus.IN_PROCESS and held.lease_owner == first.owner

            # the first runner dies (no heartbeat): once its lease ends, the second one takes the task over
            clock.advance(timedelta(seconds=31))
            assert second.run_until_idle() == 1
            done = second.queue.task(task.task_id)
            assert done.status is TaskStatus.COMPLETED and done.lease_owner is None


def test_the_exporters_lease_is_what_its_runner_claims_with(tmp_path: Path, clock: FakeClock) -> None:
    with _exporter(tmp_path, clock, lease=timedelta(seconds=30)) as exporter:
        seen: list[object] = []
        exporter.on_task_started(lambda task: seen.append(task.lease_expires - clock.now()))
        exporter.schedule_export("NOOP", "1.2.3")
        assert exporter.run_until_idle() == 1
        assert seen == [timedelta(seconds=30)]


def test_default_reset_on_start_takes_in_process_tasks_back(tmp_path: Path, clock: FakeClock) -> None:
    # dcm4chee's single-runner behaviour, still the default: a starting runner resets IN PROCESS tasks
    with _exporter(tmp_path, clock) as scheduler, _claiming_runner(tmp_path, clock, timedelta(seconds=60)) as first:
        task = scheduler.schedule_export("NOOP", "1.2.3")
        first.claim("Export1", 1)
        with _exporter(tmp_path, clock) as second:
            assert second.run_until_idle() == 1  # reset to SCHEDULED, then run by the second runner
            assert second.queue.task(task.task_id).status is TaskStatus.COMPLETED


@pytest.mark.parametrize("options", [{"lease": timedelta(0)}, {"lease": 60}, {"reset_on_start": "no"}])
def test_bad_queue_options_are_rejected_at_construction(tmp_path: Path, clock: FakeClock,
                                                        options: dict[str, object]) -> None:
    with pytest.raises(QueueError, match=r"lease must be a positive timedelta|reset_on_start must be a bool"):
        Exporter(CONFIGURATION, FileSystemSource(tmp_path), clock=clock.now, **options)  # type: ignore[arg-type]
