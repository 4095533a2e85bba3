"""A loopback DICOM Store SCP for tests: the one module of the test kit that imports pynetdicom.

:class:`StoreSCP` accepts every storage SOP class pynetdicom knows (plus Verification) with every
transfer syntax, answers each C-STORE with a status you choose, and either writes what it received
as a DICOM Part 10 file or only counts. The dataset bytes in the written file are exactly the bytes
the peer sent (they are never decoded and re-encoded), so a test can compare them with the source.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from dcm_exporter._dicom.status import is_performed

__all__ = ["ReceivedInstance", "StoreRequest", "StoreSCP"]

_VERIFICATION = "1.2.840.10008.1.1"


@attrs.frozen(kw_only=True)
class StoreRequest:
    """One C-STORE request as the SCP saw it, before it answered.

    Attributes:
        index: 0-based number of this C-STORE among all the SCP received since it started.
        calling_ae_title: AE title of the sender (the association requestor).
        called_ae_title: AE title the sender asked for.
        sop_class_uid: Affected SOP Class UID of the request.
        sop_instance_uid: Affected SOP Instance UID of the request.
        transfer_syntax_uid: transfer syntax of the presentation context the dataset came in.
        size: number of dataset bytes received (without file meta information).
    """

    index: int
    calling_ae_title: str
    called_ae_title: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    size: int


@attrs.frozen(kw_only=True)
class ReceivedInstance(StoreRequest):
    """One answered C-STORE: the request (what came in), what the SCP answered, and where it was written.

    Attributes:
        index: 0-based number of this C-STORE among all the SCP received.
        calling_ae_title: AE title of the sender.
        called_ae_title: AE title the sender asked for.
        sop_class_uid: Affected SOP Class UID.
        sop_instance_uid: Affected SOP Instance UID.
        transfer_syntax_uid: transfer syntax the dataset was sent in.
        size: number of dataset bytes received.
        status: the C-STORE response status the SCP sent (e.g. ``0x0000``, ``0xB000``, ``0xA700``).
        path: the Part 10 file written, or ``None`` (count-only mode, or a failure status).
    """

    status: int
    path: Path | None


StatusSource = int | Callable[[StoreRequest], int]


def _register_storage_uids(uids: Iterable[str]) -> None:
    """Let pynetdicom route C-STOREs of private / unknown SOP classes to the Storage service class.

    pynetdicom keeps this registry at module level; registering a UID again is harmless.
    """
    from pynetdicom.service_class import StorageServiceClass
    from pynetdicom.sop_class import register_uid

    for uid in uids:
        register_uid(uid, "DcmExporterTestStorage_" + uid.replace(".", "_"), StorageServiceClass)


def _called_ae_title(assoc: Any) -> str:
    """The called AE title of the association request (the acceptor's own title is ours, not theirs)."""
    primitive = getattr(assoc.requestor, "primitive", None)
    called = getattr(primitive, "called_ae_title", None)
    return str(called if called is not None else assoc.acceptor.ae_title).strip()


class StoreSCP:
    """An in-process Store SCP on a loopback port, built on pynetdicom's
    :class:`~pynetdicom.ae.ApplicationEntity` (its C-STORE handler answers ``status``).

    Args:
        ae_title: the SCP's AE title.
        require_called_aet: reject associations whose called AE title is not ``ae_title`` (A-ASSOCIATE-RJ
            "called AE title not recognised", as dcm4che's storescp does); by default any called AE title
            is accepted (as DCMTK's storescp does).
        host: address to bind; loopback by default.
        port: port to bind; 0 (default) picks a free one, read it from :attr:`port` after start.
        output_dir: where to write received objects as ``<SOP Instance UID>.dcm``; ``None`` only counts.
        status: the C-STORE response status, or a callable ``(StoreRequest) -> int`` deciding it per
            instance (e.g. ``0xA700`` out of resources, ``0xB000`` coercion warning). Objects answered
            with a failure status are not written.
        delay: seconds to wait before answering each C-STORE (a slow peer).
        abort_after: abort the association (A-ABORT) instead of answering the C-STORE that arrives
            after this many have been answered. Fires once; :meth:`arm_abort` re-arms it.
        ssl_context: a server-side :class:`ssl.SSLContext` to accept DICOM over TLS.
        max_pdu: maximum PDU length the SCP receives (0 = unlimited).
        transfer_syntaxes: the transfer syntaxes accepted per SOP class; default all pynetdicom knows.
        sop_classes: extra (e.g. private) storage SOP class UIDs to accept besides the standard ones.

    Example:
        >>> from dcm_exporter.testing import StoreSCP
        >>> with StoreSCP("STORESCP") as scp:
        ...     scp.port > 0
        True
    """

    def __init__(
        self,
        ae_title: str = "STORESCP",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        output_dir: str | os.PathLike[str] | None = None,
        status: StatusSource = 0x0000,
        delay: float = 0.0,
        abort_after: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_pdu: int = 16382,
        transfer_syntaxes: Sequence[str] | None = None,
        sop_classes: Iterable[str] = (),
        require_called_aet: bool = False,
    ) -> None:
        if not ae_title or len(ae_title) > 16:
            raise ValueError(f"AE title must be 1 to 16 characters, got {ae_title!r}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        if abort_after is not None and abort_after < 0:
            raise ValueError(f"abort_after must be >= 0, got {abort_after}")
        self.ae_title = ae_title
        self.require_called_aet = require_called_aet
        self.host = host
        self._requested_port = port
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.status: StatusSource = status
        self.delay = delay
        self.ssl_context = ssl_context
        self.max_pdu = max_pdu
        self._transfer_syntaxes = list(transfer_syntaxes) if transfer_syntaxes is not None else None
        self._extra_sop_classes = list(sop_classes)
        self._lock = threading.Condition()
        self._received: list[ReceivedInstance] = []
        self._requests = 0
        self._abort_at: int | None = abort_after
        self._aborts = 0
        self._associations = 0
        self._echoes = 0
        self._server: Any = None
        self._stopping = False
        self._port = 0

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> StoreSCP:
        """Bind the port and start serving in background threads. Returns ``self``."""
        if self._server is not None:
            raise RuntimeError("StoreSCP is already running")
        self._stopping = False
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom._globals import ALL_TRANSFER_SYNTAXES

        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        syntaxes = self._transfer_syntaxes or list(ALL_TRANSFER_SYNTAXES)
        ae = AE(ae_title=self.ae_title)
        ae.require_called_aet = self.require_called_aet
        ae.maximum_pdu_size = self.max_pdu
        ae.network_timeout = 30
        ae.acse_timeout = 30
        ae.dimse_timeout = 30
        ae.maximum_associations = 64
        seen: set[str] = set()
        uids = [cx.abstract_syntax for cx in AllStoragePresentationContexts]
        _register_storage_uids(set(self._extra_sop_classes) - {u for u in uids if u})
        for uid in [_VERIFICATION, *uids, *self._extra_sop_classes]:
            if uid is None or uid in seen:
                continue
            seen.add(uid)
            ae.add_supported_context(uid, syntaxes if uid != _VERIFICATION else syntaxes[:4])
        handlers: list[Any] = [
            (evt.EVT_CONN_OPEN, self._on_open),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
        ]
        self._server = ae.start_server(
            (self.host, self._requested_port),
            block=False,
            evt_handlers=handlers,
            ssl_context=self.ssl_context,
        )
        self._port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        """Stop serving and close every open association. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        # socketserver notices shutdown() only when its select() wakes up (every 0.5 s); a connection
        # wakes it at once, so poke the port until the serving loop has ended
        stopper = threading.Thread(target=server.shutdown, name="StoreSCP-stop", daemon=True)
        stopper.start()
        while stopper.is_alive():
            try:
                socket.create_connection((self.host, self._port), timeout=0.2).close()
            except OSError:
                pass
            stopper.join(0.02)
        server.server_close()

    def __enter__(self) -> StoreSCP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests read --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (valid after :meth:`start`)."""
        if not self._port:
            raise RuntimeError("StoreSCP is not started: no port yet")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect to."""
        return (self.host, self.port)

    @property
    def received(self) -> list[ReceivedInstance]:
        """A copy of the list of answered C-STOREs, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def count(self) -> int:
        """Number of answered C-STOREs (any status)."""
        with self._lock:
            return len(self._received)

    @property
    def stored(self) -> list[ReceivedInstance]:
        """The answered C-STOREs whose status was success or a warning (PS3.7 Annex C)."""
        return [r for r in self.received if is_performed(r.status)]

    @property
    def associations(self) -> int:
        """Number of connections accepted so far."""
        with self._lock:
            return self._associations

    @property
    def aborts(self) -> int:
        """Number of associations this SCP aborted on purpose (``abort_after``)."""
        with self._lock:
            return self._aborts

    @property
    def echoes(self) -> int:
        """Number of C-ECHO requests answered."""
        with self._lock:
            return self._echoes

    def sop_instance_uids(self) -> list[str]:
        """SOP Instance UIDs of the answered C-STOREs, in arrival order."""
        return [r.sop_instance_uid for r in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` C-STOREs were answered; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def arm_abort(self, after: int | None) -> None:
        """Abort the association instead of answering the C-STORE after ``after`` more; ``None`` disarms."""
        with self._lock:
            self._abort_at = None if after is None else self._requests + after

    def clear(self) -> None:
        """Forget what was received so far (files already written stay)."""
        with self._lock:
            self._received.clear()

    # --- pynetdicom event handlers ----------------------------------------------------------------

    def _on_open(self, event: Any) -> None:
        if self._stopping:
            return
        with self._lock:
            self._associations += 1
        sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # a socket already closed by the peer
                pass

    def _on_echo(self, event: Any) -> int:
        with self._lock:
            self._echoes += 1
        return 0x0000

    def _on_store(self, event: Any) -> int:
        req = event.request
        stream = req.DataSet
        stream.seek(0, os.SEEK_END)
        size = int(stream.tell())
        stream.seek(0)
        with self._lock:
            index = self._requests
            self._requests += 1
            abort = self._abort_at is not None and index >= self._abort_at
            if abort:
                self._abort_at = None
                self._aborts += 1
        if abort:
            event.assoc.abort()  # non-blocking inside a handler: A-ABORT is queued, no response is sent
            event.assoc.is_established = False
            return 0xA700
        request = StoreRequest(
            index=index,
            calling_ae_title=str(event.assoc.requestor.ae_title).strip(),
            called_ae_title=_called_ae_title(event.assoc),
            sop_class_uid=str(req.AffectedSOPClassUID),
            sop_instance_uid=str(req.AffectedSOPInstanceUID),
            transfer_syntax_uid=str(event.context.transfer_syntax),
            size=size,
        )
        if self.delay:
            time.sleep(self.delay)
        status = self.status(request) if callable(self.status) else self.status
        path: Path | None = None
        if self.output_dir is not None and is_performed(status):
            path = self.output_dir / f"{request.sop_instance_uid}.dcm"
            path.write_bytes(event.encoded_dataset(include_meta=True))
        record = ReceivedInstance(**attrs.asdict(request), status=status, path=path)
        with self._lock:
            self._received.append(record)
            self._lock.notify_all()
        return status

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else "not started"
        return f"StoreSCP({self.ae_title!r} at {where}, received={self.count})"
