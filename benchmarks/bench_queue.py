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
same disk, in one process. Scheduling is measured in 10 turns of 1,000 tasks, the contenders taking turns in
rotating order (one-call-per-task ours, huey, and ours with ``schedule_exports`` of 100 studies per call,
which has no huey counterpart: huey's ``map()`` and groups enqueue each task in its own commit), so that a
busy spell of the shared machine falls on all alike; the runs follow, ours then huey.
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


def _study(i: int) -> str:
    return f"1.2.826.0.1.3680043.10.1.{i}"


class _Ours:
    """An ``Exporter`` on its own SQLite store; ``batch`` studies per ``schedule_exports`` call, or one
    ``schedule_export`` call per task."""

    def __init__(self, folder: Path, parallel: int, batch: int | None = None) -> None:
        from dcm_exporter.exporter import Exporter
        from dcm_exporter.queue import SqliteTaskStore
        from dcm_exporter.sources import FileSystemSource

        (folder / "data").mkdir()
        self.store = SqliteTaskStore(folder / "tasks.db")
        self.exporter = Exporter(_configuration(parallel), FileSystemSource(folder / "data"), store=self.store)
        self.batch = batch
        self.count = 0

    def schedule(self, first: int, last: int) -> float:
        """Schedule tasks ``first`` to ``last - 1``; the seconds it took."""
        exporter = self.exporter
        started = time.perf_counter()
        if self.batch is None:
            for i in range(first, last):
                exporter.schedule_export("NOOP", _study(i))
        else:
            studies = [_study(i) for i in range(first, last)]
            for at in range(0, len(studies), self.batch):
                exporter.schedule_exports("NOOP", studies[at : at + self.batch])
        elapsed = time.perf_counter() - started
        self.count += last - first
        return elapsed

    def run(self) -> float:
        """Run every scheduled task; tasks/s."""
        started = time.perf_counter()
        done = self.exporter.run_until_idle()
        running = time.perf_counter() - started
        assert done == self.count, f"ran {done} of {self.count}"
        assert self.exporter.queue.count(status="COMPLETED") == self.count
        return self.count / running

    def close(self) -> None:
        if self.batch is not None:
            assert self.exporter.queue.count(status="SCHEDULED") == self.count
        self.exporter.close()
        self.store.close()


class _Huey:
    """huey's ``SqliteHuey`` at ``synchronous=NORMAL``, one task function; ``threads`` workers."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        from huey import SqliteHuey
        from huey.storage import SqliteStorage

        class NormalSyncStorage(SqliteStorage):  # type: ignore[misc]
            """huey's SQLite storage with ``synchronous=NORMAL``, the durability dcm_exporter's store uses."""

            def _create_connection(self):  # type: ignore[no-untyped-def]
                conn = super()._create_connection()
                conn.execute("PRAGMA synchronous = NORMAL")
                return conn

        self.huey = SqliteHuey(
            "bench", filename=str(folder / "huey.db"), results=False, storage_class=NormalSyncStorage
        )
        (synchronous,) = self.huey.storage.conn.execute("PRAGMA synchronous").fetchone()
        assert synchronous == 1, f"huey's SQLite runs synchronous={synchronous}, not NORMAL (1)"

        @self.huey.task()
        def export(study_uid: str) -> None:
            return None

        self.export = export
        self.threads = threads
        self.count = 0

    def schedule(self, first: int, last: int) -> float:
        export = self.export
        started = time.perf_counter()
        for i in range(first, last):
            export(_study(i))
        elapsed = time.perf_counter() - started
        self.count += last - first
        return elapsed

    def run(self) -> float:
        huey = self.huey
        ran = [0] * self.threads

        def work(slot: int) -> None:
            while True:
                task = huey.dequeue()
                if task is None:
                    return
                huey.execute(task)
                ran[slot] += 1

        started = time.perf_counter()
        if self.threads == 1:
            work(0)
        else:
            workers = [threading.Thread(target=work, args=(n,)) for n in range(self.threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        running = time.perf_counter() - started
        assert sum(ran) == self.count, f"huey ran {sum(ran)} of {self.count}"
        return self.count / running

    def close(self) -> None:
        self.huey.storage.close()


def _schedule_interleaved(contenders: list[_Ours | _Huey], count: int, chunks: int = 10) -> list[float]:
    """Schedule ``count`` tasks on each contender in ``chunks`` turns, the order rotating each turn, so that
    a busy spell of the shared machine falls on all of them alike; tasks/s of each."""
    seconds = [0.0] * len(contenders)
    size = count // chunks
    for turn in range(chunks):
        first, last = turn * size, count if turn == chunks - 1 else (turn + 1) * size
        for k in range(len(contenders)):
            slot = (turn + k) % len(contenders)
            seconds[slot] += contenders[slot].schedule(first, last)
    return [count / s for s in seconds]


def main(argv: list[str]) -> list[Result]:
    count = 1_000 if "--quick" in argv else N
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / name for name in ("ours1", "huey1", "ours4", "huey4", "ours_batches")]
        for folder in folders:
            folder.mkdir()
        ours1, huey1, batches = _Ours(folders[0], 1), _Huey(folders[1]), _Ours(folders[4], 1, batch=BATCH)
        ours_sched, huey_sched, ours_batches = _schedule_interleaved([ours1, huey1, batches], count)
        batches.close()
        ours_run, huey_run = ours1.run(), huey1.run()
        ours1.close()
        huey1.close()
        ours4, huey4 = _Ours(folders[2], 4), _Huey(folders[3], threads=4)
        ours4.schedule(0, count)
        huey4.schedule(0, count)
        ours_run4, huey_run4 = ours4.run(), huey4.run()
        ours4.close()
        huey4.close()
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
