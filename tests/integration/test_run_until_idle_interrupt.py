"""A notebook's "interrupt kernel" (KeyboardInterrupt in the main thread) during ``run_until_idle``.

The running export goes back to the queue, no further task is started, and the exporter is usable again.
Before, the drain workers went on with the whole queue after the interrupt, and a ``Thread.join`` that the
interrupt broke made them look finished, so a task could stay IN PROCESS.
"""

from __future__ import annotations

import _thread
import threading
from pathlib import Path

import attrs
import pytest

from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.exporter import Exporter
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sample import generate_study
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.testing import StoreSCP


@pytest.mark.slow
def test_interrupting_run_until_idle_puts_the_running_export_back(tmp_path: Path) -> None:
    studies = [generate_study(tmp_path / "archive", series=1, instances_per_series=3, kind="small") for _ in range(4)]
    with StoreSCP(delay=0.3) as scp:
        configuration = with_port(demo_configuration(), "STORESCP", scp.port)
        queue = configuration.device("dcm-exporter-demo").queue("Export1")
        assert queue is not None
        configuration = configuration.put_queue(attrs.evolve(queue, max_tasks_parallel=1))  # one task at a time
        store = SqliteTaskStore(tmp_path / "q.sqlite")
        with Exporter(configuration, FileSystemSource(tmp_path / "archive"), store=store) as exporter:
            for study in studies:
                exporter.schedule_export("STORESCP", study.study_uid)
            started = threading.Event()
            exporter.on_task_started(lambda task: started.set() if task.task_id == 2 else None)
            # interrupt the main thread while task 2 runs (its three C-STOREs take about a second)
            watcher = threading.Thread(target=lambda: started.wait(30) and _thread.interrupt_main())
            watcher.start()
            with pytest.raises(KeyboardInterrupt):
                exporter.run_until_idle(timeout=60)
            watcher.join()
            statuses = {t.task_id: t.status for t in exporter.queue.tasks()}
            assert statuses[1] is TaskStatus.COMPLETED
            assert statuses[2] is TaskStatus.SCHEDULED  # back in the queue, not IN PROCESS
            assert statuses[3] is TaskStatus.SCHEDULED and statuses[4] is TaskStatus.SCHEDULED  # not started
            # usable again: the rest runs to the end
            exporter.run_until_idle(timeout=60)
            assert {t.status for t in exporter.queue.tasks()} == {TaskStatus.COMPLETED}
        store.close()
    # every instance arrived; what task 2 had sent before the interrupt was sent again (at least once)
    assert {r.sop_instance_uid for r in scp.received} == {i.sop_instance_uid for s in studies for i in s.instances}
