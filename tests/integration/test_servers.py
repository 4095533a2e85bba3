"""Each shared server fixture works against the real server it starts."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dcm_exporter.testing import StoreSCP


def _testdata(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is not bundled"
    return Path(str(path))


def _dataset_bytes(path: Path) -> bytes:
    """The encoded dataset of a Part 10 file, after the preamble and the file meta group."""
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM"
    # (0002,0000) File Meta Information Group Length, explicit VR LE: tag(4) VR(2) len(2) value(4)
    group_len = int.from_bytes(raw[140:144], "little")
    return raw[144 + group_len :]


def _associate(port: int, called: str, *contexts: tuple[str, list[str]]) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title="TESTSCU")
    for uid, syntaxes in contexts:
        ae.add_requested_context(uid, syntaxes)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, f"association to {called} at 127.0.0.1:{port} failed"
    return assoc


VERIFICATION = ("1.2.840.10008.1.1", ["1.2.840.10008.1.2"])


@pytest.mark.dcmtk
def test_storescp_answers_c_echo_and_stores(storescp: Any) -> None:
    ct = _testdata("CT_small.dcm")
    ds = dcmread(ct, stop_before_pixels=True)
    assoc = _associate(
        storescp.port, storescp.ae_title, VERIFICATION, (ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    )
    try:
        assert assoc.send_c_echo().Status == 0x0000
        assert assoc.send_c_store(ct).Status == 0x0000
    finally:
        assoc.release()
    files = storescp.files()
    assert len(files) == 1
    assert dcmread(files[0]).SOPInstanceUID == ds.SOPInstanceUID


@pytest.mark.dcmtk
def test_storescp_factory_options(storescp_factory: Any) -> None:
    server = storescp_factory(ae_title="IGNORING", options=("+xa", "--ignore", "--fork"))
    assert server.ae_title == "IGNORING" and "--ignore" in server.argv
    assoc = _associate(server.port, "IGNORING", VERIFICATION)
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()
    assert server.files() == []


@pytest.mark.orthanc
def test_orthanc_system_and_stow_endpoint(orthanc: Any) -> None:
    system = orthanc.get_json("/system")
    assert system["DicomAet"] == "ORTHANC"
    assert system["DicomPort"] == orthanc.dicom_port
    assert orthanc.instances() == []
    # the DICOMweb plugin answers (QIDO on the empty server)
    with urllib.request.urlopen(orthanc.dicomweb_url + "/studies", timeout=10) as rsp:
        body = rsp.read()
    assert json.loads(body or b"[]") == []
    # DICOM side: C-ECHO
    assoc = _associate(orthanc.dicom_port, orthanc.ae_title, VERIFICATION)
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


@pytest.mark.orthanc
def test_orthanc_extra_config_is_applied(orthanc_factory: Any) -> None:
    server = orthanc_factory(
        ae_title="PACS", extra_config={"DicomModalities": {"scu": ["TESTSCU", "127.0.0.1", 11112]}}
    )
    assert server.get_json("/modalities") == ["scu"]
    assert server.get_json("/system")["DicomAet"] == "PACS"


@pytest.mark.postgres
def test_pg_database_select_1(pg_database: Any) -> None:
    import psycopg

    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database.name,)


def test_store_scp_receives_byte_identical(store_scp: StoreSCP) -> None:
    sources = [_testdata("CT_small.dcm"), _testdata("MR_small.dcm")]
    datasets = [dcmread(p, stop_before_pixels=True) for p in sources]
    assoc = _associate(
        store_scp.port,
        "STORESCP",
        *((ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID]) for ds in datasets),
    )
    try:
        statuses = [assoc.send_c_store(p).Status for p in sources]
    finally:
        assoc.release()
    assert statuses == [0x0000, 0x0000]
    received = store_scp.received
    assert [r.sop_instance_uid for r in received] == [ds.SOPInstanceUID for ds in datasets]
    for source, ds, rec in zip(sources, datasets, received, strict=True):
        assert rec.calling_ae_title == "TESTSCU"
        assert rec.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
        assert rec.status == 0x0000
        assert rec.path is not None
        assert _dataset_bytes(rec.path) == _dataset_bytes(source)
        assert rec.size == len(_dataset_bytes(source))
        stored = dcmread(rec.path)
        assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_store_scp_sets_tcp_nodelay(store_scp: StoreSCP) -> None:
    assoc = _associate(store_scp.port, "STORESCP", VERIFICATION)
    try:
        assert assoc.send_c_echo().Status == 0x0000
        # the SCP side of the association, after its EVT_CONN_OPEN handler ran
        server_side = store_scp._server.active_associations
        options = [
            a.dul.socket.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for a in server_side
        ]
    finally:
        assoc.release()
    assert options and all(v != 0 for v in options)
    assert store_scp.echoes == 1
