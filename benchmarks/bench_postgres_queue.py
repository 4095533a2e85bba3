"""Export queue on PostgreSQL: tasks/s with 1, 2 and 4 runner processes (``noop:`` transport).

Ours: ``PostgresTaskStore`` + ``TaskManager`` + ``TaskRunner`` in each process (one worker thread per process,
``dcmMaxTasksParallel`` = 1), performing each task through ``Exporter.export_now`` on a ``noop:`` exporter.
Every task is claimed (``FOR UPDATE SKIP LOCKED``, with a lease) and finished in its own transaction.

Peer: procrastinate (PostgreSQL task queue, psycopg 3) on the same server in the same run: the same number of
no-op jobs, deferred in one batch, run by the same number of worker processes (``concurrency=1``,
``wait=False``, no LISTEN/NOTIFY). Per job it fetches one job (its ``procrastinate_fetch_job`` function,
``FOR UPDATE SKIP LOCKED``), runs the no-op task and records the end (``procrastinate_finish_job``), each a
transaction of its own, like ours. Its app is opened (pool connected, one query done) before the clock
starts, as our store is. Both sides use a fresh database per run. The extra row "async commits" is ours with
``processing_commit="async"`` (claims and finishes do not wait for the WAL flush; schedules still do),
against the same (fully synchronous) procrastinate figure.

Each process imports and connects first and reports ``ready``; the clock starts when all are told ``go`` and
stops when the last one has found the queue empty. The figure is tasks / (last end - first start), the median
of 3 rounds; each round measures every process count of both queues, so that a busy spell of the shared
machine hits all of them.

Every claim and finish here waits for PostgreSQL's WAL flush (``IO:WALSync`` in ``pg_stat_activity``): the
figures follow the disk's flush latency more than either queue's code. Two processes whose commits alternate
mostly wait for each other's flush (``LWLock:WALWrite``) instead of sharing one; with four, several commits
share a flush more often (group commit).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import Result  # noqa: E402

# procrastinate warns (in every process) that its App lives in a __main__ module; that is on purpose here
logging.getLogger("procrastinate").setLevel(logging.ERROR)

N = 4_000
PROCESSES = (1, 2, 4)
DEVICE = "dcm4chee-arc"


# --- databases ------------------------------------------------------------------------------------


def _server_dsn(dbname: str) -> str:
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD")
    return f"host={host} port={port} user={user} dbname={dbname}" + (f" password={password}" if password else "")


def _create_db() -> tuple[str, str]:
    import psycopg

    name = f"dcmexp_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_server_dsn(os.environ.get("PGDATABASE", "postgres")), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, _server_dsn(name)


def _drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(_server_dsn(os.environ.get("PGDATABASE", "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- worker processes -----------------------------------------------------------------------------


def _worker_ours(dsn: str, processing_commit: str = "sync") -> dict[str, Any]:
    import tempfile
    from datetime import timedelta

    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
    from dcm_exporter.queue import TaskManager, TaskRunner
    from dcm_exporter.queue.postgres import PostgresTaskStore
    from dcm_exporter.sources import FileSystemSource

    config = Configuration(devices=[Device(
        device_name=DEVICE,
        exporters=[ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1",
                                      ae_title="DCM4CHEE")],
        queues=[QueueDescriptor(queue_name="Export1", max_tasks_parallel=1)],
    )])
    store = PostgresTaskStore(dsn, max_connections=2, processing_commit=processing_commit)
    with tempfile.TemporaryDirectory() as folder, Exporter(config, FileSystemSource(folder)) as exporter:
        manager = TaskManager(store, config, device_name=DEVICE, lease=timedelta(seconds=30))
        runner = TaskRunner(
            manager,
            lambda task, cancel: exporter.export_now(
                task.exporter_id, task.study_uid, task.series_uid, task.sop_instance_uid, cancel=cancel
            ),
            purge_interval=None,
            reset_on_start=False,
        )
        exporter.transport("NOOP")  # created before the clock starts, like procrastinate's task registry
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.time()
        done = runner.run_until_idle()
        ended = time.time()
        runner.close()
    store.close()
    return {"start": started, "end": ended, "done": done}


def _procrastinate_app(dsn: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="export", queue="export")
    def export(study_uid: str) -> None:
        return None

    return app


def _worker_procrastinate(dsn: str) -> dict[str, Any]:
    import asyncio

    app = _procrastinate_app(dsn)

    async def work() -> dict[str, Any]:
        # connected before the clock starts (its pool open and one connection used), as ours is
        async with app.open_async():
            await app.connector.execute_query_one_async("SELECT 1 AS one")
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            started = time.time()
            await app.run_worker_async(
                queues=["export"], concurrency=1, wait=False, listen_notify=False, install_signal_handlers=False
            )
            ended = time.time()
        return {"start": started, "end": ended, "done": -1}

    return asyncio.run(work())


# --- one measurement ------------------------------------------------------------------------------


def _run_processes(kind: str, dsn: str, processes: int) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", kind, dsn],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"{kind} worker did not start: {line!r}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"{kind} worker failed with exit code {proc.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _ours(count: int, processes: int, kind: str = "ours") -> float:
    from datetime import UTC, datetime

    from dcm_exporter.queue import NewTask, TaskFilter, TaskStatus
    from dcm_exporter.queue.postgres import PostgresTaskStore

    name, dsn = _create_db()
    try:
        import psycopg

        with PostgresTaskStore(dsn) as store:
            now = datetime.now(UTC)
            with psycopg.connect(dsn) as conn, store.use_connection(conn):
                for i in range(count):
                    store.schedule(NewTask(
                        device_name=DEVICE, queue_name="Export1", exporter_id="NOOP", local_ae_title="DCM4CHEE",
                        study_uid=f"1.2.826.0.1.3680043.10.2.{i}", scheduled_time=now,
                    ), now=now, coalesce=False)
            reports = _run_processes(kind, dsn, processes)
            completed = store.count(TaskFilter(status=TaskStatus.COMPLETED))
        if completed != count or sum(r["done"] for r in reports) != count:
            raise RuntimeError(f"ours: {completed} of {count} completed, attempts {[r['done'] for r in reports]}")
        return count / (max(r["end"] for r in reports) - min(r["start"] for r in reports))
    finally:
        _drop_db(name)


def _procrastinate(count: int, processes: int) -> float:
    import psycopg

    name, dsn = _create_db()
    try:
        app = _procrastinate_app(dsn)
        with app.open():
            app.schema_manager.apply_schema()
            for start in range(0, count, 1000):
                app.tasks["export"].batch_defer(
                    *({"study_uid": f"1.2.826.0.1.3680043.10.3.{i}"} for i in range(start, min(count, start + 1000)))
                )
        reports = _run_processes("procrastinate", dsn, processes)
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'").fetchone()
        if row is None or row[0] != count:
            raise RuntimeError(f"procrastinate: {row} of {count} jobs succeeded")
        return count / (max(r["end"] for r in reports) - min(r["start"] for r in reports))
    finally:
        _drop_db(name)


def main(argv: list[str]) -> list[Result]:
    quick = "--quick" in argv
    count = 1_000 if quick else N
    rounds = 1 if quick else 3
    ours: dict[int, list[float]] = {p: [] for p in PROCESSES}
    peer: dict[int, list[float]] = {p: [] for p in PROCESSES}
    relaxed: list[float] = []
    # every process count in every round, the rounds one after the other: a busy spell of the shared machine
    # (its disk's flushes above all) then hits each count and both queues, not the 2-process runs alone
    for _ in range(rounds):
        for processes in PROCESSES:
            ours[processes].append(_ours(count, processes))
            if processes == PROCESSES[-1]:
                relaxed.append(_ours(count, processes, "ours-async"))
            peer[processes].append(_procrastinate(count, processes))
    results = []
    for processes in PROCESSES:
        plural = "es" if processes > 1 else ""
        results.append(Result(
            f"postgres queue: {processes} runner process{plural}",
            "tasks/s",
            statistics.median(ours[processes]),
            "procrastinate workers",
            statistics.median(peer[processes]),
        ))
        if processes == PROCESSES[-1]:
            results.append(Result(
                f"postgres queue: {processes} procs, async commits",
                "tasks/s",
                statistics.median(relaxed),
                "procrastinate workers",
                statistics.median(peer[processes]),
            ))
    return results


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--worker":
        worker = {
            "ours": _worker_ours,
            "ours-async": lambda dsn: _worker_ours(dsn, "async"),
            "procrastinate": _worker_procrastinate,
        }[sys.argv[2]]
        print(json.dumps(worker(sys.argv[3])), flush=True)
        sys.exit(0)
    from _common import print_results

    print_results(main(sys.argv[1:]))
