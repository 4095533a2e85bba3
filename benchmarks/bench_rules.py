"""Export rules: ``on_store`` decisions per second with 10 rules on realistic datasets.

Datasets: headers of generated studies (``dcm_exporter.sample``: CT, MR and "mixed" CT + SR + RT Structure Set),
read with pydicom (``stop_before_pixels``) as an archive holds them after receiving; every timed pass gets freshly
read datasets, so pydicom's lazy element conversion is paid as in real life. They arrive study by study, from four
sending AEs, on two receiving AEs. Ten rules (device and AE level, Study/Series/Instance, four exporters) use every
condition form: keywords, hex tags, a nested sequence path, a value index, presence tests, network keys.

Figures:

* ``decide`` — :meth:`ExportRules.match` (rules chosen per exporter, no scheduling);
* ``on_store (memory)`` / ``on_store (sqlite)`` — the whole call, coalescing into an ``InMemoryTaskStore`` or a
  ``SqliteTaskStore`` on disk (one store write per matching exporter per object: the scheduled time moves).

Peer, measured in the same run on the same datasets: a straightforward implementation of the same rules that
parses each condition on every call and reads attributes by keyword (``Dataset.get``) — what one writes without
pre-compiling — deciding the same exporters (checked), and scheduling through ``TaskManager.schedule_export``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import Result, median_rate, timed

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


# --- the peer: the same rules, evaluated naively ---------------------------------------------------------

_NET = {"SendingApplicationEntityTitle": 0, "ReceivingApplicationEntityTitle": 1, "SendingHostname": 2,
        "ReceivingHostname": 3}
_RANK = {"Study": 0, "Series": 1, "Instance": 2}


def _naive_values(ds: Any, name: str) -> list[str]:
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        elem = ds.get(int(name, 16))
    else:
        elem = ds.data_element(name) if name in ds else None
    if elem is None or elem.value is None or elem.VR == "SQ":
        return []
    value = elem.value
    items = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def _naive_condition(text: str, ds: Any, net: tuple[str | None, ...]) -> bool:
    key, _, pattern = text.partition("=")
    negate = key.endswith("!")
    key = key.rstrip("!")
    index = 0
    if key.endswith("]"):
        key, _, n = key[:-1].partition("[")
        index = int(n)
    if key in _NET:
        value = net[_NET[key]]
        positive = (not value) if not pattern else bool(value) and re.fullmatch(pattern, value) is not None
        return positive != negate
    *seqs, leaf = key.split(".")
    datasets = [ds]
    for seq in seqs:
        datasets = [item for d in datasets for item in (d.get(seq) or [])]
    positive = False
    for d in datasets:
        values = _naive_values(d, leaf)
        if not pattern:
            positive = not values
        elif index:
            positive = index <= len(values) and re.fullmatch(pattern, values[index - 1]) is not None
        else:
            positive = any(re.fullmatch(pattern, v) for v in values)
        if positive:
            break
    return positive != negate


def naive_match(config: Configuration, ds: Any, net: tuple[str | None, ...]) -> dict[str, str]:
    chosen: dict[str, ExportRule] = {}
    device = config.devices[0]
    ae = device.application_entity(net[1] or "")
    for rule in (*(ae.export_rules if ae else ()), *device.export_rules):
        if all(_naive_condition(c, ds, net) for c in rule.conditions):
            for eid in rule.exporter_ids:
                cur = chosen.get(eid)
                if cur is None or _RANK[cur.entity.value] > _RANK[rule.entity.value]:
                    chosen[eid] = rule
    return {eid: r.name for eid, r in chosen.items()}


def naive_on_store(config: Configuration, manager: TaskManager, ds: Any, net: tuple[str | None, ...]) -> int:
    chosen = naive_match(config, ds, net)
    now = manager.now()
    rules = {r.name: r for r in config.export_rules}
    for eid, name in chosen.items():
        rule = rules[name]
        rank = _RANK[rule.entity.value]
        when = manager.exporter(eid).schedules.ceil(now + (rule.delay or timedelta(0)))
        manager.schedule_export(
            eid, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID) if rank >= 1 else None,
            str(ds.SOPInstanceUID) if rank >= 2 else None, scheduled_time=when,
        )
    return len(chosen)


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

        # the comparison is fair only if both decide the same
        check = rules_with(InMemoryTaskStore())
        matched = 0
        for ds, net in _read(files):
            ours = {k: v.name for k, v in check.match(ds, sending_aet=net[0], receiving_aet=net[1] or "",
                                                      sending_host=net[2], receiving_host=net[3]).items()}
            assert ours == naive_match(config, ds, net), (ours, naive_match(config, ds, net))
            matched += bool(ours)

        def time_ours(call: Any) -> float:
            runs = []
            for batch in batches():
                def run(batch: list[tuple[Any, tuple[str | None, ...]]] = batch) -> None:
                    for ds, net in batch:
                        clock.advance(timedelta(milliseconds=50))
                        call(ds, net)
                runs.append(timed(run))
            return median_rate(n, runs)

        rules = rules_with(InMemoryTaskStore())
        decide = time_ours(lambda ds, net: rules.match(ds, sending_aet=net[0], receiving_aet=net[1],
                                                        sending_host=net[2], receiving_host=net[3]))
        peer_decide = time_ours(lambda ds, net: naive_match(config, ds, net))

        mem = rules_with(InMemoryTaskStore())
        on_store_mem = time_ours(lambda ds, net: mem.on_store(ds, sending_aet=net[0], receiving_aet=net[1],
                                                              sending_host=net[2], receiving_host=net[3]))
        peer_mgr = TaskManager(InMemoryTaskStore(), config, device_name="arc", clock=clock)
        peer_mem = time_ours(lambda ds, net: naive_on_store(config, peer_mgr, ds, net))

        sq = rules_with(SqliteTaskStore(Path(tmp) / "ours.db"))
        on_store_sqlite = time_ours(lambda ds, net: sq.on_store(ds, sending_aet=net[0], receiving_aet=net[1],
                                                                sending_host=net[2], receiving_host=net[3]))
        peer_sq_mgr = TaskManager(SqliteTaskStore(Path(tmp) / "peer.db"), config, device_name="arc", clock=clock)
        peer_sqlite = time_ours(lambda ds, net: naive_on_store(config, peer_sq_mgr, ds, net))
        tasks = mem.task_manager.count()
    print(f"   {n} objects per pass ({matched} matching at least one rule), 10 rules, "
          f"{tasks} coalesced tasks in memory after {repeats} passes")
    return [
        Result("rules decide (10 rules)", "decisions/s", decide, "naive per-call rules", peer_decide),
        Result("rules on_store (memory store)", "decisions/s", on_store_mem, "naive + schedule_export", peer_mem),
        Result("rules on_store (sqlite store)", "decisions/s", on_store_sqlite, "naive + schedule_export",
               peer_sqlite),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
