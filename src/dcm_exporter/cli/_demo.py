"""``dcm-exporter demo``: the embedded default, a real export with no set-up.

The bundled configuration (``dcm_exporter/data/demo.ldif``) holds an archive device ``dcm-exporter-demo``
(local AE ``DCM4CHEE``) with the queue ``Export1`` and the exporter ``STORESCP`` (``dicom:STORESCP``), and the
remote device ``storescp`` whose AE ``STORESCP`` listens on localhost:11117 — the destination of
dcm4chee-arc-light's seed exporter. The demo starts the built-in Store SCP there, generates a sample study,
schedules its export through the SQLite queue in the work folder, runs it, prints the task table and checks
that every instance arrived byte for byte.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from dcm_exporter.cli._codes import EXIT_FAILED, EXIT_OK
from dcm_exporter.cli._output import ProgressBar, error, info, write_rows

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration

__all__ = ["DEMO_AE_TITLE", "DEMO_PORT", "demo_configuration", "register", "with_port"]

DEMO_AE_TITLE = "STORESCP"
DEMO_PORT = 11117
DEMO_EXPORTER = "STORESCP"
TASK_COLUMNS = ("task_id", "exporter_id", "status", "instances", "outcome")


def demo_configuration() -> Configuration:
    """The bundled demo configuration (``dcm_exporter/data/demo.ldif``)."""
    from dcm_exporter.codecs import ldif

    text = resources.files("dcm_exporter.data").joinpath("demo.ldif").read_text(encoding="utf-8")
    return ldif.load(text, filename="demo.ldif")


def with_port(configuration: Configuration, ae_title: str, port: int) -> Configuration:
    """The configuration with the listening connection of ``ae_title`` moved to ``port``."""
    remote = configuration.remote_ae(ae_title)
    device = configuration.device(remote.device_name)
    connections = tuple(
        attrs.evolve(c, port=port) if c == remote.connection else c for c in device.connections
    )
    return configuration.replace_device(attrs.evolve(device, connections=connections))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="a first export with no set-up: sample study -> SQLite queue -> built-in Store SCP",
        description=(
            "Export a generated sample study with the bundled demo configuration: an archive device, the "
            f"remote device storescp with AE {DEMO_AE_TITLE} on localhost:{DEMO_PORT}, the exporter "
            f"{DEMO_EXPORTER} and its queue Export1. The built-in Store SCP plays the destination; the queue "
            "is a SQLite file in the work folder. Exit status 0 when the export COMPLETED and every instance "
            "arrived unchanged."
        ),
    )
    p.add_argument("--work-dir", default="dcm-exporter-demo", metavar="DIR",
                   help="folder for the sample study, queue, configuration and received files "
                   "(default ./dcm-exporter-demo)")
    p.add_argument("--port", type=int, default=DEMO_PORT,
                   help=f"port of the Store SCP (default {DEMO_PORT}; a free one is picked if it is busy)")
    p.add_argument("--series", type=int, default=2, help="series in the sample study (default 2)")
    p.add_argument("--instances", type=int, default=10, help="instances per series (default 10)")
    p.add_argument("--kind", choices=["small", "ct", "mr", "mixed"], default="small",
                   help="sample kind: small 128x128 CT (default), ct 512x512 CT, mr, mixed SOP classes")
    p.add_argument("--scp-status", type=lambda v: int(v, 0), default=0, metavar="STATUS",
                   help="C-STORE status the Store SCP answers, e.g. 0xA700 to see a failing export (default 0)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the export (default 120)")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from dcm_exporter._dicom.part10 import dataset_bytes
    from dcm_exporter.codecs import ldif
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import open_store
    from dcm_exporter.sample import generate_study
    from dcm_exporter.sources import FileSystemSource
    from dcm_exporter.testing import StoreSCP

    work = Path(args.work_dir).resolve()
    archive, received_root = work / "archive", work / "received"
    for folder in (work, archive, received_root):
        folder.mkdir(parents=True, exist_ok=True)
    info(f"dcm-exporter demo — work folder {work}")

    configuration = demo_configuration()
    exporter_desc = configuration.exporters[DEMO_EXPORTER]
    device = configuration.exporter_device(DEMO_EXPORTER)
    info(f"configuration: bundled demo.ldif — archive device {device.device_name} (AE "
         f"{exporter_desc.ae_title}), exporter {DEMO_EXPORTER} -> {exporter_desc.uri}, queue "
         f"{exporter_desc.queue_name}; destination AE {DEMO_AE_TITLE} on localhost:{DEMO_PORT}")

    study = generate_study(archive, series=args.series, instances_per_series=args.instances, kind=args.kind)
    info(f"sample study {study.study_uid}: {len(study.series)} series x {args.instances} "
         f"{'/'.join(study.modalities)} instances ({study.total_bytes / 1e6:.1f} MB) in {archive / study.study_uid}")

    received_dir = received_root / study.study_uid
    scp = StoreSCP(DEMO_AE_TITLE, host="127.0.0.1", port=args.port, output_dir=received_dir,
                   status=args.scp_status)
    try:
        scp.start()
    except OSError as exc:
        scp = StoreSCP(DEMO_AE_TITLE, host="127.0.0.1", port=0, output_dir=received_dir,
                       status=args.scp_status)
        scp.start()
        info(f"port {args.port} is busy ({exc.strerror or exc}): the Store SCP listens on 127.0.0.1:{scp.port} "
             f"instead, and the demo configuration's storescp connection uses port {scp.port}")
    if scp.port != DEMO_PORT:
        configuration = with_port(configuration, DEMO_AE_TITLE, scp.port)
    (work / "config.ldif").write_text(ldif.dumps(configuration), encoding="utf-8")
    info(f"Store SCP {DEMO_AE_TITLE} listening on 127.0.0.1:{scp.port}, writing to {received_dir}")

    queue_path = work / "queue.sqlite"
    batch_id = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    total = len(study.instances)
    try:
        with FileSystemSource(archive, work / "index.sqlite") as source, Exporter(
            configuration, source, store=open_store(f"sqlite:{queue_path}")
        ) as exporter:
            source.refresh()
            task = exporter.schedule_export(
                DEMO_EXPORTER, study.study_uid, batch_id=batch_id, requester="dcm-exporter demo"
            )
            info(f"scheduled export task {task.task_id} ({task.entity}, exporter {task.exporter_id}, queue "
                 f"{task.queue_name}, batch {batch_id}) in {queue_path}")
            attempts: list[int] = []
            failure: list[BaseException] = []

            def work_queue() -> None:
                try:
                    attempts.append(exporter.run_until_idle(timeout=args.timeout))
                except BaseException as exc:  # shown by the main thread
                    failure.append(exc)

            worker = threading.Thread(target=work_queue, name="demo-queue", daemon=True)
            worker.start()
            with ProgressBar(total, f"export to {DEMO_AE_TITLE}") as bar:
                while worker.is_alive():
                    bar.update(scp.count)
                    worker.join(0.1)
                bar.update(scp.count)
            if failure:
                raise failure[0]
            tasks = exporter.queue.tasks(batch_id=batch_id, order_by="task_id")
    finally:
        scp.stop()

    info("")
    write_rows(
        [
            {
                "task_id": t.task_id,
                "exporter_id": t.exporter_id,
                "status": t.status.value,
                "instances": t.number_of_instances,
                "outcome": t.outcome_message or t.error_message or "",
            }
            for t in tasks
        ],
        TASK_COLUMNS,
    )
    info("")
    completed = bool(tasks) and all(t.status.value == "COMPLETED" for t in tasks)
    missing, different = [], []
    for instance in study.instances:
        target = received_dir / f"{instance.sop_instance_uid}.dcm"
        if not target.is_file():
            missing.append(instance.sop_instance_uid)
        elif dataset_bytes(target.read_bytes()) != dataset_bytes(instance.path.read_bytes()):
            different.append(instance.sop_instance_uid)
    arrived = total - len(missing)
    info(f"received {arrived} of {total} instances in {received_dir}"
         + (", each byte-identical to the original dataset" if arrived and not different else ""))
    if different:
        error(f"{len(different)} received instance(s) differ from the sent ones: {', '.join(different[:3])}")
    if missing:
        error(f"{len(missing)} instance(s) did not arrive, e.g. {missing[0]}")
    if not completed:
        error("the export did not complete; run with -v for the log")
        return EXIT_FAILED
    if missing or different:
        return EXIT_FAILED
    info(f"export COMPLETED in {time.monotonic() - started:.1f} s.")
    info("")
    command = _command_name()
    info("Next: look at the queue and the configuration the demo used:")
    info(f"  {command} queue list --queue sqlite:{queue_path}")
    info(f"  {command} exporter show {DEMO_EXPORTER} --config {work / 'config.ldif'}")
    return EXIT_OK


def _command_name() -> str:
    """``dcm-exporter`` when that is what the shell finds, else the full path of the running one.

    After ``nox -s demo`` the command lives in ``.nox/demo/bin``, which is not on the user's PATH.
    """
    import shutil

    running = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("dcm-exporter")
    if running is None or running.name != "dcm-exporter":
        return "dcm-exporter" if found else f"{sys.executable} -m dcm_exporter.cli"
    # nox puts its session's bin folder on PATH for the session only
    if found and Path(found).resolve() == running and "NOX_CURRENT_SESSION" not in os.environ:
        return "dcm-exporter"
    return str(Path(sys.argv[0]).absolute())
