"""Storage commitment on our own association against small hostile peers (loopback, bounded in time).

The peer below speaks just enough of the upper layer to accept the association and answer the N-ACTION,
then misbehaves while we wait for the N-EVENT-REPORT on the same association. Each case must end as a typed
error (the queue retries it) within the commitment timeout, never hang or leak a dependency's traceback.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from dcm_exporter._dicom import framing as d
from dcm_exporter.actions.stgcmt import STORAGE_COMMITMENT_PUSH_MODEL, StorageCommitmentSCU
from dcm_exporter.errors import ConnectionFailedError, TransportTimeoutError
from dcm_exporter.export import InstanceRef
from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, ExporterDescriptor

ELE = "1.2.840.10008.1.2.1"


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BxH", item_type, len(body)) + body


def _associate_ac(rq: bytes) -> bytes:
    """An A-ASSOCIATE-AC accepting the first proposed context with Explicit VR Little Endian."""
    called, calling = rq[10:26], rq[26:42]
    pos = 74
    context_id = 1
    while pos + 4 <= len(rq):
        kind, length = struct.unpack_from(">BxH", rq, pos)
        if kind == 0x20:
            context_id = rq[pos + 4]
            break
        pos += 4 + length
    body = struct.pack(">HH", 1, 0) + called + calling + bytes(32)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    body += _item(0x21, bytes((context_id, 0, 0, 0)) + _item(0x40, ELE.encode()))
    body += _item(0x50, _item(0x51, struct.pack(">L", 16384)))
    return struct.pack(">BxL", d.PDU_A_ASSOCIATE_AC, len(body)) + body


def _read_pdu(conn: socket.socket) -> tuple[int, bytes]:
    head = b""
    while len(head) < 6:
        chunk = conn.recv(6 - len(head))
        if not chunk:
            raise EOFError
        head += chunk
    kind, length = struct.unpack(">BxL", head)
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise EOFError
        body += chunk
    return kind, body


class HostilePeer:
    """Accepts one association, answers the N-ACTION with Success, then runs ``after_action(conn, context)``."""

    def __init__(self, after_action: Callable[[socket.socket, int], None]) -> None:
        self.after_action = after_action
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            try:
                kind, rq = _read_pdu(conn)
                assert kind == d.PDU_A_ASSOCIATE_RQ
                conn.sendall(_associate_ac(struct.pack(">BxL", kind, len(rq)) + rq))
                context, message_id, done = 1, 0, False
                while not done:  # the N-ACTION-RQ: a command, then its data set
                    kind, body = _read_pdu(conn)
                    for pdv in d.split_pdvs(body):
                        context = pdv.context_id
                        if pdv.command:
                            message_id = d.parse_command(pdv.data).message_id or 0
                        done = not pdv.command and pdv.last
                rsp = d.encode_command([(d.AFFECTED_SOP_CLASS_UID, STORAGE_COMMITMENT_PUSH_MODEL),
                                        (d.COMMAND_FIELD, d.N_ACTION_RSP),
                                        (d.MESSAGE_ID_BEING_RESPONDED_TO, message_id),
                                        (d.COMMAND_DATA_SET_TYPE, d.NO_DATASET), (d.STATUS, 0)])
                conn.sendall(d.pdata_pdu(context, rsp, command=True, last=True))
                self.after_action(conn, context)
            except (OSError, EOFError):
                pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def peer_factory() -> Iterator[Callable[[Callable[[socket.socket, int], None]], HostilePeer]]:
    peers: list[HostilePeer] = []

    def make(after_action: Callable[[socket.socket, int], None]) -> HostilePeer:
        peers.append(HostilePeer(after_action))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def _request(port: int, timeout: float = 2.0) -> None:
    exporter = ExporterDescriptor(exporter_id="COMMIT", uri="noop:x", queue_name="Export1", ae_title="DCM4CHEE",
                                  stgcmt_scp="HOSTILE")
    configuration = Configuration(devices=(
        Device(device_name="arc", exporters=(exporter,)),
        Device(device_name="hostile", connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
               application_entities=(ApplicationEntity(ae_title="HOSTILE", connection_refs=("dicom",)),)),
    ))
    ref = InstanceRef(study_uid="1.2", series_uid="1.2.3", sop_instance_uid="1.2.3.4",
                      sop_class_uid="1.2.840.10008.5.1.4.1.1.7", transfer_syntax_uid=ELE, size=0, path="x.dcm")
    scu = StorageCommitmentSCU()
    try:
        scu.request(configuration=configuration, exporter=exporter, ae_title="HOSTILE", calling_ae_title="DCM4CHEE",
                    instances=[ref], timeout=timeout)
    finally:
        scu.close()


def _garbage_pdu(conn: socket.socket, context: int) -> None:
    conn.sendall(b"\x09\x00\x00\x00\x00\x04abcd")  # PDU type 9 does not exist
    conn.recv(1024)  # our A-ABORT or the close


def _undecodable_report(conn: socket.socket, context: int) -> None:
    command = d.encode_command([(d.AFFECTED_SOP_CLASS_UID, STORAGE_COMMITMENT_PUSH_MODEL),
                                (d.COMMAND_FIELD, d.N_EVENT_REPORT_RQ), (d.MESSAGE_ID, 1),
                                (d.COMMAND_DATA_SET_TYPE, 0), (d.AFFECTED_SOP_INSTANCE_UID, "1.2.840.10008.1.20.1.1"),
                                (d.EVENT_TYPE_ID, 1)])
    conn.sendall(d.pdata_pdu(context, command, command=True, last=True))
    conn.sendall(d.pdata_pdu(context, b"\x08\x00\x95\x11UI\xff\x7fshort", command=False, last=True))
    _, body = _read_pdu(conn)  # our N-EVENT-REPORT-RSP
    (pdv,) = d.split_pdvs(body)
    STATUSES.append(d.parse_command(pdv.data).status)
    conn.recv(1024)  # then nothing more from us until the release


def _endless_report(conn: socket.socket, context: int) -> None:
    command = d.encode_command([(d.AFFECTED_SOP_CLASS_UID, STORAGE_COMMITMENT_PUSH_MODEL),
                                (d.COMMAND_FIELD, d.N_EVENT_REPORT_RQ), (d.MESSAGE_ID, 1),
                                (d.COMMAND_DATA_SET_TYPE, 0), (d.EVENT_TYPE_ID, 1)])
    conn.sendall(d.pdata_pdu(context, command, command=True, last=True))
    chunk = d.pdata_pdu(context, bytes(16000), command=False, last=False)
    while True:  # a data set that never ends: we must stop reading at our limit
        conn.sendall(chunk)


STATUSES: list[int | None] = []


def test_a_garbage_pdu_while_waiting_ends_in_the_timeout(peer_factory: Callable[..., HostilePeer]) -> None:
    peer = peer_factory(_garbage_pdu)
    expected = r"no N-EVENT-REPORT from AE HOSTILE for transaction 2\.25\.\d+ within 1 s"
    with pytest.raises(TransportTimeoutError, match=expected):
        _request(peer.port, timeout=1.0)


def test_an_undecodable_report_is_refused_and_the_wait_goes_on(peer_factory: Callable[..., HostilePeer]) -> None:
    STATUSES.clear()
    peer = peer_factory(_undecodable_report)
    with pytest.raises(TransportTimeoutError, match="within 1 s"):
        _request(peer.port, timeout=1.0)
    assert STATUSES == [0x0110]  # Processing failure, as the embedded SCP answers


def test_a_report_without_end_is_cut_at_the_limit(
    peer_factory: Callable[..., HostilePeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dcm_exporter._dicom import association

    monkeypatch.setattr(association, "MAX_RECEIVED_DATASET", 1 << 20)  # 1 MiB instead of 64 for the test
    peer = peer_factory(_endless_report)
    with pytest.raises(TransportTimeoutError, match="within 3 s"):
        _request(peer.port, timeout=3.0)


def test_no_association_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionFailedError, match=rf"Cannot connect to AE HOSTILE at 127\.0\.0\.1:{port}"):
        _request(port)
