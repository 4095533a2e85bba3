"""Export rules: ``on_store`` decisions per second with 10 rules on realistic datasets -- ours alone.

Datasets: headers of generated studies (``dcm_exporter.sample``: CT, MR and "mixed" CT + SR + RT Structure Set),
read with pydicom (``stop_before_pixels``) as an archive holds them after receiving; every timed pass gets freshly
read datasets, so pydicom's lazy element conversion is paid as in real life. They arrive study by study, from four
sending AEs, on two receiving AEs, 50 ms apart (on a fake clock). Ten rules (device and AE level,
Study/Series/Instance, four exporters) use every condition form: keywords, hex tags, a nested sequence path, a value
index, presence tests, network keys.

Figures, per object:

* ``decide`` -- :meth:`ExportRules.match`: every rule's compiled conditions evaluated, the coarsest rule chosen
  per exporter; nothing scheduled;
* ``on_store (memory)`` / ``on_store (sqlite)`` -- the whole call: decide, then for each chosen exporter the
  scheduled time (``now + dcmDuration`` rounded up to a whole second, then the exporter's schedule) and
  coalescing into the study's waiting task in an ``InMemoryTaskStore`` or a ``SqliteTaskStore`` on disk. Objects
  of a study that arrive within the same second get the same time, so coalescing changes nothing and the store
  writes nothing for them (about one write per exporter per second of arrivals);
* ``on_store (sqlite, a write per object)`` -- the same with objects arriving a second apart, so that every
  matching object moves its task's time and the store writes each time.

No peer: there is no third-party implementation of dcm4che's rule conditions to run on the same input, and a
peer written here would only measure what we chose to write. The figures are absolute (objects per second on
this machine); correctness is the tests' business (``tests/unit/test_rules*.py``).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import Result, median_rate, ours_only, timed

from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Device,
    ExporterDescriptor,
    ExportRule,
    QueueDescriptor,
)
from dcm_exporter.queue import InMemoryTaskStore, SqliteTaskStore, TaskManager
from dcm_exporter.rules import ExportRules
from dcm_exporter.testing import FakeClock

SENDERS = ("CT_SCANNER", "MR_SCANNER", "FORWARD", "WORKSTATION")
RECEIVERS = ("DCM4CHEE", "DCM4CHEE_ARCHIVE")

DEVICE_RULES = (
    ExportRule(name="CT to PACS", entity="Study", exporter_ids=("PACS",), delay=timedelta(minutes=1),
               conditions=("Modality=CT", "SendingApplicationEntityTitle=CT_.*")),
    ExportRule(name="MR series to AI", entity="Series", exporter_ids=("AI",),
               conditions=("00080060=MR", "ImageType[1]=ORIGINAL")),
    ExportRule(name="SR instances to RIS", entity="Instance", exporter_ids=("RIS",),
               conditions=("Modality=SR",)),
    ExportRule(name="no accession to QA", entity="Series", exporter_ids=("QA",),
               conditions=("AccessionNumber=", "Modality!=SR|KO|PR")),
    ExportRule(name="chest to teaching", entity="Study", exporter_ids=("AI",),
               conditions=("BodyPartExamined=CHEST|THORAX", "StudyDescription=(?i).*chest.*")),
    ExportRule(name="forwarded to QA", entity="Study", exporter_ids=("QA",),
               conditions=("SendingApplicationEntityTitle=FORWARD", "SendingHostname=10\\.1\\..*")),
    ExportRule(name="scheduled steps", entity="Series", exporter_ids=("RIS",),
               conditions=("RequestAttributesSequence.ScheduledProcedureStepID=SPS.*",)),
    ExportRule(name="RT to planning", entity="Series", exporter_ids=("PACS",),
               conditions=("Modality=RTSTRUCT", "ReceivingApplicationEntityTitle=DCM4CHEE_ARCHIVE")),
)
AE_RULES = (
    ExportRule(name="archive copies", entity="Study", exporter_ids=("PACS",),
               conditions=("Modality=MR|CT", "PatientID!=TEST.*")),
    ExportRule(name="localizers", entity="Instance", exporter_ids=("QA",),
               conditions=("ImageType[3]=LOCALIZER",)),
)


def configuration() -> Configuration:
    exporters = tuple(
        ExporterDescriptor(exporter_id=e, uri=f"noop:{e}", queue_name="Export1", ae_title="DCM4CHEE")
        for e in ("PACS", "AI", "RIS", "QA")
    )
    return Configuration(devices=(Device(
        device_name="arc",
        application_entities=(ApplicationEntity(ae_title="DCM4CHEE", export_rules=AE_RULES),
                              ApplicationEntity(ae_title="DCM4CHEE_ARCHIVE")),
        exporters=exporters,
        queues=(QueueDescriptor(queue_name="Export1"),),
        export_rules=DEVICE_RULES,
    ),))


# --- data ------------------------------------------------------------------------------------------------


def _files(root: Path, studies: int) -> list[Path]:
    from dcm_exporter.sample import generate_study

    files: list[Path] = []
    kinds = ("small", "mr", "mixed")
    for n in range(studies):
        info = generate_study(root, series=2, instances_per_series=20, kind=kinds[n % 3])  # type: ignore[arg-type]
        files.extend(info.files)
    return files


def _read(files: list[Path]) -> list[tuple[Any, tuple[str | None, ...]]]:
    import pydicom
    from pydicom.dataset import Dataset

    out = []
    for n, path in enumerate(files):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if n % 5 == 0:  # some objects come with scheduled procedure steps, some are localizers
            item = Dataset()
            item.ScheduledProcedureStepID = f"SPS{n}"
            ds.RequestAttributesSequence = [item]
        if n % 7 == 0:
            ds.BodyPartExamined = "CHEST"
            ds.StudyDescription = "Chest routine"
        study_no = n // 40
        net = (SENDERS[study_no % 4], RECEIVERS[study_no % 2], f"10.1.0.{study_no % 9}", "arc.example.org")
        out.append((ds, net))
    return out


def main(argv: list[str]) -> list[Result]:
    quick = "--quick" in argv
    studies = 12 if quick else 60
    repeats = 3 if quick else 5
    config = configuration()
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp) / "studies", studies)
        n = len(files)

        def batches() -> list[list[tuple[Any, tuple[str | None, ...]]]]:
            return [_read(files) for _ in range(repeats)]

        clock = FakeClock(datetime(2024, 5, 6, 9, 0, tzinfo=UTC))

        def rules_with(store: Any) -> ExportRules:
            return ExportRules(TaskManager(store, config, device_name="arc", clock=clock))

        check = rules_with(InMemoryTaskStore())
        matched = sum(bool(check.match(ds, sending_aet=net[0], receiving_aet=net[1] or "", sending_host=net[2],
                                       receiving_host=net[3])) for ds, net in _read(files))

        def rate(call: Any, step: timedelta = timedelta(milliseconds=50)) -> float:
            runs = []
            for batch in batches():
                def run(batch: list[tuple[Any, tuple[str | None, ...]]] = batch) -> None:
                    for ds, net in batch:
                        clock.advance(step)
                        call(ds, net)
                runs.append(timed(run))
            return median_rate(n, runs)

        def on_store(rules: ExportRules) -> Any:
            return lambda ds, net: rules.on_store(ds, sending_aet=net[0], receiving_aet=net[1],
                                                  sending_host=net[2], receiving_host=net[3])

        rules = rules_with(InMemoryTaskStore())
        decide = rate(lambda ds, net: rules.match(ds, sending_aet=net[0], receiving_aet=net[1],
                                                   sending_host=net[2], receiving_host=net[3]))
        mem = rules_with(InMemoryTaskStore())
        on_store_mem = rate(on_store(mem))
        on_store_sqlite = rate(on_store(rules_with(SqliteTaskStore(Path(tmp) / "ours.db"))))
        every = rules_with(SqliteTaskStore(Path(tmp) / "every.db"))
        on_store_writes = rate(on_store(every), step=timedelta(seconds=1))
        tasks = mem.task_manager.count()
    print(f"   {n} objects per pass ({matched} matching at least one rule), 10 rules, "
          f"{tasks} coalesced tasks in memory after {repeats} passes")
    return [
        ours_only("rules decide (10 rules)", "decisions/s", decide),
        ours_only("rules on_store (memory store)", "decisions/s", on_store_mem),
        ours_only("rules on_store (sqlite store)", "decisions/s", on_store_sqlite),
        ours_only("rules on_store (sqlite, write/obj)", "decisions/s", on_store_writes),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
