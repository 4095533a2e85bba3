"""One export-queue runner process on a PostgresTaskStore, for the multi-process acceptance tests.

``python _pg_runner.py DSN [--lease S] [--delay S] [--hang-after N] [--parallel N] [--competing]``

It builds an :class:`~dcm_exporter.Exporter` with a ``noop:`` exporter, a ``TaskManager`` with a short lease
and a ``TaskRunner`` that does not reset IN PROCESS tasks on start (several runners share the queue). Every
attempt is recorded first in the table ``processed`` of the same database (own connection, not one of the
store's), so the test can count how often each task was performed. ``--hang-after N`` makes the attempt
after the N-th hang for good (recorded with ``hung = true``) while the process keeps sending heartbeats:
the test SIGKILLs it there. Prints ``ready`` once running; stops gracefully when stdin closes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import psycopg

from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import ExportTask, TaskManager, TaskRunner
from dcm_exporter.queue.postgres import PostgresTaskStore
from dcm_exporter.sources import FileSystemSource

DEVICE = "dcm4chee-arc"


def configuration(parallel: int, device: str = DEVICE) -> Configuration:
    return Configuration(
        devices=[
            Device(
                device_name=device,
                exporters=[
                    ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1",
                                       ae_title="DCM4CHEE")
                ],
                queues=[QueueDescriptor(queue_name="Export1", max_tasks_parallel=parallel)],
            )
        ]
    )


class Recorder:
    """Writes one row per attempt into ``processed`` (reconnecting if needed; never twice per attempt)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.Lock()
        self.conn: Any = None

    def record(self, task_id: int, *, hung: bool = False) -> None:
        attempt = uuid.uuid4()
        for _ in range(100):
            try:
                with self.lock:
                    if self.conn is None or self.conn.closed:
                        self.conn = psycopg.connect(self.dsn, autocommit=True, application_name="test-recorder")
                    self.conn.execute(
                        "INSERT INTO processed (attempt, task_id, pid, hung) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (attempt) DO NOTHING",
                        (attempt, task_id, os.getpid(), hung),
                    )
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"could not record attempt of task {task_id}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--hang-after", type=int, default=None)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--competing", action="store_true")
    parser.add_argument("--device", default=DEVICE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"runner {os.getpid()}: %(levelname)s %(name)s: %(message)s")

    recorder = Recorder(args.dsn)
    store = PostgresTaskStore(args.dsn, competing_consumers=args.competing, reconnect_timeout=30.0)
    config = configuration(args.parallel, args.device)
    done = 0
    lock = threading.Lock()

    with tempfile.TemporaryDirectory() as folder, Exporter(config, FileSystemSource(folder)) as exporter:

        def perform(task: ExportTask, cancel: Any) -> Any:
            nonlocal done
            with lock:
                hang = args.hang_after is not None and done >= args.hang_after
                done += 1
            recorder.record(task.task_id, hung=hang)
            if hang:
                threading.Event().wait()  # hangs; heartbeats go on until the process is killed
            if args.delay:
                time.sleep(args.delay)
            return exporter.export_now(
                task.exporter_id, task.study_uid, task.series_uid, task.sop_instance_uid, cancel=cancel
            )

        manager = TaskManager(store, config, device_name=args.device, lease=timedelta(seconds=args.lease))
        runner = TaskRunner(
            manager,
            perform,
            poll_interval=0.5,
            heartbeat_interval=args.lease / 4,
            purge_interval=None,
            reset_on_start=False,
        )
        runner.start()
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes our stdin
        runner.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
