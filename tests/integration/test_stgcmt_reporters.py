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
from collections.abc import Iterator

import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

from _stgcmt import TS, Pacs, awaiting_report, closed_by_peer, configuration_for, instances, report_for, send_report
from dcm_exporter._dicom import services
from dcm_exporter._dicom.services import encode_dataset
from dcm_exporter.actions.stgcmt import (
    REPORT_BYTES_BASE,
    STORAGE_COMMITMENT_PUSH_MODEL,
    StorageCommitmentSCU,
    report_limit,
)
from dcm_exporter.errors import TransportTimeoutError
from dcm_exporter.models import Configuration, Connection, ExporterDescriptor
from servers.ports import free_port


@pytest.fixture
def pacs() -> Iterator[Pacs]:
    with Pacs() as peer:
        yield peer


def setup(pacs_port: int, our_port: int) -> tuple[Configuration, ExporterDescriptor]:
    return configuration_for(pacs_port, Connection(name="dicom", hostname="127.0.0.1", port=our_port))


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
        with awaiting_report(scu, pacs, configuration, exporter, refs) as (future, info):
            forged = report_for(info, failed=True)
            # a dozen connections that never send an A-ASSOCIATE-RQ
            idle = [socket.create_connection(("127.0.0.1", our_port), timeout=10) for _ in range(12)]
            assert send_report(our_port, forged, calling="EVIL") == "rejected"
            assert send_report(our_port, forged, called="SOMEONE") == "rejected"
            assert send_report(our_port, forged, calling="OTHERSCP") == 0x0110
            assert send_report(our_port, forged, bind="127.0.0.2") == 0x0110  # PACS is at 127.0.0.1
            # a transaction never issued here: refused, and nothing changes (upstream answers Success: deviations)
            assert send_report(our_port, report_for(info, transaction_uid=generate_uid())) == 0x0110
            assert not future.done()
            # the idle connections are closed by now (evicted, or timed out without an association)
            for sock in idle:
                assert closed_by_peer(sock, or_a_abort=True)
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
    (record,) = [r for r in caplog.records if "expired transaction" in r.getMessage()]
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
            assert closed_by_peer(sock, or_a_abort=True)
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
            assert closed_by_peer(sock, or_a_abort=True)
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
        with awaiting_report(scu, pacs, configuration, exporter, instances(1), timeout=30) as (future, info):
            ae = AE(ae_title="PACS")
            ae.add_requested_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
            assoc = ae.associate("127.0.0.1", our_port, ae_title="DCM4CHEE")
            assert assoc.is_established
            deadline = time.monotonic() + 20  # far beyond 500 ms, far below the 60 s default
            while assoc.is_established and time.monotonic() < deadline:
                time.sleep(0.05)
            assert assoc.is_aborted
            assert send_report(our_port, report_for(info)) == 0x0000  # a reporter that speaks is served
            result = future.result(timeout=30)
    finally:
        scu.close()
    assert len(result.committed) == 1


def _padded(info: Dataset, items: int) -> Dataset:
    """The report for ``info`` with ``items`` more Referenced SOP Sequence items naming instances never asked
    about: what a reporter sends to make the embedded SCP decode a sequence of any length (a million items,
    1.2 GB in pydicom, before the limit)."""
    report = report_for(info)
    for n in range(items):
        extra = Dataset()
        extra.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        extra.ReferencedSOPInstanceUID = f"2.25.{n}"
        report.ReferencedSOPSequence.append(extra)
    return report


def test_a_report_larger_than_its_request_can_need_is_not_read(
    pacs: Pacs, caplog: pytest.LogCaptureFixture
) -> None:
    """The embedded SCP takes a report of at most report_limit(instances of the reporter's largest pending
    request) bytes: the registered SCP, from its host, sending 3,000 items for a request of 2 is aborted
    before the data set is read past the limit, and changes nothing; its report of the right size is taken.
    A report for a request of 700 instances (over the 64 KiB base) is taken whole."""
    our_port = free_port()
    configuration, exporter = setup(pacs.port, our_port)
    scu = StorageCommitmentSCU()
    try:
        with awaiting_report(scu, pacs, configuration, exporter, instances(2)) as (future, info):
            with caplog.at_level(logging.WARNING, logger="dcm_exporter.actions"):
                assert send_report(our_port, _padded(info, 3_000)) in (-1, "aborted")  # no N-EVENT-REPORT-RSP
            assert not future.done()
            assert send_report(our_port, report_for(info)) == 0x0000
            small = future.result(timeout=30)
        pacs.action.clear()
        with awaiting_report(scu, pacs, configuration, exporter, instances(700)) as (future, info):
            assert len(encode_dataset(report_for(info), TS[0])) > REPORT_BYTES_BASE
            assert send_report(our_port, report_for(info)) == 0x0000
            large = future.result(timeout=30)
    finally:
        scu.close()
    assert len(small.committed) == 2 and small.failed == ()
    assert len(large.committed) == 700 and large.failed == ()
    limit = report_limit(2)
    assert any(f"data set of more than {limit} bytes in a request from AE PACS at 127.0.0.1" in r.getMessage()
               for r in caplog.records), caplog.text
