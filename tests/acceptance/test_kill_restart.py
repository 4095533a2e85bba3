"""Acceptance: a runner process killed with SIGKILL in the middle of 100 exports; a new one finishes the work.

As a user would: the exports are scheduled into an SQLite task file, a separate runner process sends
them to a real DCMTK storescp, it is killed hard (no clean-up of any kind), and a second runner process
started on the same file completes every task. Every instance arrives, every task is COMPLETED, none is lost.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _helpers import received_sop_uids, sqlite_task_counts, storescp_configuration
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskFilter, TaskStatus
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource

SRC = Path(__file__).resolve().parents[2] / "src"
QUEUE = QueueDescriptor(queue_name="Export1", max_tasks_parallel=2)  # as RUNNER configures it

RUNNER = textwrap.dedent(
    """
    import logging
    import sys
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import (ApplicationEntity, Configuration, Connection, Device, ExporterDescriptor,
                                     QueueDescriptor)
    from dcm_exporter.queue import SqliteTaskStore
    from dcm_exporter.sources import FileSystemSource

    port, archive, db = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
    configuration = Configuration(devices=(
        Device(device_name="dcm4chee-arc",
               exporters=(ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP",
                                             queue_name="Export1", ae_title="DCM4CHEE"),),
               queues=(QueueDescriptor(queue_name="Export1", max_tasks_parallel=2),)),
        Device(device_name="storescp",
               connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
               application_entities=(ApplicationEntity(ae_title="STORESCP", connection_refs=("dicom",)),)),
    ))
    with Exporter(configuration, FileSystemSource(archive), store=SqliteTaskStore(db)) as exporter:
        print("runner started", flush=True)
        attempts = exporter.run_until_idle(wait_for_scheduled=True, timeout=600)
        print(f"runner idle after {attempts} attempts", flush=True)
    """
)


counts = sqlite_task_counts


def diagnosis(db: Path, tmp_path: Path, scp_log: Path) -> str:
    """What a failed run left: the first unfinished tasks with their messages, the runners' and storescp's logs."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = conn.execute(
            "SELECT task_id, status, number_of_failures, error_message, outcome_message FROM export_task"
            " WHERE status <> 'COMPLETED' ORDER BY task_id LIMIT 5"
        ).fetchall()
    finally:
        conn.close()
    parts = [f"not completed (first 5): {rows}"]
    for name in ("first", "second"):
        log = tmp_path / f"{name}.log"
        if log.exists():
            parts.append(f"--- {name} runner log (tail) ---\n" + log.read_text(errors="replace")[-3000:])
    if scp_log.exists():
        parts.append("--- storescp log (tail) ---\n" + scp_log.read_text(errors="replace")[-3000:])
    return "\n".join(parts)


def start_runner(tmp_path: Path, port: int, archive: Path, db: Path, name: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "TCP_NODELAY": "1",
    }
    with open(tmp_path / f"{name}.log", "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(script), str(port), str(archive), str(db)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


@pytest.mark.slow
def test_sigkill_in_the_middle_then_a_new_runner_finishes(storescp_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scp = storescp_factory(options=("+xa", "--fork"))
    archive = tmp_path / "archive"
    studies = [generate_study(archive, series=1, instances_per_series=3, kind="small") for _ in range(100)]
    expected = {i.sop_instance_uid for s in studies for i in s.instances}
    assert len(expected) == 300
    db = tmp_path / "tasks.db"

    # the user schedules 100 exports
    store = SqliteTaskStore(db)
    with Exporter(storescp_configuration(scp.port, QUEUE), FileSystemSource(archive), store=store) as exporter:
        for s in studies:
            exporter.schedule_export("STORESCP", s.study_uid, batch_id="kill-test")
    store.close()
    assert counts(db) == {"SCHEDULED": 100}

    # first runner: killed hard in the middle
    first = start_runner(tmp_path, scp.port, archive, db, "first")
    deadline = time.monotonic() + 120
    while counts(db).get("COMPLETED", 0) < 20 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert first.returncode == -signal.SIGKILL
    middle = counts(db)
    assert 20 <= middle.get("COMPLETED", 0) < 100, (middle, diagnosis(db, tmp_path, scp.log_path))
    assert sum(middle.values()) == 100

    # second runner on the same file finishes the work (its start-up resets the IN PROCESS tasks it finds)
    second = start_runner(tmp_path, scp.port, archive, db, "second")
    assert second.wait(300) == 0, diagnosis(db, tmp_path, scp.log_path)
    final = counts(db)
    assert final == {"COMPLETED": 100}, (middle, final, diagnosis(db, tmp_path, scp.log_path))

    store = SqliteTaskStore(db)
    tasks = store.list(TaskFilter(batch_id="kill-test"))
    assert len(tasks) == 100 and all(t.status is TaskStatus.COMPLETED for t in tasks)
    assert {t.study_uid for t in tasks} == {s.study_uid for s in studies}
    store.close()
    assert received_sop_uids(scp.output_dir) == expected
