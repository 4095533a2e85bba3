"""The ``Exporter`` facade: what an application embeds.

``Exporter(configuration, source)`` resolves exporters by id, finds the instances of the entity in the
:class:`~dcm_exporter.sources.base.InstanceSource`, picks the calling AE title and hands an
:class:`~dcm_exporter.export.ExportRequest` to the transport of the exporter's URI scheme.
Transports are created on first use and kept (their connection pools with them) until
:meth:`Exporter.close` or :meth:`Exporter.reload`.

:meth:`Exporter.export_now` is the synchronous export dcm4chee-arc offers next to queued exports: it
returns the :class:`~dcm_exporter.export.Outcome` and raises
:class:`~dcm_exporter.errors.TransportError` when the export could not be performed at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs

from dcm_exporter._secrets import mask_url
from dcm_exporter.errors import ConfigurationError, QueueError
from dcm_exporter.export import (
    ALL,
    CancelToken,
    ExportRequest,
    InstanceRef,
    InstanceResult,
    Outcome,
    ProgressCallback,
)
from dcm_exporter.export_queue import ExportQueue
from dcm_exporter.queue.manager import TaskManager, TaskResult
from dcm_exporter.queue.runner import Perform, TaskHooks, TaskRunner
from dcm_exporter.queue.store_url import no_store_error
from dcm_exporter.queue.task import ExportTask, TaskFilter, TaskStatus, TaskType
from dcm_exporter.transports.base import Transport
from dcm_exporter.transports.registry import TransportRegistry, default_registry

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.actions import ActionPerformer
    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.queue.store import TaskStore
    from dcm_exporter.rules import ExportRules, Occurrence
    from dcm_exporter.sources.base import InstanceSource

__all__ = ["Exporter", "TaskProgressCallback"]

#: ``progress(task, ref, result)``: one instance of a queued task was dealt with (:meth:`Exporter.start`).
TaskProgressCallback = Callable[[ExportTask, InstanceRef, InstanceResult], None]

log = logging.getLogger("dcm_exporter.exporter")
#: one WARNING per failed instance (exporter, task, instance, status, reason); the CLI shows it with -v
failure_log = logging.getLogger("dcm_exporter.failures")


class Exporter:
    """Runs exports of one configuration from one instance source.

    Args:
        configuration: the dcm4che configuration (exporters, remote AEs, web applications, storages).
        source: where the instances come from.
        store: the export task store for queued exports, e.g. ``dcm_exporter.queue.open_store("sqlite:PATH")``.
            Without one only :meth:`export_now` works: every queued operation (:meth:`schedule_export`,
            :meth:`on_store` when a rule matches, :meth:`start`, :meth:`run_until_idle`, :attr:`queue`)
            raises ``ConfigurationError``.
        registry: the scheme registry to create transports from (default: the process-wide one).
        transport_options: extra keyword arguments per URI scheme for the transport factories, e.g.
            ``{"storage": {"variables": {"jboss.server.storage.url": "file:///srv/dcm"}}}``.
        device_name: the device whose export tasks this exporter schedules and runs (default: the
            configuration's only device with exporters or queues).
        clock: returns the current time (timezone-aware) for the queue; a ``FakeClock`` in tests.
        lease: how long a claimed task stays this runner's without a heartbeat (the runner extends it every
            ``lease / 3``); when a runner dies, another takes its IN PROCESS tasks over once their lease ends.
        reset_on_start: on :meth:`start` / the first ``run_until_idle``, put this device's IN PROCESS tasks
            back to SCHEDULED, as dcm4chee-arc does at start-up (right for one runner per device). Set it
            to ``False`` when several runners (processes or hosts) share one device's queue, e.g. one
            PostgreSQL task store: otherwise a starting runner takes running tasks away from live ones.

    The tasks themselves are handled through :attr:`queue` (``exporter.queue.tasks(...)``, ``count``,
    ``cancel``, ``reschedule``, ``delete``, ``batches``, ``purge``, ``commitment_result``).

    >>> from dcm_exporter.models import Configuration
    >>> from dcm_exporter.sources import FileSystemSource
    >>> import tempfile
    >>> with Exporter(Configuration(), FileSystemSource(tempfile.mkdtemp())) as exporter:
    ...     exporter.export_now("NOWHERE", "1.2.3")
    Traceback (most recent call last):
    ...
    dcm_exporter.errors.ConfigurationError: Unknown exporter: NOWHERE (configured exporters: none)
    """

    def __init__(
        self,
        configuration: Configuration,
        source: InstanceSource,
        *,
        store: TaskStore | None = None,
        registry: TransportRegistry | None = None,
        transport_options: Mapping[str, Mapping[str, Any]] | None = None,
        device_name: str | None = None,
        clock: Callable[[], datetime] | None = None,
        lease: timedelta = timedelta(seconds=60),
        reset_on_start: bool = True,
    ) -> None:
        self._configuration = configuration
        self._source = source
        self._store = store
        self._registry = registry if registry is not None else default_registry
        self._transport_options = {k.lower(): dict(v) for k, v in (transport_options or {}).items()}
        self._transports: dict[str, tuple[ExporterDescriptor, Transport]] = {}
        self._lock = threading.RLock()
        self._closed = False
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise QueueError(f"lease must be a positive timedelta, got {lease!r}")
        if not isinstance(reset_on_start, bool):
            raise QueueError(f"reset_on_start must be a bool, got {reset_on_start!r}")
        self._device_name = device_name
        self._clock = clock
        self._lease = lease
        self._reset_on_start = reset_on_start
        self._queue_lock = threading.Lock()
        self._manager: TaskManager | None = None
        self._runner: TaskRunner | None = None
        self._actions: ActionPerformer | None = None
        self._export_rules: ExportRules | None = None
        self._hooks = TaskHooks()
        self._task_progress: TaskProgressCallback | None = None
        self._queue = ExportQueue(self._queue_manager, store, lambda: self._task_manager().device_name)
        # follow-up task types run above the queue: the runner only calls ``perform(task, cancel)``
        self._performers: dict[TaskType, Perform] = {
            TaskType.EXPORT: self._perform_export_task,
            TaskType.STGCMT: self._perform_action,
            TaskType.IAN: self._perform_action,
        }

    # -- properties -----------------------------------------------------------------------------

    @property
    def configuration(self) -> Configuration:
        """The configuration in use (replace it with :meth:`reload`)."""
        return self._configuration

    @property
    def source(self) -> InstanceSource:
        """The instance source."""
        return self._source

    @property
    def queue(self) -> ExportQueue:
        """The export tasks in the store: ``exporter.queue.tasks(status=...)``, ``count``, ``cancel``,
        ``reschedule``, ``delete``, ``batches``, ``purge``, ``commitment_result`` (see
        :class:`~dcm_exporter.export_queue.ExportQueue`)."""
        return self._queue

    # -- the queue's parts, composed on first use ----------------------------------------------------

    def _task_manager(self) -> TaskManager:
        """The task manager (store or not: without one it still resolves exporters for the rules)."""
        with self._queue_lock:
            if self._manager is None:
                self._manager = TaskManager(
                    self._store, self._configuration, device_name=self._device_name, clock=self._clock,
                    lease=self._lease,
                )
            return self._manager

    def _queue_manager(self, what: str = "exporter.queue") -> TaskManager:
        """The task manager of a queued operation: raises ``ConfigurationError`` without a store."""
        if self._store is None:
            raise no_store_error(what)
        return self._task_manager()

    def _task_runner(self, what: str) -> TaskRunner:
        manager = self._queue_manager(what)
        with self._queue_lock:
            if self._runner is None:
                self._runner = TaskRunner(
                    manager, self._perform_task, hooks=self._hooks, reset_on_start=self._reset_on_start
                )
            return self._runner

    # -- configuration and transports --------------------------------------------------------------

    def reload(self, configuration: Configuration) -> None:
        """Use a new configuration from now on.

        Every cached transport is closed (a changed remote AE, web application or storage may affect
        any of them); the next export creates fresh ones. Exports already running finish with the
        transport they hold. Export rules in use (:attr:`rules`) are checked first: a configuration with
        unusable rules raises ``ConfigurationError`` and changes nothing.
        """
        if self._export_rules is not None:
            self._export_rules.reload(configuration)
        with self._lock:
            self._configuration = configuration
            if self._manager is not None:
                self._manager.reload(configuration)
            closing = [t for _, t in self._transports.values()]
            self._transports.clear()
        for transport in closing:
            _close_quietly(transport)

    def exporter(self, exporter_id: str) -> ExporterDescriptor:
        """The exporter with this id.

        Raises:
            ConfigurationError: no exporter has this id.
        """
        exporters = self._exporter_index()
        exporter = exporters.get(exporter_id)
        if exporter is None:
            known = ", ".join(sorted(exporters)) or "none"
            from dcm_exporter._suggest import did_you_mean

            raise ConfigurationError(f"Unknown exporter: {exporter_id}{did_you_mean(exporter_id, exporters)} "
                                     f"(configured exporters: {known})")
        return exporter

    _exporters_of: tuple[Configuration, Mapping[str, ExporterDescriptor]] | None = None

    def _exporter_index(self) -> Mapping[str, ExporterDescriptor]:
        """``configuration.exporters``, built once per configuration (it is frozen) instead of per export."""
        configuration = self._configuration
        cached = self._exporters_of
        if cached is None or cached[0] is not configuration:
            cached = self._exporters_of = (configuration, configuration.exporters)
        return cached[1]

    def transport(self, exporter_id: str) -> Transport:
        """The (cached) transport of an exporter, created on first use.

        Raises:
            ConfigurationError: unknown exporter, unknown URI scheme, or an unusable destination.
        """
        return self._transport_of(self.exporter(exporter_id))

    def _transport_of(self, exporter: ExporterDescriptor) -> Transport:
        exporter_id = exporter.exporter_id
        with self._lock:
            if self._closed:
                raise ConfigurationError("this Exporter is closed")
            cached = self._transports.get(exporter_id)
            if cached is not None and (cached[0] is exporter or cached[0] == exporter):
                return cached[1]
            factory = self._registry.get_factory(exporter.scheme)
            options = self._transport_options.get(exporter.scheme, {})
            transport = factory(exporter, self._configuration, **options) if options else factory(
                exporter, self._configuration
            )
            if not isinstance(transport, Transport):  # a third-party factory's object: say what is missing
                missing = [name for name in ("send", "close", "needs_instances", "__enter__", "__exit__")
                           if not hasattr(transport, name)]
                _close_quietly(transport)
                raise ConfigurationError(
                    f"exporter {exporter_id}: the transport for scheme {exporter.scheme!r} "
                    f"({type(transport).__qualname__}) lacks {', '.join(missing)}; subclass "
                    "dcm_exporter.transports.BaseTransport or declare them (see the Transport protocol)"
                )
            self._transports[exporter_id] = (exporter, transport)
        if cached is not None:
            _close_quietly(cached[1])
        return transport

    # -- export rules -----------------------------------------------------------------------------

    @property
    def rules(self) -> ExportRules:
        """The export rules of the configuration (:class:`~dcm_exporter.rules.ExportRules`), loaded on first use
        and reloaded with :meth:`reload`.

        Raises:
            ConfigurationError: a rule cannot be used (names its DN), or the configuration has no single
                device with exporters (pass ``device_name=``).
        """
        manager = self._task_manager()
        with self._lock:
            if self._export_rules is None:
                from dcm_exporter.rules import ExportRules

                self._export_rules = ExportRules(manager)
            return self._export_rules

    def on_store(
        self,
        dataset: Dataset | Mapping[str, Any],
        *,
        sending_aet: str | None,
        receiving_aet: str,
        sending_host: str | None = None,
        receiving_host: str | None = None,
        reoccurred: bool | Occurrence | str = False,
        now: datetime | None = None,
        previous_study_uid: str | None = None,
        previous_series_uid: str | None = None,
    ) -> list[ExportTask]:
        """Apply the export rules to one stored object; returns the export tasks created or coalesced.

        The call an embedding archive makes for every object it stores; see
        :meth:`dcm_exporter.rules.ExportRules.on_store` for the arguments.

        Raises:
            ConfigurationError: a rule matched and this exporter has no task store.
        """
        return self.rules.on_store(
            dataset,
            sending_aet=sending_aet,
            receiving_aet=receiving_aet,
            sending_host=sending_host,
            receiving_host=receiving_host,
            reoccurred=reoccurred,
            now=now,
            previous_study_uid=previous_study_uid,
            previous_series_uid=previous_series_uid,
        )

    # -- queued exports -----------------------------------------------------------------------------

    def schedule_export(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_instance_uid: str | None = None,
        batch_id: str | None = None,
        scheduled_time: datetime | None = None,
        *,
        requester: str | None = None,
    ) -> ExportTask:
        """Queue an export; without ``scheduled_time`` the exporter's ``dcmSchedule`` decides (``ceil(now)``).

        A waiting task of the same exporter, study and batch is reused (scope widened, time only later).

        Raises:
            ConfigurationError: unknown exporter, or no task store.
        """
        return self._queue_manager("schedule_export").schedule_export(
            exporter_id, study_uid, series_uid, sop_instance_uid,
            batch_id=batch_id, scheduled_time=scheduled_time, requester=requester,
        )

    def schedule_exports(
        self,
        exporter_id: str,
        study_uids: Iterable[str],
        *,
        batch_id: str | None = None,
        scheduled_time: datetime | None = None,
        requester: str | None = None,
    ) -> list[ExportTask]:
        """Queue an export of each study by one exporter at once: what :meth:`schedule_export` does for each
        in turn, written together (one transaction and one commit with the SQLite store). Returns the tasks
        in order; a study given twice coalesces into one task.

        Raises:
            ConfigurationError: unknown exporter, or no task store.
            ValueError: an empty Study Instance UID, or a naive ``scheduled_time``.
        """
        return self._queue_manager("schedule_exports").schedule_exports(
            exporter_id, study_uids, batch_id=batch_id, scheduled_time=scheduled_time, requester=requester
        )

    def start(self, *, poll_interval: float | None = None, progress: TaskProgressCallback | None = None) -> None:
        """Start processing queued tasks in background threads.

        Args:
            poll_interval: seconds between looks at the store for tasks written by other processes.
            progress: called once per instance the runner deals with: ``progress(task, ref, result)``
                (from the worker threads; keep it quick). For live progress displays.

        Raises:
            ConfigurationError: no task store.
        """
        self._task_progress = progress
        runner = self._task_runner("start")
        if poll_interval is not None:
            runner.poll_interval = poll_interval
        runner.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the background runner; tasks still running after ``timeout`` s go back to the queue."""
        if self._runner is not None:
            self._runner.stop(timeout)

    def run_until_idle(
        self, *, timeout: float | None = None, wait_for_scheduled: bool = False,
        progress: TaskProgressCallback | None = None,
    ) -> int:
        """Process what is due now (for scripts and notebooks); returns the number of attempts made.

        ``progress(task, ref, result)`` is called once per instance, as with :meth:`start`.

        In a Jupyter notebook a progress bar counts the finished attempts against the tasks due when it
        started (all waiting tasks with ``wait_for_scheduled``); nothing is shown anywhere else.

        Raises:
            ConfigurationError: no task store.
            QueueError: ``timeout`` seconds passed before the queue became idle, or the task store failed
                (a full disk) and still failed when the work stopped.
        """
        from dcm_exporter._progress import NotebookProgress

        if progress is not None:
            self._task_progress = progress
        runner = self._task_runner("run_until_idle")
        with NotebookProgress("export queue", unit="tasks") as bar:
            if not bar.shown:
                return runner.run_until_idle(timeout=timeout, wait_for_scheduled=wait_for_scheduled)
            manager = runner.manager
            waiting = manager.tasks(TaskFilter(status=(TaskStatus.SCHEDULED, TaskStatus.SCHEDULED_FOR_RETRY)))
            now = manager.now()
            bar.set_total(sum(1 for t in waiting if wait_for_scheduled or t.scheduled_time <= now))

            def finished(result: TaskResult) -> None:
                status = result.task.status.value if result.task is not None else "deleted"
                bar.advance(outcome=status)

            self._hooks.on_finished(finished)
            try:
                return runner.run_until_idle(timeout=timeout, wait_for_scheduled=wait_for_scheduled)
            finally:
                self._hooks.finished.remove(finished)

    def on_task_started(self, hook: Callable[[ExportTask], None]) -> Callable[[ExportTask], None]:
        """Register ``hook(task)`` for each task that starts; usable as a decorator."""
        return self._hooks.on_started(hook)

    def on_task_finished(self, hook: Callable[[TaskResult], None]) -> Callable[[TaskResult], None]:
        """Register ``hook(result)`` for each finished attempt; usable as a decorator."""
        return self._hooks.on_finished(hook)

    def _perform_task(self, task: ExportTask, cancel: CancelToken) -> Outcome:
        """What the runner calls for every task: the performer of the task's type."""
        perform = self._performers.get(task.task_type)
        if perform is None:
            raise QueueError(f"export task {task.task_id}: no performer for task type {task.task_type.value}")
        return perform(task, cancel)

    def _perform_export_task(self, task: ExportTask, cancel: CancelToken) -> Outcome:
        hook = self._task_progress
        progress: ProgressCallback | None = None
        if hook is not None:

            def progress(ref: InstanceRef, result: InstanceResult) -> None:
                try:
                    hook(task, ref, result)
                except Exception:  # a display must not fail the export
                    log.exception("progress callback %r failed", hook)

        return self._perform(
            task.exporter_id, task.study_uid, task.series_uid, task.sop_instance_uid,
            cancel=cancel, progress=progress, task_id=task.task_id,
        )

    def _perform_action(self, task: ExportTask, cancel: CancelToken) -> Outcome:
        """Storage commitment and IAN tasks, which follow COMPLETED exports."""
        with self._queue_lock:
            if self._actions is None:
                # imported here, under the lock: the first follow-up tasks may start in several workers at once
                from dcm_exporter.actions import ActionPerformer

                self._actions = ActionPerformer(lambda: self._configuration, self._source)
            actions = self._actions
        return actions.perform(task, cancel)

    def close(self) -> None:
        """Stop the queue runner (if started), then close every cached transport. Idempotent."""
        if self._runner is not None:
            self._runner.close()
        if self._actions is not None:
            self._actions.close()
        with self._lock:
            self._closed = True
            transports = [t for _, t in self._transports.values()]
            self._transports.clear()
        for transport in transports:
            _close_quietly(transport)

    def __enter__(self) -> Self:
        return self

    def _summary(self) -> list[tuple[str, Any]]:
        configuration = self._configuration
        with self._lock:
            transports = sorted(self._transports)
            closed = self._closed
        return [
            ("device", self._device_name or ", ".join(d.device_name for d in configuration.devices
                                                            if d.exporters) or None),
            ("exporters", ", ".join(sorted(self._exporter_index())) or "none"),
            ("source", repr(self._source)),
            ("queue", repr(self._store) if self._store is not None else "none (export_now only)"),
            ("transports open", ", ".join(transports) or "none"),
            ("state", "closed" if closed else "open"),
        ]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k.replace(' ', '_')}={v}" for k, v in self._summary() if v is not None)
        return f"<Exporter {fields}>"

    def _repr_html_(self) -> str:
        """A table for Jupyter: device, exporters, source, queue, open transports."""
        from dcm_exporter._tables import field_table

        return field_table("Exporter", self._summary(), status_key="")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- exports ----------------------------------------------------------------------------------

    def export_now(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_instance_uid: str | None = None,
        *,
        cancel: CancelToken | None = None,
        progress: ProgressCallback | None = None,
    ) -> Outcome:
        """Export a study, series or instance right now and return the outcome.

        Args:
            exporter_id: the ``dcmExporterID``.
            study_uid: Study Instance UID.
            series_uid: Series Instance UID, or ``None`` / ``"*"`` for the whole study.
            sop_instance_uid: SOP Instance UID, or ``None`` / ``"*"`` for the whole series.
            cancel: set it from another thread to stop after the instance being sent (CANCELED).
            progress: called once per instance with its result.

        In a Jupyter notebook a progress bar shows the instances sent so far (nothing is shown anywhere
        else).

        Returns:
            The outcome; WARNING ``Could not find …`` when the source has no such instances.

        Raises:
            ConfigurationError: unknown exporter or scheme, unusable destination, or no calling AE title
                for a ``dicom:`` exporter.
            TransportError: the export could not be performed at all (the queue would retry it).
        """
        from dcm_exporter._progress import NotebookProgress

        with NotebookProgress(f"export to {exporter_id}") as bar:
            if not bar.shown:
                return self._perform(
                    exporter_id, study_uid, series_uid, sop_instance_uid,
                    cancel=cancel or CancelToken(), progress=progress,
                )

            def report(ref: InstanceRef, result: InstanceResult) -> None:
                bar.advance(outcome=result.kind)
                if progress is not None:
                    progress(ref, result)

            return self._perform(
                exporter_id, study_uid, series_uid, sop_instance_uid,
                cancel=cancel or CancelToken(), progress=report, on_instances=bar.set_total,
            )

    def _perform(
        self,
        exporter_id: str,
        study_uid: str,
        series_uid: str | None,
        sop_instance_uid: str | None,
        *,
        cancel: CancelToken,
        progress: ProgressCallback | None,
        on_instances: Callable[[int], None] | None = None,
        task_id: int | None = None,
    ) -> Outcome:
        """Resolve the exporter, find the instances, build the request and send it (shared with the queue)."""
        exporter = self.exporter(exporter_id)
        series = series_uid or ALL
        sop = sop_instance_uid or ALL
        transport = self._transport_of(exporter)
        if transport.needs_instances:
            refs = self._source.find(
                study_uid, None if series == ALL else series, None if sop == ALL else sop
            )
            if not refs:
                outcome = Outcome.warning_nothing_found(  # the message is logged and stored: no password
                    study_uid, series, sop, destination=mask_url(exporter.uri)
                )
                log.info("%s: %s", exporter_id, outcome.message)
                return outcome
        else:
            refs = []
        if on_instances is not None and refs:
            on_instances(len(refs))
        calling_ae = self._calling_ae_title(exporter, refs)
        request = ExportRequest(
            exporter=exporter,
            configuration=self._configuration,
            study_uid=study_uid,
            series_uid=series,
            sop_instance_uid=sop,
            instances=refs,
            calling_ae_title=calling_ae,
            cancel=cancel,
            progress=progress,
        )
        outcome = transport.send(request)
        # no instances looked up (a transport that needs none, such as noop:): no modalities to gather
        modalities = tuple(dict.fromkeys(r.modality for r in refs if r.modality)) if refs else ()
        if modalities and not outcome.modalities:
            outcome = attrs.evolve(outcome, modalities=modalities)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s: %s", exporter_id, outcome.message,
                extra={"exporter_id": exporter_id, "study_uid": study_uid, "status": str(outcome.status)},
            )
        if failure_log.isEnabledFor(logging.WARNING) and (outcome.failures or outcome.interrupted):
            _log_failures(exporter_id, task_id, outcome)
        return outcome

    @staticmethod
    def _calling_ae_title(exporter: ExporterDescriptor, refs: list[InstanceRef]) -> str | None:
        calling = exporter.ae_title
        if exporter.export_as_source_ae:
            source_ae = next((r.source_ae_title for r in refs if r.source_ae_title), None)
            if source_ae:
                calling = source_ae
        if calling is None and exporter.scheme == "dicom":
            raise ConfigurationError(
                f"exporter {exporter.exporter_id!r} ({mask_url(exporter.uri)}) has no dicomAETitle, so there is no "
                "calling AE title for the association (dcm4chee-arc fails here too, issue #1181); "
                "set dicomAETitle"
                + (" — dcmExportAsSourceAE found no source AE title for these instances"
                   if exporter.export_as_source_ae else "")
            )
        return calling


def _close_quietly(transport: Transport) -> None:
    try:
        transport.close()
    except Exception:  # closing must not mask the caller's work; log and go on
        log.warning("closing transport %r failed", transport, exc_info=True)


def _log_failures(exporter_id: str, task_id: int | None, outcome: Outcome) -> None:
    """One WARNING per failed instance (the first 100, then how many more), and one for an interruption."""
    from dcm_exporter.export import MAX_RECORDED_FAILURES, status_text

    task = "export now" if task_id is None else f"task {task_id}"
    base = {"exporter_id": exporter_id, "task_id": task_id}
    for f in outcome.failures[:MAX_RECORDED_FAILURES]:
        status = "" if f.status_code is None else f" (status {status_text(f.status_code)})"
        failure_log.warning(
            "%s %s: instance %s failed%s: %s", exporter_id, task, f.sop_instance_uid, status, f.reason,
            extra={**base, "sop_instance_uid": f.sop_instance_uid, "status_code": f.status_code},
        )
    more = len(outcome.failures) - MAX_RECORDED_FAILURES
    if more > 0:
        failure_log.warning("%s %s: %d more instance(s) failed", exporter_id, task, more, extra=base)
    if outcome.interrupted:
        failure_log.warning(
            "%s %s: interrupted, %d instance(s) not confirmed: %s", exporter_id, task, outcome.remaining,
            outcome.interrupted, extra=base,
        )
