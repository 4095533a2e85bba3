"""The ``dicom:`` transport: C-STORE of a task's instances to a remote AE (``dcmURI: dicom:<AET>``).

What it does, in the order of dcm4chee-arc's DICOM exporter:

1. resolves the destination with :meth:`Configuration.remote_ae` (host, port, TLS, timeouts, transfer
   capabilities);
2. counts as *failed* every instance whose SOP class the destination's SCP transfer capabilities do not
   accept (when it has any);
3. picks the calling AE title: the exporter's ``dicomAETitle``, or with ``dcmExportAsSourceAE`` the AE
   title that sent the instance;
4. proposes, per SOP class, one presentation context per stored transfer syntax plus Explicit and
   Implicit VR Little Endian (not for MPEG/HEVC video), intersected with the destination's transfer
   capabilities; more than 128 contexts are split over several associations;
5. sends every instance: the data set bytes straight from the file when the stored transfer syntax was
   accepted (no decoding), otherwise transcoded with pydicom (decompressed, re-encoded); an instance that
   cannot be transcoded fails alone;
6. tallies C-STORE statuses by PS3.7 Annex C (:mod:`dcm_exporter._dicom.status`): 0x0000 completed; every
   0xBxxx code, and 0x0001 / 0x0107 / 0x0116, warning; anything else failed. For every status a C-STORE SCP
   may send, upstream's ``status & 0xB000 == 0xB000`` rule says the same (see deviations.md). An abort or a
   dropped connection after something was sent interrupts the export (FAILED, retried by the queue; not
   upstream, which fails the remaining instances and ends WARNING: see deviations.md) with the unconfirmed
   instances as ``remaining``; cancel stops after the instance in flight, releases the association and
   reports the remaining count.

The DICOM networking is the private package :mod:`dcm_exporter._dicom` (association, pool, TLS,
transcoding, the Part 10 walker): pynetdicom's PDU codec negotiates the association, and the C-STORE
requests and responses are framed directly on the socket, with ``TCP_NODELAY``, in the thread that sends.
Associations are pooled per destination and calling AE and reused across tasks until idle for
``dcmIdleTimeout`` (default 10 s); up to ``dcmMultipleStoreAssociations`` (the exporter property below, else
the attribute of the exporter's AE or device, default 1) run in parallel.

Exporter properties (``dcmProperty``) read by this transport:

``MultipleStoreAssociations``
    ``n`` or ``AET:n[,AET:n...]``: parallel associations per destination; overrides the archive's
    ``dcmMultipleStoreAssociations`` (AE, then device; default 1).
``TLSCACertificates``, ``TLSCertificate``, ``TLSKey``
    PEM files: the CAs that sign the peer (default: the system trust store), our certificate and key.
``Priority``
    C-STORE priority: 0 medium (default), 1 high, 2 low.

pynetdicom and pydicom are imported only when an association is opened.
"""

from __future__ import annotations

import collections
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, BinaryIO

import attrs

from dcm_exporter._dicom.association import (
    AcceptedContext,
    Association,
    PreparedStore,
    RequestedContext,
    transport_error,
)
from dcm_exporter._dicom.destination import (
    DEFAULT_IDLE_TIMEOUT,
    Destination,
    destination_of,
    exporter_property,
    seconds,
    tls_context_of,
)
from dcm_exporter._dicom.errors import AssociationFailure, FramingError, TimeoutFailure
from dcm_exporter._dicom.part10 import check_dataset_framing, read_part10_meta
from dcm_exporter._dicom.pool import AssociationPool, PoolKey
from dcm_exporter._dicom.status import StatusCategory, status_category, status_text
from dcm_exporter._dicom.transcode import TranscodeError, is_video, transcode
from dcm_exporter._dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION
from dcm_exporter._imports import PYNETDICOM, require
from dcm_exporter.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InstanceMissingError,
    SourceError,
    TransportError,
    TransportTimeoutError,
)
from dcm_exporter.export import ExportRequest, InstanceRef, Outcome, OutcomeBuilder
from dcm_exporter.transports.base import BaseTransport

if TYPE_CHECKING:
    from dcm_exporter.coercion import CoercionPlan
    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.models.configuration import RemoteAE

__all__ = ["DicomTransport", "EchoResult", "create_transport", "verify"]

LOG = logging.getLogger("dcm_exporter.transports.dicom")

MAX_CONTEXTS = 128
DEFAULT_CALLING_AE_TITLE = "DCMEXPORTER"

_Proposal = frozenset[tuple[str, tuple[str, ...]]]


# --- planning ------------------------------------------------------------------------------------


@attrs.frozen
class _Group:
    """Instances sent on the same association(s): one calling AE and at most 128 contexts."""

    calling_ae_title: str
    contexts: tuple[RequestedContext, ...]
    instances: tuple[InstanceRef, ...]

    @property
    def proposal(self) -> _Proposal:
        return frozenset((c.abstract_syntax, c.transfer_syntaxes) for c in self.contexts)


def propose_transfer_syntaxes(stored: Iterable[str], accepted: Sequence[str] | None) -> list[str]:
    """The transfer syntaxes to propose for one SOP class, each in its own presentation context.

    The stored ones first, then Explicit and Implicit VR Little Endian (unless every stored syntax is
    a video one), intersected with the destination's accepted syntaxes (``None`` or ``"*"`` = any).

    >>> propose_transfer_syntaxes(["1.2.840.10008.1.2.4.90"], None)
    ['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2']
    >>> propose_transfer_syntaxes(["1.2.840.10008.1.2.4.90"], ["1.2.840.10008.1.2"])
    ['1.2.840.10008.1.2']
    """
    stored = list(dict.fromkeys(stored))
    out = list(stored)
    if not stored or not all(is_video(ts) for ts in stored):
        for ts in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
            if ts not in out:
                out.append(ts)
    if accepted is not None and "*" not in accepted:
        out = [ts for ts in out if ts in accepted]
    return out


def plan_groups(
    instances: Sequence[tuple[InstanceRef, str]],
    accepted: Mapping[str, Sequence[str] | None],
    *,
    max_contexts: int = MAX_CONTEXTS,
) -> list[_Group]:
    """Group ``(instance, calling AE)`` pairs into associations of at most ``max_contexts`` contexts.

    ``accepted`` maps each SOP class to the destination's accepted transfer syntaxes (``None`` = any);
    instances of SOP classes without any transfer syntax to propose must be filtered out before.
    """
    by_ae: dict[str, dict[str, list[InstanceRef]]] = {}
    for ref, ae in instances:
        by_ae.setdefault(ae, {}).setdefault(ref.sop_class_uid, []).append(ref)
    groups: list[_Group] = []
    for ae, classes in by_ae.items():
        contexts: list[RequestedContext] = []
        members: list[InstanceRef] = []
        for sop_class, refs in classes.items():
            syntaxes = propose_transfer_syntaxes(
                (r.transfer_syntax_uid for r in refs), accepted.get(sop_class)
            )
            if len(syntaxes) > max_contexts:
                syntaxes = syntaxes[:max_contexts]
            if contexts and len(contexts) + len(syntaxes) > max_contexts:
                groups.append(_Group(ae, tuple(contexts), tuple(members)))
                contexts, members = [], []
            for ts in syntaxes:
                contexts.append(RequestedContext(2 * len(contexts) + 1, sop_class, (ts,)))
            members.extend(refs)
        if contexts:
            order = {id(r): i for i, (r, _) in enumerate(instances)}
            groups.append(_Group(ae, tuple(contexts), tuple(sorted(members, key=lambda r: order[id(r)]))))
    return groups


# --- results -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EchoResult:
    """The answer to a C-ECHO: the peer, its status and the round trip (association included)."""

    ae_title: str
    host: str
    port: int
    status: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the C-ECHO status was Success (0x0000)."""
        return self.status == 0


@attrs.frozen
class _GroupSend:
    """What the associations sending one group share: the instances left, the tally, the failures."""

    key: PoolKey
    destination: Destination
    group: _Group
    queue: collections.deque[InstanceRef]
    request: ExportRequest
    builder: OutcomeBuilder
    aborts: list[AssociationFailure]
    sent_any: list[bool]


# --- the transport -------------------------------------------------------------------------------


class DicomTransport(BaseTransport):
    """C-STORE to one remote AE (``dicom:<AET>``), with pooled and parallel associations.

    Args:
        exporter: the exporter descriptor; its URI names the destination AE.
        configuration: the configuration to resolve the destination from when a request carries none.
        associations: parallel associations per destination (overrides the
            ``MultipleStoreAssociations`` property).
        ssl_context: the TLS context for TLS connections (default: built from the connection's cipher
            suites and protocols and the ``TLS*`` exporter properties).
        idle_timeout: seconds an association may stay idle in the pool (default: the connection's
            ``dcmIdleTimeout``, else 10 s).

    Example:
        >>> # transport = create_transport(exporter, configuration)
        >>> # outcome = transport.send(request)   # Outcome(status=COMPLETED, ...)
    """

    def __init__(
        self,
        exporter: ExporterDescriptor,
        configuration: Configuration,
        *,
        associations: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        require(*PYNETDICOM)  # here, under the Exporter's lock, not in the first sends of parallel workers
        self.exporter = exporter
        self.configuration = configuration
        self.ae_title = exporter.destination
        if not self.ae_title:
            raise ConfigurationError(
                f"exporter {exporter.exporter_id}: dcmURI {exporter.uri!r} names no AE title"
            )
        self._associations = associations
        self._ssl_context = ssl_context
        self._idle_override = idle_timeout
        self._idle_by_key: dict[PoolKey, float] = {}
        self._pool = AssociationPool(lambda key: self._idle_by_key.get(key, DEFAULT_IDLE_TIMEOUT))
        self._ssl_cache: dict[tuple[object, ...], ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._coercion_plans: dict[int, CoercionPlan] = {}  # id(request) -> plan, while the request is sent

    # --- configuration ---------------------------------------------------------------------------

    def _property(self, name: str) -> str | None:
        return exporter_property(self.exporter, name)

    def parallel_associations(self) -> int:
        """How many associations to open in parallel for this destination.

        From ``dcmMultipleStoreAssociations`` as dcm4chee-arc keeps it (``n`` or ``<AET>:n`` values, the
        destination's own value first): the exporter's ``MultipleStoreAssociations`` property when set, else
        the attribute of the exporter's local AE (``dcmArchiveNetworkAE``), else of its device
        (``dcmArchiveDevice``); 1 when none says otherwise.
        """
        if self._associations is not None:
            return max(1, self._associations)
        values, where = self._multiple_store_associations()
        if not values:
            return 1
        generic: str | None = None
        specific: str | None = None
        for value in values:
            part = value.strip()
            if ":" in part:
                aet, _, num = part.rpartition(":")
                if aet == self.ae_title:
                    specific = num.strip()
            elif part:
                generic = part
        chosen = specific if specific is not None else generic
        if chosen is None:
            return 1
        try:
            count = int(chosen)
        except ValueError:
            raise ConfigurationError(f"{where}={', '.join(values)!r} is not n or AET:n") from None
        if count < 1:
            raise ConfigurationError(f"{where} must be >= 1, got {', '.join(values)!r}")
        return count

    def _multiple_store_associations(self) -> tuple[list[str], str]:
        """The ``dcmMultipleStoreAssociations`` values that apply, and where they come from (for messages)."""
        raw = self._property("MultipleStoreAssociations")
        if raw:
            return raw.split(","), f"exporter {self.exporter.exporter_id}: MultipleStoreAssociations"
        try:
            device = self.configuration.exporter_device(self.exporter.exporter_id)
        except ConfigurationError:  # an exporter built without its device: nothing more to look at
            return [], ""
        attribute = "dcmMultipleStoreAssociations"
        ae = next((a for a in device.application_entities if a.ae_title == self.exporter.ae_title), None)
        if ae is not None and ae.extra.get(attribute):
            return [str(v) for v in ae.extra[attribute]], f"AE {ae.ae_title}: {attribute}"
        if device.extra.get(attribute):
            return [str(v) for v in device.extra[attribute]], f"device {device.device_name}: {attribute}"
        return [], ""

    def _tls_context(self, remote: RemoteAE) -> ssl.SSLContext | None:
        if not remote.tls:
            return None
        if self._ssl_context is not None:
            return self._ssl_context
        ca, cert, key = (self._property(n) for n in ("TLSCACertificates", "TLSCertificate", "TLSKey"))
        cache_key = (remote.ae_title, remote.tls_cipher_suites, remote.tls_protocols, ca, cert, key)
        with self._lock:
            ctx = self._ssl_cache.get(cache_key)
            if ctx is None:
                ctx = tls_context_of(remote, self.exporter)
                self._ssl_cache[cache_key] = ctx
        return ctx

    def destination_for(self, configuration: Configuration | None = None) -> Destination:
        """Resolve the destination AE to host, port, TLS context and timeouts."""
        remote = (configuration or self.configuration).remote_ae(self.ae_title)
        return destination_of(remote, self._tls_context(remote))

    # --- sending ---------------------------------------------------------------------------------

    def send(self, request: ExportRequest) -> Outcome:
        """C-STORE the request's instances to the destination AE.

        Raises:
            UnknownAEError, AENotInstalledError, ConfigurationError: the destination cannot be resolved,
                or no calling AE title is configured.
            ConnectionFailedError, AssociationRejectedError, TransportTimeoutError: no association could
                be established (retryable), naming the AE, host and port.
        """
        configuration = request.configuration or self.configuration
        remote = configuration.remote_ae(self.ae_title)
        destination = destination_of(remote, self._tls_context(remote))
        idle = (
            self._idle_override
            if self._idle_override is not None
            else seconds(remote.idle_timeout, DEFAULT_IDLE_TIMEOUT)
        )
        builder = OutcomeBuilder.for_request(request, self.ae_title)
        if not request.instances:
            return Outcome.warning_nothing_found(
                request.study_uid, request.series_uid, request.sop_instance_uid, destination=self.ae_title
            )

        # --- attribute coercion (dcm_exporter.coercion): the rules for this exporter and destination ---
        plan = _coercion_plan(configuration, request, self.ae_title, destination.host)
        # a de-identified copy does not name the device that sent the original (dcmExportAsSourceAE)
        as_source = plan is None or not plan.hides_device_identity
        # 2. SOP classes the destination does not accept; 3. calling AE title
        accepted: dict[str, Sequence[str] | None] = {}
        todo: list[tuple[InstanceRef, str]] = []
        for ref in request.instances:
            if ref.sop_class_uid not in accepted:
                accepted[ref.sop_class_uid] = remote.accepted_transfer_syntaxes(ref.sop_class_uid)
            syntaxes = propose_transfer_syntaxes([ref.transfer_syntax_uid], accepted[ref.sop_class_uid])
            if not syntaxes:
                builder.failed(ref, _not_accepted_reason(self.ae_title, ref, accepted[ref.sop_class_uid]))
                continue
            todo.append((ref, self._calling_ae(request, ref, as_source=as_source)))
        groups = plan_groups(todo, accepted)
        # an instance whose own transfer syntax is not accepted may still be in its group: it is
        # transcoded if the peer accepts an uncompressed syntax for its SOP class
        parallel = self.parallel_associations()
        remaining = 0
        interrupted: str | None = None
        sent_any = [False]
        if plan is not None:
            self._coercion_plans[id(request)] = plan
        try:
            remaining, interrupted = self._send_groups(
                groups, request, destination, builder, idle, parallel, sent_any
            )
        finally:
            self._coercion_plans.pop(id(request), None)
        return builder.build(remaining=remaining, interrupted=interrupted)

    def _send_groups(
        self,
        groups: list[_Group],
        request: ExportRequest,
        destination: Destination,
        builder: OutcomeBuilder,
        idle: float,
        parallel: int,
        sent_any: list[bool],
    ) -> tuple[int, str | None]:
        remaining = 0
        for index, group in enumerate(groups):
            if request.cancel.cancelled:
                remaining += sum(len(g.instances) for g in groups[index:])
                break
            key = PoolKey(
                destination.host,
                destination.port,
                destination.ssl_context is not None,
                destination.ae_title,
                group.calling_ae_title,
            )
            self._idle_by_key[key] = idle
            left, interrupted = self._send_group(key, destination, group, request, builder, parallel, sent_any)
            remaining += left
            if interrupted is not None:
                return remaining + sum(len(g.instances) for g in groups[index + 1:]), interrupted
        return remaining, None

    def _calling_ae(self, request: ExportRequest, ref: InstanceRef, *, as_source: bool = True) -> str:
        if self.exporter.export_as_source_ae:
            if as_source and ref.source_ae_title:
                return ref.source_ae_title
            if not as_source:  # the request's calling AE title may be a source's: the exporter's own
                if not self.exporter.ae_title:
                    raise ConfigurationError(
                        f"exporter {self.exporter.exporter_id} has no dicomAETitle: a de-identifying export does "
                        "not call as the source AE (dcmExportAsSourceAE), so it needs one"
                    )
                return self.exporter.ae_title
        title = request.calling_ae_title or self.exporter.ae_title
        if not title:
            raise ConfigurationError(
                f"exporter {self.exporter.exporter_id} has no dicomAETitle: set the calling AE title "
                "of the export (upstream fails with issue #1181 here)"
            )
        return title

    def _open(self, key: PoolKey, destination: Destination, group: _Group) -> tuple[Association, bool]:
        """An association for ``group``: a pooled one when it fits, else a new one. (assoc, reused)."""
        pooled = self._pool.acquire(key, group.proposal)
        if pooled is not None:
            return pooled[0], True
        # the idle associations to this peer lack a context this group needs: release them before
        # opening another one, or a peer serving one association at a time would not answer until
        # they idle out
        self._pool.discard(key)
        try:
            return Association.open(destination, group.calling_ae_title, group.contexts), False
        except AssociationFailure as exc:
            raise transport_error(exc, destination, group.calling_ae_title) from exc

    def _send_group(
        self,
        key: PoolKey,
        destination: Destination,
        group: _Group,
        request: ExportRequest,
        builder: OutcomeBuilder,
        parallel: int,
        sent_any: list[bool],
    ) -> tuple[int, str | None]:
        """Send one group's instances on up to ``parallel`` associations; return how many remain (canceled,
        or not confirmed because the connection broke) and, when it broke, why."""
        queue: collections.deque[InstanceRef] = collections.deque(group.instances)
        first, reused = self._open(key, destination, group)
        aborts: list[AssociationFailure] = []
        job = _GroupSend(key, destination, group, queue, request, builder, aborts, sent_any)
        workers: list[threading.Thread] = []
        extra = min(parallel, len(queue)) - 1
        for n in range(extra):
            t = threading.Thread(
                target=self._extra_worker,
                args=(job,),
                name=f"dcm_exporter-dicom-{self.ae_title}-{n + 2}",
                daemon=True,
            )
            t.start()
            workers.append(t)
        try:
            self._work(first, reused, job, parallel)
        finally:
            for t in workers:
                t.join()
        if request.cancel.cancelled:
            return len(queue), None
        if not queue:
            return 0, None
        # every association of the group broke: what is left was not confirmed
        reason = _abort_reason(aborts[-1], destination) if aborts else "association closed"
        if not sent_any[0] and aborts:
            # nothing got through at all: the export could not be performed, let the queue retry it
            error = aborts[-1]
            cls = TransportTimeoutError if isinstance(error, TimeoutFailure) else ConnectionFailedError
            raise cls(f"Export to {reason}", destination=self.ae_title) from error
        # Not upstream (deviations.md): dcm4chee-arc counts them failed and ends WARNING, never retried; the
        # export is interrupted instead (FAILED, retried by the queue, which sends them again)
        return len(queue), reason

    def _extra_worker(self, job: _GroupSend) -> None:
        try:
            assoc, reused = self._open(job.key, job.destination, job.group)
        except TransportError as exc:
            LOG.warning("additional association to %s not opened: %s", job.destination, exc)
            return
        self._work(assoc, reused, job, self.parallel_associations())

    def _work(self, assoc: Association, reused: bool, job: _GroupSend, pool_limit: int) -> None:
        """The send loop of one association: send i, prepare i+1, then wait for the response to i."""
        key, destination, group, queue = job.key, job.destination, job.group, job.queue
        request, builder, aborts, sent_any = job.request, job.builder, job.aborts, job.sent_any
        priority = _priority(self._property("Priority"))
        plan = self._coercion_plans.get(id(request))
        in_flight: tuple[InstanceRef, PreparedStore] | None = None
        ahead: tuple[InstanceRef, PreparedStore] | None = None
        fresh_ops = 0

        def next_prepared() -> tuple[InstanceRef, PreparedStore] | None:
            while not request.cancel.cancelled:
                try:
                    ref = queue.popleft()
                except IndexError:
                    return None
                prepared = _prepare(assoc, ref, builder, priority, plan)
                if prepared is not None:
                    return ref, prepared
            return None

        try:
            while True:
                if request.cancel.cancelled:
                    break
                try:
                    if ahead is None:
                        ahead = next_prepared()
                    if ahead is None:
                        break
                    in_flight, ahead = ahead, None
                    assoc.send_store(in_flight[1])
                    if not request.cancel.cancelled:
                        ahead = next_prepared()
                    status, comment, other = assoc.receive_store_response(in_flight[1])
                except AssociationFailure as exc:
                    if reused and fresh_ops == 0:
                        # a pooled association the peer had closed meanwhile: start over on a new one
                        LOG.debug("pooled association %r unusable (%s); opening a new one", assoc, exc)
                        assoc.abort()
                        for item in (ahead, in_flight):
                            if item is not None:
                                queue.appendleft(item[0])
                        in_flight = ahead = None
                        try:
                            assoc = Association.open(destination, group.calling_ae_title, group.contexts)
                        except AssociationFailure as exc2:
                            raise transport_error(exc2, destination, group.calling_ae_title) from exc2
                        reused = False
                        continue
                    aborts.append(exc)
                    assoc.abort()
                    # not confirmed: back to the queue, for another association of the group or the retry
                    for item in (ahead, in_flight):
                        if item is not None:
                            queue.appendleft(item[0])
                    in_flight = ahead = None
                    return
                fresh_ops += 1
                ref, in_flight_uid = in_flight[0], in_flight[1].sop_instance_uid
                in_flight = None
                sent_any[0] = True
                category = status_category(status)
                if other is not None:
                    # the peer confirmed some other instance: this one is not known to be stored
                    builder.failed(
                        ref,
                        f"C-STORE-RSP (status 0x{status:04X}) names SOP instance {other}, "
                        f"not {in_flight_uid} that was sent",
                        None if category is StatusCategory.SUCCESS else status,
                    )
                elif category is StatusCategory.SUCCESS:
                    builder.completed(ref, status)
                elif category is StatusCategory.WARNING:
                    builder.warning(ref, status, status_text("C-STORE", status, comment))
                else:
                    builder.failed(ref, status_text("C-STORE", status, comment), status)
            if ahead is not None:  # canceled with one prepared but not sent
                queue.appendleft(ahead[0])
                ahead = None
            if request.cancel.cancelled:
                assoc.release()
            else:
                self._pool.put(key, assoc, group.proposal, limit=pool_limit)
        except BaseException:
            assoc.abort()
            raise

    # --- lifecycle -------------------------------------------------------------------------------

    def verify(self, calling_ae_title: str | None = None) -> EchoResult:
        """C-ECHO the destination AE (see :func:`verify`)."""
        remote = self.configuration.remote_ae(self.ae_title)
        return _echo(
            destination_of(remote, self._tls_context(remote)),
            calling_ae_title or self.exporter.ae_title or DEFAULT_CALLING_AE_TITLE,
        )

    @property
    def idle_associations(self) -> int:
        """How many associations wait in the pool."""
        return len(self._pool)

    def close(self) -> None:
        """Release every pooled association. Idempotent."""
        self._pool.close()
        super().close()


# --- helpers -------------------------------------------------------------------------------------


def _priority(value: str | None) -> int:
    if value is None:
        return 0
    names = {"medium": 0, "high": 1, "low": 2}
    if value.lower() in names:
        return names[value.lower()]
    if value in ("0", "1", "2"):
        return int(value)
    raise ConfigurationError(f"exporter property Priority={value!r}: use 0 (medium), 1 (high) or 2 (low)")


def _not_accepted_reason(aet: str, ref: InstanceRef, accepted: Sequence[str] | None) -> str:
    if not accepted:
        return f"SOP class {ref.sop_class_uid} not accepted by AE {aet} (its transfer capabilities)"
    return (
        f"no transfer syntax of AE {aet} for SOP class {ref.sop_class_uid} fits the stored "
        f"{ref.transfer_syntax_uid} (accepted: {', '.join(accepted)})"
    )


def _abort_reason(exc: AssociationFailure, destination: Destination) -> str:
    reason = f"association to AE {destination.ae_title} at {destination.host}:{destination.port} broke: {exc}"
    if isinstance(exc, TimeoutFailure):
        # mid-export, sending a C-STORE-RQ and waiting for its response are both bounded by it
        reason += " (the response timeout: dcmResponseTimeout of its connection)"
    return reason


def _file_size(fp: BinaryIO) -> int:
    try:
        return os.fstat(fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        here = fp.tell()
        end = fp.seek(0, os.SEEK_END)
        fp.seek(here)
        return end


def _choose(contexts: Mapping[str, AcceptedContext], stored: str) -> AcceptedContext | None:
    if stored in contexts:
        return contexts[stored]
    for ts in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
        if ts in contexts:
            return contexts[ts]
    return None


def _coercion_plan(
    configuration: Configuration, request: ExportRequest, destination_ae: str, host: str
) -> CoercionPlan | None:
    """The attribute coercion rules that may apply to this export (``None``: none, every object as stored)."""
    from dcm_exporter.coercion import plan_for_export

    plan = plan_for_export(
        configuration,
        request.exporter,
        receiving_ae_title=destination_ae,
        destination_hostname=host,
        local_ae_title=request.exporter.ae_title or request.calling_ae_title,
    )
    return None if plan.is_empty else plan


def _coerced_store(
    assoc: Association,
    fp: BinaryIO,
    ctx: AcceptedContext,
    plan: CoercionPlan,
    ref: InstanceRef,
    builder: OutcomeBuilder,
    priority: int,
    name: str,
) -> PreparedStore | bool | None:
    """C-STORE of a coerced object (encoded once in the accepted syntax, Affected SOP Instance UID as sent);
    ``False`` when no rule matched (send as stored), ``None`` when the instance failed."""
    from dcm_exporter.errors import CoercionError

    fp.seek(0)
    try:
        coerced = plan.coerce_file(fp, target_transfer_syntax=ctx.transfer_syntax, name=name)
    except CoercionError as exc:
        builder.failed(ref, str(exc))
        return None
    if coerced is None:
        return False
    data = bytes(coerced.dataset)
    sop_class = coerced.sop_class_uid or ref.sop_class_uid
    sop_instance = coerced.sop_instance_uid or ref.sop_instance_uid  # the UID sent (remapped by deidentify:)
    return assoc.prepare_store(ctx, sop_class, sop_instance, data=data, priority=priority)


def _prepare(
    assoc: Association,
    ref: InstanceRef,
    builder: OutcomeBuilder,
    priority: int,
    plan: CoercionPlan | None = None,
) -> PreparedStore | None:
    """Open, check and frame one instance; on a per-instance problem record it and return ``None``."""
    name = str(ref.path) if ref.path is not None else ref.sop_instance_uid
    try:
        fp = ref.open()
    except InstanceMissingError as exc:
        builder.missing(ref, str(exc))
        return None
    except SourceError as exc:
        builder.failed(ref, str(exc))
        return None
    try:
        with fp:
            meta = read_part10_meta(fp, name=name)
            # the reference's UIDs come from the data set itself; the file meta group may disagree
            sop_class = ref.sop_class_uid or meta.sop_class_uid
            sop_instance = ref.sop_instance_uid or meta.sop_instance_uid
            contexts = assoc.accepted.get(sop_class)
            if not contexts:
                why = assoc.rejected.get(sop_class, "not proposed")
                builder.failed(
                    ref, f"SOP class {sop_class} not accepted by AE {assoc.destination.ae_title}: {why}"
                )
                return None
            ctx = _choose(contexts, meta.transfer_syntax_uid)
            if ctx is None:
                builder.failed(
                    ref,
                    f"AE {assoc.destination.ae_title} accepted none of the transfer syntaxes proposed for "
                    f"{meta.transfer_syntax_uid} ({', '.join(contexts)})",
                )
                return None
            if plan is not None and plan.wants(sop_class):
                coerced = _coerced_store(assoc, fp, ctx, plan, ref, builder, priority, name)
                if coerced is not False:
                    return coerced  # type: ignore[return-value]
            if ctx.transfer_syntax == meta.transfer_syntax_uid:
                length = _file_size(fp) - meta.dataset_offset
                # sent as stored: a truncated file must fail alone, not make the peer abort the association
                check_dataset_framing(
                    fp, meta.dataset_offset, meta.dataset_offset + length, meta.transfer_syntax_uid, name=name
                )
                fp.seek(meta.dataset_offset)
                return assoc.prepare_store(
                    ctx, sop_class, sop_instance, stream=fp, length=length, priority=priority
                )
            fp.seek(0)
            data = transcode(fp, meta.transfer_syntax_uid, ctx.transfer_syntax, name=name)
            return assoc.prepare_store(ctx, sop_class, sop_instance, data=data, priority=priority)
    except FramingError as exc:
        builder.failed(ref, str(exc))
    except TranscodeError as exc:
        builder.failed(ref, str(exc))
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            builder.missing(ref, f"instance {ref.sop_instance_uid} vanished from storage: {exc}")
        else:
            builder.failed(ref, f"cannot read instance {ref.sop_instance_uid} ({name}): {exc}")
    return None


def _echo(destination: Destination, calling_ae_title: str) -> EchoResult:
    started = time.perf_counter()
    contexts = [RequestedContext(1, VERIFICATION, (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN))]
    try:
        assoc = Association.open(destination, calling_ae_title, contexts)
    except AssociationFailure as exc:
        raise transport_error(exc, destination, calling_ae_title) from exc
    try:
        status = assoc.echo()
    except AssociationFailure as exc:
        assoc.abort()
        raise ConnectionFailedError(
            f"C-ECHO to AE {destination.ae_title} at {destination.host}:{destination.port} failed: {exc}",
            destination=destination.ae_title,
        ) from exc
    assoc.release()
    return EchoResult(
        ae_title=destination.ae_title,
        host=destination.host,
        port=destination.port,
        status=status,
        seconds=time.perf_counter() - started,
    )


def create_transport(exporter: ExporterDescriptor, configuration: Configuration) -> DicomTransport:
    """The factory registered for the ``dicom`` scheme."""
    return DicomTransport(exporter, configuration)


def verify(
    configuration: Configuration,
    aet: str,
    calling_ae_title: str = DEFAULT_CALLING_AE_TITLE,
    *,
    ssl_context: ssl.SSLContext | None = None,
    ca_file: str | None = None,
) -> EchoResult:
    """Check a remote AE with a C-ECHO (Verification SOP Class).

    Args:
        configuration: resolves ``aet`` to host, port, TLS and timeouts.
        aet: the AE title to check.
        calling_ae_title: our AE title in the association request.
        ssl_context: TLS context for a TLS connection (default: from the connection's settings).
        ca_file: PEM file of CA certificates for the default TLS context.

    Returns:
        The peer and its C-ECHO status (``result.ok`` when 0x0000) and the round-trip seconds.

    Raises:
        UnknownAEError, AENotInstalledError: ``aet`` is not configured or not installed.
        ConnectionFailedError, AssociationRejectedError, TransportTimeoutError: the check failed.
    """
    remote = configuration.remote_ae(aet)
    context = ssl_context
    if remote.tls and context is None:
        context = tls_context_of(remote, None, ca_file)
    return _echo(destination_of(remote, context if remote.tls else None), calling_ae_title)


def main(argv: Sequence[str] | None = None) -> int:
    """C-ECHO from the command line: ``python -m dcm_exporter.transports.dicom [options] AET[@HOST:PORT]``.

    Options: ``--config FILE`` (LDIF, or dcm4che device JSON ending in ``.json``), ``--aet CALLING``,
    ``--ca-file PEM``. Without a configuration the target is ``AET@HOST:PORT``. Prints the result; exit
    status 0 when the peer answered Success.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dcm_exporter.transports.dicom", description=main.__doc__)
    parser.add_argument("target", help="AE title, or AET@HOST:PORT without a configuration")
    parser.add_argument("--config", help="configuration file (LDIF or dcm4che device JSON)")
    parser.add_argument("--aet", default=DEFAULT_CALLING_AE_TITLE, help="calling AE title")
    parser.add_argument("--ca-file", help="PEM CA certificates for TLS connections")
    args = parser.parse_args(argv)
    from dcm_exporter.errors import DcmExporterError
    from dcm_exporter.models import (
        ApplicationEntity,
        Configuration,
        Connection,
        Device,
    )

    try:
        if "@" in args.target:
            aet, _, address = args.target.partition("@")
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                parser.error(f"expected AET@HOST:PORT, got {args.target!r}")
            configuration = Configuration(
                devices=(
                    Device(
                        device_name="echo-target",
                        connections=(Connection(name="dicom", hostname=host, port=int(port)),),
                        application_entities=(ApplicationEntity(ae_title=aet, connection_refs=("dicom",)),),
                    ),
                )
            )
        elif args.config:
            from pathlib import Path

            from dcm_exporter.codecs import device_json, ldif

            if args.config.endswith(".json"):
                configuration = device_json.loads(Path(args.config).read_text(encoding="utf-8"))
            else:
                configuration = ldif.load(Path(args.config), allow_file_urls=True)
            aet = args.target
        else:
            parser.error("give --config FILE, or the target as AET@HOST:PORT")
        result = verify(configuration, aet, args.aet, ca_file=args.ca_file)
    except (DcmExporterError, OSError) as exc:
        print(f"C-ECHO {args.target}: FAILED: {exc}")
        return 1
    print(
        f"C-ECHO {result.ae_title} at {result.host}:{result.port}: status 0x{result.status:04X} "
        f"in {result.seconds * 1000:.1f} ms"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
