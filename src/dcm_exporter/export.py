"""The export vocabulary: what an export is (:class:`ExportRequest` of :class:`InstanceRef`) and what it gave.

Sources produce :class:`InstanceRef`; the queue and the :class:`~dcm_exporter.exporter.Exporter` build an
:class:`ExportRequest`; a transport (:mod:`dcm_exporter.transports.base`) sends it and returns an
:class:`Outcome`; a :class:`CancelToken` stops it between instances. This module sits just above the
models and imports nothing else of the package, so every layer above may use it.

:class:`OutcomeBuilder` tallies per-instance results and applies dcm4chee-arc's outcome rules in one
place, so every transport computes status and message the same way::

    >>> ref = InstanceRef(study_uid="1.2", series_uid="1.2.3", sop_instance_uid="1.2.3.4",
    ...                   sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
    ...                   transfer_syntax_uid="1.2.840.10008.1.2.1", size=0, path="x.dcm")
    >>> builder = OutcomeBuilder("Study[uid=1.2]", "AE: STORESCP")
    >>> builder.completed(ref)
    >>> outcome = builder.build()
    >>> outcome.status
    <OutcomeStatus.COMPLETED: 'COMPLETED'>
    >>> outcome.message
    'Export Study[uid=1.2] to AE: STORESCP - completed:1'
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import attrs

from dcm_exporter._tables import status_text
from dcm_exporter.errors import ExportCanceledError, InstanceMissingError, SourceError

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = [
    "ALL",
    "CancelToken",
    "ExportRequest",
    "FailedInstance",
    "InstanceRef",
    "InstanceResult",
    "InstanceResultKind",
    "Outcome",
    "OutcomeBuilder",
    "OutcomeRule",
    "OutcomeStatus",
    "ProgressCallback",
    "MAX_RECORDED_FAILURES",
    "entity_text",
    "failed_instances",
    "status_text",
    "summarize_failures",
]

#: ``"*"`` stands for "all series" / "all instances" in an export request, as in dcm4chee-arc's tasks.
ALL = "*"

#: How many failed instances a task keeps in full (``result_json``); beyond that only counts.
MAX_RECORDED_FAILURES = 100


class OutcomeStatus(enum.StrEnum):
    """Final status of one export; the values are dcm4chee-arc's task status names."""

    COMPLETED = "COMPLETED"
    WARNING = "WARNING"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class OutcomeRule(enum.Enum):
    """Which of dcm4chee-arc's exporter rules turns the counts into an :class:`OutcomeStatus`.

    ``DICOM`` (``dicom:``, ``stow:``): remaining > 0 ⇒ CANCELED; else failed > 0 ⇒ FAILED when some
    instance was missing, WARNING otherwise; else COMPLETED.
    ``STORAGE`` (``storage:``): remaining > 0 ⇒ CANCELED; else failed > 0 ⇒ FAILED; else COMPLETED.
    """

    DICOM = "dicom"
    STORAGE = "storage"


# --- instances -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InstanceRef:
    """A reference to one stored DICOM instance: its UIDs, size and a way to open its Part 10 bytes.

    A source backed by files sets ``path``; a source without files (a database, object storage)
    passes ``opener``, a callable returning a fresh binary stream of the whole Part 10 file.

    Attributes:
        study_uid: Study Instance UID (0020,000D).
        series_uid: Series Instance UID (0020,000E).
        sop_instance_uid: SOP Instance UID (0008,0018).
        sop_class_uid: SOP Class UID (0008,0016).
        transfer_syntax_uid: Transfer Syntax UID of the stored file (0002,0010).
        size: size of the stored file in bytes.
        path: the file, when the instance is a file.
        source_ae_title: AE title of the application that sent the instance to the archive, when known
            (used as calling AE with ``dcmExportAsSourceAE``).
        modality: Modality (0008,0060) of the instance's series, when the source knows it (recorded on the
            export task).
        opener: opens the bytes when there is no ``path``.
    """

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    size: int
    path: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    source_ae_title: str | None = None
    modality: str | None = None
    opener: Callable[[], BinaryIO] | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.path is None and self.opener is None:
            raise ValueError(f"InstanceRef {self.sop_instance_uid}: needs a path or an opener")

    def open(self) -> BinaryIO:
        """Open the whole Part 10 file for reading.

        Raises:
            InstanceMissingError: the file vanished from storage (counted *missing* by transports).
            SourceError: the instance exists but cannot be read.
        """
        if self.opener is not None:
            return self.opener()
        assert self.path is not None
        try:
            return self.path.open("rb")
        except FileNotFoundError as exc:
            raise InstanceMissingError(
                f"instance {self.sop_instance_uid} vanished from storage: {self.path} does not exist"
            ) from exc
        except OSError as exc:
            raise SourceError(f"cannot open instance {self.sop_instance_uid} at {self.path}: {exc}") from exc


# --- cancellation and progress -------------------------------------------------------------------


#: Guards the creation of a CancelToken's Event when two threads wait on it first at once.
_TOKEN_EVENTS = threading.Lock()


class CancelToken:
    """A thread-safe flag one side sets (``cancel()``) and a transport checks between instances.

    >>> token = CancelToken()
    >>> token.cancelled
    False
    >>> token.cancel()
    >>> token.cancelled
    True
    """

    # The Event (a Condition and its locks) is made only when someone waits: most tokens are never waited on,
    # and a runner of short tasks makes one per task.
    __slots__ = ("_cancelled", "_event")

    def __init__(self) -> None:
        self._cancelled = False
        self._event: threading.Event | None = None

    def cancel(self) -> None:
        """Ask the export to stop after the instance being sent."""
        self._cancelled = True
        event = self._event
        if event is not None:
            event.set()

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~dcm_exporter.errors.ExportCanceledError` when ``cancel()`` was called."""
        if self._cancelled:
            raise ExportCanceledError("export canceled")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds passed; return whether it was cancelled."""
        event = self._event
        if event is None:
            with _TOKEN_EVENTS:
                if self._event is None:
                    self._event = threading.Event()
                event = self._event
        # a cancel() that came before the Event existed set only the flag: the Event learns it here (the flag
        # is written before cancel() reads the Event, so one of the two sides sees the other)
        if self._cancelled:
            event.set()
        return event.wait(timeout)

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


InstanceResultKind = Literal["completed", "warning", "failed", "missing"]


@attrs.frozen(kw_only=True)
class InstanceResult:
    """What happened to one instance; passed to the progress callback.

    Attributes:
        sop_instance_uid: the instance.
        kind: ``completed``, ``warning``, ``failed`` or ``missing`` (missing also counts as failed).
        status_code: the DICOM status (C-STORE) or HTTP status, when there was one.
        reason: why it failed or warned, when known.
    """

    sop_instance_uid: str
    kind: InstanceResultKind
    status_code: int | None = None
    reason: str | None = None


ProgressCallback = Callable[[InstanceRef, InstanceResult], None]


# --- request ---------------------------------------------------------------------------------------


def entity_text(study_uid: str, series_uid: str | None = ALL, sop_instance_uid: str | None = ALL) -> str:
    """The entity as dcm4chee-arc names it in messages.

    >>> entity_text("1.2", "1.2.3")
    'Series[uid=1.2.3] of Study[uid=1.2]'
    >>> entity_text("1.2", "1.2.3", "1.2.3.4")
    'Instance[uid=1.2.3.4] of Series[uid=1.2.3] of Study[uid=1.2]'
    """
    parts = []
    if sop_instance_uid and sop_instance_uid != ALL:
        parts.append(f"Instance[uid={sop_instance_uid}] of ")
    if series_uid and series_uid != ALL:
        parts.append(f"Series[uid={series_uid}] of ")
    parts.append(f"Study[uid={study_uid}]")
    return "".join(parts)


def _to_tuple(value: Sequence[InstanceRef]) -> tuple[InstanceRef, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ExportRequest:
    """One export: the exporter, the entity, the instances to send and how to report back.

    Attributes:
        exporter: the ``dcmExporter`` descriptor (destination URI, AE title, properties).
        configuration: the whole configuration, to resolve the destination (remote AE, web app, storage).
        study_uid: Study Instance UID of the task.
        series_uid: Series Instance UID, or ``"*"`` for all series.
        sop_instance_uid: SOP Instance UID, or ``"*"`` for all instances.
        instances: the instances to send.
        calling_ae_title: the local (calling) AE title, already resolved.
        cancel: checked between instances; when set the transport stops and reports ``remaining``.
        progress: called once per instance with its result, or ``None``.
    """

    exporter: ExporterDescriptor
    configuration: Configuration
    study_uid: str
    series_uid: str = ALL
    sop_instance_uid: str = ALL
    instances: tuple[InstanceRef, ...] = attrs.field(converter=_to_tuple, factory=tuple)
    calling_ae_title: str | None = None
    cancel: CancelToken = attrs.field(factory=CancelToken, eq=False)
    progress: ProgressCallback | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def entity(self) -> str:
        """The entity text for messages, e.g. ``Series[uid=1.2.3] of Study[uid=1.2]``."""
        return entity_text(self.study_uid, self.series_uid, self.sop_instance_uid)


# --- outcome ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FailedInstance:
    """An instance that was not exported, and why.

    Attributes:
        sop_instance_uid: the instance.
        reason: the error text (exception message, status meaning).
        status_code: DICOM or HTTP status, when there was one.
        missing: the instance vanished from storage during the export.
    """

    sop_instance_uid: str
    reason: str
    status_code: int | None = None
    missing: bool = False

    @property
    def status_text(self) -> str | None:
        """The status with its meaning (``A700H (Out of Resources)``), or ``None`` when there was none."""
        return None if self.status_code is None else status_text(self.status_code)


def _failures_tuple(value: Sequence[FailedInstance]) -> tuple[FailedInstance, ...]:
    return tuple(value)


def _str_tuple(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Outcome:
    """The result of one export, as dcm4chee-arc reports it.

    ``failed`` includes the ``missing`` instances. ``remaining`` counts instances not attempted
    because the export was canceled. ``skipped`` counts instances a transport did not send because the
    destination already holds them (``storage:`` with ``dcmCheckIfAlreadyExistsOnDestination``); like
    upstream, they are in no other count. ``modalities`` are those of the instances the export dealt with,
    when the source knows them (the :class:`~dcm_exporter.exporter.Exporter` fills them in; the queue
    records them on the task, as dcm4chee-arc does). ``bytes_sent`` is the Part 10 size of the instances
    sent (completed or warning), as the :class:`OutcomeBuilder` tallies them (for the metrics).
    """

    status: OutcomeStatus
    message: str
    completed: int = 0
    warning: int = 0
    failed: int = 0
    missing: int = 0
    remaining: int = 0
    skipped: int = 0
    failures: tuple[FailedInstance, ...] = attrs.field(default=(), converter=_failures_tuple)
    destination: str | None = None
    entity: str | None = None
    modalities: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    bytes_sent: int = 0
    interrupted: str | None = None

    @property
    def result_json(self) -> str | None:
        """The failed instances as JSON text, or ``None`` when none failed and nothing was interrupted.

        An object: ``failures``, the first :data:`MAX_RECORDED_FAILURES` failed instances in full (objects with
        ``sop_instance_uid``, ``reason``, ``status_code``, ``missing``); ``failed`` and ``missing``, the
        counts; ``omitted``, how many failures are beyond the list; ``by_status``, the number of failures per
        DIMSE / HTTP status (hexadecimal for DICOM statuses, key ``"none"`` without a status); and, when the
        transport was interrupted, ``interrupted`` (the reason) and ``remaining`` (instances not confirmed).
        The task queue stores it on the task (``ExportTask.result_json``), so a monitor can show why
        instances failed after the process ended; :func:`failed_instances` reads it back."""
        if not self.failures and self.interrupted is None:
            return None
        import json

        by_status: dict[str, int] = {}
        for f in self.failures:
            key = status_text(f.status_code)
            by_status[key] = by_status.get(key, 0) + 1
        doc: dict[str, object] = {
            "failures": [attrs.asdict(f) for f in self.failures[:MAX_RECORDED_FAILURES]],
            "failed": self.failed,
            "missing": self.missing,
            "omitted": max(0, len(self.failures) - MAX_RECORDED_FAILURES),
            "by_status": by_status,
        }
        if self.interrupted is not None:
            doc["interrupted"] = self.interrupted
            doc["remaining"] = self.remaining
        return json.dumps(doc, separators=(",", ":"))

    @property
    def failure_summary(self) -> str | None:
        """One line saying why instances failed (or why the export was interrupted), ``None`` when none did.

        >>> ref = FailedInstance(sop_instance_uid="1.2.3.4", reason="truncated data set")
        >>> Outcome(status=OutcomeStatus.WARNING, message="m", completed=4, failed=1,
        ...         failures=(ref,)).failure_summary
        '1 instance failed: 1.2.3.4: truncated data set'
        """
        return summarize_failures(self.failures, self.failed, self.interrupted, self.remaining)

    @classmethod
    def warning_nothing_found(
        cls,
        study_uid: str,
        series_uid: str | None = ALL,
        sop_instance_uid: str | None = ALL,
        *,
        destination: str | None = None,
    ) -> Outcome:
        """The WARNING outcome when the task's entity has no instances: ``Could not find <entity>``."""
        entity = entity_text(study_uid, series_uid, sop_instance_uid)
        return cls(
            status=OutcomeStatus.WARNING,
            message=f"Could not find {entity}",
            destination=destination,
            entity=entity,
        )

    @classmethod
    def noop(cls, *, destination: str | None = None, entity: str | None = None) -> Outcome:
        """The outcome of the ``noop:`` exporter: COMPLETED with message ``NOOP``."""
        return cls(status=OutcomeStatus.COMPLETED, message="NOOP", destination=destination, entity=entity)

    def _repr_html_(self) -> str:
        return outcome_html(self)


class OutcomeBuilder:
    """Tallies per-instance results and builds the :class:`Outcome` by dcm4chee-arc's rules.

    Thread-safe: a transport sending on several associations may report from several threads.

    Args:
        entity: the entity text (:attr:`ExportRequest.entity`).
        destination: the destination as it appears in the message, e.g. ``AE: STORESCP``.
        rule: which status rule applies (see :class:`OutcomeRule`).
        progress: a callback invoked for every reported instance.
    """

    def __init__(
        self,
        entity: str,
        destination: str,
        *,
        rule: OutcomeRule = OutcomeRule.DICOM,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.entity = entity
        self.destination = destination
        self.rule = rule
        self._progress = progress
        self._lock = threading.Lock()
        self._completed = 0
        self._warning = 0
        self._failed = 0
        self._missing = 0
        self._bytes = 0
        self._failures: list[FailedInstance] = []

    @classmethod
    def for_request(
        cls, request: ExportRequest, destination: str, *, rule: OutcomeRule = OutcomeRule.DICOM
    ) -> OutcomeBuilder:
        """A builder for ``request``: its entity text and its progress callback."""
        return cls(request.entity, destination, rule=rule, progress=request.progress)

    @property
    def processed(self) -> int:
        """How many instances were reported so far (completed + warning + failed)."""
        with self._lock:
            return self._completed + self._warning + self._failed

    def _report(self, ref: InstanceRef, result: InstanceResult) -> None:
        if self._progress is not None:
            self._progress(ref, result)

    def completed(self, ref: InstanceRef, status_code: int | None = None) -> None:
        """Count ``ref`` as sent successfully."""
        with self._lock:
            self._completed += 1
            self._bytes += ref.size or 0
        self._report(ref, InstanceResult(sop_instance_uid=ref.sop_instance_uid, kind="completed",
                                         status_code=status_code))

    def warning(self, ref: InstanceRef, status: int | None = None, reason: str | None = None) -> None:
        """Count ``ref`` as sent with a warning status (e.g. C-STORE 0xB000, 0xB006, 0xB007)."""
        with self._lock:
            self._warning += 1
            self._bytes += ref.size or 0
        self._report(ref, InstanceResult(sop_instance_uid=ref.sop_instance_uid, kind="warning",
                                         status_code=status, reason=reason))

    def failed(self, ref: InstanceRef, reason: str, status_code: int | None = None) -> None:
        """Count ``ref`` as failed, with the reason and the status code when there is one."""
        uid = ref.sop_instance_uid
        failure = FailedInstance(sop_instance_uid=uid, reason=reason, status_code=status_code)
        with self._lock:
            self._failed += 1
            self._failures.append(failure)
        self._report(ref, InstanceResult(sop_instance_uid=ref.sop_instance_uid, kind="failed",
                                         status_code=status_code, reason=reason))

    def missing(self, ref: InstanceRef, reason: str) -> None:
        """Count ``ref`` as missing: it vanished from storage during the export (also counted failed)."""
        failure = FailedInstance(sop_instance_uid=ref.sop_instance_uid, reason=reason, missing=True)
        with self._lock:
            self._failed += 1
            self._missing += 1
            self._failures.append(failure)
        self._report(ref, InstanceResult(sop_instance_uid=failure.sop_instance_uid, kind="missing",
                                         reason=reason))

    def build(self, remaining: int = 0, *, interrupted: str | None = None) -> Outcome:
        """The outcome so far; ``remaining`` is the number of instances not attempted (canceled) or, with
        ``interrupted`` (the reason the connection to the destination broke), not confirmed.

        Status (dcm4chee-arc): remaining > 0 ⇒ CANCELED; else failed > 0 ⇒ (rule DICOM: FAILED when
        missing > 0, else WARNING; rule STORAGE: FAILED); else COMPLETED. Not upstream: an interrupted
        export is FAILED, so the queue retries it (``Export <entity> to <destination> interrupted -
        remaining:R, completed:C...``; the reason in :attr:`Outcome.interrupted`); upstream counts the
        unconfirmed instances failed and ends WARNING.
        Message: ``Export <entity> to <destination>`` then `` canceled - remaining:R, `` or `` - ``,
        then ``completed:C[, warning:W][, failed:F][, missing:M]``; rule STORAGE names only
        ``completed:C[, failed:F]``.
        """
        if remaining < 0:
            raise ValueError(f"remaining must be >= 0, got {remaining}")
        with self._lock:
            completed, warning, failed, missing = self._completed, self._warning, self._failed, self._missing
            failures = tuple(self._failures)
            sent = self._bytes
        if interrupted is not None:
            status = OutcomeStatus.FAILED
        elif remaining > 0:
            status = OutcomeStatus.CANCELED
        elif failed > 0:
            if self.rule is OutcomeRule.STORAGE or missing > 0:
                status = OutcomeStatus.FAILED
            else:
                status = OutcomeStatus.WARNING
        else:
            status = OutcomeStatus.COMPLETED
        parts = [f"Export {self.entity} to {self.destination}"]
        if interrupted is not None:
            parts.append(f" interrupted - remaining:{remaining}, ")
        else:
            parts.append(f" canceled - remaining:{remaining}, " if remaining > 0 else " - ")
        parts.append(f"completed:{completed}")
        storage = self.rule is OutcomeRule.STORAGE  # upstream's storage exporter names only these two
        if warning > 0 and not storage:
            parts.append(f", warning:{warning}")
        if failed > 0:
            parts.append(f", failed:{failed}")
        if missing > 0 and not storage:
            parts.append(f", missing:{missing}")
        return Outcome(
            status=status,
            message="".join(parts),
            completed=completed,
            warning=warning,
            failed=failed,
            missing=missing,
            remaining=remaining,
            failures=failures,
            destination=self.destination,
            entity=self.entity,
            bytes_sent=sent,
            interrupted=interrupted,
        )


def summarize_failures(
    failures: Sequence[FailedInstance], failed: int | None = None, interrupted: str | None = None,
    remaining: int = 0,
) -> str | None:
    """One line for a task's ``error_message``: how many instances failed, the first with its reason and
    status, how many per status when they differ; why the export was interrupted first, when it was."""
    parts: list[str] = []
    if interrupted is not None:  # the message counts the unconfirmed instances; this says why
        parts.append(interrupted)
    total = len(failures) if failed is None else failed
    if total and failures:
        first = failures[0]
        status = f" (status {status_text(first.status_code)})" if first.status_code is not None else ""
        noun = "instance" if total == 1 else "instances"
        text = f"{total} {noun} failed: {first.sop_instance_uid}: {first.reason}{status}"
        counts: dict[str, int] = {}
        for f in failures:
            key = status_text(f.status_code)
            counts[key] = counts.get(key, 0) + 1
        if total > 1:
            text += " (first of them; by status: " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")"
        parts.append(text)
    return "; ".join(parts) or None


def failed_instances(result_json: str | None) -> list[FailedInstance]:
    """The failed instances an export task recorded (its ``result_json``, see :attr:`Outcome.result_json`):
    at most :data:`MAX_RECORDED_FAILURES`. Empty for no record or another kind of record."""
    if not result_json:
        return []
    import json

    try:
        doc = json.loads(result_json)
    except ValueError:
        return []
    items = doc.get("failures") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    out: list[FailedInstance] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("sop_instance_uid"), str):
            code = item.get("status_code")
            out.append(FailedInstance(
                sop_instance_uid=item["sop_instance_uid"], reason=str(item.get("reason") or ""),
                status_code=code if isinstance(code, int) else None, missing=bool(item.get("missing")),
            ))
    return out


# --- display (Jupyter) -----------------------------------------------------------------------------------
# here rather than in dcm_exporter._repr, which shows tasks and lists and imports this module: the kernel
# renders its own outcome with the leaf table helpers, so nothing here imports the display layer


def failures_html(failures: Sequence[FailedInstance]) -> str:
    """Failed instances as an HTML table: SOP Instance UID, reason, DIMSE / HTTP status."""
    from dcm_exporter._tables import table

    return table(
        ("sop_instance_uid", "reason", "status"),
        ((f.sop_instance_uid, f.reason, f.status_text) for f in failures),
        status_column=None, caption=f"{len(failures)} failed instance(s)",
    )


def outcome_html(outcome: Outcome) -> str:
    """An :class:`Outcome` as HTML: status, counts, message and the failures (the first 100)."""
    from dcm_exporter._tables import field_table

    summary = field_table("Outcome", [
        ("status", outcome.status), ("message", outcome.message), ("completed", outcome.completed),
        ("warning", outcome.warning), ("failed", outcome.failed), ("missing", outcome.missing),
        ("remaining", outcome.remaining), ("destination", outcome.destination),
        *([("interrupted", outcome.interrupted)] if outcome.interrupted else []),
    ], "status")
    if not outcome.failures:
        return summary
    return f"<div>{summary}<br>{failures_html(outcome.failures[:100])}</div>"
