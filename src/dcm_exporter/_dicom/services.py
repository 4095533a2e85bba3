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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dcm_exporter._dicom import framing as d
from dcm_exporter._dicom.association import (
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
from dcm_exporter._imports import PYDICOM, PYNETDICOM, require
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
    "decode_dataset",
    "encode_dataset",
    "send_n_create",
]

log = logging.getLogger("dcm_exporter.actions")

#: ``handler(affected SOP class UID, event type ID, event information or None when undecodable) -> status``
EventReportHandler = Callable[[str, int, "Dataset | None"], int]

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
        command = request.command
        try:
            field, message_id, event_type = command.command_field, command.message_id, command.us(d.EVENT_TYPE_ID) or 0
        except d.FramingError as exc:
            field = message_id = None
            log.warning("malformed request from %s: %s", self.destination, exc)
        if field != d.N_EVENT_REPORT_RQ or message_id is None:
            log.warning("unexpected request (command field %r) from %s: association aborted", field, self.destination)
            self._assoc.abort()
            return
        sop_class = command.text(d.AFFECTED_SOP_CLASS_UID) or ""
        info: Dataset | None = None
        if request.dataset is not None:
            try:
                info = decode_dataset(request.dataset, self._transfer_syntax_of(request))
            except ValueError as exc:
                log.warning("N-EVENT-REPORT from %s: %s", self.destination, exc)
        status = handler(sop_class, event_type, info)
        rsp = d.n_event_report_rsp(
            message_id, sop_class, command.text(d.AFFECTED_SOP_INSTANCE_UID), event_type, status
        )
        try:
            self._assoc.respond(request, rsp)
        except AssociationFailure as exc:
            log.info("N-EVENT-REPORT-RSP to %s not sent: %s", self.destination, exc)

    def _transfer_syntax_of(self, request: Request) -> str:
        for contexts in self._assoc.accepted.values():
            for context in contexts.values():
                if context.context_id == request.context_id:
                    return context.transfer_syntax
        return self._context.transfer_syntax

    def close(self) -> None:
        """Release the association (abort it when the release is not answered). Idempotent."""
        self._assoc.release()


# --- the embedded SCP (pynetdicom) -----------------------------------------------------------------------


def _set_nodelay(event: Any) -> None:
    """pynetdicom ``EVT_CONN_OPEN`` handler: switch Nagle's algorithm off on the new socket."""
    sock = getattr(getattr(event.assoc, "dul", None), "socket", None)
    raw = getattr(sock, "socket", None)
    if isinstance(raw, socket.socket):
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - socket already closed
            pass


class EventReportServer:
    """An SCP on ``host:port`` for ``ae_title`` that accepts N-EVENT-REPORTs of ``sop_class_uid`` (and C-ECHO)
    on associations the peer opens, and hands each to ``handler``.

    Raises (on construction):
        ConnectionFailedError: the port cannot be bound.
    """

    def __init__(self, host: str, port: int, ae_title: str, sop_class_uid: str, handler: EventReportHandler) -> None:
        require(*PYNETDICOM)  # the first use of a process may come from several workers at once
        from pynetdicom import AE, evt

        self._handler = handler
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(sop_class_uid, list(_TRANSFER_SYNTAXES), scu_role=True, scp_role=True)
        ae.add_supported_context(VERIFICATION, list(_TRANSFER_SYNTAXES))
        try:
            server = ae.start_server(
                (host, port),
                block=False,
                evt_handlers=[(evt.EVT_CONN_OPEN, _set_nodelay), (evt.EVT_N_EVENT_REPORT, self._on_event_report)],
            )
        except OSError as exc:
            raise ConnectionFailedError(
                f"cannot listen for N-EVENT-REPORTs to AE {ae_title} on {host}:{port}: {exc}"
            ) from exc
        assert server is not None  # block=False returns the running server
        self._server = server

    def _on_event_report(self, event: Any) -> tuple[int, None]:
        request = event.request
        try:
            info = event.event_information
            for _ in info.iterall():  # pydicom decodes lazily: a bad value fails here, not in the handler
                pass
        except Exception:  # a report we cannot decode: the handler tells the peer
            log.warning("N-EVENT-REPORT from %s with undecodable event information", event.assoc.requestor.ae_title)
            info = None
        return self._handler(str(request.AffectedSOPClassUID), int(request.EventTypeID or 0), info), None

    def shutdown(self) -> None:
        """Stop listening and end the SCP's associations."""
        self._server.shutdown()

