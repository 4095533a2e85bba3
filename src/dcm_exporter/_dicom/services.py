"""The DIMSE-N services of the after-export actions: N-ACTION, N-CREATE and N-EVENT-REPORT.

The requests go over our own association (:class:`~dcm_exporter._dicom.association.Association`), like the
C-STOREs of the ``dicom:`` transport:

- :func:`send_n_create` — one N-CREATE-RQ (Instance Availability Notification) and its response;
- :class:`CommitmentAssociation` — the N-ACTION-RQ of a storage commitment request, then the
  N-EVENT-REPORT-RQs the peer may send back on the same association, each answered in the thread that waits;
- :class:`EventReportServer` — the embedded SCP that accepts N-EVENT-REPORTs on new associations from the
  peer. It is the one part still on pynetdicom (an acceptor with its own threads), imported here only.

Data sets (Action Information, Event Information, the IAN) are encoded and decoded with pydicom in the
transfer syntax of the accepted presentation context. Failures become :mod:`dcm_exporter.errors` here, in
one place, as the queue retries them.
"""

from __future__ import annotations

import io
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from dcm_exporter._dicom import framing as d
from dcm_exporter._dicom.association import (
    OUR_MAX_PDU,
    UNLIMITED_SEND_PDU,
    AcceptedContext,
    Association,
    Request,
    RequestedContext,
    transport_error,
)
from dcm_exporter._dicom.destination import Destination
from dcm_exporter._dicom.errors import AssociationFailure, TimeoutFailure
from dcm_exporter._dicom.uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    VERIFICATION,
)
from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.errors import (
    AssociationRejectedError,
    ConnectionFailedError,
    TransportError,
    TransportTimeoutError,
)

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "CommitmentAssociation",
    "EventReportHandler",
    "EventReportServer",
    "ReportOrigin",
    "answer_event_report",
    "decode_dataset",
    "encode_dataset",
    "send_n_create",
]

log = logging.getLogger("dcm_exporter.actions")

@attrs.frozen(kw_only=True)
class ReportOrigin:
    """Where an N-EVENT-REPORT came from: the reporting AE, the AE title it called, its IP address (``None``
    on the association of the request, which we opened to the configured peer ourselves)."""

    calling_ae_title: str
    called_ae_title: str
    address: str | None = None

    @property
    def same_association(self) -> bool:
        return self.address is None

    def __str__(self) -> str:
        return f"AE {self.calling_ae_title}" + (f" at {self.address}" if self.address else "")


#: ``handler(origin, affected SOP class UID, event type ID, event information or None when undecodable)
#: -> status``
EventReportHandler = Callable[[ReportOrigin, str, int, "Dataset | None"], int]

_TRANSFER_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)


def encode_dataset(dataset: Dataset, transfer_syntax: str) -> bytes:
    """``dataset`` encoded in ``transfer_syntax`` (Explicit or Implicit VR Little Endian)."""
    require(*PYDICOM)
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN
    write_dataset(fp, dataset)
    return fp.getvalue()


def decode_dataset(data: bytes, transfer_syntax: str) -> Dataset:
    """The data set in ``data``, encoded in ``transfer_syntax`` (Explicit or Implicit VR Little Endian).

    Raises:
        ValueError: the bytes are not a data set in that encoding.
    """
    require(*PYDICOM)
    from pydicom.filereader import read_dataset

    try:
        dataset = read_dataset(io.BytesIO(data), transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN, True)
        for _ in dataset.iterall():  # pydicom decodes values lazily: make a bad one fail here
            pass
    except Exception as exc:  # pydicom raises assorted errors on malformed input
        raise ValueError(f"undecodable data set: {type(exc).__name__}: {exc}") from exc
    return dataset


def _open(destination: Destination, calling_ae_title: str, sop_class_uid: str) -> tuple[Association, AcceptedContext]:
    """An association proposing ``sop_class_uid`` (Explicit / Implicit VR Little Endian) and its context.

    Raises:
        AssociationRejectedError: A-ASSOCIATE-RJ, or the context was not accepted.
        ConnectionFailedError, TransportTimeoutError: no association.
    """
    contexts = [RequestedContext(1, sop_class_uid, _TRANSFER_SYNTAXES)]
    try:
        assoc = Association.open(destination, calling_ae_title, contexts)
    except AssociationFailure as exc:
        raise transport_error(exc, destination, calling_ae_title) from exc
    context = assoc.context_for(sop_class_uid)
    if context is None:
        assoc.abort()
        raise AssociationRejectedError(
            f"{destination.where} did not accept SOP class {sop_class_uid} from {calling_ae_title}",
            reason="abstract syntax not accepted",
            destination=destination.ae_title,
        )
    return assoc, context


def _no_response(what: str, destination: Destination, exc: AssociationFailure) -> TransportError:
    cls = TransportTimeoutError if isinstance(exc, TimeoutFailure) else ConnectionFailedError
    return cls(f"no {what}-RSP from {destination.where} ({exc})", destination=destination.ae_title)


def send_n_create(
    destination: Destination, calling_ae_title: str, sop_class_uid: str, sop_instance_uid: str, dataset: Dataset
) -> tuple[int, str | None]:
    """Send one N-CREATE-RQ on a new association and release it; return ``(status, error comment)``.

    Raises:
        AssociationRejectedError, ConnectionFailedError, TransportTimeoutError: no association or no answer.
    """
    assoc, context = _open(destination, calling_ae_title, sop_class_uid)
    try:
        result = assoc.n_create(context, sop_instance_uid, encode_dataset(dataset, context.transfer_syntax))
    except AssociationFailure as exc:
        assoc.abort()
        raise _no_response("N-CREATE", destination, exc) from exc
    assoc.release()
    return result


class CommitmentAssociation:
    """One storage commitment request's association: :meth:`n_action`, then :meth:`serve` the reports the peer
    sends back on it, then :meth:`close` (A-RELEASE). Owned by one thread.

    Raises (on construction):
        AssociationRejectedError, ConnectionFailedError, TransportTimeoutError: no association.
    """

    def __init__(self, destination: Destination, calling_ae_title: str, sop_class_uid: str) -> None:
        self.destination = destination
        self._assoc, self._context = _open(destination, calling_ae_title, sop_class_uid)

    def n_action(self, sop_instance_uid: str, action_type_id: int, information: Dataset) -> tuple[int, str | None]:
        """Send the N-ACTION-RQ; return the N-ACTION-RSP ``(status, error comment)``.

        Raises:
            TransportTimeoutError, ConnectionFailedError: no N-ACTION-RSP.
        """
        data = encode_dataset(information, self._context.transfer_syntax)
        try:
            return self._assoc.n_action(self._context, sop_instance_uid, action_type_id, data)
        except AssociationFailure as exc:
            self._assoc.abort()
            raise _no_response("N-ACTION", self.destination, exc) from exc

    @property
    def is_open(self) -> bool:
        """Whether reports can still come on this association (the peer has not released or aborted it)."""
        return not (self._assoc.closed or self._assoc.broken)

    def serve(self, handler: EventReportHandler, timeout: float) -> None:
        """Answer the N-EVENT-REPORT-RQs that arrive within ``timeout`` seconds (at most one message is read
        after the wait); a peer that releases or aborts the association just ends the serving."""
        try:
            request = self._assoc.poll_request(timeout)
        except AssociationFailure as exc:
            log.info("association to %s ended while waiting for reports: %s", self.destination, exc)
            return
        if request is None:
            return
        origin = ReportOrigin(calling_ae_title=self.destination.ae_title, called_ae_title=self._assoc.calling_ae_title)
        answer_event_report(self._assoc, request, handler, origin, self._context.transfer_syntax)

    def close(self) -> None:
        """Release the association (abort it when the release is not answered). Idempotent."""
        self._assoc.release()


# --- the embedded SCP -------------------------------------------------------------------------------------

#: Seconds a new connection has to send its A-ASSOCIATE-RQ (the ARTIM timer): a real peer sends it at once.
ASSOCIATE_TIMEOUT = 5.0
#: Connections that have not sent an A-ASSOCIATE-RQ yet, at most; the oldest is closed to make room, so idle
#: connections cannot lock a real reporter out (its request follows its connection within milliseconds).
MAX_UNASSOCIATED = 8
#: Associations served at once; more are rejected (transient, local limit exceeded).
MAX_ASSOCIATIONS = 16
#: Seconds an association may stay silent before we abort it, and one message may take in all.
IDLE_TIMEOUT = 30.0
#: The largest A-ASSOCIATE-RQ we read (a real one is well under 4 KiB).
MAX_ASSOCIATE_RQ = 64 << 10

_IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1420.1"
_IMPLEMENTATION_VERSION_NAME = "DCM_EXPORTER_01"


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BxH", kind, len(body)) + body


@attrs.frozen
class _AssociateRq:
    called: bytes
    calling: bytes
    contexts: tuple[tuple[int, str, tuple[str, ...]], ...]
    max_pdu: int
    roles: tuple[tuple[str, int, int], ...]


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "replace").strip(" \x00")


def _parse_associate_rq(body: bytes) -> _AssociateRq:
    """The parts of an A-ASSOCIATE-RQ body (after the PDU header) we answer.

    Raises:
        ValueError: a malformed PDU.
    """
    if len(body) < 68:
        raise ValueError("A-ASSOCIATE-RQ shorter than its fixed fields")
    contexts: list[tuple[int, str, tuple[str, ...]]] = []
    roles: list[tuple[str, int, int]] = []
    max_pdu = 0
    pos = 68
    while pos < len(body):
        if pos + 4 > len(body):
            raise ValueError("truncated item header")
        kind, length = struct.unpack_from(">BxH", body, pos)
        item = body[pos + 4 : pos + 4 + length]
        if len(item) != length:
            raise ValueError(f"item 0x{kind:02X} runs past the end of the PDU")
        pos += 4 + length
        if kind == 0x20:
            if length < 4:
                raise ValueError("presentation context item too short")
            abstract, syntaxes = "", []
            for sub_kind, sub in _sub_items(item[4:]):
                if sub_kind == 0x30:
                    abstract = _text(sub)
                elif sub_kind == 0x40:
                    syntaxes.append(_text(sub))
            contexts.append((item[0], abstract, tuple(syntaxes)))
        elif kind == 0x50:
            for sub_kind, sub in _sub_items(item):
                if sub_kind == 0x51 and len(sub) == 4:
                    max_pdu = struct.unpack(">L", sub)[0]
                elif sub_kind == 0x54 and len(sub) >= 2:
                    n = struct.unpack_from(">H", sub)[0]
                    if len(sub) != n + 4:
                        raise ValueError("malformed SCP/SCU role selection item")
                    roles.append((_text(sub[2 : 2 + n]), sub[2 + n], sub[3 + n]))
    return _AssociateRq(body[4:20], body[20:36], tuple(contexts), max_pdu, tuple(roles))


def _sub_items(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("truncated sub-item header")
        kind, length = struct.unpack_from(">BxH", data, pos)
        if pos + 4 + length > len(data):
            raise ValueError(f"sub-item 0x{kind:02X} runs past the end of its item")
        out.append((kind, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


def _associate_rj(result: int, source: int, reason: int) -> bytes:
    return struct.pack(">BxLxBBB", d.PDU_A_ASSOCIATE_RJ, 4, result, source, reason)


def _associate_ac(
    rq: _AssociateRq, supported: tuple[str, ...]
) -> tuple[bytes, dict[str, dict[str, AcceptedContext]]]:
    """The A-ASSOCIATE-AC answering ``rq``: each context of a ``supported`` abstract syntax accepted with the
    first transfer syntax proposed that we read; and the accepted contexts."""
    body = struct.pack(">HH", 1, 0) + rq.called + rq.calling + bytes(32)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    accepted: dict[str, dict[str, AcceptedContext]] = {}
    for context_id, abstract, syntaxes in rq.contexts:
        chosen = next((ts for ts in syntaxes if ts in _TRANSFER_SYNTAXES), None)
        if abstract not in supported:
            result, chosen = 3, None
        else:
            result = 0 if chosen else 4
        if chosen:
            accepted.setdefault(abstract, {})[chosen] = AcceptedContext(context_id, abstract, chosen)
        ts = (chosen or EXPLICIT_VR_LITTLE_ENDIAN).encode()
        body += _item(0x21, bytes((context_id, 0, result, 0)) + _item(0x40, ts))
    user = _item(0x51, struct.pack(">L", OUR_MAX_PDU))
    user += _item(0x52, _IMPLEMENTATION_CLASS_UID.encode())
    for uid, scu, scp in rq.roles:  # the reporting SCP asks for its SCP role: agree to what it proposes
        if uid in supported:
            raw = uid.encode()
            user += _item(0x54, struct.pack(">H", len(raw)) + raw + bytes((scu, scp)))
    user += _item(0x55, _IMPLEMENTATION_VERSION_NAME.encode())
    body += _item(0x50, user)
    return struct.pack(">BxL", d.PDU_A_ASSOCIATE_AC, len(body)) + body, accepted


def _recv_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(min(n - len(out), 65536))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def answer_event_report(
    assoc: Association,
    request: Request,
    handler: EventReportHandler,
    origin: ReportOrigin,
    default_transfer_syntax: str,
) -> bool:
    """Answer one N-EVENT-REPORT-RQ (or C-ECHO-RQ) received on ``assoc``; ``False`` (and the association
    aborted) for any other request."""
    command = request.command
    try:
        field, message_id = command.command_field, command.message_id
        event_type = command.us(d.EVENT_TYPE_ID) or 0
    except d.FramingError as exc:
        field = message_id = None
        log.warning("malformed request from %s: %s", origin, exc)
    sop_class = command.text(d.AFFECTED_SOP_CLASS_UID) or ""
    if field == d.C_ECHO_RQ and message_id is not None:
        rsp = d.encode_command(
            [(d.AFFECTED_SOP_CLASS_UID, VERIFICATION), (d.COMMAND_FIELD, d.C_ECHO_RSP),
             (d.MESSAGE_ID_BEING_RESPONDED_TO, message_id), (d.COMMAND_DATA_SET_TYPE, d.NO_DATASET), (d.STATUS, 0)]
        )
    elif field == d.N_EVENT_REPORT_RQ and message_id is not None:
        info: Dataset | None = None
        if request.dataset is not None:
            syntax = next(
                (c.transfer_syntax for cs in assoc.accepted.values() for c in cs.values()
                 if c.context_id == request.context_id),
                default_transfer_syntax,
            )
            try:
                info = decode_dataset(request.dataset, syntax)
            except ValueError as exc:
                log.warning("N-EVENT-REPORT from %s: %s", origin, exc)
        status = handler(origin, sop_class, event_type, info)
        rsp = d.n_event_report_rsp(
            message_id, sop_class, command.text(d.AFFECTED_SOP_INSTANCE_UID), event_type, status
        )
    else:
        log.warning("unexpected request (command field %r) from %s: association aborted", field, origin)
        assoc.abort()
        return False
    try:
        assoc.respond(request, rsp)
    except AssociationFailure as exc:
        log.info("response to %s not sent: %s", origin, exc)
        return False
    return True


class EventReportServer:
    """An SCP on ``host:port`` that accepts N-EVENT-REPORTs of ``sop_class_uid`` (and C-ECHO) on associations
    the reporting peer opens, and hands each to ``handler`` with where it came from.

    Only associations from an allowed calling AE title (:meth:`allow`) to one of our AE titles are accepted;
    the handler decides per report (Transaction UID, reporter, host). Bounded: a connection has
    :data:`ASSOCIATE_TIMEOUT` seconds to ask for an association, at most :data:`MAX_UNASSOCIATED` such
    connections are kept (the oldest is closed for a new one), :data:`MAX_ASSOCIATIONS` associations are
    served at once, each aborted after :data:`IDLE_TIMEOUT` seconds of silence; messages are read with the
    limits of :class:`~dcm_exporter._dicom.association.Association`.

    Raises (on construction):
        ConnectionFailedError: the port cannot be bound.
    """

    def __init__(self, host: str, port: int, ae_title: str, sop_class_uid: str, handler: EventReportHandler) -> None:
        self._handler = handler
        self._supported = (sop_class_uid, VERIFICATION)
        self._called = {ae_title}
        self._calling: set[str] = set()
        self._lock = threading.Lock()
        self._unassociated: dict[socket.socket, float] = {}
        self._associations = 0
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        try:
            self._sock = socket.create_server((host, port))
        except OSError as exc:
            raise ConnectionFailedError(
                f"cannot listen for N-EVENT-REPORTs to AE {ae_title} on {host}:{port}: {exc}"
            ) from exc
        self._sock.settimeout(0.25)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, name=f"dcm_exporter-stgcmt-{port}", daemon=True)
        self._thread.start()

    def allow(self, calling_ae_title: str, called_ae_title: str) -> None:
        """Accept associations from ``calling_ae_title`` (a reporting SCP) to ``called_ae_title`` (us)."""
        with self._lock:
            self._calling.add(calling_ae_title)
            self._called.add(called_ae_title)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, address = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            evicted: list[socket.socket] = []
            with self._lock:
                while len(self._unassociated) >= MAX_UNASSOCIATED:
                    oldest = min(self._unassociated, key=self._unassociated.__getitem__)
                    del self._unassociated[oldest]
                    evicted.append(oldest)
                self._unassociated[conn] = time.monotonic()
                self._connections.add(conn)
            for old in evicted:
                log.info("closing a connection that sent no A-ASSOCIATE-RQ: room for a new one")
                _shut(old)
            threading.Thread(target=self._serve, args=(conn, address), name="dcm_exporter-stgcmt-conn",
                             daemon=True).start()

    def _serve(self, conn: socket.socket, address: tuple[str, int]) -> None:
        counted = False
        try:
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    deadline = time.monotonic() + ASSOCIATE_TIMEOUT
                    kind, length = struct.unpack(">BxL", _recv_exactly(conn, 6, deadline))
                    if kind != d.PDU_A_ASSOCIATE_RQ or length > MAX_ASSOCIATE_RQ:
                        raise ValueError(f"PDU type 0x{kind:02X} of {length} bytes instead of an A-ASSOCIATE-RQ")
                    rq = _parse_associate_rq(_recv_exactly(conn, length, deadline))
                except (OSError, EOFError, ValueError, struct.error) as exc:
                    log.info("connection from %s:%s ended before an association: %s", *address[:2],
                             exc or type(exc).__name__)
                    return
                finally:
                    with self._lock:
                        self._unassociated.pop(conn, None)
                with self._lock:
                    reject = self._check(rq)
                    if reject is None:
                        self._associations += 1
                        counted = True
                calling, called = _text(rq.calling), _text(rq.called)
                if reject is not None:
                    log.warning("association from %s at %s refused: %s", calling, address[0], reject[1])
                    conn.settimeout(1.0)
                    conn.sendall(_associate_rj(*reject[0]))
                    return
                ac, accepted = _associate_ac(rq, self._supported)
                conn.settimeout(IDLE_TIMEOUT)
                conn.sendall(ac)
                self._serve_association(conn, address, calling, called, accepted, rq.max_pdu)
        except OSError as exc:
            log.info("association from %s ended: %s", address[0], exc)
        finally:
            with self._lock:
                self._connections.discard(conn)
                if counted:
                    self._associations -= 1

    def _check(self, rq: _AssociateRq) -> tuple[tuple[int, int, int], str] | None:
        """Why an association request is rejected ((result, source, reason), text), or ``None``."""
        if self._stop.is_set() or self._associations >= MAX_ASSOCIATIONS:
            return (2, 3, 2), f"{MAX_ASSOCIATIONS} associations already served"
        if _text(rq.called) not in self._called:
            return (1, 1, 7), f"called AE title {_text(rq.called)!r} is not ours"
        if _text(rq.calling) not in self._calling:
            return (1, 1, 3), f"calling AE title {_text(rq.calling)!r} is no storage commitment SCP we asked"
        return None

    def _serve_association(
        self,
        conn: socket.socket,
        address: tuple[str, int],
        calling: str,
        called: str,
        accepted: dict[str, dict[str, AcceptedContext]],
        peer_max_pdu: int,
    ) -> None:
        destination = Destination(ae_title=calling, host=address[0], port=address[1], response_timeout=IDLE_TIMEOUT)
        send_pdu = UNLIMITED_SEND_PDU if peer_max_pdu == 0 else max(min(peer_max_pdu, UNLIMITED_SEND_PDU), 1024)
        assoc = Association(conn, destination, called, accepted, {}, send_pdu)
        origin = ReportOrigin(calling_ae_title=calling, called_ae_title=called, address=address[0])
        while not self._stop.is_set():
            try:
                request = assoc.poll_request(IDLE_TIMEOUT)
            except AssociationFailure as exc:
                log.info("association from %s ended: %s", origin, exc)
                assoc.abort()
                return
            if request is None:
                if not assoc.closed:  # silent for too long
                    log.info("association from %s idle for %g s: aborted", origin, IDLE_TIMEOUT)
                    assoc.abort()
                return
            if not answer_event_report(assoc, request, self._handler, origin, EXPLICIT_VR_LITTLE_ENDIAN):
                return
        assoc.abort()

    def shutdown(self) -> None:
        """Stop listening and end the SCP's associations."""
        self._stop.set()
        _shut(self._sock)
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _shut(conn)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
