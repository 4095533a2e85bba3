"""A DICOM association on a plain (or TLS) socket, owned by one thread: requested (:meth:`Association.open`)
or accepted (:meth:`Association.accept`, for the embedded SCP).

pynetdicom's PDU codec encodes and decodes the A-ASSOCIATE-RQ / -AC / -RJ (and, accepting, its presentation
context negotiation answers the peer's proposal); after that, C-STORE / C-ECHO / N-ACTION / N-CREATE
requests and their responses, and the N-EVENT-REPORT requests a peer sends, are framed and parsed here,
directly on the socket (:mod:`.framing`).
There is no reactor thread: the thread that sends a request is the one that reads its response, so a
response can never be "missed" (the pynetdicom 3.0.4 race described in services.md cannot happen by
construction).

Every socket gets ``TCP_NODELAY`` (and ``TCP_QUICKACK`` on Linux): without it Nagle's algorithm
holds back the last segment of every request for ~40 ms.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

import attrs

from dcm_exporter._dicom import framing as d
from dcm_exporter._dicom.destination import Destination
from dcm_exporter._dicom.errors import (
    AbortedError,
    AssociationFailure,
    ConnectError,
    OversizedError,
    RejectedError,
    TimeoutFailure,
)
from dcm_exporter._dicom.uids import VERIFICATION
from dcm_exporter._imports import PYNETDICOM, require
from dcm_exporter.errors import (
    AssociationRejectedError,
    ConnectionFailedError,
    TransportError,
    TransportTimeoutError,
)

__all__ = [
    "AcceptedContext",
    "Association",
    "PreparedStore",
    "Request",
    "RequestedContext",
    "transport_error",
]

LOG = logging.getLogger("dcm_exporter.transports.dicom")

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1420.1"
IMPLEMENTATION_VERSION_NAME = "DCM_EXPORTER_01"
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
#: Our maximum receive PDU length (we only receive small responses; 0 would mean unlimited).
OUR_MAX_PDU = 1 << 20
#: The largest PDU we take from a peer: a few times what we advertise (some peers overshoot it), never more,
#: so one PDU cannot make us buffer an arbitrary amount.
MAX_RECEIVED_PDU = 4 * OUR_MAX_PDU
#: The largest command set we take from a peer, all fragments together (a real one is a few hundred bytes).
MAX_RECEIVED_COMMAND = 64 << 10
#: Cap on the PDU size we send when the peer announces 0 (= no limit).
UNLIMITED_SEND_PDU = 1 << 22


@attrs.frozen
class RequestedContext:
    """A proposed presentation context."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@attrs.frozen
class AcceptedContext:
    """An accepted presentation context: its id and the transfer syntax chosen by the peer."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str


@attrs.frozen
class Request:
    """A DIMSE request the peer sent on the association (an N-EVENT-REPORT-RQ): its command, presentation
    context and data set bytes (``None`` without one)."""

    command: d.Command
    context_id: int
    dataset: bytes | None


#: the largest data set we take from a peer in one message (an N-EVENT-REPORT naming many instances fits)
MAX_RECEIVED_DATASET = 64 << 20


@attrs.frozen
class PreparedStore:
    """A C-STORE-RQ ready to go: command and data set framed into one buffer."""

    message_id: int
    sop_instance_uid: str
    buffer: bytearray


def _tune(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
        except OSError:  # pragma: no cover - platform without it
            pass


def _reject_reason(body: bytes) -> tuple[str, bool]:
    """The reason of an A-ASSOCIATE-RJ and whether it is permanent.

    Raises:
        AbortedError: a malformed PDU (a framing error like any other, not a rejection).
    """
    from pynetdicom.pdu import A_ASSOCIATE_RJ

    pdu = A_ASSOCIATE_RJ()
    try:
        if len(body) != 4:
            raise ValueError(f"{len(body)} bytes instead of 4")
        pdu.decode(bytes((d.PDU_A_ASSOCIATE_RJ, 0)) + len(body).to_bytes(4, "big") + body)
        text = f"{pdu.result_str}, source: {pdu.source_str}, reason: {pdu.reason_str}"
    except Exception as exc:  # pynetdicom raises assorted errors (struct.error too) on a malformed PDU
        raise AbortedError(f"malformed A-ASSOCIATE-RJ ({exc}): {body[:64].hex()}") from exc
    return text, pdu.result == 1


#: Presentation context items an A-ASSOCIATE-RQ or -AC may carry: one per odd context ID (PS3.8 9.3.2.2).
MAX_PRESENTATION_CONTEXTS = 128
_CONTEXT_ITEMS = {d.PDU_A_ASSOCIATE_RQ: 0x20, d.PDU_A_ASSOCIATE_AC: 0x21}


def _count_items(body: bytes, item_type: int) -> int:
    """How many top-level variable items of ``item_type`` an A-ASSOCIATE-RQ/-AC ``body`` holds (a walk over
    the item headers; a malformed tail is left for the decoder to refuse)."""
    count, pos = 0, 68  # protocol version, reserved, called and calling AE titles, reserved
    while pos + 4 <= len(body):
        if body[pos] == item_type:
            count += 1
        pos += 4 + int.from_bytes(body[pos + 2 : pos + 4], "big")
    return count


def _decode_primitive(pdu: Any, pdu_type: int, body: bytes, what: str) -> Any:
    """The received PDU ``what`` (its type byte and body) decoded into ``pdu``, as pynetdicom's primitive.

    An A-ASSOCIATE-RQ or -AC with more presentation contexts than there are context IDs, or more than the one
    User Information item it may have (PS3.8 9.3.2, 9.3.3; each is at most 64 KiB), is refused before it is
    decoded: pynetdicom takes about 60 µs and 1.3 KB per item (50,000 presentation contexts in a 2.5 MiB
    A-ASSOCIATE-RQ: 3 s and 65 MB; 60 User Information items of 130,000 role selections: 3 s, 100 MB), on
    every connection to the embedded receiver, before the calling AE title is looked at.

    Raises:
        AbortedError: a malformed PDU.
    """
    item_type = _CONTEXT_ITEMS.get(pdu_type)
    if item_type is not None:
        contexts = _count_items(body, item_type)
        if contexts > MAX_PRESENTATION_CONTEXTS:
            raise AbortedError(
                f"malformed {what}: {contexts} presentation contexts, more than the "
                f"{MAX_PRESENTATION_CONTEXTS} context IDs there are"
            )
        user_information = _count_items(body, 0x50)
        if user_information > 1:
            raise AbortedError(f"malformed {what}: {user_information} User Information items instead of one")
    try:
        pdu.decode(bytes((pdu_type, 0)) + len(body).to_bytes(4, "big") + body)
        return pdu.to_primitive()
    except Exception as exc:  # pynetdicom raises assorted errors on malformed input
        raise AbortedError(f"malformed {what}: {exc}") from exc


_IOV_MAX = min(getattr(os, "sysconf", lambda _n: 1024)("SC_IOV_MAX") or 1024, 1024)


def _read_slots(stream: BinaryIO, view: memoryview, slots: list[tuple[int, int]], total: int) -> None:
    """Fill the payload slots of a P-DATA layout with ``total`` bytes from ``stream``'s position.

    With a real file, one ``preadv`` scatters the bytes straight into the slots (no extra copy);
    otherwise ``readinto`` per slot.
    """
    fileno: int | None
    try:
        fileno = stream.fileno()
        position = stream.tell()
    except (AttributeError, OSError, ValueError):
        fileno = None
        position = 0
    preadv = getattr(os, "preadv", None)
    if fileno is not None and preadv is not None:
        for index in range(0, len(slots), _IOV_MAX):
            batch = slots[index : index + _IOV_MAX]
            want = sum(n for _, n in batch)
            got = preadv(fileno, [view[off : off + n] for off, n in batch], position)
            if got < want:  # short read (rare): complete slot by slot
                skip = got
                file_pos = position
                for off, n in batch:
                    have = min(skip, n)
                    skip -= have
                    while have < n:
                        chunk = os.pread(fileno, n - have, file_pos + have)
                        if not chunk:
                            raise EOFError(f"file ended early: expected {total} data set bytes")
                        view[off + have : off + have + len(chunk)] = chunk
                        have += len(chunk)
                    file_pos += n
            position += want
        stream.seek(position)
        return
    readinto = getattr(stream, "readinto", None)
    for off, n in slots:
        got = 0
        while got < n:
            if readinto is not None:
                k = readinto(view[off + got : off + n])
            else:
                chunk = stream.read(n - got)
                k = len(chunk)
                view[off + got : off + got + k] = chunk
            if not k:
                raise EOFError(f"file ended early: expected {total} data set bytes")
            got += k



def _our_user_information() -> list[Any]:
    """The user information items we send in an A-ASSOCIATE-RQ or -AC: our maximum PDU length and
    implementation class UID and version name (pynetdicom must be loaded: :func:`require`)."""
    from pydicom.uid import UID
    from pynetdicom.pdu_primitives import (
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
    )

    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = OUR_MAX_PDU
    impl_uid = ImplementationClassUIDNotification()
    impl_uid.implementation_class_uid = UID(IMPLEMENTATION_CLASS_UID)
    impl_name = ImplementationVersionNameNotification()
    impl_name.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    return [max_length, impl_uid, impl_name]


def _peer_max_pdu(user_information: Any) -> int:
    """The maximum PDU length the peer announced (0: unlimited, also when it announced none)."""
    from pynetdicom.pdu_primitives import MaximumLengthNotification

    peer_max = 0
    for info in user_information:
        if isinstance(info, MaximumLengthNotification):
            peer_max = int(info.maximum_length_received or 0)
    return peer_max


def _collect(parts: list[bytes], fragment: bytes, size: int, limit: int, what: str, waiting_for: str) -> int:
    """Append one PDV's ``fragment`` of a command or data set to ``parts``; the new total size.

    A peer could send a message without end: past ``limit`` bytes the read stops with :class:`OversizedError`.
    """
    size += len(fragment)
    if size > limit:
        raise OversizedError(f"{what} of more than {limit} bytes in {waiting_for}")
    parts.append(fragment)
    return size

class Association:
    """An established association. Not thread-safe: one thread uses it at a time."""

    def __init__(
        self,
        sock: socket.socket,
        destination: Destination,
        calling_ae_title: str,
        accepted: dict[str, dict[str, AcceptedContext]],
        rejected: dict[str, str],
        max_send_pdu: int,
    ) -> None:
        self._sock = sock
        self.destination = destination
        self.calling_ae_title = calling_ae_title
        #: abstract syntax -> transfer syntax -> accepted context
        self.accepted = accepted
        #: abstract syntax -> why no context for it was accepted
        self.rejected = rejected
        self.max_pdv_data = max_send_pdu - 6
        self._reader = d.PduReader(MAX_RECEIVED_PDU)
        self._message_id = 0
        self._recv_buf = bytearray(256 * 1024)
        # two send buffers used in turn: one being sent / awaiting its response, the next being filled
        self._buffers = [bytearray(), bytearray()]
        self._spare = 0
        self.closed = False
        self.broken = False
        self.last_used = time.monotonic()
        self.operations = 0

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, destination: Destination, calling_ae_title: str, contexts: Sequence[RequestedContext]
    ) -> Association:
        """Connect, negotiate, and return the established association.

        Raises:
            ConnectError, RejectedError, TimeoutFailure, AbortedError.
        """
        require(*PYNETDICOM)  # the first association of a process may open in several threads at once
        from pydicom.uid import UID
        from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
        from pynetdicom.pdu_primitives import (
            A_ASSOCIATE,
        )
        from pynetdicom.presentation import PresentationContext

        if not 1 <= len(contexts) <= 128:
            raise ValueError(f"an association holds 1 to 128 presentation contexts, not {len(contexts)}")
        try:
            raw = socket.create_connection(
                (destination.host, destination.port), timeout=destination.connect_timeout
            )
        except TimeoutError as exc:
            raise TimeoutFailure(f"connect timed out after {destination.connect_timeout} s") from exc
        except OSError as exc:
            raise ConnectError(f"connect failed: {exc.strerror or exc}") from exc
        _tune(raw)
        sock: socket.socket = raw
        try:
            if destination.ssl_context is not None:
                try:
                    sock = destination.ssl_context.wrap_socket(raw, server_hostname=destination.host)
                except ssl.SSLError as exc:
                    raise ConnectError(f"TLS handshake failed: {exc.reason or exc}") from exc
                except TimeoutError as exc:
                    raise TimeoutFailure("TLS handshake timed out") from exc
                except OSError as exc:
                    raise ConnectError(f"TLS handshake failed: {exc}") from exc

            primitive = A_ASSOCIATE()
            primitive.application_context_name = UID(APPLICATION_CONTEXT)
            primitive.calling_ae_title = calling_ae_title
            primitive.called_ae_title = destination.ae_title
            pcs = []
            for rc in contexts:
                pc = PresentationContext()
                pc.context_id = rc.context_id
                pc.abstract_syntax = UID(rc.abstract_syntax)
                pc.transfer_syntax = [UID(ts) for ts in rc.transfer_syntaxes]
                pcs.append(pc)
            primitive.presentation_context_definition_list = pcs
            primitive.user_information = _our_user_information()
            request = A_ASSOCIATE_RQ()
            request.from_primitive(primitive)
            sock.settimeout(destination.request_timeout)
            try:
                sock.sendall(request.encode())
            except TimeoutError as exc:
                raise TimeoutFailure("sending the A-ASSOCIATE-RQ timed out") from exc
            except OSError as exc:
                raise ConnectError(f"connection lost sending the A-ASSOCIATE-RQ: {exc}") from exc

            assoc = cls(sock, destination, calling_ae_title, {}, {}, UNLIMITED_SEND_PDU)
            pdu_type, body = assoc._next_pdu(destination.request_timeout, "the A-ASSOCIATE-AC")
            if pdu_type == d.PDU_A_ASSOCIATE_RJ:
                reason, permanent = _reject_reason(body)
                raise RejectedError(reason, permanent=permanent)
            if pdu_type == d.PDU_A_ABORT:
                raise AbortedError(f"association request answered with {d.decode_abort(body)}")
            if pdu_type != d.PDU_A_ASSOCIATE_AC:
                raise AbortedError(f"unexpected PDU type 0x{pdu_type:02X} instead of A-ASSOCIATE-AC")
            accept = _decode_primitive(A_ASSOCIATE_AC(), pdu_type, body, "A-ASSOCIATE-AC")
        except BaseException:
            sock.close()
            raise

        by_id = {rc.context_id: rc for rc in contexts}
        results = {
            0: "accepted",
            1: "user rejection",
            2: "no reason (provider rejection)",
            3: "abstract syntax not supported",
            4: "transfer syntaxes not supported",
        }
        for item in accept.presentation_context_definition_results_list:
            proposed = by_id.get(item.context_id or 0)
            if proposed is None:
                continue
            if item.result == 0 and item.transfer_syntax:
                ts = str(item.transfer_syntax[0])
                assoc.accepted.setdefault(proposed.abstract_syntax, {})[ts] = AcceptedContext(
                    proposed.context_id, proposed.abstract_syntax, ts
                )
                assoc.rejected.pop(proposed.abstract_syntax, None)
            elif proposed.abstract_syntax not in assoc.accepted:
                assoc.rejected[proposed.abstract_syntax] = results.get(
                    item.result or 0, f"result {item.result}"
                )
        peer_max = _peer_max_pdu(accept.user_information)
        send_pdu = UNLIMITED_SEND_PDU if peer_max == 0 else min(peer_max, UNLIMITED_SEND_PDU)
        if send_pdu < 64:
            assoc.abort()
            raise AbortedError(f"peer announced an unusable maximum PDU length of {peer_max}")
        assoc.max_pdv_data = send_pdu - 6
        LOG.debug(
            "association %s -> %s established: %d accepted, max PDU %d",
            calling_ae_title,
            destination,
            sum(len(v) for v in assoc.accepted.values()),
            send_pdu,
        )
        return assoc

    @classmethod
    def accept(
        cls,
        sock: socket.socket,
        peer: tuple[str, int],
        supported: Sequence[RequestedContext],
        *,
        timeout: float,
        associate_timeout: float | None = None,
        screen: Callable[[str, str], tuple[tuple[int, int, int], str] | None] | None = None,
    ) -> Association | None:
        """Negotiate an association a peer opened on ``sock`` (we are the acceptor): the abstract syntaxes of
        ``supported`` with their transfer syntaxes, both SCU and SCP roles. ``None`` (the socket closed) when
        the peer sent no valid A-ASSOCIATE-RQ within ``associate_timeout`` seconds (default ``timeout``),
        ``screen(calling AE title, called AE title)`` gave ``((result, source, reason), why)`` to reject it
        with, or it proposed nothing we support. ``timeout`` is the response timeout of the association."""
        require(*PYNETDICOM)
        from pydicom.uid import UID
        from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
        from pynetdicom.pdu_primitives import (
            A_ASSOCIATE,
            SCP_SCU_RoleSelectionNegotiation,
        )
        from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor

        _tune(sock)
        destination = Destination(ae_title="?", host=peer[0], port=peer[1], request_timeout=timeout,
                                  response_timeout=timeout)
        assoc = cls(sock, destination, "?", {}, {}, UNLIMITED_SEND_PDU)
        try:
            pdu_type, body = assoc._next_pdu(
                timeout if associate_timeout is None else associate_timeout, "the A-ASSOCIATE-RQ"
            )
            if pdu_type != d.PDU_A_ASSOCIATE_RQ:
                raise AbortedError(f"PDU type 0x{pdu_type:02X} instead of an A-ASSOCIATE-RQ")
            request = _decode_primitive(A_ASSOCIATE_RQ(), pdu_type, body, "A-ASSOCIATE-RQ")
            if screen is not None:
                refusal = screen(str(request.calling_ae_title).strip(), str(request.called_ae_title).strip())
                if refusal is not None:
                    (result, source, reason), why = refusal
                    assoc._send_raw(struct.pack(">BxLxBBB", d.PDU_A_ASSOCIATE_RJ, 4, result, source, reason), 1.0)
                    raise AbortedError(f"rejected: {why}")
            roles = {
                item.sop_class_uid: (item.scu_role, item.scp_role)
                for item in request.user_information
                if isinstance(item, SCP_SCU_RoleSelectionNegotiation) and item.sop_class_uid is not None
            }
            ours = []
            for rc in supported:
                pc = PresentationContext()
                pc.abstract_syntax = UID(rc.abstract_syntax)
                pc.transfer_syntax = [UID(ts) for ts in rc.transfer_syntaxes]
                pc.scu_role = pc.scp_role = True
                ours.append(pc)
            results, role_items = negotiate_as_acceptor(
                request.presentation_context_definition_list, ours, roles or None
            )
            if not any(cx.result == 0 for cx in results):
                reject = A_ASSOCIATE()
                reject.result, reject.result_source, reject.diagnostic = 0x01, 0x01, 0x01  # permanent, no reason
                rj = A_ASSOCIATE_RJ()
                rj.from_primitive(reject)
                assoc._send_raw(rj.encode())
                raise AbortedError("nothing proposed that we support: rejected")
            answer = A_ASSOCIATE()
            answer.application_context_name = UID(APPLICATION_CONTEXT)
            answer.calling_ae_title = request.calling_ae_title
            answer.called_ae_title = request.called_ae_title
            answer.result, answer.result_source = 0x00, 0x01
            answer.presentation_context_definition_results_list = results
            answer.user_information = [*_our_user_information(), *role_items]
            ac = A_ASSOCIATE_AC()
            ac.from_primitive(answer)
            assoc._send_raw(ac.encode())
        except AssociationFailure as exc:
            LOG.info("association from %s:%d not accepted: %s", peer[0], peer[1], exc)
            assoc.abort()
            return None
        calling = str(request.calling_ae_title).strip()
        assoc.destination = attrs.evolve(destination, ae_title=calling)
        assoc.calling_ae_title = str(request.called_ae_title).strip()
        for cx in results:
            if cx.result == 0 and cx.transfer_syntax:
                syntax = str(cx.abstract_syntax)
                ts = str(cx.transfer_syntax[0])
                assoc.accepted.setdefault(syntax, {})[ts] = AcceptedContext(int(cx.context_id or 0), syntax, ts)
        peer_max = _peer_max_pdu(request.user_information)
        send_pdu = UNLIMITED_SEND_PDU if peer_max == 0 else min(max(peer_max, 64), UNLIMITED_SEND_PDU)
        assoc.max_pdv_data = send_pdu - 6
        LOG.debug("association from %s accepted", assoc.destination)
        return assoc

    def transfer_syntax_of(self, context_id: int) -> str | None:
        """The transfer syntax accepted for presentation context ``context_id``."""
        for contexts in self.accepted.values():
            for context in contexts.values():
                if context.context_id == context_id:
                    return context.transfer_syntax
        return None

    # --- receiving -------------------------------------------------------------------------------

    def _next_pdu(self, timeout: float | None, waiting_for: str, stated: float | None = None) -> tuple[int, bytes]:
        """The next whole PDU within ``timeout`` seconds (``stated``: the configured timeout, for messages)."""
        shown = timeout if stated is None else stated
        pdu = self._buffered_pdu()
        if pdu is not None:
            return pdu
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(self._recv_buf)
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutFailure(f"no answer within {shown} s while waiting for {waiting_for}")
                self._sock.settimeout(left)
            else:
                self._sock.settimeout(None)
            try:
                n = self._sock.recv_into(view)
            except TimeoutError as exc:
                raise TimeoutFailure(f"no answer within {shown} s while waiting for {waiting_for}") from exc
            except OSError as exc:
                raise AbortedError(f"connection lost while waiting for {waiting_for}: {exc}") from exc
            if n == 0:
                raise AbortedError(f"peer closed the connection while we waited for {waiting_for}")
            self._reader.feed(view[:n])
            pdu = self._buffered_pdu()
            if pdu is not None:
                return pdu

    def _buffered_pdu(self) -> tuple[int, bytes] | None:
        """The next whole PDU among the bytes already received, if any.

        Bytes that follow a PDU in the same TCP segment (garbage after an A-ASSOCIATE-AC or after the last
        C-STORE-RSP) are parsed here, on the next read: a framing error is then the peer breaking the
        protocol, like any other.
        """
        try:
            for pdu in self._reader.pdus():
                return pdu
        except d.FramingError as exc:
            raise AbortedError(f"protocol error from peer: {exc}") from exc
        return None

    def _read_command(self, waiting_for: str) -> d.Command:
        """Read PDUs until a whole command set arrived; data set PDVs of a response are discarded."""
        return self._read_message(waiting_for, self.destination.response_timeout, keep_dataset=False).command

    def _read_message(
        self, waiting_for: str, timeout: float | None, *, keep_dataset: bool, max_dataset: int | None = None
    ) -> Request:
        """Read PDUs until a whole message arrived: its command set and, with ``keep_dataset``, its data set (at
        most ``max_dataset`` bytes, default :data:`MAX_RECEIVED_DATASET`)."""
        dataset_limit = MAX_RECEIVED_DATASET if max_dataset is None else max_dataset
        fragments: list[bytes] = []
        data: list[bytes] = []
        size = 0
        command_size = 0
        command: d.Command | None = None
        context_id = 0
        deadline = None if timeout is None else time.monotonic() + timeout  # for the whole message
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            pdu_type, body = self._next_pdu(left, waiting_for, timeout)
            if pdu_type == d.PDU_P_DATA_TF:
                try:
                    pdvs = d.split_pdvs(body)
                except d.FramingError as exc:
                    raise AbortedError(f"protocol error from peer: {exc}") from exc
                for pdv in pdvs:
                    if not pdv.command:
                        if keep_dataset and command is not None:
                            size = _collect(data, pdv.data, size, dataset_limit, "data set", waiting_for)
                            if pdv.last:
                                return Request(command, context_id, b"".join(data))
                        continue  # a data set attached to a response: not needed
                    command_size = _collect(
                        fragments, pdv.data, command_size, MAX_RECEIVED_COMMAND, "command set", waiting_for
                    )
                    if pdv.last:
                        try:
                            command = d.parse_command(b"".join(fragments))
                            has_dataset = command.has_dataset
                        except d.FramingError as exc:
                            raise AbortedError(f"malformed command set: {exc}") from exc
                        context_id = pdv.context_id
                        if not (keep_dataset and has_dataset):
                            return Request(command, context_id, None)
            elif pdu_type == d.PDU_A_ABORT:
                raise AbortedError(d.decode_abort(body))
            elif pdu_type == d.PDU_A_RELEASE_RQ:
                self._send_raw(d.a_release_pdu(response=True))
                self._close()
                raise AbortedError(f"peer released the association while we waited for {waiting_for}")
            else:
                raise AbortedError(f"unexpected PDU type 0x{pdu_type:02X} while waiting for {waiting_for}")

    def _send_raw(self, data: bytes | bytearray | memoryview, timeout: float | None = None) -> None:
        """Send ``data`` within ``timeout`` seconds in all (default: the response timeout)."""
        limit = self.destination.response_timeout if timeout is None else timeout
        self._sock.settimeout(limit)  # sendall's timeout covers the whole call (Python >= 3.5)
        try:
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise TimeoutFailure(f"peer did not accept data within {limit} s") from exc
        except OSError as exc:
            raise AbortedError(f"connection lost while sending: {exc.strerror or exc}") from exc

    # --- DIMSE -----------------------------------------------------------------------------------

    def _next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def prepare_store(
        self,
        context: AcceptedContext,
        sop_class_uid: str,
        sop_instance_uid: str,
        *,
        stream: BinaryIO | None = None,
        length: int = 0,
        data: bytes | None = None,
        priority: int = 0,
        move_originator: tuple[str, int] | None = None,
    ) -> PreparedStore:
        """Frame a C-STORE-RQ: command PDU plus data set PDUs in one buffer.

        The data set is ``length`` bytes read from ``stream`` (at its current position) straight into
        their places between the PDV headers, or ``data`` when given.
        """
        message_id = self._next_message_id()
        command = d.c_store_rq(
            message_id,
            sop_class_uid,
            sop_instance_uid,
            priority=priority,
            move_originator_aet=move_originator[0] if move_originator else None,
            move_originator_message_id=move_originator[1] if move_originator else None,
        )
        if len(command) <= self.max_pdv_data:
            prefix = d.pdata_pdu(context.context_id, command, command=True, last=True)
        else:  # pragma: no cover - a command set is a few hundred bytes
            cbuf, cslots = d.layout_pdata(context.context_id, len(command), self.max_pdv_data, command=True)
            pos = 0
            for off, n in cslots:
                cbuf[off : off + n] = command[pos : pos + n]
                pos += n
            prefix = bytes(cbuf)
        total = len(data) if data is not None else length
        self._spare = (self._spare + 1) % len(self._buffers)
        buf, slots = d.layout_pdata(
            context.context_id,
            total,
            self.max_pdv_data,
            command=False,
            prefix=prefix,
            out=self._buffers[self._spare],
        )
        view = memoryview(buf)
        if data is not None:
            pos = 0
            for off, n in slots:
                view[off : off + n] = data[pos : pos + n]
                pos += n
        else:
            assert stream is not None
            _read_slots(stream, view, slots, total)
        return PreparedStore(message_id, sop_instance_uid, buf)

    def send_store(self, prepared: PreparedStore) -> None:
        """Send a prepared C-STORE-RQ (command and data set)."""
        self._check_open()
        try:
            self._send_raw(prepared.buffer)
        except AssociationFailure:
            self.broken = True
            raise
        self.operations += 1

    def receive_store_response(self, prepared: PreparedStore) -> tuple[int, str | None, str | None]:
        """Wait for the C-STORE-RSP of ``prepared``; return ``(status, error comment, other instance)``.

        ``other instance`` is the Affected SOP Instance UID of the response when it names another instance
        than the one sent (``None`` when it matches or is absent): the store of ``prepared`` is then not
        confirmed.
        """
        try:
            rsp = self._read_command(f"the C-STORE-RSP to message {prepared.message_id}")
            try:
                field, answered, status = rsp.command_field, rsp.message_id_being_responded_to, rsp.status
            except d.FramingError as exc:
                raise AbortedError(f"malformed C-STORE-RSP: {exc}") from exc
            if field != d.C_STORE_RSP:
                raise AbortedError(f"expected a C-STORE-RSP, got command field {field!r}")
            if answered != prepared.message_id:
                raise AbortedError(f"C-STORE-RSP answers message {answered}, expected {prepared.message_id}")
            if status is None:
                raise AbortedError("C-STORE-RSP without a Status (0000,0900)")
        except AssociationFailure:
            self.broken = True
            raise
        self.last_used = time.monotonic()
        named = rsp.text(d.AFFECTED_SOP_INSTANCE_UID)
        other = named if named and named != prepared.sop_instance_uid else None
        return status, rsp.text(d.ERROR_COMMENT), other

    def echo(self) -> int:
        """Send a C-ECHO-RQ (context of Verification SOP Class) and return the response status."""
        ctx = next(iter(self.accepted.get(VERIFICATION, {}).values()), None)
        if ctx is None:
            raise AbortedError("the peer did not accept the Verification SOP Class")
        message_id = self._next_message_id()
        try:
            self._send_raw(d.pdata_pdu(ctx.context_id, d.c_echo_rq(message_id), command=True, last=True))
            rsp = self._read_command("the C-ECHO-RSP")
            try:
                field, status = rsp.command_field, rsp.status
            except d.FramingError as exc:
                raise AbortedError(f"malformed C-ECHO-RSP: {exc}") from exc
            if field != d.C_ECHO_RSP or status is None:
                raise AbortedError(f"unexpected answer to C-ECHO-RQ (command field {field!r})")
        except AssociationFailure:
            self.broken = True
            raise
        return status

    def context_for(self, abstract_syntax: str) -> AcceptedContext | None:
        """An accepted presentation context of ``abstract_syntax`` (Explicit VR Little Endian first)."""
        contexts = self.accepted.get(abstract_syntax, {})
        return contexts.get("1.2.840.10008.1.2.1") or next(iter(contexts.values()), None)

    def _request(self, context: AcceptedContext, command: bytes, dataset: bytes | None, expected: int, what: str,
                 message_id: int) -> tuple[int, str | None]:
        """Send a request (command and data set) and wait for its response; ``(status, error comment)``."""
        self._check_open()
        prefix = d.pdata_pdu(context.context_id, command, command=True, last=True)
        try:
            if dataset is None:
                self._send_raw(prefix)
            else:
                buf, slots = d.layout_pdata(
                    context.context_id, len(dataset), self.max_pdv_data, command=False, prefix=prefix
                )
                pos = 0
                for off, n in slots:
                    buf[off : off + n] = dataset[pos : pos + n]
                    pos += n
                self._send_raw(buf)
            rsp = self._read_command(f"the {what}-RSP to message {message_id}")
            try:
                field, answered, status = rsp.command_field, rsp.message_id_being_responded_to, rsp.status
            except d.FramingError as exc:
                raise AbortedError(f"malformed {what}-RSP: {exc}") from exc
            if field != expected or answered != message_id:
                raise AbortedError(
                    f"expected the {what}-RSP to message {message_id}, got command field {field!r} "
                    f"answering message {answered!r}"
                )
            if status is None:
                raise AbortedError(f"{what}-RSP without a Status (0000,0900)")
        except AssociationFailure:
            self.broken = True
            raise
        self.last_used = time.monotonic()
        return status, rsp.text(d.ERROR_COMMENT)

    def n_action(
        self, context: AcceptedContext, sop_instance_uid: str, action_type_id: int, dataset: bytes
    ) -> tuple[int, str | None]:
        """N-ACTION-RQ with the Action Information ``dataset`` (encoded in the context's transfer syntax);
        return the N-ACTION-RSP ``(status, error comment)``."""
        message_id = self._next_message_id()
        command = d.n_action_rq(message_id, context.abstract_syntax, sop_instance_uid, action_type_id)
        return self._request(context, command, dataset, d.N_ACTION_RSP, "N-ACTION", message_id)

    def n_create(self, context: AcceptedContext, sop_instance_uid: str, dataset: bytes) -> tuple[int, str | None]:
        """N-CREATE-RQ with ``dataset``; return the N-CREATE-RSP ``(status, error comment)``."""
        message_id = self._next_message_id()
        command = d.n_create_rq(message_id, context.abstract_syntax, sop_instance_uid)
        return self._request(context, command, dataset, d.N_CREATE_RSP, "N-CREATE", message_id)

    def poll_request(
        self, timeout: float, *, max_dataset: int | None = None, waiting_for: str = "a request from the peer"
    ) -> Request | None:
        """The next request the peer sends on the association (an N-EVENT-REPORT-RQ, with its data set), or
        ``None`` when nothing arrived within ``timeout`` seconds or the peer released the association. A data
        set of more than ``max_dataset`` bytes (default :data:`MAX_RECEIVED_DATASET`) is not read past that;
        ``waiting_for`` names the request in errors.

        Raises:
            AbortedError: the peer aborted or broke the protocol (:class:`OversizedError`: sent a data set over
                the limit); TimeoutFailure: a message started but did not finish within the response timeout.
        """
        if self.closed or self.broken:
            return None
        if self._reader.pending == 0 and not (isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()):
            try:
                readable, _, _ = select.select([self._sock], [], [], timeout)
            except (OSError, ValueError) as exc:
                self.broken = True
                raise AbortedError(f"connection lost: {exc}") from exc
            if not readable:
                return None
        try:
            return self._read_message(
                waiting_for, self.destination.response_timeout, keep_dataset=True, max_dataset=max_dataset
            )
        except AbortedError:
            if self.closed:  # an orderly A-RELEASE by the peer
                return None
            self.broken = True
            raise
        except AssociationFailure:
            self.broken = True
            raise

    def respond(self, request: Request, command: bytes) -> None:
        """Send the response ``command`` set (no data set) to ``request``."""
        try:
            self._send_raw(d.pdata_pdu(request.context_id, command, command=True, last=True))
        except AssociationFailure:
            self.broken = True
            raise

    # --- state -----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed or self.broken:
            raise AbortedError("association already closed")

    def is_alive(self) -> bool:
        """Whether the association looks usable: open, and the peer sent nothing (no abort, no close)."""
        if self.closed or self.broken or self._reader.pending:
            return False
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def release(self, timeout: float | None = None) -> None:
        """A-RELEASE-RQ and wait for the A-RELEASE-RP (abort when it does not come); close.

        ``timeout`` (default: the destination's ``release_timeout``, from ``dcmARRPTimeout``) bounds the whole
        release: a peer that keeps sending other PDUs (P-DATA) instead of the A-RELEASE-RP, or that does not
        read, is aborted when it runs out.
        """
        if self.closed:
            return
        if timeout is None:
            timeout = self.destination.release_timeout
        try:
            if not self.broken:
                deadline = time.monotonic() + timeout
                self._send_raw(d.a_release_pdu(response=False), timeout)
                while True:
                    left = max(deadline - time.monotonic(), 0.001)
                    pdu_type, _ = self._next_pdu(left, "the A-RELEASE-RP", timeout)
                    if pdu_type in (d.PDU_A_RELEASE_RP, d.PDU_A_ABORT):
                        break
        except AssociationFailure as exc:
            LOG.debug("release of %s failed (%s); aborting", self.destination, exc)
            self._abort_quietly()
        finally:
            self._close()

    def abort(self) -> None:
        """Send an A-ABORT and close the connection."""
        if not self.closed:
            self._abort_quietly()
            self._close()

    def _abort_quietly(self) -> None:
        try:
            self._sock.settimeout(1.0)
            self._sock.sendall(d.a_abort_pdu())
        except OSError:
            pass

    def _close(self) -> None:
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "broken" if self.broken else "open"
        return f"<Association {self.calling_ae_title} -> {self.destination} {state} pid={os.getpid()}>"


def transport_error(exc: AssociationFailure, destination: Destination, calling: str) -> TransportError:
    """The :mod:`dcm_exporter.errors` error for an association that could not be opened or used."""
    where = destination.where
    if isinstance(exc, RejectedError):
        return AssociationRejectedError(
            f"Association from {calling} to {where} rejected: {exc.reason}",
            reason=exc.reason,
            destination=destination.ae_title,
            retryable=True,
        )
    if isinstance(exc, TimeoutFailure):
        return TransportTimeoutError(f"Timeout connecting to {where}: {exc}", destination=destination.ae_title)
    if isinstance(exc, ConnectError):
        return ConnectionFailedError(f"Cannot connect to {where}: {exc}", destination=destination.ae_title)
    return ConnectionFailedError(f"Association to {where} failed: {exc}", destination=destination.ae_title)
