"""STOW-RS export of one study to Orthanc: ``stow:`` against dicomweb-client at equal concurrency, and ``dicom:``.

One generated CT study (512x512 16-bit, about 0.5 MB per instance) is sent, in the same run, to a fresh
Orthanc 1.10 + DICOMweb plugin for every measurement (median of ``--runs``). Each row compares the two STOW-RS
clients at the same concurrency (1 and 4 requests in flight), each sending the same batches of 50 instances:

* ``stow:`` (this library): per batch, one multipart/related request whose parts are streamed from the
  files as they are (no decoding); ``concurrency`` requests in flight on one HTTP connection pool;
* dicomweb-client ``DICOMwebClient.store_instances``: per batch, the instances read with ``pydicom.dcmread``
  (its API takes datasets) and sent as one multipart/related request, which it encodes again; for
  concurrency 4, four threads with a client each (``requests`` sessions are not shared across threads)
  take the batches in turn, as a user wanting throughput would;
* ``dicom:`` (this library's C-STORE transport, one association) to Orthanc's DICOM port, against ``stow:``
  at concurrency 1 (one connection each). When ``dicom:`` cannot be used in this checkout, DCMTK
  ``storescu`` (with ``TCP_NODELAY=1``) stands in and the row says so.

Options: ``--instances N`` (default 200), ``--runs N`` (default 3), ``--quick`` (60 instances, 1 run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _common import Result, median_rate, native_binary, timed  # noqa: E402

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
CT = "1.2.840.10008.5.1.4.1.1.2"
BATCH = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Orthanc:
    """A throwaway Orthanc on free 127.0.0.1 ports (see docs services.md)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        storage = workdir / "storage"
        storage.mkdir(parents=True)
        self.http_port, self.dicom_port = _free_port(), _free_port()
        config = {
            "Name": "bench-stow",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "SaveJobs": False,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Host": f"127.0.0.1:{self.http_port}"},
        }
        (workdir / "orthanc.json").write_text(json.dumps(config))
        self.log = (workdir / "orthanc.log").open("wb")
        self.proc = subprocess.Popen(
            ["Orthanc", str(workdir / "orthanc.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        self.url = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url + "/system", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Orthanc did not start; see {workdir / 'orthanc.log'}") from None
                time.sleep(0.05)

    def count(self) -> int:
        with urllib.request.urlopen(self.url + "/statistics", timeout=30) as rsp:
            return int(json.loads(rsp.read())["CountInstances"])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def generate(folder: Path, count: int) -> list:  # type: ignore[type-arg]
    """A CT study of ``count`` 512x512 16-bit instances (2 series), as Part 10 files."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from dcm_exporter.export import InstanceRef

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 4096, size=(512, 512), dtype=np.uint16).tobytes()
    study, series = generate_uid(), [generate_uid(), generate_uid()]
    refs = []
    for i in range(count):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CT, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series[i % 2]
        ds.PatientName, ds.PatientID, ds.Modality = "Bench^Stow", "BENCH", "CT"
        ds.InstanceNumber = i + 1
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = pixels
        path = folder / f"{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        refs.append(
            InstanceRef(
                study_uid=study,
                series_uid=ds.SeriesInstanceUID,
                sop_instance_uid=ds.SOPInstanceUID,
                sop_class_uid=CT,
                transfer_syntax_uid=ExplicitVRLittleEndian,
                size=path.stat().st_size,
                path=path,
            )
        )
    return refs


def _configuration(orthanc: Orthanc, props: dict[str, str]):  # type: ignore[no-untyped-def]
    from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, WebApplication

    http = Connection(name="http", hostname="127.0.0.1", port=orthanc.http_port, protocol="HTTP")
    dicom = Connection(name="dicom", hostname="127.0.0.1", port=orthanc.dicom_port)
    web = WebApplication(
        name="ORTHANC-WEB",
        service_path="/dicom-web",
        service_classes=("STOW_RS",),
        connection_refs=("http",),
        properties=props,
    )
    ae = ApplicationEntity(ae_title="ORTHANC", connection_refs=("dicom",), association_acceptor=True)
    device = Device(
        device_name="orthanc", connections=[http, dicom], application_entities=[ae], web_applications=[web]
    )
    return Configuration(devices=[device])


def _export(uri: str, props: dict[str, str], refs: list, orthanc: Orthanc) -> None:  # type: ignore[type-arg]
    from dcm_exporter.export import ExportRequest, OutcomeStatus
    from dcm_exporter.models import ExporterDescriptor
    from dcm_exporter.transports.registry import create_transport

    exporter = ExporterDescriptor(exporter_id="BENCH", uri=uri, queue_name="Export1", ae_title="DCMEXPORTER")
    config = _configuration(orthanc, props)
    with create_transport(exporter, config) as transport:  # type: ignore[call-arg]
        outcome = transport.send(
            ExportRequest(
                exporter=exporter,
                configuration=config,
                study_uid=refs[0].study_uid,
                instances=refs,
                calling_ae_title="DCMEXPORTER",
            )
        )
    if outcome.status is not OutcomeStatus.COMPLETED:
        raise RuntimeError(f"{uri}: {outcome.message}")


def _dicomweb_client(refs: list, orthanc: Orthanc, concurrency: int = 1) -> None:  # type: ignore[type-arg]
    import threading

    import pydicom
    from dicomweb_client.api import DICOMwebClient

    batches = [refs[start : start + BATCH] for start in range(0, len(refs), BATCH)]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        client = DICOMwebClient(url=f"{orthanc.url}/dicom-web")
        while True:
            with lock:
                if not batches or errors:
                    return
                batch = batches.pop(0)
            try:
                client.store_instances(datasets=[pydicom.dcmread(r.path) for r in batch])
            except BaseException as exc:  # reported after the threads end
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _storescu(refs: list, orthanc: Orthanc) -> None:  # type: ignore[type-arg]
    subprocess.run(
        [
            native_binary("storescu") or "storescu", "-aec", "ORTHANC", "127.0.0.1", str(orthanc.dicom_port),
            *[str(r.path) for r in refs],
        ],
        check=True,
        env={**os.environ, "TCP_NODELAY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _measure_all(
    methods: dict[str, Callable[[Orthanc], None]],
    refs: list,
    runs: int,
    tmp: Path,  # type: ignore[type-arg]
) -> dict[str, float]:
    """Interleaved runs (A B C, A B C, ...) on a fresh Orthanc each, after one untimed warm-up round."""
    durations: dict[str, list[float]] = {name: [] for name in methods}
    for run in range(-1, runs):
        for name, fn in methods.items():
            orthanc = Orthanc(tmp / f"orthanc-{len(durations[name])}-{run}-{abs(hash(name))}")
            try:
                seconds = timed(lambda o=orthanc, f=fn: f(o))  # type: ignore[misc]
                stored = orthanc.count()
                if stored != len(refs):
                    raise RuntimeError(f"{name}: Orthanc holds {stored} instances, expected {len(refs)}")
            finally:
                orthanc.stop()
            if run >= 0:
                durations[name].append(seconds)
    rates = {}
    for name, runs_ in durations.items():
        rates[name] = median_rate(len(refs), runs_)
        print(
            f"   {name:<36} {rates[name]:8.1f} instances/s  (runs: {', '.join(f'{d:.2f}s' for d in runs_)})"
        )
    return rates


def main(argv: list[str]) -> list[Result]:
    parser = argparse.ArgumentParser(prog="bench_stow")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.instances, args.runs = 60, 1
    if shutil.which("Orthanc") is None or not Path(DICOMWEB_PLUGIN).exists():
        print("   skipped: needs Debian packages orthanc and orthanc-dicomweb")
        return []
    with tempfile.TemporaryDirectory(prefix="bench-stow-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "study").mkdir()
        refs = generate(tmp / "study", args.instances)
        mb = sum(r.size for r in refs) / 1e6
        print(f"   study: {len(refs)} instances, {mb:.0f} MB, batches of {BATCH}, {args.runs} run(s) each")

        def stow(concurrency: int) -> Callable[[Orthanc], None]:
            props = {"concurrency": str(concurrency), "batch-instances": str(BATCH)}
            return lambda o: _export("stow:ORTHANC-WEB", props, refs, o)

        def dicom(o: Orthanc) -> None:
            _export("dicom:ORTHANC", {}, refs, o)

        dicom_name = "dcm_exporter dicom:"
        try:  # the dicom: transport is another developer's; DCMTK storescu stands in when it is unusable
            probe = Orthanc(tmp / "probe")
            try:
                _export("dicom:ORTHANC", {}, refs[:2], probe)
            finally:
                probe.stop()
        except Exception as exc:
            print(
                f"   dicom: transport unusable here ({type(exc).__name__}: {exc}); DCMTK storescu stands in"
            )
            dicom_name = "storescu (stand-in)"
            dicom = lambda o: _storescu(refs, o)  # noqa: E731

        rates = _measure_all(
            {
                "stow: concurrency 1": stow(1),
                "stow: concurrency 4": stow(4),
                "dicomweb-client, 1 thread": lambda o: _dicomweb_client(refs, o, 1),
                "dicomweb-client, 4 threads": lambda o: _dicomweb_client(refs, o, 4),
                dicom_name: dicom,
            },
            refs,
            args.runs,
            tmp,
        )
        stow1, stow4 = rates["stow: concurrency 1"], rates["stow: concurrency 4"]
        client1, client4 = rates["dicomweb-client, 1 thread"], rates["dicomweb-client, 4 threads"]
        c_store = rates[dicom_name]

    return [
        Result("stow -> Orthanc, concurrency 1", "instances/s", stow1, "dicomweb-client, 1 thread", client1),
        Result("stow -> Orthanc, concurrency 4", "instances/s", stow4, "dicomweb-client, 4 threads", client4),
        Result("stow (c=1) vs C-STORE -> Orthanc", "instances/s", stow1, dicom_name, c_store),
    ]


if __name__ == "__main__":
    from _common import print_results

    print_results(main(sys.argv[1:]))
