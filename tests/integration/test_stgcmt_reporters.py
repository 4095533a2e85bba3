"""Who may report storage commitment results to the embedded SCP (loopback, bounded in time).

A real pynetdicom Storage Commitment SCP (``PACS``) answers our N-ACTION; while the request waits for the
report, small hostile peers try their luck on the embedded SCP's port: another AE title, another called AE
title, a registered SCP carrying someone else's Transaction UID, the right AE title from the wrong host, an
unknown Transaction UID, and a dozen TCP connections that never ask for an association. None of them may set
the result; then ``PACS`` reports for real and its report is taken. A report that comes after its request gave
up is answered Success and only logged.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt

from dcm_exporter._dicom import services
from dcm_exporter.actions.stgcmt import STORAGE_COMMITMENT_PUSH_MODEL, StorageCommitmentSCU
from dcm_exporter.errors import TransportTimeoutError
from dcm_exporter.export import InstanceRef
from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, ExporterDescriptor
from servers.ports import free_port

TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
INSTANCE = STORAGE_COMMITMENT_PUSH_MODEL + ".1"
CT = "1.2.840.10008.5.1.4.1.1.2"


class Pacs:
    """A pynetdicom SCP that answers N-ACTION with Success and remembers the Action Information."""

    def __init__(self) -> None:
        self.port = free_port()
        self.action = threading.Event()
        self.info: Dataset | None = None
        ae = AE(ae_title="PACS")
        ae.add_supported_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_N_ACTION, self._on_n_action)]
        )

    def _on_n_action(self, event: Any) -> tuple[int, None]:
        self.info = event.action_information
        self.action.set()
        return 0x0000, None


@pytest.fixture
def pacs() -> Iterator[Pacs]:
    peer = Pacs()
    yield peer
    peer.server.shutdown()


def report_for(info: Dataset, *, failed: bool = False, transaction_uid: str | None = None) -> Dataset:
    report = Dataset()
    report.TransactionUID = transaction_uid or info.TransactionUID
    items = []
    for ref in info.ReferencedSOPSequence:
        item = Dataset()
        item.ReferencedSOPClassUID = ref.ReferencedSOPClassUID
        item.ReferencedSOPInstanceUID = ref.ReferencedSOPInstanceUID
        if failed:
            item.FailureReason = 0x0112
        items.append(item)
    if failed:
        report.FailedSOPSequence = items
    else:
        report.ReferencedSOPSequence = items
    return report


def send_report(
    port: int, report: Dataset, *, calling: str = "PACS", called: str = "DCM4CHEE", bind: str = "127.0.0.1"
) -> int | str:
    """The status of the N-EVENT-REPORT-RSP, or ``"rejected"`` / ``"aborted"`` when no association."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title=called, bind_address=(bind, 0))
    if not assoc.is_established:
        return "rejected" if assoc.is_rejected else "aborted"
    try:
        status, _ = assoc.send_n_event_report(report, 1, STORAGE_COMMITMENT_PUSH_MODEL, INSTANCE)
        return int(getattr(status, "Status", -1))
    finally:
        assoc.release()


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end ended ``sock``: an A-ABORT, EOF, or a reset when it left bytes unread; a timeout
    (10 s) fails."""
    try:
        return sock.recv(64)[:1] in (b"", b"\x07")
    except ConnectionResetError:
        return True


def setup(pacs_port: int, our_port: int) -> tuple[Configuration, ExporterDescriptor]:
    exporter = ExporterDescriptor(
        exporter_id="COMMIT", uri="noop:commit", queue_name="Export1", ae_title="DCM4CHEE", stgcmt_scp="PACS"
    )
    configuration = Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=our_port),),
                application_entities=(ApplicationEntity(ae_title="DCM4CHEE", connection_refs=("dicom",)),),
                exporters=(exporter,),
            ),
            Device(
                device_name="pacs",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=pacs_port),),
                application_entities=(ApplicationEntity(ae_title="PACS", connection_refs=("dicom",)),),
            ),
        )
    )
    return configuration, exporter


def instances(count: int) -> list[InstanceRef]:
    study, series = generate_uid(), generate_uid()
    return [
        InstanceRef(
            study_uid=study, series_uid=series, sop_instance_uid=generate_uid(), sop_class_uid=CT,
            transfer_syntax_uid=TS[0], size=0, path=Path("/nonexistent.dcm"),
        )
        for _ in range(count)
    ]


def test_only_the_asked_scp_sets_the_result(pacs: Pacs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "ASSOCIATE_TIMEOUT", 1.0)
    our_port = free_port()
    configuration, exporter = setup(pacs.port, our_port)
    scu = StorageCommitmentSCU()
    refs = instances(3)
    idle: list[socket.socket] = []
    try:
        # another exporter's SCP may associate too: it must not report for PACS's transaction
        scu.listen("127.0.0.1", our_port, "DCM4CHEE", reporter="OTHERSCP")
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                scu.request, configuration=configuration, exporter=exporter, ae_title="PACS",
                calling_ae_title="DCM4CHEE", instances=refs, timeout=60,
            )
            assert pacs.action.wait(20)
            info = pacs.info
            assert info is not None
            forged = report_for(info, failed=True)
            # a dozen connections that never send an A-ASSOCIATE-RQ
            idle = [socket.create_connection(("127.0.0.1", our_port), timeout=10) for _ in range(12)]
            assert send_report(our_port, forged, calling="EVIL") == "rejected"
            assert send_report(our_port, forged, called="SOMEONE") == "rejected"
            assert send_report(our_port, forged, calling="OTHERSCP") == 0x0110
            assert send_report(our_port, forged, bind="127.0.0.2") == 0x0110  # PACS is at 127.0.0.1
            # a transaction no request waits for: Success, as upstream answers, and nothing changes
            assert send_report(our_port, report_for(info, transaction_uid=generate_uid())) == 0x0000
            assert not future.done()
            # the idle connections are closed by now (evicted, or timed out without an association)
            for sock in idle:
                assert closed_by_peer(sock)
            idle += [socket.create_connection(("127.0.0.1", our_port), timeout=10) for _ in range(12)]
            assert send_report(our_port, report_for(info)) == 0x0000  # despite a dozen fresh idle ones
            result = future.result(timeout=30)
    finally:
        for sock in idle:
            sock.close()
        scu.close()
    assert result.ae_title == "PACS" and not result.same_association
    assert [c.sop_instance_uid for c in result.committed] == [r.sop_instance_uid for r in refs]
    assert result.failed == ()


def test_a_late_report_is_answered_success_and_only_logged(
    pacs: Pacs, caplog: pytest.LogCaptureFixture
) -> None:
    our_port = free_port()
    configuration, exporter = setup(pacs.port, our_port)
    scu = StorageCommitmentSCU()
    try:
        with pytest.raises(TransportTimeoutError, match="within 1 s"):
            scu.request(configuration=configuration, exporter=exporter, ae_title="PACS",
                        calling_ae_title="DCM4CHEE", instances=instances(2), timeout=1.0)
        info = pacs.info
        assert info is not None
        with caplog.at_level(logging.WARNING, logger="dcm_exporter.actions"):
            assert send_report(our_port, report_for(info)) == 0x0000
    finally:
        scu.close()
    (record,) = [r for r in caplog.records if "unknown or expired transaction" in r.getMessage()]
    assert str(info.TransactionUID) in record.getMessage()
    assert "not recorded" in record.getMessage()


def test_a_connection_without_an_association_request_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "ASSOCIATE_TIMEOUT", 0.5)
    port = free_port()
    server = services.EventReportServer(
        "127.0.0.1", port, "DCM4CHEE", STORAGE_COMMITMENT_PUSH_MODEL, lambda *args: 0
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"\x01\x00")  # half a PDU header, then nothing
            assert closed_by_peer(sock)
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "pdu",
    [
        b"\x01\x00\xff\xff\xff\xff",  # an A-ASSOCIATE-RQ of 4 GB
        b"\x04\x00\x00\x00\x00\x02\x00\x00",  # P-DATA before any association
        b"\x01\x00\x00\x00\x00\x10" + bytes(16),  # shorter than its fixed fields
        b"\x01\x00\x00\x00\x00\x4a" + bytes(68) + b"\x20\x00\xff\xff",  # an item running past the end
    ],
)
def test_a_malformed_association_request_is_closed(pdu: bytes) -> None:
    port = free_port()
    server = services.EventReportServer(
        "127.0.0.1", port, "DCM4CHEE", STORAGE_COMMITMENT_PUSH_MODEL, lambda *args: 0
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(pdu)
            assert closed_by_peer(sock)
    finally:
        server.shutdown()


def test_the_embedded_scp_takes_its_bounds_from_our_listening_connection(pacs: Pacs) -> None:
    """dcmIdleTimeout (here 500 ms; 60 s when not set) of the exporter AE's own listening connection aborts a
    reporter's association that sends nothing; dcmAARQTimeout bounds the wait for the A-ASSOCIATE-RQ."""
    import time

    import attrs

    from dcm_exporter._dicom.destination import listeners_of

    our_port = free_port()
    configuration, exporter = setup(pacs.port, our_port)
    ours = configuration.devices[0]
    bounded = attrs.evolve(ours.connections[0], aarq_timeout=700, idle_timeout=500)
    configuration = attrs.evolve(configuration, devices=(attrs.evolve(ours, connections=(bounded,)),
                                                         *configuration.devices[1:]))
    (listener,) = listeners_of(configuration, "DCM4CHEE", exporter)
    assert (listener.associate_timeout, listener.idle_timeout) == (0.7, 0.5)
    scu = StorageCommitmentSCU()
    try:
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                scu.request, configuration=configuration, exporter=exporter, ae_title="PACS",
                calling_ae_title="DCM4CHEE", instances=instances(1), timeout=30,
            )
            assert pacs.action.wait(20)
            ae = AE(ae_title="PACS")
            ae.add_requested_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
            assoc = ae.associate("127.0.0.1", our_port, ae_title="DCM4CHEE")
            assert assoc.is_established
            deadline = time.monotonic() + 20  # far beyond 500 ms, far below the 60 s default
            while assoc.is_established and time.monotonic() < deadline:
                time.sleep(0.05)
            assert assoc.is_aborted
            info = pacs.info
            assert info is not None
            assert send_report(our_port, report_for(info)) == 0x0000  # a reporter that speaks is served
            result = future.result(timeout=30)
    finally:
        scu.close()
    assert len(result.committed) == 1
