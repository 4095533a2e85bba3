"""The ``dicom:`` transport against small hostile Store SCPs (loopback only, bounded in time).

Each peer below speaks just enough of the upper layer to accept an association and then misbehaves in
one way: it trickles a response one fragment at a time, sends a command set that never ends, answers the
A-RELEASE-RQ with P-DATA, puts garbage behind a PDU in the same TCP segment, sends a truncated
A-ASSOCIATE-RJ, or confirms another instance than the one sent. Every case must end as a typed error
(retryable when nothing got through) or as a per-instance failure with its reason, within about the
configured timeout; no exception from outside :mod:`dcm_exporter.errors` may escape.

No timing assertions: a peer gives up on its own after ``GIVE_UP`` seconds and then closes the connection,
which turns a regression into a *different* outcome (a connection error instead of a timeout, a peer that
never saw our A-ABORT).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from _helpers import wait_for
from dcm_exporter._dicom import association as assoc_module
from dcm_exporter._dicom import framing as d
from dcm_exporter.errors import ConnectionFailedError, TransportTimeoutError
from dcm_exporter.export import CancelToken, ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, ExporterDescriptor
from dcm_exporter.transports.dicom import DicomTransport

ELE = "1.2.840.10008.1.2.1"
GIVE_UP = 20.0  # seconds a misbehaving peer keeps at it before closing the connection

Script = Callable[["Peer", socket.socket, int], None]


# --- a scripted peer ---------------------------------------------------------------------------------


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BxH", item_type, len(body)) + body


def associate_ac(rq: bytes) -> tuple[bytes, int]:
    """An A-ASSOCIATE-AC accepting every proposed context with its first transfer syntax; and the first id."""
    called, calling = rq[10:26], rq[26:42]
    body = struct.pack(">HH", 1, 0) + called + calling + bytes(32) + _item(0x10, b"1.2.840.10008.3.1.1.1")
    pos, first = 74, 0
    while pos + 4 <= len(rq):
        kind, length = struct.unpack_from(">BxH", rq, pos)
        if kind == 0x20:
            context_id = rq[pos + 4]
            first = first or context_id
            sub, ts = pos + 8, ELE.encode()
            while sub < pos + 4 + length:
                sub_kind, sub_len = struct.unpack_from(">BxH", rq, sub)
                if sub_kind == 0x40:
                    ts = rq[sub + 4 : sub + 4 + sub_len]
                    break
                sub += 4 + sub_len
            body += _item(0x21, bytes((context_id, 0, 0, 0)) + _item(0x40, ts))
        pos += 4 + length
    body += _item(0x50, _item(0x51, struct.pack(">L", 16384)))
    return struct.pack(">BxL", d.PDU_A_ASSOCIATE_AC, len(body)) + body, first


def read_pdu(conn: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = conn.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    kind, length = struct.unpack(">BxL", exactly(6))
    return kind, exactly(length)


def read_store_rq(conn: socket.socket, *, release_rp: bool = True) -> d.Command | None:
    """The command of the next C-STORE-RQ (its data set read and dropped); ``None`` on A-RELEASE-RQ, which is
    answered with an A-RELEASE-RP when ``release_rp``."""
    fragments: list[bytes] = []
    command: d.Command | None = None
    while True:
        kind, body = read_pdu(conn)
        if kind == d.PDU_A_RELEASE_RQ:
            if release_rp:
                conn.sendall(d.a_release_pdu(response=True))
            return None
        if kind != d.PDU_P_DATA_TF:
            raise EOFError
        for pdv in d.split_pdvs(body):
            if pdv.command:
                fragments.append(pdv.data)
                if pdv.last:
                    command = d.parse_command(b"".join(fragments))
            elif pdv.last and command is not None:
                return command


def store_rsp(command: d.Command, *, status: int = 0, sop_instance_uid: str | None = None) -> bytes:
    """A C-STORE-RSP to ``command`` naming ``sop_instance_uid`` (default: the instance of the request)."""
    uid = sop_instance_uid or command.text(d.AFFECTED_SOP_INSTANCE_UID) or ""
    data = d.encode_command(
        [
            (d.AFFECTED_SOP_CLASS_UID, command.text(d.AFFECTED_SOP_CLASS_UID) or ""),
            (d.COMMAND_FIELD, d.C_STORE_RSP),
            (d.MESSAGE_ID_BEING_RESPONDED_TO, command.message_id or 0),
            (d.COMMAND_DATA_SET_TYPE, d.NO_DATASET),
            (d.STATUS, status),
            (d.AFFECTED_SOP_INSTANCE_UID, uid),
        ]
    )
    return data


class Peer:
    """Accepts associations on loopback; runs ``script(peer, conn, context_id)`` on each after the AC."""

    def __init__(self, script: Script, *, ac_suffix: bytes = b"", raw: bytes | None = None) -> None:
        self.script = script
        self.ac_suffix = ac_suffix
        self.raw = raw  # sent instead of an A-ASSOCIATE-AC
        self.associations = 0
        self.events: list[str] = []
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(GIVE_UP)
            try:
                kind, rq = read_pdu(conn)
                assert kind == d.PDU_A_ASSOCIATE_RQ
                self.associations += 1
                if self.raw is not None:
                    conn.sendall(self.raw)
                    return
                ac, context_id = associate_ac(bytes((kind, 0)) + struct.pack(">L", len(rq)) + rq)
                conn.sendall(ac + self.ac_suffix)  # one segment: the garbage rides with the AC
                self.script(self, conn, context_id)
            except (OSError, EOFError, AssertionError, d.FramingError):
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def peer_factory() -> Iterator[Callable[..., Peer]]:
    peers: list[Peer] = []

    def make(script: Script, **kwargs: bytes) -> Peer:
        peer = Peer(script, **kwargs)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


def serve_normally(peer: Peer, conn: socket.socket, context_id: int) -> None:
    store_until_release(conn, context_id)


def store_until_release(conn: socket.socket, context_id: int, *, release_rp: bool = True) -> None:
    """Answer every C-STORE-RQ with Success until the A-RELEASE-RQ, answered only when ``release_rp``."""
    while (command := read_store_rq(conn, release_rp=release_rp)) is not None:
        conn.sendall(d.pdata_pdu(context_id, store_rsp(command), command=True, last=True))


# --- the exporter side --------------------------------------------------------------------------------


def configuration_for(
    port: int, response_timeout_ms: int = 1000, release_timeout_ms: int | None = None
) -> Configuration:
    conn = Connection(name="dicom", hostname="127.0.0.1", port=port, response_timeout=response_timeout_ms,
                      arrp_timeout=release_timeout_ms)
    ae = ApplicationEntity(ae_title="HOSTILE", connection_refs=("dicom",))
    return Configuration(devices=(Device(device_name="hostile", connections=(conn,), application_entities=(ae,)),))


EXPORTER = ExporterDescriptor(
    exporter_id="Export1", uri="dicom:HOSTILE", queue_name="Export1", ae_title="DCM4CHEE"
)


def make_files(folder: Path, count: int) -> list[InstanceRef]:
    refs = []
    study, series = generate_uid(), generate_uid()
    for n in range(count):
        ds = Dataset()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.PatientID = "HOSTILE"
        ds.InstanceNumber = n + 1
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{n}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        refs.append(
            InstanceRef(
                study_uid=study,
                series_uid=series,
                sop_instance_uid=ds.SOPInstanceUID,
                sop_class_uid=CTImageStorage,
                transfer_syntax_uid=ExplicitVRLittleEndian,
                size=path.stat().st_size,
                path=path,
            )
        )
    return refs


def request_for(refs: list[InstanceRef], configuration: Configuration) -> ExportRequest:
    return ExportRequest(
        exporter=EXPORTER,
        configuration=configuration,
        study_uid=refs[0].study_uid,
        instances=refs,
        calling_ae_title="DCM4CHEE",
        cancel=CancelToken(),
    )


# --- item 1: bounded time and memory -----------------------------------------------------------------


def test_a_response_trickled_one_fragment_at_a_time_times_out(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """The response timeout bounds the whole C-STORE-RSP, not each PDU: a fragment every 0.2 s (the timeout
    is 1 s) does not keep the export going until the peer gives up."""

    def trickle(peer: Peer, conn: socket.socket, context_id: int) -> None:
        read_store_rq(conn)
        end = time.monotonic() + GIVE_UP
        while time.monotonic() < end:
            conn.sendall(d.pdata_pdu(context_id, b"\x00\x00", command=True, last=False))
            time.sleep(0.2)

    peer = peer_factory(trickle)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 2)
    with DicomTransport(EXPORTER, configuration) as transport, pytest.raises(TransportTimeoutError) as info:
        transport.send(request_for(refs, configuration))
    assert info.value.retryable
    assert "no answer within 1.0 s while waiting for the C-STORE-RSP" in str(info.value)


def test_a_command_set_that_never_ends_is_cut_at_the_limit(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """Command fragments without the "last" bit are not buffered without limit (414 MB in 20 s before)."""

    def flood(peer: Peer, conn: socket.socket, context_id: int) -> None:
        read_store_rq(conn)
        chunk = d.pdata_pdu(context_id, bytes(16000), command=True, last=False)
        end = time.monotonic() + GIVE_UP
        while time.monotonic() < end:
            conn.sendall(chunk)

    peer = peer_factory(flood)
    configuration = configuration_for(peer.port, response_timeout_ms=30_000)
    refs = make_files(tmp_path, 1)
    with DicomTransport(EXPORTER, configuration) as transport, pytest.raises(ConnectionFailedError) as info:
        transport.send(request_for(refs, configuration))
    assert info.value.retryable
    assert f"command set of more than {assoc_module.MAX_RECEIVED_COMMAND} bytes" in str(info.value)


def test_a_pdu_larger_than_the_limit_is_refused_before_it_is_read(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    def huge(peer: Peer, conn: socket.socket, context_id: int) -> None:
        read_store_rq(conn)
        conn.sendall(struct.pack(">BxL", d.PDU_P_DATA_TF, 0xFFFFFFF0) + bytes(1024))
        time.sleep(GIVE_UP)

    peer = peer_factory(huge)
    configuration = configuration_for(peer.port, response_timeout_ms=30_000)
    refs = make_files(tmp_path, 1)
    with DicomTransport(EXPORTER, configuration) as transport, pytest.raises(ConnectionFailedError) as info:
        transport.send(request_for(refs, configuration))
    assert f"exceeds the limit of {assoc_module.MAX_RECEIVED_PDU}" in str(info.value)


@pytest.mark.parametrize("associations", [1, 2])
def test_a_release_answered_with_p_data_is_aborted(
    peer_factory: Callable[..., Peer], tmp_path: Path, associations: int
) -> None:
    """Closing the transport releases the pooled association; a peer answering the A-RELEASE-RQ with P-DATA
    is aborted when the release timeout (the connection's dcmARRPTimeout, 500 ms; the peer gives up after
    GIVE_UP, less than the 5 s default) runs out, while it is still sending."""

    def chatty(peer: Peer, conn: socket.socket, context_id: int) -> None:
        store_until_release(conn, context_id, release_rp=False)
        peer.events.append("release requested")
        conn.settimeout(0.05)
        end = time.monotonic() + GIVE_UP
        while time.monotonic() < end:
            conn.sendall(d.pdata_pdu(context_id, b"\x00\x00", command=True, last=False))
            try:
                kind, _ = read_pdu(conn)
            except TimeoutError:
                continue
            peer.events.append(f"PDU 0x{kind:02X} while still sending")
            return
        peer.events.append("gave up")

    peer = peer_factory(chatty)
    configuration = configuration_for(peer.port, release_timeout_ms=500)
    refs = make_files(tmp_path, 4)
    exporter = attrs.evolve(EXPORTER, properties={"MultipleStoreAssociations": str(associations)})
    transport = DicomTransport(exporter, configuration)
    outcome = transport.send(request_for(refs, configuration))
    assert outcome.status is OutcomeStatus.COMPLETED
    assert transport.idle_associations == associations
    transport.close()  # the pooled associations are released side by side, each bounded
    wait_for(lambda: len(peer.events) >= 2 * associations, timeout=GIVE_UP + 5)
    expected = ["release requested", f"PDU 0x{d.PDU_A_ABORT:02X} while still sending"] * associations
    assert sorted(peer.events) == sorted(expected)


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        ({}, (30.0, 60.0, 5.0)),  # upstream waits without limit when none is set: our defaults bound it
        ({"aarq_timeout": 2000, "response_timeout": 3000, "arrp_timeout": 400}, (2.0, 3.0, 0.4)),
        ({"aarq_timeout": 2000, "aaac_timeout": 1500}, (1.5, 60.0, 5.0)),  # dcmAAACTimeout is the AC's
    ],
)
def test_the_association_timeouts_come_from_the_connection(
    connection: dict[str, int], expected: tuple[float, float, float]
) -> None:
    from dcm_exporter._dicom.destination import destination_of

    conn = Connection(name="dicom", hostname="127.0.0.1", port=104, **connection)  # type: ignore[arg-type]
    ae = ApplicationEntity(ae_title="HOSTILE", connection_refs=("dicom",))
    configuration = Configuration(
        devices=(Device(device_name="hostile", connections=(conn,), application_entities=(ae,)),)
    )
    destination = destination_of(configuration.remote_ae("HOSTILE"), None)
    assert (destination.request_timeout, destination.response_timeout, destination.release_timeout) == expected


def test_a_peer_that_never_answers_the_release_is_aborted_after_dcmARRPTimeout(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """A peer that reads the A-RELEASE-RQ and then says nothing: close() aborts it after the connection's
    dcmARRPTimeout instead of waiting for the A-RELEASE-RP (the peer sees the A-ABORT)."""

    def silent(peer: Peer, conn: socket.socket, context_id: int) -> None:
        store_until_release(conn, context_id, release_rp=False)
        peer.events.append("release requested")
        conn.settimeout(GIVE_UP)
        try:
            kind, _ = read_pdu(conn)
            peer.events.append(f"PDU 0x{kind:02X}")
        except (TimeoutError, OSError, EOFError):
            peer.events.append("closed without an A-ABORT")

    peer = peer_factory(silent)
    configuration = configuration_for(peer.port, release_timeout_ms=300)
    refs = make_files(tmp_path, 2)
    transport = DicomTransport(EXPORTER, configuration)
    outcome = transport.send(request_for(refs, configuration))
    assert outcome.status is OutcomeStatus.COMPLETED
    transport.close()
    wait_for(lambda: len(peer.events) >= 2, timeout=GIVE_UP + 5)
    assert peer.events == ["release requested", f"PDU 0x{d.PDU_A_ABORT:02X}"]


# --- item 3: framing errors are connection errors ----------------------------------------------------


def test_garbage_after_the_associate_ac_is_a_connection_error(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    peer = peer_factory(serve_normally, ac_suffix=b"\xff" * 10)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 2)
    with DicomTransport(EXPORTER, configuration) as transport, pytest.raises(ConnectionFailedError) as info:
        transport.send(request_for(refs, configuration))
    assert info.value.retryable
    assert "unknown PDU type 0xFF" in str(info.value)


@pytest.mark.parametrize("body", [b"\x01", b"", b"\x00\x09\x09\x09", b"\x00\x01\x01\x01\x00"])
def test_a_malformed_associate_rj_is_a_connection_error(
    peer_factory: Callable[..., Peer], tmp_path: Path, body: bytes
) -> None:
    raw = struct.pack(">BxL", d.PDU_A_ASSOCIATE_RJ, len(body)) + body
    peer = peer_factory(serve_normally, raw=raw)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 1)
    with DicomTransport(EXPORTER, configuration) as transport, pytest.raises(ConnectionFailedError) as info:
        transport.send(request_for(refs, configuration))
    assert info.value.retryable
    assert "malformed A-ASSOCIATE-RJ" in str(info.value)


def test_an_associate_ac_with_more_contexts_than_context_ids_is_refused_undecoded(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """30,000 presentation context results in one A-ASSOCIATE-AC (2 MiB, within the PDU limit) cost pynetdicom
    about 2 s and 40 MB to decode: more than the 128 context IDs there are is refused before decoding."""
    result = _item(0x21, bytes((1, 0, 0, 0)) + _item(0x40, ELE.encode()))
    body = (struct.pack(">HH", 1, 0) + b"HOSTILE".ljust(16) + b"DCM4CHEE".ljust(16) + bytes(32)
            + _item(0x10, b"1.2.840.10008.3.1.1.1") + result * 30_000
            + _item(0x50, _item(0x51, struct.pack(">L", 16384))))
    peer = peer_factory(serve_normally, raw=struct.pack(">BxL", d.PDU_A_ASSOCIATE_AC, len(body)) + body)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 1)
    with DicomTransport(EXPORTER, configuration) as transport, pytest.raises(ConnectionFailedError) as info:
        transport.send(request_for(refs, configuration))
    assert info.value.retryable
    assert "malformed A-ASSOCIATE-AC: 30000 presentation contexts, more than the 128 context IDs" in str(info.value)


def test_an_error_comment_of_60_kb_is_cut_in_the_reason(peer_factory: Callable[..., Peer], tmp_path: Path) -> None:
    """An Error Comment is an LO (64 characters), but a command set may hold 64 KiB: a peer sending 60,000
    characters with every failure made each instance's reason that long (640 MB for 10,000 instances)."""

    def long_comment(peer: Peer, conn: socket.socket, context_id: int) -> None:
        while (command := read_store_rq(conn)) is not None:
            rsp = store_rsp(command, status=0xA700) + struct.pack("<HHL", 0, d.ERROR_COMMENT, 60_000) + b"E" * 60_000
            for i in range(0, len(rsp), 16_000):
                conn.sendall(d.pdata_pdu(context_id, rsp[i : i + 16_000], command=True, last=i + 16_000 >= len(rsp)))

    peer = peer_factory(long_comment)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 2)
    with DicomTransport(EXPORTER, configuration) as transport:
        outcome = transport.send(request_for(refs, configuration))
    assert outcome.failed == 2
    for failure in outcome.failures:
        assert "C-STORE status 0xA700 (Out of Resources): " + "E" * 256 + "...(60000 characters)" in failure.reason
        assert len(failure.reason) < 1000


def _two_exports_the_second_on_a_new_association(peer: Peer, tmp_path: Path) -> None:
    """Two exports through one transport (its pool): both complete, the second on a new association."""
    configuration = configuration_for(peer.port)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with DicomTransport(EXPORTER, configuration) as transport:
        first = transport.send(request_for(make_files(tmp_path / "a", 1), configuration))
        second = transport.send(request_for(make_files(tmp_path / "b", 2), configuration))
    assert first.status is OutcomeStatus.COMPLETED
    assert second.status is OutcomeStatus.COMPLETED and second.completed == 2
    assert peer.associations == 2


def test_garbage_after_the_last_store_response_of_a_pooled_association(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """The pooled association with garbage behind its last C-STORE-RSP is not reused as if healthy: the
    next export opens a new association and completes."""

    def garbage_after_last(peer: Peer, conn: socket.socket, context_id: int) -> None:
        first = peer.associations == 1
        while (command := read_store_rq(conn)) is not None:
            rsp = d.pdata_pdu(context_id, store_rsp(command), command=True, last=True)
            conn.sendall(rsp + (b"\xfe\x00garbage" if first else b""))

    _two_exports_the_second_on_a_new_association(peer_factory(garbage_after_last), tmp_path)


def test_garbage_arriving_while_a_pooled_association_is_reused_opens_a_new_one(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """Garbage in the same segment as the first C-STORE-RSP on a reused association: the reopen path (a pooled
    association found dead on first use) still runs, and the instances go out on a new association."""

    def garbage_on_reuse(peer: Peer, conn: socket.socket, context_id: int) -> None:
        first = peer.associations == 1
        stores = 0
        while (command := read_store_rq(conn)) is not None:
            stores += 1
            rsp = d.pdata_pdu(context_id, store_rsp(command), command=True, last=True)
            if first and stores == 2:  # the first store of the second export, on the pooled association
                conn.sendall(b"\xfe\x00garbage")
                return
            conn.sendall(rsp)

    _two_exports_the_second_on_a_new_association(peer_factory(garbage_on_reuse), tmp_path)


# --- item 10: the response must name the instance sent -----------------------------------------------


def test_a_store_response_naming_another_instance_fails_that_instance(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    other = generate_uid()

    def confirms_another(peer: Peer, conn: socket.socket, context_id: int) -> None:
        stores = 0
        while (command := read_store_rq(conn)) is not None:
            stores += 1
            uid = other if stores == 1 else None
            conn.sendall(d.pdata_pdu(context_id, store_rsp(command, sop_instance_uid=uid), command=True, last=True))

    peer = peer_factory(confirms_another)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 2)
    with DicomTransport(EXPORTER, configuration) as transport:
        outcome = transport.send(request_for(refs, configuration))
    assert outcome.status is OutcomeStatus.WARNING
    assert (outcome.completed, outcome.failed) == (1, 1)
    (failure,) = outcome.failures
    assert failure.sop_instance_uid == refs[0].sop_instance_uid
    assert failure.reason == (
        f"C-STORE-RSP (status 0x0000) names SOP instance {other}, not {refs[0].sop_instance_uid} that was sent"
    )


def test_with_deidentification_the_response_is_compared_with_the_uid_sent(
    peer_factory: Callable[..., Peer], tmp_path: Path
) -> None:
    """De-identification remaps the SOP Instance UID on the wire: a response naming the remapped UID confirms
    the instance, one naming the original (stored) UID does not."""
    from dcm_exporter.models import AttributeCoercion

    received: list[str] = []

    def echo_or_original(peer: Peer, conn: socket.socket, context_id: int) -> None:
        while (command := read_store_rq(conn)) is not None:
            received.append(command.text(d.AFFECTED_SOP_INSTANCE_UID) or "")
            uid = refs[1].sop_instance_uid if len(received) == 2 else None  # the second: its stored UID
            conn.sendall(d.pdata_pdu(context_id, store_rsp(command, sop_instance_uid=uid), command=True, last=True))

    peer = peer_factory(echo_or_original)
    refs = make_files(tmp_path, 2)
    deidentify = AttributeCoercion(
        name="Research", dimse="C_STORE_RQ", role="SCP", uri="deidentify:",
        conditions=("ReceivingApplicationEntityTitle=HOSTILE",),
    )
    base = configuration_for(peer.port)
    exporter = ExporterDescriptor(exporter_id="Export1", uri="dicom:HOSTILE", queue_name="Export1", ae_title="DCM4CHEE")
    archive = Device(
        device_name="arc",
        connections=(Connection(name="dicom", hostname="127.0.0.1", port=11112),),
        application_entities=(
            ApplicationEntity(ae_title="DCM4CHEE", connection_refs=("dicom",), attribute_coercions=(deidentify,)),
        ),
        exporters=(exporter,),
    )
    configuration = Configuration(devices=(*base.devices, archive))
    request = ExportRequest(
        exporter=exporter, configuration=configuration, study_uid=refs[0].study_uid, instances=refs,
        calling_ae_title="DCM4CHEE", cancel=CancelToken(),
    )
    with DicomTransport(exporter, configuration) as transport:
        outcome = transport.send(request)
    assert len(received) == 2 and not {r.sop_instance_uid for r in refs} & set(received)  # remapped on the wire
    assert (outcome.completed, outcome.failed) == (1, 1)
    (failure,) = outcome.failures
    assert failure.sop_instance_uid == refs[1].sop_instance_uid
    assert f"names SOP instance {refs[1].sop_instance_uid}, not {received[1]} that was sent" in failure.reason


def test_a_non_ascii_uid_fails_that_instance_alone(peer_factory: Callable[..., Peer], tmp_path: Path) -> None:
    """A UID that cannot go into a command set (not ASCII, as a hostile file may carry) fails its instance with
    the reason; the others are sent."""
    peer = peer_factory(serve_normally)
    configuration = configuration_for(peer.port)
    refs = make_files(tmp_path, 2)
    bad = attrs.evolve(refs[0], sop_instance_uid="1.2.3.\u00e9")
    with DicomTransport(EXPORTER, configuration) as transport:
        outcome = transport.send(request_for([bad, refs[1]], configuration))
    assert (outcome.completed, outcome.failed) == (1, 1)
    (failure,) = outcome.failures
    assert failure.sop_instance_uid == "1.2.3.\u00e9" and "is not ASCII" in failure.reason
