"""Found in acceptance testing: a ``dicom:`` exporter against DCMTK storescp as an archive engineer runs it.

- storescp without ``--fork`` serves one association at a time: an idle pooled association (kept for the
  next task) must not block the next export when that one needs other presentation contexts (a study of
  another modality). Before the fix the second export waited for the idle association to time out.
- a truncated file in the source folder must fail alone, with its reason; the other instances of the
  study are sent. Before the fix its bytes went out as stored, storescp aborted the association and
  nothing of the study was sent (the task failed as a connection failure, retried for ever).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest

from dcm_exporter import Exporter, FileSystemSource
from dcm_exporter.export import OutcomeStatus
from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, ExporterDescriptor
from dcm_exporter.sample import generate_study

pytestmark = pytest.mark.dcmtk


def configuration(port: int, *, idle_timeout_ms: int = 300_000) -> Configuration:
    """An archive device with exporter STORESCP -> a remote AE STORESCP on the given port.

    The A-ASSOCIATE-AC wait is short (3 s) so a blocked association shows as a failure, not a long wait.
    """
    archive = Device(
        device_name="dcm4chee-arc",
        application_entities=(ApplicationEntity(ae_title="DCM4CHEE", connection_refs=()),),
        exporters=(
            ExporterDescriptor(
                exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1", ae_title="DCM4CHEE"
            ),
        ),
    )
    remote = Device(
        device_name="storescp",
        connections=(
            Connection(
                name="dicom", hostname="127.0.0.1", port=port, aarq_timeout=3000, idle_timeout=idle_timeout_ms
            ),
        ),
        application_entities=(ApplicationEntity(ae_title="STORESCP", connection_refs=("dicom",)),),
    )
    return Configuration(devices=(archive, remote))


def received_uids(output_dir: Path) -> set[str]:
    uids = set()
    for path in output_dir.rglob("*"):
        if path.is_file():
            uids.add(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
    return uids


def test_studies_of_different_sop_classes_back_to_back_to_a_single_association_storescp(
    tmp_path: Path, storescp_factory
) -> None:
    scp = storescp_factory()  # no --fork: one association at a time
    mr = generate_study(tmp_path / "archive", series=1, instances_per_series=3, kind="mr")
    ct = generate_study(tmp_path / "archive", series=1, instances_per_series=3, kind="small")
    source = FileSystemSource(tmp_path / "archive")
    with Exporter(configuration(scp.port), source) as exporter:
        first = exporter.export_now("STORESCP", mr.study_uid)
        second = exporter.export_now("STORESCP", ct.study_uid)
        again = exporter.export_now("STORESCP", mr.study_uid)
    assert (first.status, first.completed) == (OutcomeStatus.COMPLETED, 3), first.message
    assert (second.status, second.completed) == (OutcomeStatus.COMPLETED, 3), second.message
    assert (again.status, again.completed) == (OutcomeStatus.COMPLETED, 3), again.message
    sent = {i.sop_instance_uid for i in mr.instances} | {i.sop_instance_uid for i in ct.instances}
    assert received_uids(scp.output_dir) == sent


@pytest.mark.parametrize("damage", ["half", "header_only"])
def test_a_truncated_file_fails_alone_and_the_rest_of_the_study_is_sent(
    tmp_path: Path, storescp_factory, damage: str
) -> None:
    scp = storescp_factory()
    study = generate_study(tmp_path / "archive", series=1, instances_per_series=5, kind="small")
    victim = sorted(study.instances, key=lambda i: i.sop_instance_uid)[0]
    data = victim.path.read_bytes()
    # cut in the middle of the pixel data, or a little after the pixel data element's header
    cut = len(data) // 2 if damage == "half" else data.rfind(b"\xe0\x7f\x10\x00") + 14
    victim.path.write_bytes(data[:cut])
    source = FileSystemSource(tmp_path / "archive")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom may warn while indexing the damaged file
        with Exporter(configuration(scp.port), source) as exporter:
            outcome = exporter.export_now("STORESCP", study.study_uid)
    assert outcome.status is OutcomeStatus.WARNING, outcome.message
    assert (outcome.completed, outcome.failed) == (4, 1)
    (failure,) = outcome.failures
    assert failure.sop_instance_uid == victim.sop_instance_uid
    assert "truncated" in failure.reason and victim.path.name in failure.reason
    others = {i.sop_instance_uid for i in study.instances} - {victim.sop_instance_uid}
    assert received_uids(scp.output_dir) == others
