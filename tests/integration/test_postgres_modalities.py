"""PostgresTaskStore records the modalities of an export's instances on the task (acceptance finding: tasks had
``number_of_instances`` but never ``modalities``); the other stores are covered in tests/unit/test_task_modalities.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import TaskManager
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.testing import MockTransport
from dcm_exporter.transports.registry import TransportRegistry


def test_postgres_records_the_modalities_of_the_exported_instances(pg_database: Any, tmp_path: Path) -> None:
    from dcm_exporter.queue.postgres import PostgresTaskStore

    study = generate_study(tmp_path, series=2, instances_per_series=2)
    configuration = Configuration(devices=[Device(
        device_name="arc",
        exporters=[ExporterDescriptor(exporter_id="MOCK", uri="mock:nothing", queue_name="Export1", ae_title="ARC")],
        queues=[QueueDescriptor(queue_name="Export1")],
    )])
    registry = TransportRegistry()
    registry.register_scheme("mock", lambda exporter, configuration, **_: MockTransport(), clobber=True)
    store = PostgresTaskStore(pg_database.url)
    try:
        with FileSystemSource(tmp_path) as source, Exporter(configuration, source, store=store,
                                                            registry=registry) as exporter:
            task = exporter.schedule_export("MOCK", study.study_uid)
            exporter.run_until_idle()
            done = exporter.queue.task(task.task_id)
            given = TaskManager(store, configuration).schedule_export("MOCK", "1.2.3.999", modalities=("US",))
            exporter.run_until_idle()
            kept = exporter.queue.task(given.task_id)
    finally:
        store.close()
    assert done.number_of_instances == 4
    assert sorted(done.modalities) == sorted({s.modality for s in study.series})
    assert kept.status.value == "WARNING" and kept.modalities == ("US",)  # nothing found: what was given stays
