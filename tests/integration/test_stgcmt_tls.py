"""Storage commitment reports over TLS: the embedded SCP on a TLS connection of our AE (loopback, throwaway CAs).

``DCM4CHEE``'s listening connection has ``dicomTLSCipherSuite``: the embedded SCP serves it with TLS, our
certificate from the exporter's ``TLSCertificate`` / ``TLSKey``, the reporter's verified against
``TLSCACertificates``. A real pynetdicom Storage Commitment SCP (``PACS``) takes our N-ACTION on its plain port;
while the request waits, peers try the TLS port: plain DICOM, TLS without a client certificate, TLS with a
certificate of a CA we do not trust, a dozen connections that never start a handshake. None of them gets an
association; then ``PACS`` reports over TLS with its certificate and the report is taken.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from _stgcmt import TS, Pacs, awaiting_report, closed_by_peer, configuration_for, instances, report_for, send_report
from dcm_exporter._dicom import services
from dcm_exporter._dicom.association import Association, RequestedContext
from dcm_exporter._dicom.destination import Destination, listeners_of
from dcm_exporter._dicom.errors import AssociationFailure
from dcm_exporter.actions.stgcmt import STORAGE_COMMITMENT_PUSH_MODEL, StorageCommitmentSCU
from dcm_exporter.models import Configuration, Connection, ExporterDescriptor
from servers.ports import free_port
from servers.slapd import make_tls

SUITE = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"  # make_tls issues EC keys


@pytest.fixture
def pacs() -> Iterator[Pacs]:
    with Pacs() as peer:
        yield peer


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """Our CA and certificate, PACS's CA and (client) certificate, and a stranger's."""
    ours = make_tls(tmp_path / "ours")
    theirs = make_tls(tmp_path / "pacs", client_auth=True)
    stranger = make_tls(tmp_path / "stranger", client_auth=True)
    names = ("ca", "cert", "key")
    return {
        **{f"our_{n}": p for n, p in zip(names, ours, strict=True)},
        **{f"pacs_{n}": p for n, p in zip(names, theirs, strict=True)},
        **{f"stranger_{n}": p for n, p in zip(names, stranger, strict=True)},
    }


def setup(
    pacs_port: int, our_port: int, pki: dict[str, Path], *, need_client_auth: bool = True, certificate: bool = True
) -> tuple[Configuration, ExporterDescriptor]:
    properties = {"TLSCACertificates": str(pki["pacs_ca"])}
    if certificate:
        properties |= {"TLSCertificate": str(pki["our_cert"]), "TLSKey": str(pki["our_key"])}
    extra = {} if need_client_auth else {"dcmTLSNeedClientAuth": ("FALSE",)}
    ours = Connection(name="dicom-tls", hostname="127.0.0.1", port=our_port, tls_cipher_suites=(SUITE,), extra=extra)
    return configuration_for(pacs_port, ours, properties)


def client_context(server_ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def refusal(port: int, context: ssl.SSLContext | None) -> str:
    """Why PACS's association request to DCM4CHEE on ``port`` got no association (plain without ``context``).

    Asked with our own requestor rather than pynetdicom, which leaves its socket open when a TLS handshake
    fails."""
    destination = Destination(ae_title="DCM4CHEE", host="127.0.0.1", port=port, ssl_context=context)
    try:
        assoc = Association.open(destination, "PACS", [RequestedContext(1, STORAGE_COMMITMENT_PUSH_MODEL, tuple(TS))])
    except AssociationFailure as exc:
        return f"{type(exc).__name__}: {exc}"
    assoc.release()
    return "associated"


def test_a_report_over_tls_is_taken_and_no_other_connection_gets_in(
    pacs: Pacs, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "ASSOCIATE_TIMEOUT", 1.0)
    our_port = free_port()
    configuration, exporter = setup(pacs.port, our_port, pki)
    scu = StorageCommitmentSCU()
    refs = instances(3)
    idle: list[socket.socket] = []
    try:
        with awaiting_report(scu, pacs, configuration, exporter, refs) as (future, info):
            report = report_for(info)
            # the right AE titles, but no TLS: the A-ASSOCIATE-RQ is no TLS handshake, the connection is closed
            assert refusal(our_port, None).startswith("AbortedError")  # closed or reset, never answered
            # TLS without a client certificate (dcmTLSNeedClientAuth is dcm4che's default: required)
            assert refusal(our_port, client_context(pki["our_ca"])).startswith("ConnectError: TLS handshake failed")
            # a certificate of a CA that TLSCACertificates does not name
            stranger = client_context(pki["our_ca"], pki["stranger_cert"], pki["stranger_key"])
            assert refusal(our_port, stranger).startswith("ConnectError: TLS handshake failed")
            assert not future.done()
            assert scu.listening == [("127.0.0.1", our_port)]
            # a dozen connections that never start their TLS handshake: evicted or timed out, never in the way
            idle = [socket.create_connection(("127.0.0.1", our_port), timeout=10) for _ in range(12)]
            # PACS over TLS with its certificate
            pacs_tls = client_context(pki["our_ca"], pki["pacs_cert"], pki["pacs_key"])
            assert send_report(our_port, report, tls=pacs_tls) == 0x0000
            result = future.result(timeout=30)
            for sock in idle:
                assert closed_by_peer(sock)
    finally:
        for sock in idle:
            sock.close()
        scu.close()
    assert result.ae_title == "PACS" and not result.same_association
    assert [c.sop_instance_uid for c in result.committed] == [r.sop_instance_uid for r in refs]
    assert result.failed == ()


def test_without_client_authentication_a_reporter_needs_no_certificate(pacs: Pacs, pki: dict[str, Path]) -> None:
    our_port = free_port()
    configuration, exporter = setup(pacs.port, our_port, pki, need_client_auth=False)
    scu = StorageCommitmentSCU()
    refs = instances(2)
    try:
        with awaiting_report(scu, pacs, configuration, exporter, refs) as (future, info):
            assert refusal(our_port, None).startswith("AbortedError")  # still TLS only
            assert send_report(our_port, report_for(info), tls=client_context(pki["our_ca"])) == 0x0000
            result = future.result(timeout=30)
    finally:
        scu.close()
    assert len(result.committed) == 2


def test_a_tls_connection_without_our_certificate_is_not_served(
    pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    configuration, exporter = setup(free_port(), free_port(), pki, certificate=False)
    with caplog.at_level(logging.WARNING, logger="dcm_exporter.actions"):
        assert listeners_of(configuration, "DCM4CHEE", exporter) == []
    (record,) = caplog.records
    assert "connection dicom-tls of AE DCM4CHEE" in record.getMessage()
    assert "TLSCertificate" in record.getMessage()
    configuration, exporter = setup(free_port(), free_port(), pki)
    (listener,) = listeners_of(configuration, "DCM4CHEE", exporter)
    assert listener.ssl_context is not None and listener.ssl_context.verify_mode is ssl.CERT_REQUIRED


def test_every_listening_connection_is_served_and_one_that_cannot_bind_is_skipped(
    pacs: Pacs, pki: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    tls_port, plain_port = free_port(), free_port()
    configuration, exporter = setup(pacs.port, tls_port, pki)
    ours = configuration.devices[0]
    with socket.create_server(("127.0.0.1", 0)) as occupied:
        busy_port = occupied.getsockname()[1]
        connections = (
            Connection(name="busy", hostname="127.0.0.1", port=busy_port),
            Connection(name="dicom", hostname="127.0.0.1", port=plain_port),
            *ours.connections,
        )
        ae = attrs.evolve(ours.application_entities[0], connection_refs=("busy", "dicom", "dicom-tls"))
        ours = attrs.evolve(ours, connections=connections, application_entities=(ae,))
        configuration = attrs.evolve(configuration, devices=(ours, *configuration.devices[1:]))
        scu = StorageCommitmentSCU()
        try:
            with caplog.at_level(logging.WARNING, logger="dcm_exporter.actions"), awaiting_report(
                scu, pacs, configuration, exporter, instances(1)
            ) as (future, info):
                assert sorted(scu.listening) == sorted([("127.0.0.1", plain_port), ("127.0.0.1", tls_port)])
                assert send_report(plain_port, report_for(info)) == 0x0000
                result = future.result(timeout=30)
        finally:
            scu.close()
    assert len(result.committed) == 1
    assert any(f"127.0.0.1:{busy_port}" in r.getMessage() for r in caplog.records)
