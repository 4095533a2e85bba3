"""Export queue throughput: 10,000 tasks scheduled and run with the ``noop:`` transport on SQLite.

Peer: huey 2.x/3.x with its SQLite storage (``SqliteHuey``), doing the same in the same run.

What each side does per task:

- **dcm_exporter**: ``Exporter.schedule_export`` (exporter lookup, the exporter's schedule, then one INSERT
  that checks for a waiting task of the same study to coalesce with, committed before it returns), then
  ``Exporter.run_until_idle``: the runner claims tasks (IN PROCESS with a lease), performs each through the
  ``noop:`` transport (exporter and transport resolution, ``ExportRequest``, ``Outcome``), and the manager
  records each outcome (COMPLETED, with its start and end times, failures and outcome message, kept in the
  table). Tasks that take under 2 ms are claimed in batches (doubling up to 64) and their ends recorded in
  group commits together with the next claim; a crash re-runs the tasks of the last uncommitted group (their
  leases), it loses none. Runs with one worker (``dcmMaxTasksParallel`` = 1, the upstream default) and with 4.
- **huey**: ``task(...)`` enqueues (pickles the call and INSERTs it), then huey's own ``dequeue()`` /
  ``execute()`` in a plain loop — no consumer process and no polling delays, which favours huey. A dequeue
  DELETEs the row in one transaction and the task is gone: huey keeps no record of a task that ran
  (``results=False``), no lease, no status history. "4 parallel" runs 4 threads each looping
  ``dequeue()`` / ``execute()`` on the same ``SqliteHuey`` (huey's thread worker model, minus its polling).

Durability is the same on both sides: SQLite in WAL mode with ``synchronous=NORMAL`` (durable across
process crashes, not across power loss). That is dcm_exporter's default; huey defaults to SQLite's
``FULL`` (an fsync per commit) and offers only ``FULL`` or ``OFF`` through ``fsync=``, so its connection is
switched to ``NORMAL`` with a one-line storage subclass. Both databases are files in temp folders on the
same disk; the contenders run one after the other in one process.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import Result, ours_only  # noqa: E402

N = 10_000
#: Studies per ``schedule_exports`` call in the batch figure (one request naming many studies).
BATCH = 100


def _configuration(parallel: int):  # type: ignore[no-untyped-def]
    from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor

    return Configuration(
        devices=[
            Device(
                device_name="dcm4chee-arc",
                exporters=[
                    ExporterDescriptor(
                        exporter_id="NOOP", uri="noop:nothing", queue_name="Export1", ae_title="DCM4CHEE"
                    )
                ],
                queues=[QueueDescriptor(queue_name="Export1", max_tasks_parallel=parallel)],
            )
        ]
    )


def _ours(folder: Path, count: int, parallel: int) -> tuple[float, float]:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import SqliteTaskStore
    from dcm_exporter.sources import FileSystemSource

    (folder / "data").mkdir()
    store = SqliteTaskStore(folder / "tasks.db")
    with Exporter(_configuration(parallel), FileSystemSource(folder / "data"), store=store) as exporter:
        started = time.perf_counter()
        for i in range(count):
            exporter.schedule_export("NOOP", f"1.2.826.0.1.3680043.10.1.{i}")
        scheduling = time.perf_counter() - started
        started = time.perf_counter()
        done = exporter.run_until_idle()
        running = time.perf_counter() - started
        assert done == count, f"ran {done} of {count}"
        assert exporter.queue.count(status="COMPLETED") == count
    store.close()
    return count / scheduling, count / running


def _ours_batches(folder: Path, count: int) -> float:
    """``Exporter.schedule_exports`` with :data:`BATCH` studies per call: one transaction and one commit per
    call, every task as ``schedule_export`` records it (coalescing look-up included)."""
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import SqliteTaskStore
    from dcm_exporter.sources import FileSystemSource

    (folder / "data").mkdir()
    store = SqliteTaskStore(folder / "tasks.db")
    studies = [f"1.2.826.0.1.3680043.10.1.{i}" for i in range(count)]
    with Exporter(_configuration(1), FileSystemSource(folder / "data"), store=store) as exporter:
        started = time.perf_counter()
        for first in range(0, count, BATCH):
            exporter.schedule_exports("NOOP", studies[first : first + BATCH])
        scheduling = time.perf_counter() - started
        assert exporter.queue.count(status="SCHEDULED") == count
    store.close()
    return count / scheduling


def _huey(folder: Path, count: int, threads: int = 1) -> tuple[float, float]:
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    class NormalSyncStorage(SqliteStorage):  # type: ignore[misc]
        """huey's SQLite storage with ``synchronous=NORMAL``, the durability dcm_exporter's store uses."""

        def _create_connection(self):  # type: ignore[no-untyped-def]
            conn = super()._create_connection()
            conn.execute("PRAGMA synchronous = NORMAL")
            return conn

    huey = SqliteHuey(
        "bench", filename=str(folder / "huey.db"), results=False, storage_class=NormalSyncStorage
    )
    (synchronous,) = huey.storage.conn.execute("PRAGMA synchronous").fetchone()
    assert synchronous == 1, f"huey's SQLite runs synchronous={synchronous}, not NORMAL (1)"

    @huey.task()
    def export(study_uid: str) -> None:
        return None

    started = time.perf_counter()
    for i in range(count):
        export(f"1.2.826.0.1.3680043.10.1.{i}")
    scheduling = time.perf_counter() - started
    ran = [0] * threads

    def work(slot: int) -> None:
        while True:
            task = huey.dequeue()
            if task is None:
                return
            huey.execute(task)
            ran[slot] += 1

    started = time.perf_counter()
    if threads == 1:
        work(0)
    else:
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    running = time.perf_counter() - started
    assert sum(ran) == count, f"huey ran {sum(ran)} of {count}"
    huey.storage.close()
    return count / scheduling, count / running


def main(argv: list[str]) -> list[Result]:
    count = 1_000 if "--quick" in argv else N
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / name for name in ("ours1", "huey1", "ours4", "huey4", "ours_batches")]
        for folder in folders:
            folder.mkdir()
        ours_sched, ours_run = _ours(folders[0], count, 1)
        huey_sched, huey_run = _huey(folders[1], count)
        _, ours_run4 = _ours(folders[2], count, 4)
        _, huey_run4 = _huey(folders[3], count, threads=4)
        ours_batches = _ours_batches(folders[4], count)
    return [
        Result("queue: schedule (SQLite)", "tasks/s", ours_sched, "huey SqliteHuey enqueue", huey_sched),
        # huey has no enqueue of many tasks in one transaction: its map() and groups commit each task
        ours_only(f"queue: schedule {BATCH} per call", "tasks/s", ours_batches, "huey: no batch enqueue"),
        Result("queue: run noop, 1 worker", "tasks/s", ours_run, "huey dequeue+execute", huey_run),
        Result("queue: run noop, 4 parallel", "tasks/s", ours_run4, "huey 4 threads", huey_run4),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
