"""The ``dicom:`` transport against real peers: DCMTK storescp, Orthanc and the pynetdicom Store SCP.

Every export compares what arrived with what was sent, byte for byte (the data set after the file
meta group), and every failure path checks the outcome counts and reasons.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from dcm_exporter._dicom import part10
from dcm_exporter.codecs import ldif
from dcm_exporter.errors import (
    AssociationRejectedError,
    ConfigurationError,
    ConnectionFailedError,
    TransportTimeoutError,
)
from dcm_exporter.export import CancelToken, ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
    TransferCapability,
)
from dcm_exporter.transports.dicom import DicomTransport, create_transport, verify
from servers.slapd import make_tls

JPEG2000 = "1.2.840.10008.1.2.4.90"
DEFLATED = "1.2.840.10008.1.2.1.99"


# --- helpers -----------------------------------------------------------------------------------


def make_configuration(
    port: int,
    ae_title: str = "STORESCP",
    *,
    transfer_capabilities: Sequence[TransferCapability] = (),
    cipher_suites: Sequence[str] = (),
    response_timeout: int | None = None,
) -> Configuration:
    conn = Connection(
        name="dicom",
        hostname="127.0.0.1",
        port=port,
        tls_cipher_suites=tuple(cipher_suites),
        response_timeout=response_timeout,
    )
    ae = ApplicationEntity(
        ae_title=ae_title, connection_refs=("dicom",), transfer_capabilities=tuple(transfer_capabilities)
    )
    return Configuration(
        devices=(Device(device_name=ae_title.lower(), connections=(conn,), application_entities=(ae,)),)
    )


def make_exporter(ae_title: str = "STORESCP", **properties: str) -> ExporterDescriptor:
    return ExporterDescriptor(
        exporter_id="Export1",
        uri=f"dicom:{ae_title}",
        queue_name="Export1",
        ae_title="DCM4CHEE",
        properties=properties,
    )


def ref_for(path: Path, source_ae_title: str | None = None) -> InstanceRef:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return InstanceRef(
        study_uid=str(ds.get("StudyInstanceUID", "1.2.3")),
        series_uid=str(ds.get("SeriesInstanceUID", "1.2.3.4")),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        size=path.stat().st_size,
        path=path,
        source_ae_title=source_ae_title,
    )


def make_request(
    refs: Sequence[InstanceRef],
    configuration: Configuration,
    exporter: ExporterDescriptor,
    *,
    cancel: CancelToken | None = None,
    progress: Callable[..., None] | None = None,
) -> ExportRequest:
    return ExportRequest(
        exporter=exporter,
        configuration=configuration,
        study_uid=refs[0].study_uid if refs else "1.2.3",
        instances=refs,
        calling_ae_title=exporter.ae_title,
        cancel=cancel or CancelToken(),
        progress=progress,
    )


def dataset_bytes(path: Path) -> tuple[str, str, bytes]:
    """(SOP Instance UID, transfer syntax, data set bytes after the file meta group)."""
    data = path.read_bytes()
    meta = part10.parse_part10_meta(data, name=str(path))
    assert isinstance(meta, part10.Part10Meta)
    return meta.sop_instance_uid, meta.transfer_syntax_uid, data[meta.dataset_offset :]


def generate_ct(
    folder: Path,
    count: int,
    *,
    rows: int = 512,
    sop_class: str = CTImageStorage,
    study_uid: str | None = None,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    study = study_uid or generate_uid()
    series = generate_uid()
    pixels = np.random.default_rng(7).integers(0, 4000, (rows, rows), dtype=np.uint16).tobytes()
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        uid = generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = uid
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.PatientName = "Export^Test"
        ds.PatientID = "DX1"
        ds.Modality = "CT"
        ds.InstanceNumber = i + 1
        ds.Rows = ds.Columns = rows
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = pixels
        path = folder / f"{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def copy_testfile(name: str, folder: Path) -> Path:
    source = get_testdata_file(name)
    if source is None:
        pytest.skip(f"pydicom test file {name} is not bundled")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    # pydicom's variants of one image share their SOP Instance UID: give each copy its own
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    if ds.file_meta.TransferSyntaxUID.is_compressed and "PixelData" in ds:
        ds["PixelData"].VR = "OB"  # some bundled files say OW; DCMTK would store them corrected to OB
    ds.save_as(target)
    return target


@pytest.fixture
def mixed_study(tmp_path: Path) -> list[Path]:
    """CT 512x512 16-bit, small CTs, JPEG 2000 and JPEG-LS files, MR and RT Plan: several SOP classes."""
    paths = generate_ct(tmp_path / "ct", 3)
    paths += generate_ct(tmp_path / "small", 6, rows=64)
    for name in (
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEG2000.dcm",
        "MR_small.dcm",
        "rtplan.dcm",
        "CT_small.dcm",
    ):
        paths.append(copy_testfile(name, tmp_path / "testfiles"))
    return paths


def assert_equivalent(sent: Sequence[Path], received: Sequence[Path]) -> None:
    """For receivers that re-encode what they store (Orthanc): same elements, same values, same pixels."""
    by_uid = {}
    for path in received:
        ds = pydicom.dcmread(path)
        by_uid[str(ds.SOPInstanceUID)] = ds
    assert len(by_uid) == len(sent)
    for path in sent:
        ds = pydicom.dcmread(path)
        got = by_uid[str(ds.SOPInstanceUID)]
        assert got.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert [e.tag for e in got] == [e.tag for e in ds], path.name
        assert got == ds, path.name
        if "PixelData" in ds:
            assert got.PixelData == ds.PixelData, path.name


def assert_identical(sent: Sequence[Path], received: Sequence[Path]) -> None:
    by_uid = {}
    for path in received:
        _, ts, data = dataset_bytes(path)
        by_uid[ref_for(path).sop_instance_uid] = (ts, data)
    assert len(by_uid) == len(sent)
    for path in sent:
        _, ts, data = dataset_bytes(path)
        uid = ref_for(path).sop_instance_uid
        assert uid in by_uid, f"{path.name} ({uid}) did not arrive"
        got_ts, got = by_uid[uid]
        assert got_ts == ts, f"{path.name}: arrived as {got_ts}, stored as {ts}"
        assert got == data, f"{path.name}: data set bytes differ"


# --- success paths -----------------------------------------------------------------------------


def test_export_to_storescp_is_byte_identical(storescp_factory: Any, mixed_study: list[Path]) -> None:
    # +B: storescp writes the data set bit-preserving, exactly as received (else it re-encodes
    # undefined-length sequences with explicit lengths)
    storescp = storescp_factory(options=("+xa", "+B"))
    configuration = make_configuration(storescp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(
            make_request([ref_for(p) for p in mixed_study], configuration, make_exporter())
        )
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    assert outcome.completed == len(mixed_study)
    assert outcome.message.endswith(f"to STORESCP - completed:{len(mixed_study)}")
    assert_identical(mixed_study, storescp.files())


def test_export_to_orthanc_is_byte_identical(orthanc: Any, mixed_study: list[Path]) -> None:
    configuration = make_configuration(orthanc.dicom_port, orthanc.ae_title)
    exporter = make_exporter(orthanc.ae_title)
    with create_transport(exporter, configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in mixed_study], configuration, exporter))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    ids = orthanc.get_json("/instances")
    assert len(ids) == len(mixed_study)
    received_dir = Path(str(mixed_study[0].parent.parent)) / "from_orthanc"
    received_dir.mkdir()
    import urllib.request

    received = []
    for n, instance_id in enumerate(ids):
        with urllib.request.urlopen(f"{orthanc.url}/instances/{instance_id}/file", timeout=10) as rsp:
            target = received_dir / f"{n}.dcm"
            target.write_bytes(rsp.read())
            received.append(target)
    # Orthanc stores what DCMTK decoded and re-encoded (sequence lengths, pixel data VR): equal element
    # by element; the generated, uncompressed CTs (no sequences) arrive byte for byte
    assert_equivalent(mixed_study, received)
    generated = [p for p in mixed_study if p.parent.name in ("ct", "small")]
    generated_uids = {ref_for(p).sop_instance_uid for p in generated}
    assert_identical(generated, [p for p in received if ref_for(p).sop_instance_uid in generated_uids])


def test_export_to_pynetdicom_scp_is_byte_identical(
    store_scp: Any, mixed_study: list[Path], tmp_path: Path
) -> None:
    # the pynetdicom SCP writes raw bytes, so deflated and big-endian files are compared too
    extra = [copy_testfile(n, tmp_path / "more") for n in ("image_dfl.dcm", "MR_small_bigendian.dcm")]
    files = mixed_study + extra
    configuration = make_configuration(store_scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    assert [r.calling_ae_title for r in store_scp.received] == ["DCM4CHEE"] * len(files)
    assert_identical(files, [r.path for r in store_scp.received])


def test_transcodes_when_peer_accepts_only_uncompressed(store_scp_factory: Any, tmp_path: Path) -> None:
    scp = store_scp_factory(transfer_syntaxes=[ImplicitVRLittleEndian])
    files = [
        copy_testfile(n, tmp_path) for n in ("MR_small_jp2klossless.dcm", "MR_small.dcm", "image_dfl.dcm")
    ]
    configuration = make_configuration(scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    arrived_by_uid = {r.sop_instance_uid: r for r in scp.received}
    for path in files:
        original = pydicom.dcmread(path)
        got = arrived_by_uid[original.SOPInstanceUID]
        assert got.transfer_syntax_uid == ImplicitVRLittleEndian
        arrived = pydicom.dcmread(got.path)
        assert arrived.SOPInstanceUID == original.SOPInstanceUID
        assert np.array_equal(arrived.pixel_array, original.pixel_array)


def test_transfer_capabilities_limit_the_proposal(store_scp: Any, tmp_path: Path) -> None:
    files = [*generate_ct(tmp_path, 2, rows=32), copy_testfile("MR_small.dcm", tmp_path)]
    tcs = [
        TransferCapability(
            name="CT", sop_class=CTImageStorage, role="SCP", transfer_syntaxes=(ImplicitVRLittleEndian,)
        )
    ]
    configuration = make_configuration(store_scp.port, transfer_capabilities=tcs)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    # MR is not among the destination's SCP transfer capabilities: failed, the CTs go as Implicit VR LE
    assert outcome.status is OutcomeStatus.WARNING
    assert (outcome.completed, outcome.failed, outcome.missing) == (2, 1, 0)
    assert "not accepted by AE STORESCP" in outcome.failures[0].reason
    assert {r.transfer_syntax_uid for r in store_scp.received} == {ImplicitVRLittleEndian}


def test_untranscodable_instance_fails_alone(store_scp_factory: Any, tmp_path: Path) -> None:
    scp = store_scp_factory(transfer_syntaxes=[ExplicitVRLittleEndian])
    good = generate_ct(tmp_path / "ok", 2, rows=32)
    # a JPEG 2000 file whose pixel data is garbage: the decoder fails, the others still go
    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x01garbage" * 8])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad, enforce_file_format=True)
    files = [good[0], bad, good[1]]
    configuration = make_configuration(scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert (outcome.status, outcome.completed, outcome.failed) == (OutcomeStatus.WARNING, 2, 1)
    assert outcome.failures[0].sop_instance_uid == ds.SOPInstanceUID
    assert "cannot transcode from 1.2.840.10008.1.2.4.90 to 1.2.840.10008.1.2.1" in outcome.failures[0].reason


def test_sop_class_rejected_by_peer_fails_with_reason(store_scp: Any, tmp_path: Path) -> None:
    private = "1.2.826.0.1.3680043.10.1420.99.1"
    files = generate_ct(tmp_path / "a", 1, rows=16) + generate_ct(
        tmp_path / "b", 1, rows=16, sop_class=private
    )
    configuration = make_configuration(store_scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert (outcome.status, outcome.completed, outcome.failed) == (OutcomeStatus.WARNING, 1, 1)
    assert f"SOP class {private} not accepted by AE STORESCP" in outcome.failures[0].reason


def test_more_than_128_contexts_use_several_associations(store_scp_factory: Any, tmp_path: Path) -> None:
    from pynetdicom.service_class import StorageServiceClass
    from pynetdicom.sop_class import register_uid

    classes = [f"1.2.826.0.1.3680043.10.1420.77.{n}" for n in range(70)]
    for n, uid in enumerate(classes):
        register_uid(uid, f"DcmExporterTestPrivateStorage{n}", StorageServiceClass)
    scp = store_scp_factory(sop_classes=classes)
    files: list[Path] = []
    for n, uid in enumerate(classes):
        files += generate_ct(tmp_path / str(n), 1, rows=8, sop_class=uid)
    configuration = make_configuration(scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    assert outcome.completed == 70
    assert scp.associations == 2  # 70 SOP classes x 2 contexts = 140 > 128
    assert_identical(files, [r.path for r in scp.received])


def test_export_as_source_ae_uses_the_sender_of_each_instance(store_scp: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 4, rows=16)
    refs = [ref_for(p, source_ae_title="MODALITY1" if i % 2 else "MODALITY2") for i, p in enumerate(files)]
    exporter = ExporterDescriptor(
        exporter_id="e", uri="dicom:STORESCP", queue_name="q", ae_title="DCM4CHEE", export_as_source_ae=True
    )
    configuration = make_configuration(store_scp.port)
    with create_transport(exporter, configuration) as transport:
        outcome = transport.send(make_request(refs, configuration, exporter))
    assert outcome.completed == 4
    got = {r.sop_instance_uid: r.calling_ae_title for r in store_scp.received}
    assert got == {r.sop_instance_uid: r.source_ae_title for r in refs}


def test_pool_reuses_association_across_tasks_and_releases_when_idle(store_scp: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 3, rows=16)
    configuration = make_configuration(store_scp.port)
    transport = DicomTransport(make_exporter(), configuration, idle_timeout=0.3)
    try:
        for _ in range(3):
            outcome = transport.send(
                make_request([ref_for(p) for p in files], configuration, make_exporter())
            )
            assert outcome.completed == 3
        assert store_scp.associations == 1
        assert transport.idle_associations == 1
        deadline = time.monotonic() + 10
        while transport.idle_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        assert transport.idle_associations == 0
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
        assert outcome.completed == 3
        assert store_scp.associations == 2
    finally:
        transport.close()
    assert store_scp.count == 12


def test_parallel_associations(store_scp: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 30, rows=64)
    configuration = make_configuration(store_scp.port)
    exporter = make_exporter(MultipleStoreAssociations="STORESCP:3")
    with create_transport(exporter, configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, exporter))
    assert outcome.status is OutcomeStatus.COMPLETED
    assert outcome.completed == 30
    assert store_scp.associations == 3
    assert sorted(store_scp.sop_instance_uids()) == sorted(ref_for(p).sop_instance_uid for p in files)


def test_verify_echo(storescp: Any, store_scp: Any) -> None:
    for port in (storescp.port, store_scp.port):
        result = verify(make_configuration(port), "STORESCP", calling_ae_title="ECHOSCU")
        assert result.ok and result.port == port


# --- failure paths ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_peer_down_raises_retryable_connection_error(tmp_path: Path) -> None:
    port = _free_port()
    configuration = make_configuration(port)
    files = generate_ct(tmp_path, 1, rows=8)
    with (
        create_transport(make_exporter(), configuration) as transport,
        pytest.raises(ConnectionFailedError) as info,
    ):
        transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert info.value.retryable
    assert f"AE STORESCP at 127.0.0.1:{port}" in str(info.value)
    with pytest.raises(ConnectionFailedError):
        verify(configuration, "STORESCP")


def test_wrong_called_ae_is_rejected_with_reason(orthanc_factory: Any, tmp_path: Path) -> None:
    server = orthanc_factory(extra_config={"DicomCheckCalledAet": True})
    configuration = make_configuration(server.dicom_port, "NOTORTHANC")
    files = generate_ct(tmp_path, 1, rows=8)
    exporter = make_exporter("NOTORTHANC")
    with (
        create_transport(exporter, configuration) as transport,
        pytest.raises(AssociationRejectedError) as info,
    ):
        transport.send(make_request([ref_for(p) for p in files], configuration, exporter))
    assert info.value.retryable
    assert "Called AE title not recognised" in info.value.reason
    assert f"AE NOTORTHANC at 127.0.0.1:{server.dicom_port}" in str(info.value)


def test_peer_aborting_mid_study_interrupts_the_export(store_scp_factory: Any, tmp_path: Path) -> None:
    # not upstream (deviations.md): the unconfirmed instances are not failed, the export is interrupted
    scp = store_scp_factory(abort_after=4)
    files = generate_ct(tmp_path, 10, rows=32)
    configuration = make_configuration(scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
        assert transport.idle_associations == 0
    assert outcome.status is OutcomeStatus.FAILED
    assert (outcome.completed, outcome.failed, outcome.remaining) == (4, 0, 6)
    assert outcome.interrupted is not None
    assert "A-ABORT" in outcome.interrupted or "closed" in outcome.interrupted
    assert outcome.message.endswith(" interrupted - remaining:6, completed:4")
    assert outcome.failure_summary == outcome.interrupted
    assert outcome.interrupted.startswith(f"association to AE STORESCP at 127.0.0.1:{scp.port} broke: ")


def test_failure_and_warning_statuses(store_scp_factory: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 9, rows=16)
    statuses = {0: 0xA700, 3: 0xB000, 4: 0xB007, 5: 0xA900, 7: 0xC000}
    scp = store_scp_factory(status=lambda req: statuses.get(req.index, 0x0000))
    configuration = make_configuration(scp.port)
    seen: list[str] = []
    request = make_request(
        [ref_for(p) for p in files],
        configuration,
        make_exporter(),
        progress=lambda ref, result: seen.append(result.kind),
    )
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(request)
    assert outcome.status is OutcomeStatus.WARNING  # failed > 0 but nothing missing
    assert (outcome.completed, outcome.warning, outcome.failed) == (4, 2, 3)
    assert [f.status_code for f in outcome.failures] == [0xA700, 0xA900, 0xC000]
    assert "0xA700 (Out of Resources)" in outcome.failures[0].reason
    assert len(seen) == 9


@pytest.fixture
def commenting_scp() -> Any:
    """A pynetdicom Store SCP (AE ``STORESCP``) answering the n-th C-STORE with ``answers[n]``: a status, or a
    status and an Error Comment (0000,0902); 0x0000 otherwise."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage as CT_STORAGE

    answers: dict[int, tuple[int, str | None]] = {}
    seen = [0]
    lock = threading.Lock()

    def on_store(event: Any) -> Dataset:
        with lock:
            index = seen[0]
            seen[0] += 1
        status, comment = answers.get(index, (0x0000, None))
        rsp = Dataset()
        rsp.Status = status
        if comment is not None:
            rsp.ErrorComment = comment
        return rsp

    ae = AE(ae_title="STORESCP")
    ae.add_supported_context(CT_STORAGE, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    server.answers = answers  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()


def test_status_boundaries_and_failure_reasons_keep_meaning_and_error_comment(
    commenting_scp: Any, tmp_path: Path
) -> None:
    # upstream: (status & 0xB000) == 0xB000 is a warning, so every 0xBxxx code; 0xAFFF and 0xC000 are not
    commenting_scp.answers.update({
        0: (0xAFFF, None),
        1: (0xB000, "coerced"),
        2: (0xB001, None),
        3: (0xBFFF, None),
        4: (0xC000, "cannot parse"),
        5: (0xA700, "disk full"),
        6: (0x0122, None),
        7: (0xA7FE, "almost full"),
        8: (0xC0DE, None),
        9: (0xA9A9, None),
    })
    files = generate_ct(tmp_path, 11, rows=8)
    configuration = make_configuration(commenting_scp.server_address[1])
    results: list[tuple[str, int | None, str | None]] = []
    request = make_request(
        [ref_for(p) for p in files], configuration, make_exporter(),
        progress=lambda ref, result: results.append((result.kind, result.status_code, result.reason)),
    )
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(request)
    assert [kind for kind, _, _ in results] == [
        "failed", "warning", "warning", "warning", "failed", "failed", "failed", "failed", "failed", "failed",
        "completed"]
    assert (outcome.completed, outcome.warning, outcome.failed) == (1, 3, 7)
    assert outcome.status is OutcomeStatus.WARNING
    reasons = {f.status_code: f.reason for f in outcome.failures}
    assert reasons == {
        0xAFFF: "C-STORE status 0xAFFF",
        0xC000: "C-STORE status 0xC000 (Cannot understand): cannot parse",
        0xA700: "C-STORE status 0xA700 (Out of Resources): disk full",
        0x0122: "C-STORE status 0x0122 (SOP Class not supported)",
        0xA7FE: "C-STORE status 0xA7FE (Out of Resources): almost full",  # meaning of its 0xA7xx family
        0xC0DE: "C-STORE status 0xC0DE (Cannot understand)",  # of the 0xCxxx family
        0xA9A9: "C-STORE status 0xA9A9 (Data Set does not match SOP Class)",
    }
    assert results[1] == ("warning", 0xB000, "C-STORE status 0xB000 (Coercion of data elements): coerced")
    assert results[2] == ("warning", 0xB001, "C-STORE status 0xB001")  # no family meaning for 0xB0xx


def test_slow_peer_times_out(store_scp_factory: Any, tmp_path: Path) -> None:
    scp = store_scp_factory(delay=3.0)
    files = generate_ct(tmp_path, 2, rows=16)
    configuration = make_configuration(scp.port, response_timeout=300)
    with (
        create_transport(make_exporter(), configuration) as transport,
        pytest.raises(TransportTimeoutError) as info,
    ):
        transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert info.value.retryable
    assert "no answer within 0.3 s" in str(info.value)
    assert f"127.0.0.1:{scp.port}" in str(info.value)


def test_cancel_mid_send(store_scp: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 12, rows=16)
    cancel = CancelToken()
    done: list[str] = []

    def progress(ref: InstanceRef, result: Any) -> None:
        done.append(ref.sop_instance_uid)
        if len(done) == 5:
            cancel.cancel()

    configuration = make_configuration(store_scp.port)
    request = make_request(
        [ref_for(p) for p in files], configuration, make_exporter(), cancel=cancel, progress=progress
    )
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(request)
        assert transport.idle_associations == 0  # released, not pooled
    assert outcome.status is OutcomeStatus.CANCELED
    assert (outcome.completed, outcome.remaining) == (5, 7)
    assert "canceled - remaining:7" in outcome.message
    assert store_scp.count == 5


def test_missing_instance_counts_missing(store_scp: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 3, rows=16)
    refs = [ref_for(p) for p in files]
    files[1].unlink()
    configuration = make_configuration(store_scp.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request(refs, configuration, make_exporter()))
    assert outcome.status is OutcomeStatus.FAILED
    assert (outcome.completed, outcome.failed, outcome.missing) == (2, 1, 1)


# --- TLS -----------------------------------------------------------------------------------------


def test_tls_export_with_throwaway_ca(store_scp_factory: Any, tmp_path: Path) -> None:
    ca, cert, key = make_tls(tmp_path / "pki")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(cert), str(key))
    scp = store_scp_factory(ssl_context=server_ctx)
    files = generate_ct(tmp_path / "ct", 3, rows=128)
    configuration = make_configuration(scp.port, cipher_suites=("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",))
    exporter = make_exporter(TLSCACertificates=str(ca))
    with create_transport(exporter, configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, exporter))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    assert_identical(files, [r.path for r in scp.received])
    assert verify(configuration, "STORESCP", ca_file=str(ca)).ok

    # a peer signed by another CA is refused (the system trust store does not know the throwaway CA)
    with (
        create_transport(make_exporter(), configuration) as transport,
        pytest.raises(ConnectionFailedError, match="TLS handshake failed"),
    ):
        transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))


# --- long runs: every response counted ------------------------------------------------------------


@pytest.mark.slow
def test_long_runs_count_every_response(storescp_factory: Any, tmp_path: Path) -> None:
    server = storescp_factory(options=("+xa", "--ignore"))
    files = generate_ct(tmp_path, 2000, rows=16)
    refs = [ref_for(p) for p in files]
    configuration = make_configuration(server.port)
    with create_transport(make_exporter(), configuration) as transport:
        for _ in range(3):
            outcome = transport.send(make_request(refs, configuration, make_exporter()))
            assert (outcome.status, outcome.completed, outcome.failed) == (OutcomeStatus.COMPLETED, 2000, 0)


def test_concurrent_sends_share_the_pool(store_scp: Any, tmp_path: Path) -> None:
    files = generate_ct(tmp_path, 20, rows=16)
    refs = [ref_for(p) for p in files]
    configuration = make_configuration(store_scp.port)
    outcomes: list[Any] = []
    with create_transport(make_exporter(), configuration) as transport:
        threads = [
            threading.Thread(
                target=lambda part=part: outcomes.append(
                    transport.send(make_request(part, configuration, make_exporter()))
                )
            )
            for part in (refs[:10], refs[10:])
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(o.completed for o in outcomes) == [10, 10]
    assert store_scp.count == 20


def test_echo_command_line(storescp: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dcm_exporter.transports.dicom import main

    assert main([f"STORESCP@127.0.0.1:{storescp.port}", "--aet", "ECHOSCU"]) == 0
    assert f"C-ECHO STORESCP at 127.0.0.1:{storescp.port}: status 0x0000" in capsys.readouterr().out
    config_path = tmp_path / "config.ldif"
    config_path.write_text(ldif.dumps(make_configuration(storescp.port)), encoding="utf-8")
    assert main(["--config", str(config_path), "STORESCP"]) == 0
    assert main([f"STORESCP@127.0.0.1:{_free_port()}"]) == 1
    assert "FAILED: Cannot connect to AE STORESCP" in capsys.readouterr().out


def test_generated_mixed_study_to_storescp(storescp_factory: Any, tmp_path: Path) -> None:
    from dcm_exporter.sample import generate_study

    server = storescp_factory(options=("+xa", "+B"))
    study = generate_study(tmp_path / "study", series=2, instances_per_series=4, kind="mixed")
    files = list(study.files)
    sop_classes = {ref_for(p).sop_class_uid for p in files}
    assert len(sop_classes) >= 3
    configuration = make_configuration(server.port)
    with create_transport(make_exporter(), configuration) as transport:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
    assert outcome.status is OutcomeStatus.COMPLETED, outcome.failures
    assert outcome.completed == len(files)
    assert_identical(files, server.files())


def test_pooled_association_closed_by_peer_is_replaced(storescp_factory: Any, tmp_path: Path) -> None:
    from servers.dcmtk import start_storescp

    files = generate_ct(tmp_path, 3, rows=16)
    first = storescp_factory()
    configuration = make_configuration(first.port)
    transport = DicomTransport(make_exporter(), configuration, idle_timeout=60)
    second = None
    try:
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
        assert outcome.completed == 3
        assert transport.idle_associations == 1
        first.stop()  # the peer goes away: the pooled association is dead
        second = start_storescp(tmp_path / "second", port=first.port)
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, make_exporter()))
        assert (outcome.status, outcome.completed) == (OutcomeStatus.COMPLETED, 3)
        assert len(second.files()) == 3
    finally:
        transport.close()
        if second is not None:
            second.stop()


def _archive(extra_device: dict[str, tuple[str, ...]], extra_ae: dict[str, tuple[str, ...]]) -> Device:
    return Device(
        device_name="dcm4chee-arc",
        extra=extra_device,
        application_entities=(ApplicationEntity(ae_title="DCM4CHEE", extra=extra_ae),),
        exporters=(make_exporter(),),
        queues=(QueueDescriptor(queue_name="Export1"),),
    )


@pytest.mark.parametrize(
    ("device_values", "ae_values", "expected"),
    [
        (("2",), (), 2),  # the archive device's generic value
        (("STORESCP:3", "2"), (), 3),  # the destination's own value wins, whatever the order
        (("4",), ("OTHER:2",), 1),  # the AE's values replace the device's; none is for STORESCP or generic
        (("4",), ("2",), 2),
    ],
)
def test_parallel_associations_from_the_archive_configuration(
    store_scp: Any, tmp_path: Path, device_values: tuple[str, ...], ae_values: tuple[str, ...], expected: int
) -> None:
    """dcmMultipleStoreAssociations of the exporter's AE (dcmArchiveNetworkAE) or device (dcmArchiveDevice)."""
    files = generate_ct(tmp_path, 12, rows=64)
    attribute = "dcmMultipleStoreAssociations"
    archive = _archive({attribute: device_values}, {attribute: ae_values} if ae_values else {})
    configuration = Configuration(devices=(*make_configuration(store_scp.port).devices, archive))
    exporter = make_exporter()
    with create_transport(exporter, configuration) as transport:
        assert transport.parallel_associations() == expected
        outcome = transport.send(make_request([ref_for(p) for p in files], configuration, exporter))
    assert outcome.status is OutcomeStatus.COMPLETED and outcome.completed == 12
    assert store_scp.associations == expected


def test_a_bad_dcm_multiple_store_associations_names_where_it_is(store_scp: Any) -> None:
    archive = _archive({"dcmMultipleStoreAssociations": ("many",)}, {})
    configuration = Configuration(devices=(*make_configuration(store_scp.port).devices, archive))
    with create_transport(make_exporter(), configuration) as transport, pytest.raises(ConfigurationError) as info:
        transport.parallel_associations()
    assert "device dcm4chee-arc: dcmMultipleStoreAssociations='many' is not n or AET:n" in str(info.value)
