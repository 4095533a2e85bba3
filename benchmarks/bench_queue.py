"""Export queue throughput: 10,000 tasks scheduled and run with the ``noop:`` transport on SQLite.

Peer: huey 2.x/3.x with its SQLite storage (``SqliteHuey``), doing the same in the same run: enqueue 10,000
no-op tasks, then run them in-process with huey's own ``dequeue()`` / ``execute()`` (one worker, no consumer
polling delays). dcm_exporter runs them through the ``Exporter`` facade (``schedule_export`` and
``run_until_idle``) with one worker (``dcmMaxTasksParallel`` = 1, the upstream default) and with 4.
Both stores are files in a temp folder, ``synchronous=NORMAL`` on our side (huey's default on its side).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import Result  # noqa: E402

N = 10_000


def _ours(folder: Path, count: int, parallel: int) -> tuple[float, float]:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
    from dcm_exporter.queue import SqliteTaskStore
    from dcm_exporter.sources import FileSystemSource

    (folder / "data").mkdir()
    configuration = Configuration(
        devices=[
            Device(
                device_name="dcm4chee-arc",
                exporters=[
                    ExporterDescriptor(
                        exporter_id="NOOP", uri="noop:", queue_name="Export1", ae_title="DCM4CHEE"
                    )
                ],
                queues=[QueueDescriptor(queue_name="Export1", max_tasks_parallel=parallel)],
            )
        ]
    )
    store = SqliteTaskStore(folder / "tasks.db")
    with Exporter(configuration, FileSystemSource(folder / "data"), store=store) as exporter:
        started = time.perf_counter()
        for i in range(count):
            exporter.schedule_export("NOOP", f"1.2.826.0.1.3680043.10.1.{i}")
        scheduling = time.perf_counter() - started
        started = time.perf_counter()
        done = exporter.run_until_idle()
        running = time.perf_counter() - started
        assert done == count, f"ran {done} of {count}"
        assert exporter.count(status="COMPLETED") == count
    store.close()
    return count / scheduling, count / running


def _huey(folder: Path, count: int) -> tuple[float, float]:
    from huey import SqliteHuey

    huey = SqliteHuey("bench", filename=str(folder / "huey.db"), results=False)

    @huey.task()
    def export(study_uid: str) -> None:
        return None

    started = time.perf_counter()
    for i in range(count):
        export(f"1.2.826.0.1.3680043.10.1.{i}")
    scheduling = time.perf_counter() - started
    started = time.perf_counter()
    ran = 0
    while True:
        task = huey.dequeue()
        if task is None:
            break
        huey.execute(task)
        ran += 1
    running = time.perf_counter() - started
    assert ran == count, f"huey ran {ran} of {count}"
    return count / scheduling, count / running


def main(argv: list[str]) -> list[Result]:
    count = 1_000 if "--quick" in argv else N
    with (
        tempfile.TemporaryDirectory() as a,
        tempfile.TemporaryDirectory() as b,
        tempfile.TemporaryDirectory() as c,
    ):
        ours_sched, ours_run = _ours(Path(a), count, 1)
        _, ours_run4 = _ours(Path(c), count, 4)
        huey_sched, huey_run = _huey(Path(b), count)
    return [
        Result("queue: schedule (SQLite)", "tasks/s", ours_sched, "huey SqliteHuey enqueue", huey_sched),
        Result("queue: run noop, 1 worker", "tasks/s", ours_run, "huey SqliteHuey execute", huey_run),
        Result("queue: run noop, 4 parallel", "tasks/s", ours_run4, "huey SqliteHuey execute", huey_run),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
