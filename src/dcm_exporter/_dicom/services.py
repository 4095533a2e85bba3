"""The DIMSE-N services of the after-export actions: N-ACTION, N-CREATE and N-EVENT-REPORT.

The requests go over our own association (:class:`~dcm_exporter._dicom.association.Association`), like the
C-STOREs of the ``dicom:`` transport:

- :func:`send_n_create` — one N-CREATE-RQ (Instance Availability Notification) and its response;
- :class:`CommitmentAssociation` — the N-ACTION-RQ of a storage commitment request, then the
  N-EVENT-REPORT-RQs the peer may send back on the same association, each answered in the thread that waits;
- :class:`EventReportServer` — the embedded SCP that accepts N-EVENT-REPORTs on new associations the peer
  opens (our acceptor: pynetdicom's PDU codec and presentation context negotiation, then the same framing).

Data sets (Action Information, Event Information, the IAN) are encoded and decoded with pydicom in the
transfer syntax of the accepted presentation context. Failures become :mod:`dcm_exporter.errors` here, in
one place, as the queue retries them.
"""

from __future__ import annotations

import io
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from dcm_exporter._dicom import framing as d
from dcm_exporter._dicom.association import (
    AcceptedContext,
    Association,
    Request,
    RequestedContext,
    transport_error,
)
from dcm_exporter._dicom.destination import Destination
from dcm_exporter._dicom.errors import AssociationFailure, OversizedError, TimeoutFailure
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

#: Seconds a new connection has to send its A-ASSOCIATE-RQ (the ARTIM timer) when the listening connection
#: sets no ``dcmAARQTimeout``: a real peer sends it at once.
ASSOCIATE_TIMEOUT = 5.0
#: Seconds an association may stay silent when the listening connection sets no ``dcmIdleTimeout``: a
#: reporter's association carries its N-EVENT-REPORT at once and is released.
IDLE_TIMEOUT = 60.0
#: Connections that have not sent an A-ASSOCIATE-RQ yet, at most; the oldest is closed to make room, so idle
#: connections cannot lock a real reporter out (its request follows its connection within milliseconds).
MAX_UNASSOCIATED = 8

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

    def serve(self, handler: EventReportHandler, timeout: float, *, max_dataset: int | None = None) -> None:
        """Answer the N-EVENT-REPORT-RQs that arrive within ``timeout`` seconds (at most one message is read
        after the wait; its data set of at most ``max_dataset`` bytes, else the association is aborted); a peer
        that releases or aborts the association just ends the serving."""
        try:
            request = self._assoc.poll_request(timeout, max_dataset=max_dataset)
        except AssociationFailure as exc:
            log.info("association to %s ended while waiting for reports: %s", self.destination, exc)
            return
        if request is not None:
            origin = ReportOrigin(
                calling_ae_title=self.destination.ae_title, called_ae_title=self._assoc.calling_ae_title
            )
            _answer(self._assoc, request, handler, origin)

    def close(self) -> None:
        """Release the association (abort it when the release is not answered). Idempotent."""
        self._assoc.release()


def _answer(assoc: Association, request: Request, handler: EventReportHandler, origin: ReportOrigin) -> None:
    """Answer one request a peer sent: an N-EVENT-REPORT-RQ goes to ``handler``, a C-ECHO-RQ is answered
    Success; anything else aborts the association."""
    command = request.command
    try:
        field, message_id = command.command_field, command.message_id
        event_type = command.us(d.EVENT_TYPE_ID) or 0
    except d.FramingError as exc:
        log.warning("malformed request from %s: %s", origin, exc)
        field = message_id = None
    if message_id is None or field not in (d.N_EVENT_REPORT_RQ, d.C_ECHO_RQ):
        log.warning("unexpected request (command field %r) from %s: association aborted", field, origin)
        assoc.abort()
        return
    if field == d.C_ECHO_RQ:
        rsp = d.c_echo_rsp(message_id)
    else:
        sop_class = command.text(d.AFFECTED_SOP_CLASS_UID) or ""
        info: Dataset | None = None
        if request.dataset is not None:
            syntax = assoc.transfer_syntax_of(request.context_id) or EXPLICIT_VR_LITTLE_ENDIAN
            try:
                info = decode_dataset(request.dataset, syntax)
            except ValueError as exc:
                log.warning("N-EVENT-REPORT from %s: %s", origin, exc)
        status = handler(origin, sop_class, event_type, info)
        rsp = d.n_event_report_rsp(
            message_id, sop_class, command.text(d.AFFECTED_SOP_INSTANCE_UID), event_type, status
        )
    try:
        assoc.respond(request, rsp)
    except AssociationFailure as exc:
        log.info("response to %s not sent: %s", assoc.destination, exc)


# --- the embedded SCP ----------------------------------------------------------------------------------


class EventReportServer:
    """An SCP on ``host:port`` that accepts associations proposing ``sop_class_uid`` (or Verification), and
    hands every N-EVENT-REPORT on them to ``handler`` with where it came from (C-ECHO is answered Success).

    Only associations from an allowed calling AE title to one of our AE titles (``ae_title`` and those given
    to :meth:`allow`) are accepted; the handler still decides per report (Transaction UID, reporter, host).
    With ``ssl_context`` (a server context) every connection must complete a TLS handshake first, within
    ``associate_timeout`` like the A-ASSOCIATE-RQ; a connection that speaks plain DICOM, or presents no
    certificate the context accepts, is closed before anything of it is read as DICOM.

    One thread accepts, one thread per connection reads and answers, on our own association code. Bounded:
    a connection has ``associate_timeout`` seconds (default :data:`ASSOCIATE_TIMEOUT`) to send its
    A-ASSOCIATE-RQ; at most
    :data:`MAX_UNASSOCIATED` connections wait for theirs (the oldest is closed for a new one, so idle
    connections cannot lock a reporter out); at most ``max_associations`` associations are served at once
    (more connections are closed at once); an association idle for ``idle_timeout`` seconds (default
    :data:`IDLE_TIMEOUT`) is aborted. ``max_report_bytes(origin)``, asked as each request arrives, bounds
    its data set (default :data:`~dcm_exporter._dicom.association.MAX_RECEIVED_DATASET`): a larger one is not
    read past the limit, and the association is aborted.

    Raises (on construction):
        ConnectionFailedError: the port cannot be bound.
    """

    def __init__(
        self,
        host: str,
        port: int,
        ae_title: str,
        sop_class_uid: str,
        handler: EventReportHandler,
        *,
        max_associations: int = 16,
        idle_timeout: float | None = None,
        associate_timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_report_bytes: Callable[[ReportOrigin], int] | None = None,
    ) -> None:
        self.ae_title = ae_title
        self.ssl_context = ssl_context
        self._handler = handler
        self._max_report_bytes = max_report_bytes
        self._supported = [
            RequestedContext(1, sop_class_uid, _TRANSFER_SYNTAXES),
            RequestedContext(3, VERIFICATION, _TRANSFER_SYNTAXES),
        ]
        self._max = max_associations
        self._idle = IDLE_TIMEOUT if idle_timeout is None else idle_timeout
        self._associate_timeout = ASSOCIATE_TIMEOUT if associate_timeout is None else associate_timeout
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._serving: dict[threading.Thread, socket.socket] = {}
        self._waiting: dict[threading.Thread, float] = {}  # connections without an association yet: since
        self._calling: set[str] = set()
        self._called = {ae_title}
        try:
            self._sock = socket.create_server((host, port))
        except OSError as exc:
            raise ConnectionFailedError(
                f"cannot listen for N-EVENT-REPORTs to AE {ae_title} on {host}:{port}: {exc}"
            ) from exc
        self._thread = threading.Thread(target=self._accept_loop, name=f"dcm_exporter-scp-{ae_title}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def allow(self, calling_ae_title: str, called_ae_title: str | None = None) -> None:
        """Accept associations from ``calling_ae_title`` (a reporting SCP) to ``called_ae_title`` (one of our
        AE titles; default the server's)."""
        with self._lock:
            self._calling.add(calling_ae_title)
            self._called.add(called_ae_title or self.ae_title)

    def _screen(self, calling: str, called: str) -> tuple[tuple[int, int, int], str] | None:
        with self._lock:
            if called not in self._called:
                return (1, 1, 7), f"called AE title {called!r} is not ours"
            if calling not in self._calling:
                return (1, 1, 3), f"calling AE title {calling!r} is no storage commitment SCP we asked"
        return None

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._sock], [], [], 0.2)
                if not readable:
                    continue
                conn, peer = self._sock.accept()
            except (OSError, ValueError):  # the listening socket was closed: shutdown
                return
            evicted: socket.socket | None = None
            with self._lock:
                associated = len(self._serving) - len(self._waiting)
                if self._stop.is_set() or associated >= self._max:
                    conn.close()
                    continue
                if len(self._waiting) >= MAX_UNASSOCIATED:
                    oldest = min(self._waiting, key=self._waiting.__getitem__)
                    del self._waiting[oldest]
                    evicted = self._serving.get(oldest)
                thread = threading.Thread(target=self._serve, args=(conn, peer), daemon=True,
                                          name=f"dcm_exporter-scp-{self.ae_title}-{peer[1]}")
                self._serving[thread] = conn
                self._waiting[thread] = time.monotonic()
            if evicted is not None:
                log.info("closing a connection that sent no A-ASSOCIATE-RQ to make room for a new one")
                _shut(evicted)
            thread.start()

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        try:
            if self.ssl_context is not None:
                try:
                    conn = self.ssl_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError) as exc:
                    log.info("TLS connection from %s:%d not accepted: %s", peer[0], peer[1], exc)
                    return
                with self._lock:  # wrapping detached the plain socket: evict and shut down the TLS one
                    self._serving[threading.current_thread()] = conn
                if not _tls_handshake(conn, peer, self._associate_timeout):
                    return
            assoc = Association.accept(
                conn, (str(peer[0]), int(peer[1])), self._supported, timeout=self._idle,
                associate_timeout=self._associate_timeout,
                screen=self._screen,
            )
            with self._lock:
                self._waiting.pop(threading.current_thread(), None)
            if assoc is None:
                return
            origin = ReportOrigin(
                calling_ae_title=assoc.destination.ae_title, called_ae_title=assoc.calling_ae_title, address=peer[0]
            )
            idle_since = time.monotonic()
            while not self._stop.is_set():
                limit = None if self._max_report_bytes is None else self._max_report_bytes(origin)
                try:
                    request = assoc.poll_request(0.2, max_dataset=limit, waiting_for=f"a request from {origin}")
                except OversizedError as exc:
                    log.warning("association from %s aborted: %s", origin, exc)
                    break
                except AssociationFailure as exc:
                    log.info("association from %s ended: %s", origin, exc)
                    break
                if request is not None:
                    _answer(assoc, request, self._handler, origin)
                    idle_since = time.monotonic()
                elif assoc.closed or assoc.broken:
                    break
                elif time.monotonic() - idle_since > self._idle:
                    log.info("association from %s idle for %g s: aborted", origin, self._idle)
                    break
            assoc.abort()
        finally:
            conn.close()
            with self._lock:
                self._serving.pop(threading.current_thread(), None)
                self._waiting.pop(threading.current_thread(), None)

    def shutdown(self) -> None:
        """Stop listening and end the SCP's associations. Idempotent."""
        self._stop.set()
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            serving = list(self._serving.items())
        for _, conn in serving:
            _shut(conn)
        for thread, _ in serving:
            thread.join(5)


def _tls_handshake(tls: ssl.SSLSocket, peer: tuple[str, int], timeout: float) -> bool:
    """Complete the server side of the TLS handshake on ``tls`` within ``timeout`` seconds; ``False`` (logged)
    when it failed or took longer."""
    deadline = time.monotonic() + timeout
    try:
        tls.setblocking(False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no TLS handshake within {timeout:g} s")
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                select.select([tls], [], [], left)
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], left)
        tls.setblocking(True)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; ValueError: closed meanwhile
        log.info("TLS connection from %s:%d not accepted: %s", peer[0], peer[1], getattr(exc, "reason", None) or exc)
        return False
    return True


def _shut(sock: socket.socket) -> None:
    """Wake whoever reads ``sock`` (it then sees the connection end)."""
    try:
        # the plain socket's shutdown also for TLS: SSLSocket.shutdown drops the TLS object under a reader
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
