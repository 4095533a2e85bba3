"""The embedded SCP that receives N-EVENT-REPORTs on associations the peer opens (our own acceptor),
driven by pynetdicom as the peer, and by small hostile peers on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom import Dataset
from pynetdicom import AE, build_role

from dcm_exporter._dicom.services import EventReportServer, ReportOrigin
from dcm_exporter._dicom.uids import STORAGE_COMMITMENT_PUSH_MODEL, VERIFICATION
from dcm_exporter.errors import ConnectionFailedError

TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
INSTANCE = "1.2.840.10008.1.20.1.1"


@pytest.fixture
def server() -> Iterator[tuple[EventReportServer, list[tuple[str, int, Any]]]]:
    got: list[tuple[str, int, Any]] = []

    def handler(origin: ReportOrigin, sop_class: str, event_type: int, info: Dataset | None) -> int:
        assert (origin.calling_ae_title, origin.called_ae_title, origin.address) == ("PACS", "DCM4CHEE", "127.0.0.1")
        got.append((sop_class, event_type, None if info is None else str(info.TransactionUID)))
        return 0x0000

    scp = EventReportServer("127.0.0.1", 0, "DCM4CHEE", STORAGE_COMMITMENT_PUSH_MODEL, handler, idle_timeout=1.0)
    scp.allow("PACS")
    yield scp, got
    scp.shutdown()


def _peer(port: int, *, role: bool) -> Any:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
    ae.add_requested_context(VERIFICATION)
    ext = [build_role(STORAGE_COMMITMENT_PUSH_MODEL, scp_role=True, scu_role=True)] if role else []
    assoc = ae.associate("127.0.0.1", port, ae_title="DCM4CHEE", ext_neg=ext)
    assert assoc.is_established
    return assoc


@pytest.mark.parametrize("role", [True, False], ids=["role-selection", "no-role-selection"])
def test_reports_and_echo_from_pynetdicom_are_answered(server: Any, role: bool) -> None:
    scp, got = server
    assoc = _peer(scp.address[1], role=role)
    try:
        assert assoc.send_c_echo().Status == 0x0000
        for transaction, event in (("2.25.7", 1), ("2.25.8", 2)):
            report = Dataset()
            report.TransactionUID = transaction
            status, _ = assoc.send_n_event_report(report, event, STORAGE_COMMITMENT_PUSH_MODEL, INSTANCE)
            assert status.Status == 0x0000
    finally:
        assoc.release()
    assert got == [(STORAGE_COMMITMENT_PUSH_MODEL, 1, "2.25.7"), (STORAGE_COMMITMENT_PUSH_MODEL, 2, "2.25.8")]


def test_a_second_server_on_the_port_is_a_connection_error(server: Any) -> None:
    scp, _ = server
    with pytest.raises(ConnectionFailedError, match=r"cannot listen for N-EVENT-REPORTs to AE X on 127\.0\.0\.1"):
        EventReportServer("127.0.0.1", scp.address[1], "X", STORAGE_COMMITMENT_PUSH_MODEL, lambda *a: 0)


def test_silent_and_garbage_peers_are_dropped_and_the_scp_keeps_serving(server: Any) -> None:
    scp, got = server
    silent = socket.create_connection(scp.address)
    garbage = socket.create_connection(scp.address)
    garbage.sendall(b"\x01\x00\x00\x00\x00\x08notanrq!")  # an A-ASSOCIATE-RQ that is not one
    garbage.settimeout(5)
    assert garbage.recv(64)[:1] in (b"\x07", b"")  # A-ABORT, or closed
    silent.settimeout(30)  # bounds the test; the SCP drops it after its idle timeout of 1 s
    assert silent.recv(64)[:1] in (b"\x07", b"")  # not held for ever
    silent.close()
    garbage.close()
    assoc = _peer(scp.address[1], role=False)  # still serving
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert got == []


@pytest.mark.parametrize("shape", ["contexts", "user-information"])
def test_an_associate_rq_with_more_items_than_it_may_have_is_refused_undecoded(server: Any, shape: str) -> None:
    """Before the calling AE title is looked at, any host may send an A-ASSOCIATE-RQ: 50,000 presentation
    contexts in one (2.5 MiB, within the PDU limit) took pynetdicom 3 s and 65 MB to decode and were accepted,
    as were 60 User Information items holding 130,000 role selections (3 s, 100 MB). More presentation
    contexts than the 128 context IDs, or more than one User Information item, is refused before decoding,
    and the SCP goes on serving."""
    import struct

    def item(kind: int, body: bytes) -> bytes:
        return struct.pack(">BxH", kind, len(body)) + body

    context = item(0x20, bytes((1, 0, 0, 0)) + item(0x30, STORAGE_COMMITMENT_PUSH_MODEL.encode())
                   + item(0x40, TS[0].encode()))
    max_pdu = item(0x51, struct.pack(">L", 16384))
    if shape == "contexts":
        rest = context * 50_000 + item(0x50, max_pdu)
    else:
        ct = b"1.2.840.10008.5.1.4.1.1.2"
        role = item(0x54, struct.pack(">H", len(ct)) + ct + b"\x01\x01")
        rest = context + item(0x50, max_pdu + role * (65_000 // len(role))) * 60
    body = (struct.pack(">HH", 1, 0) + b"DCM4CHEE".ljust(16) + b"PACS".ljust(16) + bytes(32)
            + item(0x10, b"1.2.840.10008.3.1.1.1") + rest)
    scp, got = server
    with socket.create_connection(scp.address, timeout=30) as sock:
        sock.sendall(struct.pack(">BxL", 0x01, len(body)) + body)
        assert sock.recv(64)[:1] in (b"\x07", b"")  # A-ABORT, or closed: no A-ASSOCIATE-AC
    assoc = _peer(scp.address[1], role=False)  # still serving
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert got == []
