"""The stow: transport against a real Orthanc with its DICOMweb plugin, checked through Orthanc's REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _helpers import write_ct_study
from dcm_exporter.export import ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import Configuration, Connection, Device, ExporterDescriptor, WebApplication
from dcm_exporter.transports.stow import create_transport

pytestmark = pytest.mark.orthanc

def generate_study(folder: Path, *, series: int, per_series: int, rows: int = 64) -> list[InstanceRef]:
    """A CT study with fresh UIDs and noise pixels, written as Part 10 files."""
    return write_ct_study(
        folder, series=series, per_series=per_series, rows=rows, seed=7, patient=("Stow^Orthanc", "STOWORTHANC")
    )


def orthanc_config(orthanc: Any, props: dict[str, str]) -> Configuration:
    conn = Connection(name="http", hostname="127.0.0.1", port=orthanc.http_port, protocol="HTTP")
    web = WebApplication(
        name="ORTHANC-WEB",
        service_path="/dicom-web",
        service_classes=("QIDO_RS", "STOW_RS", "WADO_RS"),
        connection_refs=("http",),
        properties=props,
    )
    return Configuration(devices=[Device(device_name="orthanc", connections=[conn], web_applications=[web])])


EXPORTER = ExporterDescriptor(exporter_id="STOW-ORTHANC", uri="stow:ORTHANC-WEB", queue_name="Export1")


def stored_sop_instance_uids(orthanc: Any) -> list[str]:
    return sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.get_json("/instances?expand"))


def export(refs: list[InstanceRef], exporter: ExporterDescriptor, config: Configuration) -> Any:
    with create_transport(exporter, config) as transport:
        return transport.send(
            ExportRequest(
                exporter=exporter, configuration=config, study_uid=refs[0].study_uid, instances=refs
            )
        )


def test_study_stored_with_batching_and_concurrency(orthanc: Any, tmp_path: Path) -> None:
    refs = generate_study(tmp_path, series=3, per_series=9)
    outcome = export(refs, EXPORTER, orthanc_config(orthanc, {"concurrency": "3", "batch-instances": "4"}))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert (outcome.completed, outcome.warning, outcome.failed) == (27, 0, 0)
    assert outcome.message == f"Export Study[uid={refs[0].study_uid}] to ORTHANC-WEB - completed:27"
    assert len(orthanc.instances()) == 27
    assert stored_sop_instance_uids(orthanc) == sorted(r.sop_instance_uid for r in refs)
    studies = orthanc.get_json("/studies?expand")
    assert [s["MainDicomTags"]["StudyInstanceUID"] for s in studies] == [refs[0].study_uid]
    assert len(studies[0]["Series"]) == 3


def test_chunked_and_byte_batches(orthanc: Any, tmp_path: Path) -> None:
    refs = generate_study(tmp_path, series=1, per_series=10, rows=128)
    props = {"chunked": "true", "concurrency": "2", "batch-bytes": str(refs[0].size * 3)}
    outcome = export(refs, EXPORTER, orthanc_config(orthanc, props))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.message
    assert stored_sop_instance_uids(orthanc) == sorted(r.sop_instance_uid for r in refs)


def test_stored_bytes_are_the_files(orthanc: Any, tmp_path: Path) -> None:
    refs = generate_study(tmp_path, series=1, per_series=3)
    assert export(refs, EXPORTER, orthanc_config(orthanc, {})).completed == 3
    for item in orthanc.get_json("/instances?expand"):
        ref = next(r for r in refs if r.sop_instance_uid == item["MainDicomTags"]["SOPInstanceUID"])
        assert ref.path is not None
        assert orthanc.get_bytes(f"/instances/{item['ID']}/file") == ref.path.read_bytes()


def test_transfer_syntax_conversion(orthanc: Any, tmp_path: Path) -> None:
    refs = generate_study(tmp_path, series=1, per_series=2)
    outcome = export(refs, EXPORTER, orthanc_config(orthanc, {"transfer-syntax": "ImplicitVRLittleEndian"}))
    assert outcome.completed == 2
    for orthanc_id in orthanc.instances():
        ts = orthanc.get_bytes(f"/instances/{orthanc_id}/metadata/TransferSyntax").decode()
        assert ts == "1.2.840.10008.1.2"


def test_direct_url_and_sending_twice(orthanc: Any, tmp_path: Path) -> None:
    refs = generate_study(tmp_path, series=1, per_series=5)
    exporter = ExporterDescriptor(
        exporter_id="DIRECT", uri=f"stow:{orthanc.dicomweb_url}", queue_name="Export1", properties={}
    )
    for _ in range(2):  # Orthanc accepts a resend of the same instances: stored once
        outcome = export(refs, exporter, Configuration())
        assert outcome.status is OutcomeStatus.COMPLETED and outcome.completed == 5
    assert len(orthanc.instances()) == 5


def test_how_to_page_examples_run_against_orthanc(orthanc: Any, tmp_path: Path) -> None:
    import doctest

    doc = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "stow-export.md"
    generate_study(tmp_path, series=2, per_series=6)
    result = doctest.testfile(
        str(doc),
        module_relative=False,
        globs={"study_dir": tmp_path, "dicomweb_url": orthanc.dicomweb_url},
        optionflags=doctest.ELLIPSIS,
        verbose=False,
    )
    assert result.attempted >= 20
    assert result.failed == 0
    assert len(orthanc.instances()) == 12
