"""Hostile input for the durable queue (issue 18, items 5 and 12): corrupted SQLite task rows (a bad
timestamp, bytes that are not UTF-8 as a bit flip leaves them) and task files that cannot be opened."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dcm_exporter.errors import QueueError
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sources import FileSystemSource

pytestmark = pytest.mark.timeout(60)


def _configuration() -> Configuration:
    exporter = ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1",
                                  ae_title="DCM4CHEE")
    return Configuration(devices=[Device(device_name="dcm4chee-arc", exporters=[exporter],
                                         queues=[QueueDescriptor(queue_name="Export1", max_tasks_parallel=1)])])


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Exporter]:
    (tmp_path / "data").mkdir()
    ex = Exporter(_configuration(), FileSystemSource(tmp_path / "data"),
                  store=SqliteTaskStore(tmp_path / "tasks.db"))
    yield ex
    ex.close()
    ex.queue.store.close()


def _corrupt(db: Path, task_id: int, assignment: str) -> None:
    """What a damaged disk or a foreign writer leaves: a value no task has, written past the library."""
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE export_task SET {assignment} WHERE task_id = ?", (task_id,))
    conn.close()


def _raw(db: Path, task_id: int) -> tuple[str, str | None]:
    conn = sqlite3.connect(db)
    conn.text_factory = bytes
    try:
        status, error = conn.execute(
            "SELECT status, error_message FROM export_task WHERE task_id = ?", (task_id,)
        ).fetchone()
    finally:
        conn.close()
    return status.decode(), None if error is None else error.decode()


def test_corrupted_rows_fail_alone_and_every_other_due_task_runs(exporter: Exporter, tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    tasks = [exporter.schedule_export("NOOP", f"1.2.3.{n}") for n in range(1, 6)]
    ids = [t.task_id for t in tasks]
    _corrupt(db, ids[1], "created_time = 'garbage'")  # a bad timestamp
    _corrupt(db, ids[2], "scheduled_time = '0000-bad'")  # a bad timestamp that sorts first: due at once
    _corrupt(db, ids[3], "study_uid = CAST(x'312e32ff2e33' AS TEXT)")  # a bit flip: not UTF-8

    # the readable tasks are listed; the damaged ones are left out (and logged), no ValueError
    assert [t.task_id for t in exporter.queue.tasks()] == [ids[0], ids[4]]
    with pytest.raises(QueueError, match=rf"export task {ids[1]}: unreadable row: Invalid isoformat"):
        exporter.queue.task(ids[1])
    with pytest.raises(QueueError, match=rf"export task {ids[3]}: column study_uid is not valid UTF-8"):
        exporter.queue.task(ids[3])

    exporter.run_until_idle(timeout=30)

    assert exporter.queue.task(ids[0]).status is TaskStatus.COMPLETED
    assert exporter.queue.task(ids[4]).status is TaskStatus.COMPLETED
    for task_id, why in ((ids[1], "Invalid isoformat string: 'garbage'"),
                         (ids[2], "Invalid isoformat string: '0000-bad'"),
                         (ids[3], "column study_uid is not valid UTF-8")):
        status, error = _raw(db, task_id)
        assert status == "FAILED", task_id  # final: never left IN PROCESS, never claimed again
        assert error is not None and f"export task {task_id}" in error and why in error


def test_the_background_worker_survives_a_corrupted_row(exporter: Exporter, tmp_path: Path) -> None:
    from _helpers import wait_for

    db = tmp_path / "tasks.db"
    exporter.start(poll_interval=0.2)
    bad = exporter.schedule_export("NOOP", "1.2.3.1", scheduled_time=datetime.now(UTC) + timedelta(hours=1))
    _corrupt(db, bad.task_id, "scheduled_time = '0000-00-00', updated_time = 'x'")
    after = exporter.schedule_export("NOOP", "1.2.3.2")
    assert wait_for(lambda: exporter.queue.task(after.task_id).status is TaskStatus.COMPLETED, timeout=20)
    assert wait_for(lambda: _raw(db, bad.task_id)[0] == "FAILED", timeout=20)
    later = exporter.schedule_export("NOOP", "1.2.3.3")
    assert wait_for(lambda: exporter.queue.task(later.task_id).status is TaskStatus.COMPLETED, timeout=20)
    exporter.stop()


def _open_fds_to(path: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_a_failed_open_keeps_no_file_handle(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database, just 64 bytes of noise...........")
    with pytest.raises(QueueError, match=r"open failed|not a database"):
        SqliteTaskStore(garbage)
    assert _open_fds_to(garbage) == []

    newer = tmp_path / "newer.db"
    SqliteTaskStore(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(QueueError, match="schema version 999"):
        SqliteTaskStore(newer)
    assert _open_fds_to(newer) == []
