"""The wado: transport (dcm4chee-arc's WadoExporter) against a real Orthanc with its DICOMweb plugin: the study
is stored in Orthanc first (its REST API), then fetched per study, series, instance or frame."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from _helpers import write_ct_study
from dcm_exporter import Exporter
from dcm_exporter.errors import TransportError
from dcm_exporter.export import ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import (
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
    StorageDescriptor,
    WebApplication,
)
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.transports.wado import create_transport

pytestmark = pytest.mark.orthanc

MULTIPART_DICOM = 'multipart/related; type="application/dicom"'
ABSENT_STUDY = "1.2.826.0.1.3680043.8.498.99999999999999999999"


def upload(orthanc: Any, refs: list[InstanceRef]) -> None:
    for ref in refs:
        assert ref.path is not None
        req = urllib.request.Request(orthanc.url + "/instances", data=ref.path.read_bytes(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as rsp:
            assert rsp.status == 200


def configuration(orthanc: Any, exporter: ExporterDescriptor, cache: Path | None = None,
                  proxy: str | None = None) -> Configuration:
    conn = Connection(name="http", hostname="127.0.0.1", port=orthanc.http_port, protocol="HTTP", http_proxy=proxy)
    web = WebApplication(name="ORTHANC-WEB", service_path="/dicom-web",
                         service_classes=("QIDO_RS", "STOW_RS", "WADO_RS"), connection_refs=("http",))
    storages = [] if cache is None else [StorageDescriptor(
        storage_id="wado-cache", uri=cache.as_uri(),
        storage_path_format="{0020000D}/{0020000E}/{00080018}{00081160,offset,0}.json")]
    archive = Device(device_name="archive", exporters=[exporter], queues=[QueueDescriptor(queue_name="Export1")],
                     storages=storages)
    return Configuration(devices=[archive, Device(device_name="orthanc", connections=[conn],
                                                  web_applications=[web])])


def wado(props: dict[str, str]) -> ExporterDescriptor:
    return ExporterDescriptor(exporter_id="WADO", uri="wado:ORTHANC-WEB", queue_name="Export1",
                              ae_title="DCM4CHEE", properties=props)


def send(config: Configuration, exporter: ExporterDescriptor, refs: list[InstanceRef], study: str = "",
         series: str = "*") -> Any:
    with create_transport(exporter, config) as transport:
        return transport.send(ExportRequest(exporter=exporter, configuration=config,
                                            study_uid=study or refs[0].study_uid, series_uid=series,
                                            instances=refs))


@pytest.fixture
def study(tmp_path: Path) -> list[InstanceRef]:
    return write_ct_study(tmp_path / "archive", series=2, per_series=3, seed=19, patient=("Wado^Test", "WADO1"))


def test_instance_level_retrieves_every_instance(orthanc: Any, study: list[InstanceRef]) -> None:
    upload(orthanc, study)
    exporter = wado({"WadoService": "/studies/[0]/series/[1]/instances/[2]", "Accept": MULTIPART_DICOM})
    outcome = send(configuration(orthanc, exporter), exporter, study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert outcome.completed == 6 and outcome.failed == 0
    assert outcome.message == "Query retrieved 6 objects by Exporter WADO"


def test_series_metadata_stored_on_a_storage(orthanc: Any, study: list[InstanceRef], tmp_path: Path) -> None:
    upload(orthanc, study)
    cache = tmp_path / "cache"
    exporter = wado({"WadoService": "/studies/[0]/series/[1]/metadata", "Accept": "application/dicom+json",
                     "StorageID": "wado-cache"})
    outcome = send(configuration(orthanc, exporter, cache), exporter, study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert outcome.completed == 2  # one request per series of the study
    series = sorted({r.series_uid for r in study})
    for series_uid in series:
        body = (cache / study[0].study_uid / series_uid / "0.json").read_text()
        uids = sorted(item["00080018"]["Value"][0] for item in json.loads(body))
        assert uids == sorted(r.sop_instance_uid for r in study if r.series_uid == series_uid)


def test_a_study_orthanc_lacks_is_not_completed(orthanc: Any, study: list[InstanceRef]) -> None:
    exporter = wado({"WadoService": "/studies/[0]/metadata", "Accept": "application/dicom+json"})
    with pytest.raises(TransportError, match=r"Query retrieved 0 objects by Exporter WADO, failed: 1 - GET .*"
                                             r"/dicom-web/studies/.*/metadata: HTTP 404"):
        send(configuration(orthanc, exporter), exporter, study, study=ABSENT_STUDY)


def test_ignore_not_found_completes(orthanc: Any, study: list[InstanceRef]) -> None:
    exporter = wado({"WadoService": "/studies/[0]/metadata", "Accept": "application/dicom+json",
                     "IgnoreNotFound": "true"})
    outcome = send(configuration(orthanc, exporter), exporter, study, study=ABSENT_STUDY)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert (outcome.completed, outcome.failed, outcome.skipped) == (0, 0, 1)


def test_some_missing_is_warning(orthanc: Any, study: list[InstanceRef]) -> None:
    upload(orthanc, study[:5])
    exporter = wado({"WadoService": "/studies/[0]/series/[1]/instances/[2]", "Accept": MULTIPART_DICOM})
    outcome = send(configuration(orthanc, exporter), exporter, study)
    assert outcome.status is OutcomeStatus.WARNING, outcome.message
    assert (outcome.completed, outcome.failed) == (5, 1)
    assert outcome.message.startswith("Query retrieved 5 objects by Exporter WADO, failed: 1 - GET ")
    assert [f.sop_instance_uid for f in outcome.failures] == [study[5].sop_instance_uid]


def test_qido_and_frames(orthanc: Any, study: list[InstanceRef]) -> None:
    upload(orthanc, study)
    qido = wado({"QidoService": "/studies?StudyInstanceUID=[0]", "Accept": "application/dicom+json"})
    assert send(configuration(orthanc, qido), qido, study).completed == 1
    frames = wado({"WadoService": "/studies/[0]/series/[1]/instances/[2]/frames/[3]",
                   "Accept": 'multipart/related; type="application/octet-stream"'})
    outcome = send(configuration(orthanc, frames), frames, study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert outcome.completed == 6  # single-frame instances: frame 1 of each


def test_through_the_exporter_for_one_series(orthanc: Any, study: list[InstanceRef], tmp_path: Path) -> None:
    upload(orthanc, study)
    exporter = wado({"WadoService": "/studies/[0]/series/[1]/instances/[2]", "Accept": MULTIPART_DICOM})
    with Exporter(configuration(orthanc, exporter), FileSystemSource(tmp_path / "archive")) as ex:
        outcome = ex.export_now("WADO", study[0].study_uid, study[0].series_uid)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert outcome.completed == 3


@pytest.mark.proxy
def test_through_the_web_applications_http_proxy(
    orthanc: Any, study: list[InstanceRef], http_proxy_factory: Any
) -> None:
    upload(orthanc, study)
    proxy = http_proxy_factory(user="alice", password="s3cret")
    exporter = wado({"WadoService": "/studies/[0]/metadata", "Accept": "application/dicom+json"})
    outcome = send(configuration(orthanc, exporter, proxy=proxy.address), exporter, study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    url = f"http://127.0.0.1:{orthanc.http_port}/dicom-web/studies/{study[0].study_uid}/metadata"
    assert proxy.requests() == [f"GET {url} HTTP/1.1"]
