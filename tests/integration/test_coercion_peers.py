"""Attribute coercion on export, against real peers: DCMTK storescp (``dicom:``) and Orthanc (``stow:``).

What arrives is read back from the peer and compared with the sent files and with the values computed from
upstream's documented UID function (``2.25.<name-based UUID>``), never with hard-coded results.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydicom
import pytest

from dcm_exporter._dicom import part10
from dcm_exporter.coercion import remap_uid
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.export import CancelToken, ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import (
    ApplicationEntity,
    AttributeCoercion,
    CoercionOnFailure,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    WebApplication,
)
from dcm_exporter.transports.dicom import create_transport as create_dicom

SENSITIVE = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "ReferringPhysicianName")


def ref_for(path: Path) -> InstanceRef:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return InstanceRef(
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        size=path.stat().st_size,
        path=path,
    )


def rule(name: str, uri: str, *conditions: str, **kwargs: Any) -> AttributeCoercion:
    return AttributeCoercion(
        name=name, dimse="C_STORE_RQ", role="SCP", uri=uri, conditions=conditions, **kwargs
    )


def archive(
    coercions: Sequence[AttributeCoercion], peers: dict[str, int], *, device_level: Sequence[AttributeCoercion] = ()
) -> Configuration:
    """The exporting archive (AE DCM4CHEE with the rules) and one device per destination AE on loopback."""
    exporters = [
        ExporterDescriptor(exporter_id=aet, uri=f"dicom:{aet}", queue_name="Export1", ae_title="DCM4CHEE")
        for aet in peers
    ]
    arc = Device(
        device_name="arc",
        connections=[Connection(name="dicom", hostname="127.0.0.1", port=11112)],
        application_entities=[
            ApplicationEntity(ae_title="DCM4CHEE", connection_refs=["dicom"], attribute_coercions=coercions)
        ],
        attribute_coercions=device_level,
        exporters=exporters,
    )
    devices = [arc]
    for aet, port in peers.items():
        devices.append(
            Device(
                device_name=aet.lower(),
                connections=[Connection(name="dicom", hostname="127.0.0.1", port=port)],
                application_entities=[ApplicationEntity(ae_title=aet, connection_refs=["dicom"])],
            )
        )
    return Configuration(devices=devices)


def export(configuration: Configuration, exporter_id: str, files: Sequence[Path]) -> Any:
    exporter = configuration.exporters[exporter_id]
    refs = [ref_for(p) for p in files]
    request = ExportRequest(
        exporter=exporter,
        configuration=configuration,
        study_uid=refs[0].study_uid,
        instances=refs,
        calling_ae_title="DCM4CHEE",
        cancel=CancelToken(),
    )
    with create_dicom(exporter, configuration) as transport:
        return transport.send(request)


def dataset_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    meta = part10.parse_part10_meta(data, name=str(path))
    assert isinstance(meta, part10.Part10Meta)
    return data[meta.dataset_offset :]


@pytest.fixture
def study(tmp_path: Path) -> list[Path]:
    """A generated CT study with patient data, private tags and references between its objects."""
    from dcm_exporter.sample import generate_study

    info = generate_study(tmp_path / "study", series=2, instances_per_series=3, kind="small")
    files = sorted(Path(f) for f in info.files)
    first = pydicom.dcmread(files[0])
    for path in files:  # every image refers to the first one: remapped consistently?
        ds = pydicom.dcmread(path)
        ref = pydicom.Dataset()
        ref.ReferencedSOPClassUID = first.SOPClassUID
        ref.ReferencedSOPInstanceUID = first.SOPInstanceUID
        ds.ReferencedImageSequence = [ref]
        ds.AccessionNumber = "ACC123"
        ds.PatientBirthDate = "19700101"
        ds.ReferringPhysicianName = "Referrer^Doctor"
        ds.save_as(path)
    return files


def test_deidentified_study_to_storescp_and_the_same_study_unchanged_to_another_ae(
    storescp_factory: Any, study: list[Path]
) -> None:
    research = storescp_factory(ae_title="RESEARCH", options=("+xa", "+B"))
    clinic = storescp_factory(ae_title="CLINIC", options=("+xa", "+B"))
    config = archive(
        [rule("Research", "deidentify:", "ReceivingApplicationEntityTitle=RESEARCH")],
        {"RESEARCH": research.port, "CLINIC": clinic.port},
    )
    outcome = export(config, "RESEARCH", study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    assert outcome.completed == len(study)
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in study}
    received = [pydicom.dcmread(p) for p in research.files()]
    assert len(received) == len(study)
    expected_uids = {remap_uid(uid): uid for uid in originals}
    studies = set()
    for ds in received:
        original = originals[expected_uids[str(ds.SOPInstanceUID)]]  # the documented function, per instance
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.StudyInstanceUID == remap_uid(str(original.StudyInstanceUID))
        assert ds.SeriesInstanceUID == remap_uid(str(original.SeriesInstanceUID))
        assert ds.FrameOfReferenceUID == remap_uid(str(original.FrameOfReferenceUID))
        studies.add(str(ds.StudyInstanceUID))
        for keyword in SENSITIVE:
            assert keyword in original and original.get(keyword) not in (None, "")
            assert ds.get(keyword) in (None, ""), keyword  # emptied
        for keyword in ("StudyDate", "StudyTime", "StudyID"):
            assert ds.get(keyword) in (None, ""), keyword
        assert "InstanceCreationDate" not in ds and "OtherPatientIDsSequence" not in ds
        assert ds.InstitutionName == "REMOVED" and ds.ContentDate == "19991111"
        assert not [e for e in ds if e.tag.is_private] and [e for e in original if e.tag.is_private]
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.SOPClassUID == original.SOPClassUID  # SOP classes are not touched
        assert ds.PixelData == original.PixelData  # pixel data identical
        if "ReferencedImageSequence" in original:
            assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == remap_uid(
                str(original.ReferencedImageSequence[0].ReferencedSOPInstanceUID)
            )
            assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID in {str(r.SOPInstanceUID) for r in received}
    assert len(studies) == 1  # consistent across the study

    # the same study to another AE: byte for byte as stored
    outcome = export(config, "CLINIC", study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    sent = {str(pydicom.dcmread(p).SOPInstanceUID): dataset_bytes(p) for p in study}
    got = {str(pydicom.dcmread(p).SOPInstanceUID): dataset_bytes(p) for p in clinic.files()}
    assert got == sent


def test_a_broken_deidentify_rule_fails_those_instances_and_sends_no_original(
    storescp_factory: Any, study: list[Path]
) -> None:
    research = storescp_factory(ae_title="RESEARCH", options=("+xa",))
    config = archive(
        [
            rule(
                "Research",
                "deidentify:RetainUIDs",  # upstream's name is RetainUIDsOption: unknown option
                "ReceivingApplicationEntityTitle=RESEARCH",
                on_failure=CoercionOnFailure.CONTINUE,  # even so: never the original
            )
        ],
        {"RESEARCH": research.port},
    )
    outcome = export(config, "RESEARCH", study)
    assert outcome.status is OutcomeStatus.FAILED or outcome.failed == len(study)
    assert outcome.completed == 0 and outcome.failed == len(study)
    reasons = {f.reason for f in outcome.failures}
    assert len(reasons) == 1
    (reason,) = reasons
    assert "'Research'" in reason and "RetainUIDs" in reason and "not sent" in reason
    assert research.files() == []


def test_a_failing_merge_rule_fails_under_rethrow_and_sends_under_continue(
    storescp_factory: Any, study: list[Path]
) -> None:
    research = storescp_factory(ae_title="RESEARCH", options=("+xa",))
    broken = rule("Broken", "merge-attrs:", merge_attributes=["NoSuchKeyword=x"])
    config = archive([broken], {"RESEARCH": research.port})
    outcome = export(config, "RESEARCH", study[:2])
    assert outcome.failed == 2 and "NoSuchKeyword" in outcome.failures[0].reason
    assert research.files() == []
    config = archive([broken.__class__(**{**_fields(broken), "on_failure": "CONTINUE"})], {"RESEARCH": research.port})
    outcome = export(config, "RESEARCH", study[:2])
    assert outcome.status is OutcomeStatus.COMPLETED and len(research.files()) == 2


def _fields(model: Any) -> dict[str, Any]:
    import attrs

    return {f.name: getattr(model, f.name) for f in attrs.fields(type(model))}


def test_xslt_rule_nullifies_person_names(storescp_factory: Any, study: list[Path], tmp_path: Path) -> None:
    stylesheet = tmp_path / "nullify-pn.xsl"
    # every top-level attribute with a PersonName, without its values (what upstream's nullify-pn.xsl does)
    stylesheet.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">
  <xsl:param name="ReceivingApplicationEntityTitle"/>
  <xsl:template match="/NativeDicomModel">
    <NativeDicomModel>
      <xsl:for-each select="DicomAttribute[PersonName]">
        <DicomAttribute tag="{@tag}" vr="{@vr}"/>
      </xsl:for-each>
      <DicomAttribute tag="00081040" vr="LO"><Value number="1"><xsl:value-of
        select="$ReceivingApplicationEntityTitle"/></Value></DicomAttribute>
    </NativeDicomModel>
  </xsl:template>
</xsl:stylesheet>
"""
    )
    target = storescp_factory(ae_title="NULLIFY_PN", options=("+xa",))
    config = archive(
        [],
        {"NULLIFY_PN": target.port},
        device_level=[
            rule(
                "Nullify PN",
                f"xslt:{stylesheet}",
                "ReceivingApplicationEntityTitle=NULLIFY_PN",
                params={"xsl-no-keyword": "true"},
            )
        ],
    )
    outcome = export(config, "NULLIFY_PN", study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in study}
    for path in target.files():
        ds = pydicom.dcmread(path)
        original = originals[str(ds.SOPInstanceUID)]  # UIDs untouched
        assert str(original.PatientName) and ds.PatientName == ""
        assert ds.InstitutionalDepartmentName == "NULLIFY_PN"  # the stylesheet parameter
        assert ds.PatientID == original.PatientID and ds.PixelData == original.PixelData


def test_refused_scheme_is_a_configuration_error(storescp_factory: Any, study: list[Path]) -> None:
    target = storescp_factory(ae_title="LEADING", options=("+xa",))
    config = archive([rule("Leading", "leading-arc:DCMQRSCP")], {"LEADING": target.port})
    with pytest.raises(ConfigurationError, match="leading-arc: processor needs a C-FIND"):
        export(config, "LEADING", study[:1])
    assert target.files() == []


# --- stow: to Orthanc --------------------------------------------------------------------------


def stow_configuration(orthanc: Any, coercions: Sequence[AttributeCoercion]) -> Configuration:
    arc = Device(
        device_name="arc",
        connections=[Connection(name="http", hostname="127.0.0.1", port=orthanc.http_port, protocol="HTTP")],
        application_entities=[ApplicationEntity(ae_title="DCM4CHEE", attribute_coercions=coercions)],
        web_applications=[
            WebApplication(
                name="ORTHANC", service_path="/dicom-web", service_classes=["STOW_RS"], connection_refs=["http"]
            )
        ],
        exporters=[
            ExporterDescriptor(exporter_id="STOW", uri="stow:ORTHANC", queue_name="Export1", ae_title="DCM4CHEE")
        ],
    )
    return Configuration(devices=[arc])


def stow(configuration: Configuration, files: Sequence[Path]) -> Any:
    from dcm_exporter.transports.stow import create_transport as create_stow

    exporter = configuration.exporters["STOW"]
    refs = [ref_for(p) for p in files]
    request = ExportRequest(
        exporter=exporter,
        configuration=configuration,
        study_uid=refs[0].study_uid,
        instances=refs,
        calling_ae_title="DCM4CHEE",
        cancel=CancelToken(),
    )
    with create_stow(exporter, configuration) as transport:
        return transport.send(request)


def orthanc_instances(orthanc: Any) -> list[pydicom.Dataset]:
    out = []
    for instance_id in orthanc.get_json("/instances"):
        with urllib.request.urlopen(f"{orthanc.url}/instances/{instance_id}/file", timeout=30) as rsp:
            out.append(pydicom.dcmread(io.BytesIO(rsp.read())))
    return out


def test_merge_attrs_and_nullify_pixel_data_to_orthanc_over_stow(orthanc: Any, study: list[Path]) -> None:
    config = stow_configuration(
        orthanc,
        [
            # upstream: no receiving AE over STOW, so ReceivingApplicationEntityTitle!=X always holds
            rule(
                "Relabel",
                "merge-attrs:",
                "ReceivingApplicationEntityTitle!=ANY",
                merge_attributes=[
                    "InstitutionName=Research of {PatientID}",
                    "ReferringPhysicianName=",
                    "StudyDescription!",
                ],
                priority=2,
            ),
            rule("No pixels", "nullify-pixel-data:", "SeriesNumber=1"),
        ],
    )
    outcome = stow(config, study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in study}
    received = orthanc_instances(orthanc)
    assert len(received) == len(study)
    nullified = 0
    for ds in received:
        original = originals[str(ds.SOPInstanceUID)]
        assert ds.InstitutionName == f"Research of {original.PatientID}"
        assert "StudyDescription" in original and "StudyDescription" not in ds
        assert ds.get("ReferringPhysicianName", "") == ""
        if str(original.SeriesNumber) == "1":
            nullified += 1
            assert "PixelData" in ds and not ds.PixelData and len(original.PixelData) > 0
        else:
            assert ds.PixelData == original.PixelData
    assert nullified == 3
    tags = json.dumps(orthanc.get_json("/statistics"))
    assert tags  # Orthanc still answers: nothing it stored broke it


# --- storage commitment after a de-identified export (Orthanc's Storage Commitment SCP) ----------------


def test_storage_commitment_asks_about_the_uids_the_destination_received(
    orthanc_factory: Any, tmp_path: Path
) -> None:
    from datetime import timedelta

    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import QueueDescriptor
    from dcm_exporter.queue import SqliteTaskStore, TaskStatus, TaskType
    from dcm_exporter.sample import generate_study
    from dcm_exporter.sources import FileSystemSource
    from servers.ports import free_port

    our_port = free_port()
    orthanc = orthanc_factory(extra_config={"DicomModalities": {"dcm4chee": ["DCM4CHEE", "127.0.0.1", our_port]}})
    study = generate_study(tmp_path / "archive", series=1, instances_per_series=3, kind="small")
    exporter = ExporterDescriptor(
        exporter_id="ORTHANC",
        uri="dicom:ORTHANC",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        stgcmt_scp="ORTHANC",
        properties={"StgCmtTimeout": "30"},
    )
    configuration = Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=our_port),),
                application_entities=(
                    ApplicationEntity(
                        ae_title="DCM4CHEE",
                        connection_refs=("dicom",),
                        attribute_coercions=[
                            rule("Research", "deidentify:", "ReceivingApplicationEntityTitle=ORTHANC")
                        ],
                    ),
                ),
                exporters=(exporter,),
                queues=(
                    QueueDescriptor(queue_name="Export1"),
                    QueueDescriptor(queue_name="StgCmtSCU", max_retries=1, retry_delay=timedelta(seconds=1)),
                ),
            ),
            Device(
                device_name="orthanc",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=orthanc.dicom_port),),
                application_entities=(ApplicationEntity(ae_title="ORTHANC", connection_refs=("dicom",)),),
            ),
        )
    )
    store = SqliteTaskStore(tmp_path / "tasks.db")
    try:
        with Exporter(configuration, FileSystemSource(study.directory), store=store) as running:
            running.schedule_export("ORTHANC", study.study_uid)
            for _ in range(30):
                running.run_until_idle(timeout=60)
                if not running.queue.tasks(status=("SCHEDULED", "SCHEDULED FOR RETRY", "IN PROCESS")):
                    break
            (stgcmt,) = running.queue.tasks(task_type=TaskType.STGCMT)
            assert stgcmt.status is TaskStatus.COMPLETED, stgcmt.error_message
            result = running.queue.commitment_result(stgcmt.task_id)
    finally:
        store.close()
    assert result is not None and result.failed == ()
    assert {c.sop_instance_uid for c in result.committed} == {remap_uid(i.sop_instance_uid) for i in study.instances}


def test_stow_objects_no_rule_matches_go_as_stored(orthanc: Any, study: list[Path]) -> None:
    config = stow_configuration(orthanc, [rule("No pixels", "nullify-pixel-data:", "SeriesNumber=1")])
    outcome = stow(config, study)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in study}
    for ds in orthanc_instances(orthanc):
        original = pydicom.dcmread(originals[str(ds.SOPInstanceUID)])
        if str(original.SeriesNumber) == "1":
            assert not ds.PixelData
        else:  # sent from the file as it is: every attribute arrives
            assert [e.tag for e in ds] == [e.tag for e in original]
            assert ds.PixelData == original.PixelData and ds.InstitutionName == original.InstitutionName


def test_compressed_pixel_data_goes_through_deidentification_untouched(
    storescp_factory: Any, tmp_path: Path
) -> None:
    """A JPEG 2000 object accepted as stored is de-identified and sent without decompressing its pixel data."""
    from pydicom.data import get_testdata_file

    source = get_testdata_file("JPEG2000.dcm")
    if source is None:
        pytest.skip("pydicom's JPEG2000.dcm is not bundled")
    original = pydicom.dcmread(source)
    original.SOPInstanceUID = original.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    path = tmp_path / "j2k.dcm"
    original.save_as(path)
    research = storescp_factory(ae_title="RESEARCH", options=("+xa",))
    config = archive([rule("Research", "deidentify:", "ReceivingApplicationEntityTitle=RESEARCH")],
                     {"RESEARCH": research.port})
    outcome = export(config, "RESEARCH", [path])
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    (received,) = [pydicom.dcmread(p) for p in research.files()]
    assert received.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID  # still JPEG 2000
    assert received.PixelData == original.PixelData  # the compressed fragments, byte for byte
    assert received.SOPInstanceUID == remap_uid(str(original.SOPInstanceUID))
    assert received.PatientIdentityRemoved == "YES"


def test_a_deidentified_object_over_stow_carries_no_file_meta_of_the_stored_file(
    orthanc: Any, study: list[Path]
) -> None:
    """The stored file's Source AE Title and Private Information do not go out with the de-identified copy:
    the File Meta Information is the coerced object's own (as dcm4che writes it), on both encoding paths."""
    for i, path in enumerate(study[:2]):
        ds = pydicom.dcmread(path)
        ds.file_meta.SourceApplicationEntityTitle = "HOSPITAL_PACS"
        ds.file_meta.PrivateInformationCreatorUID = "1.2.826.0.1.3680043.99.1"
        ds.file_meta.PrivateInformation = b"PATIENT DOE JOHN"
        if i:  # implicit VR: the other encoding path
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
            ds.save_as(path, enforce_file_format=True, implicit_vr=True)
        else:
            ds.save_as(path, enforce_file_format=True)
    config = stow_configuration(orthanc, [rule("Research", "deidentify:")])
    outcome = stow(config, study[:2])
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    received = orthanc_instances(orthanc)
    assert len(received) == 2
    originals = {remap_uid(str(pydicom.dcmread(p).SOPInstanceUID)): pydicom.dcmread(p) for p in study[:2]}
    for ds in received:
        original = originals[str(ds.SOPInstanceUID)]
        assert original.file_meta.SourceApplicationEntityTitle == "HOSPITAL_PACS"
        meta = ds.file_meta
        for keyword in ("SourceApplicationEntityTitle", "PrivateInformationCreatorUID", "PrivateInformation"):
            assert keyword not in meta, keyword
        assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert meta.ImplementationClassUID != original.file_meta.ImplementationClassUID


def test_images_flagged_with_burned_in_annotations_are_not_sent_de_identified_with_their_pixels(
    storescp_factory: Any, study: list[Path]
) -> None:
    """Burned In Annotation YES: the de-identified copy would still show the name in its pixels. Such an
    instance fails with the reason unless a nullify-pixel-data: rule empties them or the rule says to send."""
    flagged = study[:2]
    for path in flagged:
        ds = pydicom.dcmread(path)
        ds.BurnedInAnnotation = "YES"
        ds.save_as(path)
    research = storescp_factory(ae_title="RESEARCH", options=("+xa",))
    deid = rule("Research", "deidentify:", "ReceivingApplicationEntityTitle=RESEARCH")
    outcome = export(archive([deid], {"RESEARCH": research.port}), "RESEARCH", study)
    assert outcome.completed == len(study) - 2 and outcome.failed == 2
    for failure in outcome.failures:
        assert "Burned In Annotation" in failure.reason and "'Research'" in failure.reason
    flagged_uids = {remap_uid(str(pydicom.dcmread(p).SOPInstanceUID)) for p in flagged}
    arrived = {str(pydicom.dcmread(p).SOPInstanceUID) for p in research.files()}
    assert arrived and not arrived & flagged_uids

    # with the pixel data nullified for that destination, they go (without their pixels)
    nullified = storescp_factory(ae_title="RESEARCH", options=("+xa",))
    no_pixels = rule("No pixels", "nullify-pixel-data:", "BurnedInAnnotation=YES", priority=-1)
    outcome = export(archive([deid, no_pixels], {"RESEARCH": nullified.port}), "RESEARCH", flagged)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    for path in nullified.files():
        ds = pydicom.dcmread(path)
        assert ds.BurnedInAnnotation == "YES" and not ds.PixelData and ds.PatientIdentityRemoved == "YES"

    # the rule's parameter sends them as dcm4chee does
    sent = storescp_factory(ae_title="RESEARCH", options=("+xa",))
    anyway = rule(
        "Research", "deidentify:", "ReceivingApplicationEntityTitle=RESEARCH", params={"burned-in-annotation": "send"}
    )
    outcome = export(archive([anyway], {"RESEARCH": sent.port}), "RESEARCH", flagged)
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    originals = {remap_uid(str(pydicom.dcmread(p).SOPInstanceUID)): pydicom.dcmread(p) for p in flagged}
    for path in sent.files():
        ds = pydicom.dcmread(path)
        assert ds.PixelData == originals[str(ds.SOPInstanceUID)].PixelData


def test_a_de_identifying_export_does_not_call_as_the_source_device(
    storescp_factory: Any, study: list[Path], tmp_path: Path
) -> None:
    """dcmExportAsSourceAE would show the de-identified copy's destination the AE title of the modality that
    sent the original (device identity the profile removes): the exporter's own AE title calls instead, unless
    the rule retains device identity. The calling AE title is what DCMTK storescp reports (#a)."""
    import time

    import attrs

    def calling_titles(options: str, rules: bool = True) -> set[str]:
        log = tmp_path / f"calling-{options or 'basic'}-{rules}.txt"
        research = storescp_factory(ae_title="RESEARCH", options=("+xa", "-xcr", f"echo #a >> {log}"))
        deid = rule("Research", f"deidentify:{options}", "ReceivingApplicationEntityTitle=RESEARCH")
        config = archive([deid] if rules else [], {"RESEARCH": research.port})
        exporter = attrs.evolve(config.exporters["RESEARCH"], export_as_source_ae=True)
        refs = [attrs.evolve(ref_for(p), source_ae_title="CT_SCANNER_7") for p in study[:2]]
        request = ExportRequest(
            exporter=exporter,
            configuration=config,
            study_uid=refs[0].study_uid,
            instances=refs,
            calling_ae_title="CT_SCANNER_7",  # as Exporter passes it with dcmExportAsSourceAE
            cancel=CancelToken(),
        )
        with create_dicom(exporter, config) as transport:
            outcome = transport.send(request)
        assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
        assert len(research.files()) == 2
        # storescp runs the command in a child of its own after each object: wait (bounded) for both lines
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not log.exists() or len(log.read_text().split()) < 2):
            time.sleep(0.05)
        return set(log.read_text().split())

    assert calling_titles("") == {"DCM4CHEE"}
    assert calling_titles("RetainDeviceIdentityOption") == {"CT_SCANNER_7"}
    assert calling_titles("", rules=False) == {"CT_SCANNER_7"}
