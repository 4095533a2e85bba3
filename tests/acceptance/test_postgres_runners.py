"""Several runner processes share one export queue in PostgreSQL (a throwaway database per test).

The runners are real subprocesses (``_pg_runner.py``): SIGKILL really kills one, ``pg_terminate_backend``
really cuts their connections. Each attempt is recorded in the table ``processed`` by the runner before it
performs the task, so "exactly once" is counted, not assumed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dcm_exporter.queue import NewTask, TaskFilter, TaskStatus
from dcm_exporter.queue.postgres import PostgresTaskStore

psycopg = pytest.importorskip("psycopg")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "_pg_runner.py"
DEVICE = "dcm4chee-arc"


class Runners:
    """Runner subprocesses of one test; all stopped (or killed) at the end."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, count: int, *extra: str) -> list[subprocess.Popen[str]]:
        started = []
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, str(RUNNER), self.dsn, *extra],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self.procs.append(proc)
            started.append(proc)
        for proc in started:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "ready", f"runner {proc.pid} did not start (said {line!r})"
        return started

    def stop(self) -> list[int | None]:
        codes = []
        for proc in self.procs:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        self.procs = []
        return codes


@pytest.fixture
def db(pg_database: Any) -> Any:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE processed (attempt uuid PRIMARY KEY, task_id bigint NOT NULL, pid integer NOT NULL, "
            "hung boolean NOT NULL DEFAULT false, at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
    return pg_database


@pytest.fixture
def runners(db: Any) -> Iterator[Runners]:
    group = Runners(db.dsn)
    yield group
    group.stop()


@pytest.fixture
def store(db: Any) -> Iterator[PostgresTaskStore]:
    s = PostgresTaskStore(db.dsn, application_name="test-scheduler")
    yield s
    s.close()


def schedule_many(store: PostgresTaskStore, dsn: str, count: int, device: str = DEVICE) -> list[int]:
    """Schedule ``count`` tasks in one transaction of our own (they appear, and wake the runners, at commit)."""
    now = datetime.now(UTC)
    ids = []
    with psycopg.connect(dsn) as conn, store.use_connection(conn):
        for i in range(count):
            task = store.schedule(
                NewTask(
                    device_name=device,
                    queue_name="Export1",
                    exporter_id="NOOP",
                    local_ae_title="DCM4CHEE",
                    study_uid=f"1.2.826.0.1.3680043.10.99.{i}",
                    scheduled_time=now,
                ),
                now=now,
                coalesce=False,
            )
            ids.append(task.task_id)
    return ids  # the with-block committed


def wait_completed(store: PostgresTaskStore, count: int, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.count(TaskFilter(status=TaskStatus.COMPLETED)) >= count:
            return
        time.sleep(0.1)
    statuses = {s.value: store.count(TaskFilter(status=s)) for s in TaskStatus}
    pytest.fail(f"not all {count} tasks completed within {timeout} s: {statuses}")


def attempts(dsn: str) -> list[tuple[int, int, bool]]:
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute("SELECT task_id, pid, hung FROM processed ORDER BY at")]


def test_four_runners_process_2000_tasks_exactly_once(db: Any, runners: Runners, store: PostgresTaskStore) -> None:
    procs = runners.start(4, "--lease", "5")
    ids = schedule_many(store, db.dsn, 2000)
    wait_completed(store, 2000)
    rows = attempts(db.dsn)
    per_task = Counter(task_id for task_id, _, _ in rows)
    assert set(per_task) == set(ids)
    assert max(per_task.values()) == 1 and len(rows) == 2000  # each task performed exactly once
    per_runner = Counter(pid for _, pid, _ in rows)
    assert set(per_runner) <= {p.pid for p in procs}
    assert len(per_runner) >= 2, f"the work was not shared: {per_runner}"
    assert store.count(TaskFilter(status=TaskStatus.IN_PROCESS)) == 0
    assert all(t.lease_owner is None for t in store.list(TaskFilter(limit=50)))
    assert runners.stop() == [0, 0, 0, 0]


def test_sigkilled_runner_tasks_are_finished_by_the_others_after_the_lease(
    db: Any, runners: Runners, store: PostgresTaskStore
) -> None:
    lease = "2"
    (victim,) = runners.start(1, "--lease", lease, "--delay", "0.01", "--hang-after", "3")
    survivors = runners.start(2, "--lease", lease, "--delay", "0.01")
    ids = schedule_many(store, db.dsn, 150)

    deadline = time.monotonic() + 30
    hung: list[int] = []
    while not hung and time.monotonic() < deadline:
        hung = [t for t, pid, h in attempts(db.dsn) if h and pid == victim.pid]
        time.sleep(0.05)
    assert hung, "the victim runner never reached its hanging task"
    (hung_id,) = hung
    held = store.get(hung_id)
    assert held.status is TaskStatus.IN_PROCESS and f":{victim.pid}:" in (held.lease_owner or "")

    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL

    wait_completed(store, len(ids))
    rows = attempts(db.dsn)
    per_task = Counter(task_id for task_id, _, _ in rows)
    assert set(per_task) == set(ids)
    # the task the victim died with was performed again by a survivor; every other task exactly once
    assert per_task[hung_id] == 2
    assert all(n == 1 for task_id, n in per_task.items() if task_id != hung_id)
    redo = [pid for task_id, pid, _ in rows if task_id == hung_id][-1]
    assert redo in {p.pid for p in survivors}
    finished = store.get(hung_id)
    assert finished.status is TaskStatus.COMPLETED and finished.lease_owner is None
    assert finished.processing_start_time is not None and held.lease_expires is not None
    assert finished.processing_start_time >= held.lease_expires  # taken over only after the lease ran out


def test_runners_reconnect_after_pg_terminate_backend_and_lose_nothing(
    db: Any, runners: Runners, store: PostgresTaskStore
) -> None:
    runners.start(3, "--lease", "5", "--delay", "0.005")
    ids = schedule_many(store, db.dsn, 900)
    killed = 0
    with psycopg.connect(db.dsn, autocommit=True) as admin:
        for _ in range(8):
            time.sleep(0.15)
            completed_before_kill = store.count(TaskFilter(status=TaskStatus.COMPLETED))
            killed += sum(
                1
                for (ok,) in admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'dcm_exporter'"
                )
                if ok
            )
    assert killed >= 3, "no runner connection was terminated"
    assert completed_before_kill < len(ids), "the runners finished before the last kill: test proves nothing"
    wait_completed(store, len(ids))
    rows = attempts(db.dsn)
    per_task = Counter(task_id for task_id, _, _ in rows)
    assert set(per_task) == set(ids)
    assert max(per_task.values()) == 1  # nothing lost, nothing performed twice
    assert runners.stop() == [0, 0, 0]


def test_scheduling_rolled_back_with_the_callers_transaction_leaves_no_task(
    db: Any, runners: Runners, store: PostgresTaskStore
) -> None:
    runners.start(1, "--lease", "5")
    now = datetime.now(UTC)
    with psycopg.connect(db.dsn) as conn:
        conn.execute("CREATE TABLE instance (sop_instance_uid text PRIMARY KEY)")
        conn.commit()
        conn.execute("INSERT INTO instance VALUES ('1.2.3.4.5')")
        task = store.schedule(
            NewTask(
                device_name=DEVICE, queue_name="Export1", exporter_id="NOOP", study_uid="1.2.3", scheduled_time=now
            ),
            now=now,
            connection=conn,
        )
        # not committed: no other connection sees the task, so no runner can take it
        assert store.count(TaskFilter()) == 0
        conn.rollback()
    assert store.count(TaskFilter()) == 0
    with pytest.raises(Exception, match="no export task"):
        store.get(task.task_id)
    with psycopg.connect(db.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM instance").fetchone() == (0,)
    # the same with a commit: stored together with the instance, and performed by the runner
    with psycopg.connect(db.dsn) as conn:
        conn.execute("INSERT INTO instance VALUES ('1.2.3.4.6')")
        store.schedule(
            NewTask(
                device_name=DEVICE, queue_name="Export1", exporter_id="NOOP", study_uid="1.2.4", scheduled_time=now
            ),
            now=now,
            connection=conn,
        )
    wait_completed(store, 1)
    assert [t for t, _, _ in attempts(db.dsn)] == [store.list(TaskFilter())[0].task_id]
