"""De-identification on export: what a ``deidentify:`` rule costs, and our de-identifier against dicognito.

Set: ``--count`` (default 400) generated ``small`` CT instances (pydicom's ``CT_small.dcm`` header with its private
tags, 128 x 128 pixels, ~39 KB each), one study, Explicit VR Little Endian, written once into a temp folder.
Two figures, median of ``--runs`` (default 3), in the same run:

1. ``dicom:`` export to DCMTK storescp (``--ignore``, ``TCP_NODELAY=1``), instances/s: with a ``deidentify:``
   rule for the destination against the same export without any rule (the byte-for-byte path). The ratio is
   the share of the plain rate that de-identification keeps.
2. the de-identification step alone, instances/s, on the same files, Part 10 bytes in, Part 10 bytes out. Ours
   is what the export does: :meth:`CoercionPlan.coerce_file` of the ``deidentify:`` rule (dcm4che's Basic
   Profile with UID remapping), which de-identifies the encoded bytes without decoding every element; the peer
   is dicognito's ``Anonymizer`` (pydicom based, its default settings: it replaces names, IDs and dates with
   pseudonyms and remaps UIDs) between ``pydicom.dcmread`` and ``save_as``. The two do different amounts of
   work per object (they implement different rules), so the ratio compares tools, not identical output.
3. the same with ours on a pydicom data set as dicognito works: ``dcmread``,
   :meth:`dcm_exporter.coercion.DeIdentifier.deidentify`, ``save_as`` (what the API offers for data sets, and
   what the export did for every object before the bytes path).

Run: ``python benchmarks/run.py coercion`` (``--runs=N``, ``--count=N``). dicognito comes with the ``bench`` extra.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import Result, native_binary  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _configuration(port: int, with_rule: bool) -> tuple[object, object]:
    from dcm_exporter.models import (
        ApplicationEntity,
        AttributeCoercion,
        Configuration,
        Connection,
        Device,
        ExporterDescriptor,
    )

    rules = (
        [
            AttributeCoercion(
                name="Research",
                dimse="C_STORE_RQ",
                role="SCP",
                uri="deidentify:",
                conditions=["ReceivingApplicationEntityTitle=STORESCP"],
            )
        ]
        if with_rule
        else []
    )
    exporter = ExporterDescriptor(exporter_id="E", uri="dicom:STORESCP", queue_name="Export1", ae_title="ARC")
    configuration = Configuration(
        devices=[
            Device(
                device_name="arc",
                application_entities=[ApplicationEntity(ae_title="ARC", attribute_coercions=rules)],
                exporters=[exporter],
            ),
            Device(
                device_name="storescp",
                connections=[Connection(name="dicom", hostname="127.0.0.1", port=port)],
                application_entities=[ApplicationEntity(ae_title="STORESCP", connection_refs=["dicom"])],
            ),
        ]
    )
    return exporter, configuration


def _export(port: int, refs: list[object], with_rule: bool) -> float:
    from dcm_exporter.export import CancelToken, ExportRequest, OutcomeStatus
    from dcm_exporter.transports.dicom import DicomTransport

    exporter, configuration = _configuration(port, with_rule)
    request = ExportRequest(
        exporter=exporter,  # type: ignore[arg-type]
        configuration=configuration,  # type: ignore[arg-type]
        study_uid=refs[0].study_uid,  # type: ignore[attr-defined]
        instances=refs,  # type: ignore[arg-type]
        calling_ae_title="ARC",
        cancel=CancelToken(),
    )
    transport = DicomTransport(exporter, configuration)  # type: ignore[arg-type]
    started = time.perf_counter()
    try:
        outcome = transport.send(request)
    finally:
        transport.close()
    elapsed = time.perf_counter() - started
    if outcome.status is not OutcomeStatus.COMPLETED:
        raise SystemExit(f"export failed: {outcome.message} {outcome.failures[:2]}")
    return elapsed


def _refs(paths: list[Path]) -> list[object]:
    import pydicom

    from dcm_exporter.export import InstanceRef

    out: list[object] = []
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        out.append(
            InstanceRef(
                study_uid=str(ds.StudyInstanceUID),
                series_uid=str(ds.SeriesInstanceUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                sop_class_uid=str(ds.SOPClassUID),
                transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
                size=p.stat().st_size,
                path=p,
            )
        )
    return out


def _step_bytes(blobs: list[bytes]) -> float:
    from dcm_exporter.coercion import plan_for_export

    exporter, configuration = _configuration(0, with_rule=True)
    plan = plan_for_export(configuration, exporter, receiving_ae_title="STORESCP")  # type: ignore[arg-type]
    started = time.perf_counter()
    for blob in blobs:
        if plan.coerce_file(io.BytesIO(blob)) is None:
            raise SystemExit("the deidentify: rule did not apply")
    return time.perf_counter() - started


def _step_ours(blobs: list[bytes]) -> float:
    import pydicom

    from dcm_exporter.coercion import DeIdentifier

    deidentifier = DeIdentifier()
    started = time.perf_counter()
    for blob in blobs:
        ds = pydicom.dcmread(io.BytesIO(blob))
        deidentifier.deidentify(ds)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(io.BytesIO(), enforce_file_format=True)
    return time.perf_counter() - started


def _step_dicognito(blobs: list[bytes]) -> float:
    import pydicom
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="bench")
    started = time.perf_counter()
    for blob in blobs:
        ds = pydicom.dcmread(io.BytesIO(blob))
        anonymizer.anonymize(ds)
        ds.save_as(io.BytesIO(), enforce_file_format=True)
    return time.perf_counter() - started


def main(argv: list[str]) -> list[Result]:
    runs, count = 3, 400
    for arg in argv:
        if arg.startswith("--runs="):
            runs = int(arg.split("=", 1)[1])
        if arg.startswith("--count="):
            count = int(arg.split("=", 1)[1])
    try:
        import dicognito  # noqa: F401
    except ImportError as exc:
        raise SystemExit("dicognito is not installed: pip install dcm-exporter[bench]") from exc
    storescp = native_binary("storescp")
    if storescp is None:
        raise SystemExit("DCMTK is not installed (Debian package dcmtk)")
    from dcm_exporter.sample import generate_study

    work = Path(tempfile.mkdtemp(prefix="bench_coercion_"))
    proc = None
    results: list[Result] = []
    try:
        study = generate_study(work / "study", series=4, instances_per_series=count // 4, kind="small")
        paths = sorted(Path(f) for f in study.files)
        refs = _refs(paths)
        port = _free_port()
        proc = subprocess.Popen(
            [storescp, "--ignore", "-aet", "STORESCP", "+xa", str(port)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        plain: list[float] = []
        coerced: list[float] = []
        for run in range(runs):
            order = [(plain, False), (coerced, True)]
            for into, with_rule in order if run % 2 == 0 else order[::-1]:
                into.append(_export(port, refs, with_rule))
        n = len(refs)
        plain_rate, coerced_rate = n / statistics.median(plain), n / statistics.median(coerced)
        print(f"   dicom: export of {n}: plain {plain_rate:,.0f}/s, de-identified {coerced_rate:,.0f}/s", flush=True)
        results.append(
            Result(f"coercion dicom: export {n} x 39 KB", "instances/s", coerced_rate, "same export, no rule",
                   plain_rate)
        )

        blobs = [p.read_bytes() for p in paths]
        fast: list[float] = []
        ours: list[float] = []
        peer: list[float] = []
        for run in range(runs):
            order2 = [(fast, _step_bytes), (ours, _step_ours), (peer, _step_dicognito)]
            for into2, fn in order2 if run % 2 == 0 else order2[::-1]:
                into2.append(fn(blobs))
        fast_rate = n / statistics.median(fast)
        ours_rate, peer_rate = n / statistics.median(ours), n / statistics.median(peer)
        print(
            f"   de-identification step: ours {fast_rate:,.0f}/s (bytes), {ours_rate:,.0f}/s (pydicom data set), "
            f"dicognito {peer_rate:,.0f}/s",
            flush=True,
        )
        results.append(
            Result(f"coercion de-identify {n} x 39 KB", "instances/s", fast_rate, "dicognito 0.19 Anonymizer",
                   peer_rate)
        )
        results.append(
            Result(f"coercion DeIdentifier {n} x 39 KB", "instances/s", ours_rate, "dicognito 0.19 Anonymizer",
                   peer_rate)
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
