"""``ExportRules``: decide on every stored object what to export, when, and how coarsely.

An archive that embeds dcm_exporter calls :meth:`ExportRules.on_store` once per stored object. The rules of the
receiving AE (``dcmExportRule`` below its ``dicomNetworkAE`` entry) and of its device are matched against the
dataset and the association; per exporter the coarsest matching entity wins; each surviving rule schedules (or
coalesces into) an export task at ``ceil(now + dcmDuration, exporter dcmSchedule)``, ``now + dcmDuration``
rounded up to a whole second first (see :func:`scheduled_time`).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.conditions import (
    RECEIVING_AET_INDEX,
    Condition,
    ConditionError,
    DatasetView,
    Predicate,
    _tags,
    dataset_view,
    parse_conditions,
)
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import Configuration, Entity, ExportRule, ReoccurredInstances
from dcm_exporter.models.configuration import Severity, ValidationIssue

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.queue.manager import TaskManager
    from dcm_exporter.queue.store import TaskStore
    from dcm_exporter.queue.task import ExportTask
    from dcm_exporter.schedule import Schedules

__all__ = ["CompiledRule", "ExportRules", "Occurrence", "compile_rules", "scheduled_time"]

log = logging.getLogger("dcm_exporter.rules")

_RANK = {Entity.STUDY: 0, Entity.SERIES: 1, Entity.INSTANCE: 2}
_STUDY_UID, _SERIES_UID, _SOP_UID = 0x0020000D, 0x0020000E, 0x00080018
_UID_TAGS = _tags((_STUDY_UID, _SERIES_UID, _SOP_UID))
_AE_CACHE_LIMIT = 1024


class Occurrence(enum.Enum):
    """How the stored object relates to what the archive held before (the ``reoccurred`` argument).

    ``dcmExportReoccurredInstances`` decides on it: NEVER exports only ``NEW``; REPLACE (the default) exports
    ``NEW`` and ``REPLACED``; ALWAYS exports all three. ``reoccurred=False`` means ``NEW`` and
    ``reoccurred=True`` means ``DUPLICATE``.
    """

    NEW = "new"
    """First time the archive sees this SOP Instance UID."""
    REPLACED = "replaced"
    """Received again and stored, replacing the object held before."""
    DUPLICATE = "duplicate"
    """Received again and not stored again (the archive kept what it had)."""

    @classmethod
    def of(cls, value: bool | Occurrence | str) -> Occurrence:
        """``False`` -> ``NEW``, ``True`` -> ``DUPLICATE``, a member or its value as is."""
        if isinstance(value, Occurrence):
            return value
        if isinstance(value, bool):
            return cls.DUPLICATE if value else cls.NEW
        return cls(str(value).lower())


def _up_to_second(when: datetime) -> datetime:
    """``when`` rounded up to a whole second (unchanged when it is one)."""
    if when.microsecond:
        return when.replace(microsecond=0) + _SECOND
    return when


_SECOND = timedelta(seconds=1)


def scheduled_time(now: datetime, delay: timedelta, schedules: Schedules) -> datetime:
    """When a task that a rule creates at ``now`` runs: ``now + delay`` rounded up to a whole second, then
    moved to the start of the exporter's next window (``schedules.ceil``).

    dcm4chee adds the delay in whole seconds; rounding the sum up as well never makes a task run before
    ``now + delay`` (at most one second later), and it gives every object of a study that arrives within
    the same second the same time, so coalescing them into the waiting task changes nothing and writes
    nothing.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> from dcm_exporter.schedule import Schedules
        >>> now = datetime(2024, 5, 6, 9, 0, 0, 250_000, tzinfo=UTC)
        >>> scheduled_time(now, timedelta(minutes=1), Schedules.ALWAYS).isoformat()
        '2024-05-06T09:01:01+00:00'
        >>> scheduled_time(now.replace(microsecond=0), timedelta(0), Schedules.ALWAYS).isoformat()
        '2024-05-06T09:00:00+00:00'
    """
    return schedules.ceil(_up_to_second(now + delay))


def _exports(policy: ReoccurredInstances, occurrence: Occurrence) -> bool:
    if policy is ReoccurredInstances.ALWAYS:
        return True
    if policy is ReoccurredInstances.NEVER:
        return occurrence is Occurrence.NEW
    return occurrence is not Occurrence.DUPLICATE


@attrs.frozen(kw_only=True, eq=False)
class CompiledRule:
    """An export rule ready to be evaluated: conditions compiled, delay truncated to seconds.

    Attributes:
        rule: The configured rule.
        dn: Its LDAP DN (for messages).
        device_name: The device the rule is configured on.
        rank: 0 Study, 1 Series, 2 Instance (lower is coarser).
        conditions: The parsed conditions (network keys first).
        predicates: The compiled conditions, in the same order.
        delay: ``dcmDuration`` in whole seconds (dcm4chee adds whole seconds).
    """

    rule: ExportRule
    dn: str
    device_name: str
    rank: int
    conditions: tuple[Condition, ...]
    predicates: tuple[Predicate, ...]
    delay: timedelta

    @property
    def name(self) -> str:
        """The rule's ``cn``."""
        return self.rule.name

    def matches(self, view: DatasetView, net: Sequence[str | None]) -> bool:
        """Whether every condition holds (the rule's schedule is checked by the caller)."""
        for predicate in self.predicates:  # noqa: SIM110 - a plain loop is faster than all(<generator>)
            if not predicate(view, net):
                return False
        return True

    def for_receiving_ae(self, ae_title: str) -> CompiledRule | None:
        """This rule with its receiving-AE conditions decided for ``ae_title``: ``None`` when they fail,
        else the rule without them (so they are not evaluated again per object)."""
        keep: list[tuple[Condition, Predicate]] = []
        net = (None, ae_title, None, None)
        for cond, predicate in zip(self.conditions, self.predicates, strict=True):
            if cond.network_index == RECEIVING_AET_INDEX:
                if not predicate(_EMPTY_VIEW, net):
                    return None
            else:
                keep.append((cond, predicate))
        if len(keep) == len(self.predicates):
            return self
        return attrs.evolve(
            self, conditions=tuple(c for c, _ in keep), predicates=tuple(p for _, p in keep)
        )


class _EmptyView:
    def values(self, tag: int) -> tuple[str | None, ...]:
        return ()

    def has_value(self, tag: int) -> bool:
        return False

    def items(self, tag: int) -> Sequence[DatasetView]:
        return ()


_EMPTY_VIEW = _EmptyView()


@attrs.frozen(kw_only=True)
class _RuleSet:
    """Compiled rules of one configuration, indexed for lookup by receiving AE title."""

    configuration: Configuration
    device_rules: Mapping[str, tuple[CompiledRule, ...]]
    ae_rules: Mapping[str, tuple[CompiledRule, ...]]
    ae_device: Mapping[str, str]
    default_device: str | None
    issues: tuple[ValidationIssue, ...]
    by_receiving_ae: dict[str, tuple[CompiledRule, ...]] = attrs.field(factory=dict)

    def for_receiving_ae(self, ae_title: str) -> tuple[CompiledRule, ...]:
        cached = self.by_receiving_ae.get(ae_title)
        if cached is not None:
            return cached
        device = self.ae_device.get(ae_title, self.default_device)
        candidates = (*self.ae_rules.get(ae_title, ()), *self.device_rules.get(device or "", ()))
        result = tuple(r for r in (c.for_receiving_ae(ae_title) for c in candidates) if r is not None)
        if len(self.by_receiving_ae) < _AE_CACHE_LIMIT:
            self.by_receiving_ae[ae_title] = result
        return result


def compile_rules(configuration: Configuration) -> tuple[list[CompiledRule], list[ValidationIssue]]:
    """Compile every export rule of a configuration and report problems.

    Errors (the rule cannot be used): a condition that does not parse (unknown keyword, invalid regular
    expression, bad ``[n]``) or an invalid ``dcmSchedule``. Warnings: an exporter id or ``dicomDeviceName`` that
    does not exist, a condition replaced by a later one with the same key. (An unknown ``dcmEntity`` never gets
    this far: reading the configuration rejects it, naming the DN.)

    Returns:
        The rules that compiled, and the issues (each with the rule's DN and, when known, file and line).
    """
    from dcm_exporter.codecs.ldap_mapping import device_dn, entry_dn_of, normalize_dn

    compiled: list[CompiledRule] = []
    issues: list[ValidationIssue] = []
    exporters_by_device = {d.device_name: {e.exporter_id for e in d.exporters} for d in configuration.devices}

    def add(severity: Severity, message: str, dn: str) -> None:
        issues.append(
            ValidationIssue(
                severity=severity, message=message, dn=dn, location=configuration.locations.get(normalize_dn(dn))
            )
        )

    for device in configuration.devices:
        ddn = device_dn(device.device_name, configuration.base_dn)
        placed: list[tuple[ExportRule, str]] = [(r, ddn) for r in device.export_rules]
        for ae in device.application_entities:
            adn = entry_dn_of(ae, ddn)
            placed.extend((r, adn) for r in ae.export_rules)
        for rule, parent in placed:
            dn = entry_dn_of(rule, parent)
            try:
                conditions, notes = parse_conditions(rule.conditions)
            except ConditionError as exc:
                add(Severity.ERROR, f"export rule {rule.name!r}: {exc}", dn)
                continue
            for note in notes:
                add(Severity.WARNING, f"export rule {rule.name!r}: {note}", dn)
            target = rule.device_name or device.device_name
            if rule.device_name and rule.device_name not in exporters_by_device:
                add(Severity.WARNING, f"export rule {rule.name!r}: device {rule.device_name} does not exist", dn)
            else:
                known = exporters_by_device.get(target, set())
                for eid in rule.exporter_ids:
                    if eid not in known:
                        add(
                            Severity.WARNING,
                            f"export rule {rule.name!r}: exporter {eid} does not exist on device {target}; "
                            "objects matching the rule are not exported to it",
                            dn,
                        )
            delay = rule.delay or timedelta(0)
            compiled.append(
                CompiledRule(
                    rule=rule,
                    dn=dn,
                    device_name=device.device_name,
                    rank=_RANK[rule.entity],
                    conditions=conditions,
                    predicates=tuple(c.compile() for c in conditions),
                    delay=timedelta(seconds=int(delay.total_seconds())),
                )
            )
    return compiled, issues


def _rule_set(configuration: Configuration, default_device: str | None) -> _RuleSet:
    compiled, issues = compile_rules(configuration)
    errors = [i for i in issues if i.severity is Severity.ERROR]
    if errors:
        lines = "\n  ".join(str(i) for i in errors)
        error = ConfigurationError(f"{len(errors)} export rule(s) cannot be used:\n  {lines}")
        error.dn = errors[0].dn if len(errors) == 1 else None  # the message names every DN already
        raise error
    for issue in issues:
        log.warning("%s", issue, extra={"dn": issue.dn})
    device_rules: dict[str, list[CompiledRule]] = {}
    ae_rules: dict[str, list[CompiledRule]] = {}
    for c in compiled:
        if c.rule.ae_title is None:
            device_rules.setdefault(c.device_name, []).append(c)
        else:
            ae_rules.setdefault(c.rule.ae_title, []).append(c)
    ae_device = {ae.ae_title: d.device_name for d in configuration.devices for ae in d.application_entities}
    return _RuleSet(
        configuration=configuration,
        device_rules={k: tuple(v) for k, v in device_rules.items()},
        ae_rules={k: tuple(v) for k, v in ae_rules.items()},
        ae_device=ae_device,
        default_device=default_device,
        issues=tuple(issues),
    )


class ExportRules:
    """The export rules of a configuration, evaluated for each stored object.

    Args:
        manager: The :class:`~dcm_exporter.queue.manager.TaskManager` that schedules the tasks (it owns
            coalescing and covering; the rules only decide what to export and when).
        configuration: The configuration to read rules from; by default the manager's, followed on every
            reload of the manager.
        clock: Returns the current time (timezone-aware); by default the queue's clock.

    Raises:
        ConfigurationError: a rule cannot be used (unparsable condition, unknown keyword, invalid regular
            expression); the message names each rule's DN (and file:line when read from LDIF).

    Example:
        >>> from dcm_exporter.rules import ExportRules
        >>> from dcm_exporter.codecs import ldif
        >>> from dcm_exporter.queue import InMemoryTaskStore
        >>> config = ldif.load('''
        ... dn: dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        ... objectClass: dicomDevice
        ... dicomDeviceName: arc
        ... dicomInstalled: TRUE
        ...
        ... dn: dcmQueueName=Export1,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        ... objectClass: dcmQueue
        ... dcmQueueName: Export1
        ...
        ... dn: dcmExporterID=CT,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        ... objectClass: dcmExporter
        ... dcmExporterID: CT
        ... dcmURI: noop:CT
        ... dcmQueueName: Export1
        ...
        ... dn: cn=CT Studies,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        ... objectClass: dcmExportRule
        ... cn: CT Studies
        ... dcmEntity: Study
        ... dcmExporterID: CT
        ... dcmProperty: Modality=CT
        ... dcmDuration: PT1M
        ... ''')
        >>> # in memory for this example: tasks that outlive the process need open_store("sqlite:PATH")
        >>> rules = ExportRules.from_configuration(config, store=InMemoryTaskStore())
        >>> from pydicom import Dataset
        >>> ds = Dataset()
        >>> ds.Modality, ds.StudyInstanceUID = "CT", "1.2.3"
        >>> ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3.1", "1.2.3.1.1"
        >>> [task.entity for task in rules.on_store(ds, sending_aet="MOD", receiving_aet="ARC")]
        ['Study[1.2.3]']
    """

    def __init__(
        self,
        manager: TaskManager,
        configuration: Configuration | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from dcm_exporter.queue.manager import TaskManager

        if not isinstance(manager, TaskManager):
            raise TypeError(f"ExportRules needs a TaskManager, got {type(manager).__name__}")
        require(*PYDICOM)  # before on_store runs in several threads (see dcm_exporter._imports)
        self._manager = manager
        self._follow = configuration is None
        config = configuration if configuration is not None else self._manager.configuration
        if not isinstance(config, Configuration):
            raise TypeError(
                "ExportRules reads rules from a dcm_exporter.models.Configuration; pass configuration=..."
            )
        self._clock = clock
        self._lock = threading.Lock()
        self._managers: dict[str, TaskManager] = {self._manager.device_name: self._manager}
        self._warned: set[tuple[str, str]] = set()
        self._rules = _rule_set(config, self._manager.device_name)
        self._seen: object = self._manager.configuration

    @classmethod
    def from_configuration(
        cls,
        configuration: Configuration,
        *,
        store: TaskStore,
        device_name: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> ExportRules:
        """Rules of ``configuration`` scheduling into ``store``.

        Args:
            configuration: where the rules, exporters and queues are read from.
            store: where the scheduled tasks are kept: the store the runner performing them reads, e.g.
                ``open_store("sqlite:PATH")`` or a PostgreSQL store (:func:`dcm_exporter.queue.open_store`),
                or the one given to :class:`~dcm_exporter.Exporter`. There is no default: an
                :class:`~dcm_exporter.queue.InMemoryTaskStore` keeps tasks only while the process lives, so
                choosing one is left to the caller (tests, notebooks).
            device_name: the archive device whose tasks these are (default: the configuration's only device,
                or the one with exporters).
            clock: returns the current time (timezone-aware); by default the system clock.

        Raises:
            TypeError: ``store`` is not a task store.
            ConfigurationError: a rule cannot be used, or the device cannot be determined.
        """
        from dcm_exporter.queue.manager import TaskManager
        from dcm_exporter.queue.store import TaskStore

        if not isinstance(store, TaskStore):
            raise TypeError(
                "ExportRules.from_configuration needs store=<a task store>, e.g. "
                "dcm_exporter.queue.open_store('sqlite:tasks.sqlite'); got "
                f"{type(store).__name__}"
            )
        manager = TaskManager(store, configuration, device_name=device_name, clock=clock)
        return cls(manager, clock=clock)

    # --- configuration ----------------------------------------------------------------------------------

    @property
    def configuration(self) -> Configuration:
        """The configuration the rules were read from."""
        return self._rules.configuration

    @property
    def task_manager(self) -> TaskManager:
        """The task manager tasks are scheduled with."""
        return self._manager

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """Every loaded rule (device-level rules of each device, then AE-level ones)."""
        out: list[CompiledRule] = []
        for rules in self._rules.device_rules.values():
            out.extend(rules)
        for rules in self._rules.ae_rules.values():
            out.extend(rules)
        return tuple(out)

    def rules_for(self, receiving_aet: str) -> tuple[ExportRule, ...]:
        """The rules that apply to objects received by ``receiving_aet``: that AE's rules, then its device's
        (those of the queue's device for an AE the configuration does not know), minus those whose
        ``ReceivingApplicationEntityTitle`` conditions exclude it."""
        return tuple(r.rule for r in self._rules.for_receiving_ae(receiving_aet))

    def validate(self) -> list[ValidationIssue]:
        """Warnings found when the rules were loaded (errors prevent loading)."""
        return list(self._rules.issues)

    @staticmethod
    def check(configuration: Configuration) -> list[ValidationIssue]:
        """Every problem of the export rules of ``configuration``, errors and warnings, without loading."""
        return compile_rules(configuration)[1]

    def reload(self, configuration: Configuration) -> None:
        """Use the rules of ``configuration`` from now on.

        Raises:
            ConfigurationError: a rule cannot be used; the rules loaded before stay in force.
        """
        rules = _rule_set(configuration, self._manager.device_name)
        with self._lock:
            self._rules = rules
            self._warned.clear()
            for manager in self._managers.values():
                if manager is not self._manager:
                    manager.reload(configuration)

    def _current(self) -> _RuleSet:
        if self._follow:
            config = self._manager.configuration
            if config is not self._seen:
                self._seen = config
                if isinstance(config, Configuration) and config is not self._rules.configuration:
                    try:
                        self.reload(config)
                    except ConfigurationError:
                        log.error(
                            "the reloaded configuration has unusable export rules; the previous rules stay in "
                            "force",
                            exc_info=True,
                        )
        return self._rules

    # --- decisions --------------------------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        if now is None:
            now = self._clock() if self._clock is not None else self._manager.now()
        if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
            raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
        return now

    def match(
        self,
        dataset: Dataset | Mapping[str, Any],
        *,
        sending_aet: str | None,
        receiving_aet: str,
        sending_host: str | None = None,
        receiving_host: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, CompiledRule]:
        """The decision without scheduling: exporter id -> the rule that exports to it.

        Rules outside their ``dcmSchedule`` are skipped; of several matching rules naming one exporter the
        coarsest entity wins (on a tie the first: AE-level rules before device-level ones, in configured
        order). A rule whose conditions cannot be evaluated on this dataset is logged and skipped.
        """
        when = self._now(now)
        return self._match(self._current(), dataset_view(dataset),
                           (sending_aet, receiving_aet, sending_host, receiving_host), when)

    def _match(
        self, ruleset: _RuleSet, view: DatasetView, net: tuple[str | None, ...], now: datetime
    ) -> dict[str, CompiledRule]:
        chosen: dict[str, CompiledRule] = {}
        for rule in ruleset.for_receiving_ae(net[1] or ""):
            schedules = rule.rule.schedules
            if schedules.expressions and not schedules.contains(now):
                continue
            try:
                if not rule.matches(view, net):
                    continue
            except Exception:  # a malformed element must not break storing; the rule just does not fire
                log.warning(
                    "export rule %r: conditions could not be evaluated on this dataset; rule skipped",
                    rule.name, exc_info=True, extra={"rule": rule.name, "dn": rule.dn},
                )
                continue
            for eid in rule.rule.exporter_ids:
                current = chosen.get(eid)
                if current is None or current.rank > rule.rank:
                    chosen[eid] = rule
        return chosen

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
        """Apply the rules to one stored object; returns the export tasks created or coalesced.

        Args:
            dataset: The stored object's attributes: a pydicom :class:`~pydicom.dataset.Dataset` or a DICOM JSON
                mapping.
            sending_aet: Calling AE title of the association that brought it (``None`` if not DIMSE).
            receiving_aet: Called AE title: selects the AE-level rules and the device.
            sending_host: Remote host name or address, if known.
            receiving_host: Local host name the object was received on, if known.
            reoccurred: ``False`` / ``Occurrence.NEW`` (first time), ``Occurrence.REPLACED`` (received again
                and stored over the old object) or ``True`` / ``Occurrence.DUPLICATE`` (received again, not
                stored again); see ``dcmExportReoccurredInstances``.
            now: The time of storage (default: the clock).
            previous_study_uid: For a replaced object: the Study Instance UID it had before (with
                ``dcmExportPreviousEntity``, that study is exported too when it differs).
            previous_series_uid: Likewise for the series.

        Returns:
            The tasks, one per exporter (plus previous entities), as stored after coalescing.

        Raises:
            ValueError: ``now`` is naive.
            TypeError: ``dataset`` is neither a pydicom :class:`~pydicom.dataset.Dataset` nor a mapping.
            QueueError: the task store failed (the tasks not scheduled are logged).

        Bad data in the dataset never raises: a rule that cannot be evaluated is skipped and an object without
        the UIDs an export needs is not exported; both are logged as warnings.
        """
        when = self._now(now)
        ruleset = self._current()
        view = dataset_view(dataset)
        chosen = self._match(ruleset, view, (sending_aet, receiving_aet, sending_host, receiving_host), when)
        if not chosen:
            return []
        occurrence = Occurrence.of(reoccurred)
        if occurrence is Occurrence.NEW and (previous_study_uid or previous_series_uid):
            occurrence = Occurrence.REPLACED
        finest = max(rule.rank for rule in chosen.values())
        uids = [_first_uid(view, tag) if n <= finest else None for n, tag in enumerate(_UID_TAGS)]
        study, series, sop = uids
        tasks: list[ExportTask] = []
        for eid, rule in chosen.items():
            if not _exports(rule.rule.export_reoccurred_instances, occurrence):
                log.debug("export rule %r: %s object not exported to %s (dcmExportReoccurredInstances %s)",
                          rule.name, occurrence.value, eid, rule.rule.export_reoccurred_instances.value)
                continue
            needed = uids[: rule.rank + 1]
            if any(u is None for u in needed):
                log.warning(
                    "export rule %r matched an object without %s; not exported to %s",
                    rule.name, _missing(uids, rule.rank), eid,
                    extra={"rule": rule.name, "exporter_id": eid},
                )
                continue
            target_device = rule.rule.device_name or ruleset.ae_device.get(receiving_aet) or self._manager.device_name
            manager = self._manager_for(target_device)
            if manager is None:
                continue
            try:
                exporter = manager.exporter(eid)
            except ConfigurationError:
                self._warn_once(eid, target_device, rule, f"no exporter {eid} is configured on device {target_device}")
                continue
            if manager.queue(exporter.queue_name) is None:
                # dcm4chee-arc fails the same way when it queues the task (No Queue configured with name:...)
                self._warn_once(eid, target_device, rule, f"the queue {exporter.queue_name} of exporter {eid} is "
                                f"not configured on device {target_device}")
                continue
            scheduled = scheduled_time(when, rule.delay, exporter.schedules)
            assert study is not None
            scope = (series if rule.rank >= 1 else None, sop if rule.rank >= 2 else None)
            tasks.append(manager.schedule_covering(eid, study, *scope, scheduled_time=scheduled))
            if rule.rule.export_previous_entity:
                if rule.rank == 0 and previous_study_uid and previous_study_uid != study:
                    tasks.append(manager.schedule_covering(eid, previous_study_uid, scheduled_time=scheduled))
                elif rule.rank == 1 and previous_series_uid and previous_series_uid != series:
                    tasks.append(manager.schedule_covering(
                        eid, previous_study_uid or study, previous_series_uid, scheduled_time=scheduled))
        return tasks

    # --- scheduling -------------------------------------------------------------------------------------

    def _manager_for(self, device_name: str) -> TaskManager | None:
        manager = self._managers.get(device_name)
        if manager is not None:
            return manager
        config = self._rules.configuration
        if not config.has_device(device_name):
            if ("", device_name) not in self._warned:
                self._warned.add(("", device_name))
                log.warning("export rules name device %s, which is not configured; not exported", device_name)
            return None
        manager = self._manager.for_device(device_name, config)
        self._managers[device_name] = manager
        return manager

    def _warn_once(self, exporter_id: str, device_name: str, rule: CompiledRule, why: str) -> None:
        key = (exporter_id, device_name)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "export rule %r: %s; matching objects are not exported to it",
                rule.name, why, extra={"rule": rule.name, "dn": rule.dn, "exporter_id": exporter_id},
            )


def _first_uid(view: DatasetView, tag: int) -> str | None:
    try:
        values = view.values(tag)
    except Exception:  # malformed element: treated as missing, reported by the caller
        return None
    return values[0] if values and values[0] else None


def _missing(uids: list[str | None], rank: int) -> str:
    names = ("Study Instance UID", "Series Instance UID", "SOP Instance UID")
    return ", ".join(n for n, u in zip(names[: rank + 1], uids[: rank + 1], strict=True) if u is None)
