"""Orthanc with its DICOMweb plugin as a throwaway DICOM + STOW-RS receiver."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import LOOPBACK, Process, ServerError, free_port, require_binary, tail

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
_counter = itertools.count(1)


@dataclass
class OrthancServer:
    """A running Orthanc.

    Attributes:
        url: HTTP base URL, e.g. ``http://127.0.0.1:8042`` (no trailing slash).
        dicomweb_url: ``<url>/dicom-web`` (STOW-RS: POST ``<dicomweb_url>/studies``).
        http_port / dicom_port: its ports; host is always 127.0.0.1.
        ae_title: its DICOM AE title.
        config: the configuration it was started with.
        workdir: storage, index, config and log live here.
    """

    url: str
    dicomweb_url: str
    host: str
    http_port: int
    dicom_port: int
    ae_title: str
    config: dict[str, Any]
    workdir: Path
    log_path: Path
    process: Process = field(repr=False)

    def get_json(self, path: str) -> Any:
        """GET ``url + path`` and decode the JSON answer (e.g. ``get_json("/instances")``)."""
        with urllib.request.urlopen(self.url + path, timeout=30) as rsp:
            return json.loads(rsp.read())

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as rsp:
            data: bytes = rsp.read()
            return data

    def instances(self) -> list[str]:
        """Orthanc ids of every stored instance."""
        result: list[str] = self.get_json("/instances")
        return result

    def stop(self, *, graceful: bool = False) -> None:
        """Stop it; by default with SIGKILL (its data is thrown away; SIGTERM takes about a second)."""
        self.process.stop(graceful=graceful)


def _start_orthanc_once(
    workdir: Path,
    *,
    ae_title: str = "ORTHANC",
    extra_config: Mapping[str, Any] | None = None,
    timeout: float = 20.0,
) -> OrthancServer:
    """One attempt of :func:`start_orthanc`."""
    binary = require_binary("Orthanc", "orthanc")
    if not DICOMWEB_PLUGIN.exists():
        from .ports import unavailable

        unavailable(f"{DICOMWEB_PLUGIN} not found: this test needs Debian package orthanc-dicomweb")
    n = next(_counter)
    base = workdir / f"orthanc-{n}"
    (base / "storage").mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    while dicom_port == http_port:
        dicom_port = free_port()
    extra = dict(extra_config or {})
    dicomweb = {"Enable": True, "Root": "/dicom-web/", "Host": f"{LOOPBACK}:{http_port}"}
    dicomweb.update(extra.pop("DicomWeb", {}))
    config: dict[str, Any] = {
        "Name": f"dcm-exporter-test-{n}",
        "StorageDirectory": str(base / "storage"),
        "IndexDirectory": str(base / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ae_title,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "SaveJobs": False,
        "HttpsCACertificates": "",
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": dicomweb,
    }
    config.update(extra)
    config_path = base / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = base / "orthanc.log"
    proc = Process([binary, str(config_path)], log_path=log, env={"TCP_NODELAY": "1"}, stop_timeout=10.0)
    url = f"http://{LOOPBACK}:{http_port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/system", timeout=1) as rsp:
                if rsp.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if not proc.alive() or time.monotonic() > deadline:
            proc.stop()
            raise ServerError(f"Orthanc did not answer GET {url}/system; log {log}:\n{tail(log)}")
        time.sleep(0.02)
    proc.wait_port(dicom_port, timeout=timeout)
    return OrthancServer(
        url=url,
        dicomweb_url=url + "/dicom-web",
        host=LOOPBACK,
        http_port=http_port,
        dicom_port=dicom_port,
        ae_title=ae_title,
        config=config,
        workdir=base,
        log_path=log,
        process=proc,
    )


def start_orthanc(
    workdir: Path,
    *,
    ae_title: str = "ORTHANC",
    extra_config: Mapping[str, Any] | None = None,
    timeout: float = 20.0,
) -> OrthancServer:
    """Start Orthanc per services.md and poll ``GET /system`` until it answers.

    ``extra_config`` is merged into the top level of the configuration (e.g. ``DicomModalities`` for
    storage-commitment tests); a ``DicomWeb`` key there is merged into the DICOMweb section.
    Skips (fails with ``CI=true``) when the ``orthanc`` / ``orthanc-dicomweb`` packages are missing.
    Tries other free ports up to three times (another process may take a port in the meantime).
    """
    for attempt in range(1, 4):
        try:
            return _start_orthanc_once(workdir, ae_title=ae_title, extra_config=extra_config, timeout=timeout)
        except ServerError:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")
