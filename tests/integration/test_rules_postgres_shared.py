"""Series rules in several processes that share one PostgreSQL queue: one task per series, not one per process.

Each "process" here is its own PostgresTaskStore (own connection pool), TaskManager and ExportRules, in its
own thread: exactly what separate processes share, which is the database and nothing else. They receive
instances of the same series at the same moments.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydicom import Dataset

from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Device,
    ExporterDescriptor,
    ExportRule,
    QueueDescriptor,
)
from dcm_exporter.queue import TaskManager
from dcm_exporter.rules import ExportRules

pytestmark = pytest.mark.postgres

SERIES = 12
INSTANCES = 6  # per series and process
PROCESSES = 3


def _configuration(entity: str) -> Configuration:
    return Configuration(devices=(
        Device(
            device_name="arc",
            application_entities=(ApplicationEntity(ae_title="ARC"),),
            exporters=(ExporterDescriptor(exporter_id="E1", uri="noop:E1", queue_name="Export1", ae_title="ARC"),),
            queues=(QueueDescriptor(queue_name="Export1"),),
            export_rules=(ExportRule(name="r", entity=entity, exporter_ids=("E1",), delay=timedelta(minutes=5)),),
        ),
    ))


def _instance(series: int, sop: str) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = f"1.2.3.{series}"
    ds.SOPInstanceUID = sop
    ds.Modality = "CT"
    return ds


@pytest.mark.parametrize("entity", ["Series", "Instance"])
def test_processes_sharing_a_queue_schedule_one_task_per_scope(pg_database: Any, entity: str) -> None:
    from dcm_exporter.queue.postgres import PostgresTaskStore

    configuration = _configuration(entity)
    stores = [PostgresTaskStore(pg_database.dsn) for _ in range(PROCESSES)]
    now = datetime(2024, 1, 3, 10, 0, tzinfo=UTC)
    engines = [ExportRules(TaskManager(s, configuration, device_name="arc", clock=lambda: now)) for s in stores]
    barrier = threading.Barrier(PROCESSES)
    errors: list[BaseException] = []

    def receive(p: int) -> None:
        try:
            for i in range(INSTANCES):
                for series in range(SERIES):
                    barrier.wait(timeout=60)  # all processes store an instance of this series at once
                    sop = f"1.2.3.{series}.{i}" if entity == "Series" else f"1.2.3.{series}.{i}.{p % 2}"
                    engines[p].on_store(_instance(series, sop), sending_aet="MOD", receiving_aet="ARC")
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=receive, args=(p,)) for p in range(PROCESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        tasks = engines[0].task_manager.tasks()
        scopes = Counter((t.series_uid, t.sop_instance_uid) for t in tasks)
        duplicates = {scope: n for scope, n in scopes.items() if n > 1}
        assert duplicates == {}, f"{len(duplicates)} scopes with several tasks: {duplicates}"
        expected = SERIES if entity == "Series" else SERIES * INSTANCES * 2
        assert len(tasks) == expected
    finally:
        for s in stores:
            s.close()
