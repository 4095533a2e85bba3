"""Storage commitment (Storage Commitment Push Model, DICOM PS3.4 Annex J) after a COMPLETED export.

A STGCMT task asks the exporter's ``dcmStgCmtSCP`` to commit the instances of the exported entity:

1. an N-ACTION-RQ (Action Type ID 1, SOP class ``1.2.840.10008.1.20.1``, well-known instance
   ``1.2.840.10008.1.20.1.1``) carries a new Transaction UID and the Referenced SOP Sequence;
2. the peer answers N-ACTION-RSP (anything but Success or a warning, PS3.7 Annex C, fails the attempt);
3. the result comes in an N-EVENT-REPORT-RQ with the same Transaction UID: Event Type ID 1 (all
   committed) or 2 (some failed: Failed SOP Sequence with Failure Reason). It is accepted on the same
   association, or on a new association to the embedded SCP that listens on each listening connection of
   the calling AE, with TLS on a TLS connection (:class:`StorageCommitmentSCU` keeps one per port, for all
   tasks);
4. no report within the timeout (exporter property ``StgCmtTimeout``: seconds or an ISO-8601 duration,
   default the peer connection's response timeout, else 60 s) fails the attempt with
   :class:`~dcm_exporter.errors.TransportTimeoutError`, so the queue retries it.

The per-instance results are recorded on the task (``ExportTask.result_json``) and read back with
:meth:`CommitmentResult.from_task`. Outcome: every instance committed ⇒ COMPLETED; some failed ⇒ WARNING;
none committed ⇒ FAILED. An instance the report names in neither list counts as failed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._dicom.status import is_performed, status_text
from dcm_exporter._dicom.uids import STORAGE_COMMITMENT_PUSH_MODEL, STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE
from dcm_exporter.actions._sop import sop_reference
from dcm_exporter.errors import (
    ConfigurationError,
    ConnectionFailedError,
    ExportCanceledError,
    TransportError,
    TransportTimeoutError,
)
from dcm_exporter.export import FailedInstance, InstanceRef, Outcome, OutcomeStatus

if TYPE_CHECKING:
    import ssl

    from pydicom import Dataset

    from dcm_exporter._dicom.services import CommitmentAssociation, EventReportServer, ReportOrigin
    from dcm_exporter.export import CancelToken
    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.queue.task import ExportTask

__all__ = [
    "FAILURE_REASONS",
    "STORAGE_COMMITMENT_PUSH_MODEL",
    "STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE",
    "ActionOutcome",
    "CommitmentResult",
    "CommittedInstance",
    "FailedCommitment",
    "StorageCommitmentSCU",
]

log = logging.getLogger("dcm_exporter.actions")

DEFAULT_TIMEOUT = 60.0

#: Failure Reason (0008,1197) values of PS3.4 J.3.3.1.1 and their meanings.
FAILURE_REASONS: Mapping[int, str] = {
    0x0110: "Processing failure",
    0x0112: "No such object instance",
    0x0213: "Resource limitation",
    0x0122: "Referenced SOP Class not supported",
    0x0119: "Class / Instance conflict",
    0x0131: "Duplicate transaction UID",
}


@attrs.frozen(kw_only=True)
class ActionOutcome(Outcome):
    """An :class:`~dcm_exporter.export.Outcome` that also carries per-instance results as JSON.

    The task manager stores ``result_json`` on the task (``ExportTask.result_json``).
    """

    result_json: str | None = None


@attrs.frozen(kw_only=True)
class CommittedInstance:
    """An instance the storage commitment SCP committed (an item of its Referenced SOP Sequence)."""

    sop_class_uid: str
    sop_instance_uid: str
    retrieve_ae_title: str | None = None


@attrs.frozen(kw_only=True)
class FailedCommitment:
    """An instance the SCP did not commit (an item of its Failed SOP Sequence), with the reason."""

    sop_class_uid: str
    sop_instance_uid: str
    failure_reason: int | None
    """Failure Reason (0008,1197); ``None`` when the report did not name the instance at all."""

    @property
    def reason(self) -> str:
        """The Failure Reason in words, e.g. ``0x0112 (No such object instance)``."""
        if self.failure_reason is None:
            return "not named in the N-EVENT-REPORT"
        meaning = FAILURE_REASONS.get(self.failure_reason)
        return f"0x{self.failure_reason:04X}" + (f" ({meaning})" if meaning else "")


@attrs.frozen(kw_only=True)
class CommitmentResult:
    """The result of one storage commitment request: per instance, committed or failed.

    Attributes:
        transaction_uid: Transaction UID (0008,1195) of the request.
        ae_title: The storage commitment SCP.
        event_type_id: 1 (all committed) or 2 (failures exist), as reported.
        committed: Instances the SCP committed.
        failed: Instances it did not commit, with the reason.
        same_association: Whether the report came on the association of the request.
    """

    transaction_uid: str
    ae_title: str
    event_type_id: int
    committed: tuple[CommittedInstance, ...] = ()
    failed: tuple[FailedCommitment, ...] = ()
    same_association: bool = False

    @property
    def status(self) -> OutcomeStatus:
        """COMPLETED (all committed), WARNING (some failed) or FAILED (none committed)."""
        if not self.failed:
            return OutcomeStatus.COMPLETED
        return OutcomeStatus.WARNING if self.committed else OutcomeStatus.FAILED

    def to_json(self) -> str:
        """The JSON text stored on the task."""
        return json.dumps(
            {
                "type": "StorageCommitment",
                "transaction_uid": self.transaction_uid,
                "ae_title": self.ae_title,
                "event_type_id": self.event_type_id,
                "same_association": self.same_association,
                "committed": [attrs.asdict(c) for c in self.committed],
                "failed": [attrs.asdict(f) for f in self.failed],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> CommitmentResult:
        """Read what :meth:`to_json` wrote.

        Raises:
            ValueError: not a storage commitment result.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("type") != "StorageCommitment":
            raise ValueError("not a storage commitment result")
        return cls(
            transaction_uid=data["transaction_uid"],
            ae_title=data["ae_title"],
            event_type_id=int(data["event_type_id"]),
            same_association=bool(data.get("same_association", False)),
            committed=tuple(CommittedInstance(**c) for c in data.get("committed", ())),
            failed=tuple(FailedCommitment(**f) for f in data.get("failed", ())),
        )

    @classmethod
    def from_task(cls, task: ExportTask) -> CommitmentResult | None:
        """The result recorded on a STGCMT task, or ``None`` when its last attempt got no report."""
        return None if task.result_json is None else cls.from_json(task.result_json)


def commitment_timeout(exporter: ExporterDescriptor, default: float | None) -> float:
    """Seconds to wait for the N-EVENT-REPORT: exporter property ``StgCmtTimeout`` (seconds or ISO-8601).

    Raises:
        ConfigurationError: the property is not a positive number of seconds or a duration.
    """
    raw = next((v for k, v in exporter.properties.items() if k.lower() == "stgcmttimeout"), None)
    if raw is None:
        return default or DEFAULT_TIMEOUT
    try:
        if raw.strip().upper().startswith("P"):
            from dcm_exporter.models.duration import parse_duration

            value = parse_duration(raw.strip()).total_seconds()
        else:
            value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"exporter {exporter.exporter_id}: StgCmtTimeout={raw!r} is neither seconds nor an ISO-8601 "
            "duration (e.g. 30 or PT30S)"
        ) from exc
    if value <= 0:
        raise ConfigurationError(f"exporter {exporter.exporter_id}: StgCmtTimeout={raw!r} must be positive")
    return value


def action_information(transaction_uid: str, instances: Iterable[InstanceRef]) -> Dataset:
    """The N-ACTION-RQ Action Information: Transaction UID and the Referenced SOP Sequence."""
    from pydicom import Dataset

    ds = Dataset()
    ds.TransactionUID = transaction_uid
    ds.ReferencedSOPSequence = [sop_reference(ref) for ref in instances]
    return ds


def parse_event_report(
    event_type_id: int,
    info: Dataset,
    *,
    ae_title: str,
    requested: Sequence[InstanceRef],
    same_association: bool,
) -> CommitmentResult:
    """Turn an N-EVENT-REPORT's Event Information into a :class:`CommitmentResult`.

    Requested instances named in neither sequence count as failed (reason ``None``); instances the
    report names that were not requested are ignored.
    """
    wanted = {ref.sop_instance_uid: ref for ref in requested}
    committed: dict[str, CommittedInstance] = {}
    failed: dict[str, FailedCommitment] = {}
    for item in getattr(info, "ReferencedSOPSequence", None) or ():
        uid = str(getattr(item, "ReferencedSOPInstanceUID", "") or "")
        if uid in wanted:
            retrieve = getattr(item, "RetrieveAETitle", None)
            committed[uid] = CommittedInstance(
                sop_class_uid=str(getattr(item, "ReferencedSOPClassUID", "") or wanted[uid].sop_class_uid),
                sop_instance_uid=uid,
                retrieve_ae_title=None if not retrieve else "\\".join(_values(retrieve)),
            )
    for item in getattr(info, "FailedSOPSequence", None) or ():
        uid = str(getattr(item, "ReferencedSOPInstanceUID", "") or "")
        if uid in wanted and uid not in committed:
            reason = getattr(item, "FailureReason", None)
            failed[uid] = FailedCommitment(
                sop_class_uid=str(getattr(item, "ReferencedSOPClassUID", "") or wanted[uid].sop_class_uid),
                sop_instance_uid=uid,
                failure_reason=None if reason is None else int(reason),
            )
    for uid, ref in wanted.items():
        if uid not in committed and uid not in failed:
            failed[uid] = FailedCommitment(sop_class_uid=ref.sop_class_uid, sop_instance_uid=uid, failure_reason=None)
    order = list(wanted)
    return CommitmentResult(
        transaction_uid=str(info.TransactionUID),
        ae_title=ae_title,
        event_type_id=event_type_id,
        committed=tuple(committed[u] for u in order if u in committed),
        failed=tuple(failed[u] for u in order if u in failed),
        same_association=same_association,
    )


def _values(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return [str(value)]


def outcome_of(result: CommitmentResult, entity: str) -> ActionOutcome:
    """The task outcome of a commitment result (status, counts, failures, message, JSON)."""
    message = f"Storage commitment of {entity} by {result.ae_title} - committed:{len(result.committed)}"
    if result.failed:
        message += f", failed:{len(result.failed)}"
    return ActionOutcome(
        status=result.status,
        message=message,
        completed=len(result.committed),
        failed=len(result.failed),
        failures=tuple(
            FailedInstance(sop_instance_uid=f.sop_instance_uid, reason=f.reason, status_code=f.failure_reason)
            for f in result.failed
        ),
        destination=result.ae_title,
        entity=entity,
        result_json=result.to_json(),
    )


#: How many Transaction UIDs of requests that gave up are remembered, so that their late reports are answered
#: Success (an older one is refused as never issued; each takes about 100 bytes).
GAVE_UP_KEPT = 4096

#: The largest N-EVENT-REPORT data set taken when no request of the reporter waits (a late report), and the
#: part of any report that is not its instance items: the Transaction UID and a few optional attributes.
REPORT_BYTES_BASE = 64 << 10
#: What one instance of a request may add to its report: a Referenced or Failed SOP Sequence item with two UIDs
#: of up to 64 characters, a Failure Reason and the optional per-item attributes need under 400 bytes.
REPORT_BYTES_PER_INSTANCE = 512


def report_limit(instances: int) -> int:
    """The largest report data set taken for a request of ``instances`` instances: a report is read into
    memory whole and decoded by pydicom, at about 1.6 KB per sequence item, so its size is bounded by what was
    asked, not by the 64 MiB any DICOM message may have."""
    return REPORT_BYTES_BASE + REPORT_BYTES_PER_INSTANCE * instances


@attrs.define
class _Pending:
    ae_title: str  # the storage commitment SCP asked: the only AE whose report counts
    calling_ae_title: str  # our AE title: the one the report must be addressed to
    addresses: frozenset[str]  # the SCP's host as IP addresses (empty: unknown, not checked)
    requested: tuple[InstanceRef, ...]
    done: threading.Event = attrs.field(factory=threading.Event)
    result: CommitmentResult | None = None


class StorageCommitmentSCU:
    """Requests storage commitment and collects the reports (Storage Commitment SCU role).

    One instance serves every STGCMT task of an :class:`~dcm_exporter.exporter.Exporter`: it keeps an
    embedded SCP per local listening port (started on first use, stopped by :meth:`close`) that accepts
    N-EVENT-REPORTs on new associations and hands each to the request waiting for its Transaction UID.
    Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        # the Transaction UIDs of requests that gave up before their report came (the newest ones): a late
        # report for one of them is answered Success, one for a transaction never issued here is refused
        self._gave_up: OrderedDict[str, None] = OrderedDict()
        self._servers: dict[tuple[str, int], EventReportServer] = {}
        self._closed = False

    # --- embedded SCP ------------------------------------------------------------------------------

    def listen(
        self,
        host: str,
        port: int,
        ae_title: str,
        *,
        reporter: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        associate_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        """Start the embedded SCP on ``host:port`` for ``ae_title`` (no-op when it already runs), and accept
        associations from ``reporter`` (a storage commitment SCP) to ``ae_title`` on it.

        ``ssl_context`` (a server context): the SCP speaks TLS only. ``associate_timeout`` and ``idle_timeout``
        (seconds; the listening connection's ``dcmAARQTimeout`` and ``dcmIdleTimeout``) bound the peers that
        connect; the SCP's defaults when ``None``. All are taken when the SCP starts: an SCP already running on
        ``host:port`` keeps the settings it started with.

        Raises:
            ConnectionFailedError: the port cannot be bound.
        """
        from dcm_exporter._dicom.services import EventReportServer

        with self._lock:
            if self._closed:
                raise ConfigurationError("this StorageCommitmentSCU is closed")
            server = self._servers.get((host, port))
            started = server is None
            if server is None:
                server = EventReportServer(
                    host, port, ae_title, STORAGE_COMMITMENT_PUSH_MODEL, self._on_event_report,
                    idle_timeout=idle_timeout, associate_timeout=associate_timeout, ssl_context=ssl_context,
                    max_report_bytes=self._report_limit,
                )
                self._servers[(host, port)] = server
            if reporter is not None:
                server.allow(reporter, ae_title)
        if started:
            log.info("storage commitment SCP for AE %s listening on %s:%d%s", ae_title, host, port,
                     " (TLS)" if ssl_context is not None else "")

    @property
    def listening(self) -> list[tuple[str, int]]:
        """The addresses the embedded SCPs listen on."""
        with self._lock:
            return list(self._servers)

    def _report_limit(self, origin: ReportOrigin) -> int:
        """The largest report data set taken from ``origin``: :func:`report_limit` of the largest request that
        ``origin`` may report on (its AE title, our AE title, its host), else of none."""
        with self._lock:
            sizes = [len(p.requested) for p in self._pending.values() if _not_from(p, origin) is None]
        return report_limit(max(sizes, default=0))

    def _on_event_report(
        self, origin: ReportOrigin, sop_class_uid: str, event_type: int, info: Dataset | None
    ) -> int:
        """Hand a report to the request waiting for its Transaction UID; the status to answer it with.

        A report counts only when it comes from the SCP that request asked, addressed to the AE title that
        asked (and, on a new association, from the SCP's host); one from anywhere else, or without a decodable
        Transaction UID, is answered 0x0110 (Processing failure) and changes nothing; so is a report for a
        transaction never issued here (forged or misrouted: the sender should learn it went nowhere). A late
        report, for a transaction whose request gave up (one of the newest ``GAVE_UP_KEPT``), changes
        nothing but is answered Success, as dcm4chee-arc answers a report it has no result for: the SCP has
        delivered it, and a failure would only make it send again what no one will read.
        """
        if sop_class_uid != STORAGE_COMMITMENT_PUSH_MODEL:
            return 0x0122  # SOP class not supported
        try:
            transaction_uid = str(info.TransactionUID) if info is not None else None
        except (AttributeError, ValueError):
            transaction_uid = None
        if info is None or not transaction_uid:
            log.warning("storage commitment report from %s without a decodable Transaction UID (event type %d)",
                        origin, event_type)
            return 0x0110
        with self._lock:
            pending = self._pending.get(transaction_uid)
            late = pending is None and transaction_uid in self._gave_up
        if pending is None and late:
            log.warning("storage commitment report from %s for expired transaction %s (event type %d): its "
                        "request gave up; answered Success, not recorded", origin, transaction_uid, event_type)
            return 0x0000
        if pending is None:
            log.warning("storage commitment report from %s for unknown transaction %s (event type %d), never "
                        "issued here: refused (0x0110), not recorded", origin, transaction_uid, event_type)
            return 0x0110
        why = _not_from(pending, origin)
        if why:
            log.warning("storage commitment report for transaction %s refused: %s", transaction_uid, why)
            return 0x0110
        pending.result = parse_event_report(
            event_type,
            info,
            ae_title=pending.ae_title,
            requested=pending.requested,
            same_association=origin.same_association,
        )
        pending.done.set()
        return 0x0000

    # --- requests ----------------------------------------------------------------------------------

    def request(
        self,
        *,
        configuration: Configuration,
        exporter: ExporterDescriptor,
        ae_title: str,
        calling_ae_title: str,
        instances: Sequence[InstanceRef],
        cancel: CancelToken | None = None,
        timeout: float | None = None,
    ) -> CommitmentResult:
        """Request commitment of ``instances`` from ``ae_title`` and wait for the report.

        Raises:
            UnknownAEError, AENotInstalledError, ConfigurationError: the SCP cannot be resolved.
            ConnectionFailedError, AssociationRejectedError: no association, or none of the calling AE's
                listening connections can be bound (one that cannot is skipped with a warning).
            TransportTimeoutError: no N-ACTION-RSP, or no N-EVENT-REPORT within the timeout.
            TransportError: the N-ACTION-RSP was neither Success nor a warning.
            ExportCanceledError: ``cancel`` was set while waiting.
        """
        from pydicom.uid import generate_uid

        from dcm_exporter._dicom.destination import listeners_of, resolve_destination
        from dcm_exporter._dicom.services import CommitmentAssociation

        destination = resolve_destination(configuration, ae_title, exporter)
        listeners = listeners_of(configuration, calling_ae_title, exporter)
        unbound: list[ConnectionFailedError] = []
        for listener in listeners:
            try:
                self.listen(listener.host, listener.port, calling_ae_title, reporter=ae_title,
                            ssl_context=listener.ssl_context, associate_timeout=listener.associate_timeout,
                            idle_timeout=listener.idle_timeout)
            except ConnectionFailedError as exc:
                # reports can still come on the AE's other connections; with none, the attempt fails below
                log.warning("%s", exc)
                unbound.append(exc)
        if listeners and len(unbound) == len(listeners):
            raise unbound[0]
        if not listeners:
            log.info(
                "AE %s has no listening connection: storage commitment reports from %s are accepted "
                "on the request's association only",
                calling_ae_title,
                ae_title,
            )
        wait = timeout if timeout is not None else commitment_timeout(exporter, destination.response_timeout)
        # ask about the UIDs the destination received: attribute coercion (deidentify:) may have remapped them
        from dcm_exporter.coercion import instances_as_sent

        instances = instances_as_sent(configuration, exporter, instances)
        transaction_uid = generate_uid(prefix="2.25.")
        pending = _Pending(
            ae_title=ae_title,
            calling_ae_title=calling_ae_title,
            addresses=_addresses_of(destination.host),
            requested=tuple(instances),
        )
        with self._lock:
            self._pending[transaction_uid] = pending
        try:
            assoc = CommitmentAssociation(destination, calling_ae_title, STORAGE_COMMITMENT_PUSH_MODEL)
            try:
                code, comment = assoc.n_action(
                    STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE, 1, action_information(transaction_uid, instances)
                )
                if not is_performed(code):
                    raise TransportError(
                        f"storage commitment request refused by {destination.where}: "
                        + status_text("N-ACTION", code, comment),
                        destination=ae_title,
                    )
                if code != 0x0000:
                    log.warning("storage commitment request to %s accepted with a warning: %s",
                                ae_title, status_text("N-ACTION", code, comment))
                log.info(
                    "storage commitment of %d instance(s) requested from %s, transaction %s",
                    len(instances),
                    ae_title,
                    transaction_uid,
                )
                self._wait(pending, wait, cancel, ae_title, transaction_uid, assoc)
            finally:
                assoc.close()
        finally:
            with self._lock:
                self._pending.pop(transaction_uid, None)
                if pending.result is None:
                    self._gave_up[transaction_uid] = None
                    while len(self._gave_up) > GAVE_UP_KEPT:
                        self._gave_up.popitem(last=False)
        assert pending.result is not None
        return pending.result

    def _wait(
        self,
        pending: _Pending,
        timeout: float,
        cancel: CancelToken | None,
        ae_title: str,
        transaction_uid: str,
        assoc: CommitmentAssociation,
    ) -> None:
        """Wait for the report: answer those that come on the request's association while it is open, watch
        for the embedded SCP's, the cancel token and the deadline."""
        deadline = time.monotonic() + timeout
        while not pending.done.is_set():
            if cancel is not None and cancel.cancelled:
                raise ExportCanceledError(f"storage commitment request to {ae_title} canceled")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransportTimeoutError(
                    f"no N-EVENT-REPORT from AE {ae_title} for transaction {transaction_uid} within {timeout:g} s",
                    destination=ae_title,
                )
            step = min(0.1, left)
            if assoc.is_open:
                assoc.serve(self._on_event_report, step, max_dataset=report_limit(len(pending.requested)))
            else:
                pending.done.wait(step)

    def close(self) -> None:
        """Stop the embedded SCPs. Idempotent."""
        with self._lock:
            self._closed = True
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.shutdown()


def _not_from(pending: _Pending, origin: ReportOrigin) -> str | None:
    """Why a report for ``pending`` does not come from where it must, or ``None`` when it does."""
    if origin.calling_ae_title != pending.ae_title:
        return f"it comes from {origin}, the request went to AE {pending.ae_title}"
    if origin.called_ae_title != pending.calling_ae_title:
        return f"it is addressed to AE {origin.called_ae_title}, the request came from AE {pending.calling_ae_title}"
    if origin.address is not None and pending.addresses and _plain(origin.address) not in pending.addresses:
        return f"it comes from {origin}, AE {pending.ae_title} is at {', '.join(sorted(pending.addresses))}"
    return None


def _plain(address: str) -> str:
    return address.removeprefix("::ffff:")


def _addresses_of(host: str) -> frozenset[str]:
    """The IP addresses of ``host`` (empty when it does not resolve: the host is then not checked)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        log.info("host %s of the storage commitment SCP does not resolve: reports are not checked by host", host)
        return frozenset()
    return frozenset(_plain(str(info[4][0])) for info in infos)
