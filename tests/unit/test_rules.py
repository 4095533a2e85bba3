"""ExportRules: rule selection, precedence, windows, delay, reoccurred instances, coalescing, reload, errors."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from pydicom import Dataset

from dcm_exporter.codecs import ldif
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Device,
    ExporterDescriptor,
    ExportRule,
    QueueDescriptor,
    Severity,
)
from dcm_exporter.queue import InMemoryTaskStore, TaskFilter, TaskManager, TaskStatus, open_store
from dcm_exporter.rules import ExportRules, Occurrence
from dcm_exporter.schedule import Schedules
from dcm_exporter.testing import FakeClock

T0 = datetime(2024, 1, 3, 10, 0, tzinfo=UTC)  # a Wednesday


def rule(name: str, entity: str = "Study", exporters: Iterable[str] = ("E1",), **kw: object) -> ExportRule:
    return ExportRule(name=name, entity=entity, exporter_ids=tuple(exporters), **kw)  # type: ignore[arg-type]


def configuration(
    device_rules: Iterable[ExportRule] = (),
    ae_rules: Iterable[ExportRule] = (),
    exporters: Iterable[str] = ("E1", "E2"),
    exporter_schedules: Iterable[str] = (),
    other_device: bool = False,
) -> Configuration:
    devices = [
        Device(
            device_name="arc",
            application_entities=(
                ApplicationEntity(ae_title="ARC", export_rules=tuple(ae_rules)),
                ApplicationEntity(ae_title="ARC2"),
            ),
            exporters=tuple(
                ExporterDescriptor(
                    exporter_id=e,
                    uri=f"noop:{e}",
                    queue_name="Export1",
                    ae_title="ARC",
                    schedules=Schedules.parse(list(exporter_schedules), tz=UTC),
                )
                for e in exporters
            ),
            queues=(QueueDescriptor(queue_name="Export1"),),
            export_rules=tuple(device_rules),
        )
    ]
    if other_device:
        devices.append(
            Device(
                device_name="other",
                application_entities=(ApplicationEntity(ae_title="OTHER"),),
                exporters=(ExporterDescriptor(exporter_id="X1", uri="noop:X1", queue_name="Q"),),
                queues=(QueueDescriptor(queue_name="Q"),),
            )
        )
    return Configuration(devices=tuple(devices))


def instance(study: str = "1.1", series: str = "1.1.1", sop: str = "1.1.1.1", modality: str = "CT") -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = sop
    ds.Modality = modality
    return ds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def make(config: Configuration, clock: FakeClock) -> ExportRules:
    manager = TaskManager(InMemoryTaskStore(), config, device_name="arc", clock=clock)
    return ExportRules(manager)


def store(rules: ExportRules, ds: Dataset | dict, receiving: str = "ARC", **kw: object) -> list:
    return rules.on_store(ds, sending_aet="MOD", receiving_aet=receiving, **kw)  # type: ignore[arg-type]


# --- matching and precedence -------------------------------------------------------------------------------


def test_matching_study_rule_schedules_now_plus_delay(clock: FakeClock) -> None:
    rules = make(configuration([rule("ct", conditions=("Modality=CT",), delay=timedelta(minutes=5))]), clock)
    [task] = store(rules, instance())
    assert (task.exporter_id, task.study_uid, task.series_uid, task.sop_instance_uid) == ("E1", "1.1", "*", "*")
    assert task.scheduled_time == T0 + timedelta(minutes=5)
    assert task.status is TaskStatus.SCHEDULED
    assert task.device_name == "arc" and task.queue_name == "Export1"


def test_non_matching_rule_schedules_nothing(clock: FakeClock) -> None:
    rules = make(configuration([rule("mr", conditions=("Modality=MR",))]), clock)
    assert store(rules, instance()) == []
    assert rules.task_manager.count() == 0


def test_all_conditions_are_and_ed(clock: FakeClock) -> None:
    rules = make(
        configuration(
            [rule("r", conditions=("Modality=CT", "SendingApplicationEntityTitle=MOD", "SendingHostname=h"))]
        ),
        clock,
    )
    assert store(rules, instance()) == []  # no sending host given
    assert len(store(rules, instance(), sending_host="h")) == 1


@pytest.mark.parametrize("order", [("series", "study"), ("study", "series")])
def test_coarsest_entity_wins_for_one_exporter(clock: FakeClock, order: tuple[str, str]) -> None:
    both = {"series": rule("series", "Series"), "study": rule("study", "Study", delay=timedelta(minutes=1))}
    rules = make(configuration([both[n] for n in order]), clock)
    chosen = rules.match(instance(), sending_aet="MOD", receiving_aet="ARC")
    assert {k: v.name for k, v in chosen.items()} == {"E1": "study"}
    [task] = store(rules, instance())
    assert task.series_uid == "*"


def test_series_beats_instance_and_exporters_are_independent(clock: FakeClock) -> None:
    rules = make(
        configuration(
            [rule("inst", "Instance", exporters=("E1", "E2")), rule("series", "Series", exporters=("E1",))]
        ),
        clock,
    )
    chosen = rules.match(instance(), sending_aet="MOD", receiving_aet="ARC")
    assert {k: v.name for k, v in chosen.items()} == {"E1": "series", "E2": "inst"}
    tasks = {t.exporter_id: t for t in store(rules, instance())}
    assert tasks["E1"].series_uid == "1.1.1" and tasks["E1"].sop_instance_uid == "*"
    assert tasks["E2"].sop_instance_uid == "1.1.1.1"


def test_tie_first_rule_wins_ae_level_before_device_level(clock: FakeClock) -> None:
    config = configuration(
        [rule("device", delay=timedelta(minutes=9))], [rule("ae", delay=timedelta(minutes=1))]
    )
    rules = make(config, clock)
    assert rules.match(instance(), sending_aet="MOD", receiving_aet="ARC")["E1"].name == "ae"
    [task] = store(rules, instance())
    assert task.scheduled_time == T0 + timedelta(minutes=1)


def test_ae_level_rules_apply_only_to_their_ae(clock: FakeClock) -> None:
    rules = make(configuration([], [rule("ae-only")]), clock)
    assert [r.name for r in rules.rules_for("ARC")] == ["ae-only"]
    assert rules.rules_for("ARC2") == ()
    assert store(rules, instance(), receiving="ARC2") == []
    assert len(store(rules, instance(), receiving="ARC")) == 1


def test_receiving_ae_conditions_are_decided_once_per_ae(clock: FakeClock) -> None:
    config = configuration([rule("arc2", conditions=("ReceivingApplicationEntityTitle=ARC2", "Modality=CT"))])
    rules = make(config, clock)
    assert rules.rules_for("ARC") == ()
    assert [r.name for r in rules.rules_for("ARC2")] == ["arc2"]
    assert store(rules, instance(), receiving="ARC") == []
    assert len(store(rules, instance(), receiving="ARC2")) == 1
    assert store(rules, instance(modality="MR"), receiving="ARC2") == []


def test_unknown_receiving_ae_gets_the_device_rules(clock: FakeClock) -> None:
    rules = make(configuration([rule("dev")], [rule("ae")]), clock)
    assert [r.name for r in rules.rules_for("UNKNOWN")] == ["dev"]


# --- windows and times -------------------------------------------------------------------------------------


def test_rule_schedule_gates_firing(clock: FakeClock) -> None:
    night = Schedules.parse(["hour=18-6"], tz=UTC)
    rules = make(configuration([rule("night", schedules=night)]), clock)
    assert store(rules, instance()) == []  # 10:00
    clock.set(T0.replace(hour=19))
    assert len(store(rules, instance())) == 1


def test_exporter_schedule_ceils_the_scheduled_time(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", delay=timedelta(hours=1))], exporter_schedules=["hour=18-6"]), clock)
    [task] = store(rules, instance())
    assert task.scheduled_time == T0.replace(hour=18)
    # inside the window: now + delay unchanged
    clock.set(T0.replace(hour=19))
    [task2] = store(rules, instance(study="2.2"))
    assert task2.scheduled_time == T0.replace(hour=20)


def test_delay_counts_whole_seconds(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", delay=timedelta(seconds=1, milliseconds=900))]), clock)
    [task] = store(rules, instance())
    assert task.scheduled_time == T0 + timedelta(seconds=1)


def test_scheduled_time_is_rounded_up_to_a_whole_second(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", delay=timedelta(minutes=1))]), clock)
    clock.set(T0 + timedelta(milliseconds=250))
    [task] = store(rules, instance())
    assert task.scheduled_time == T0 + timedelta(minutes=1, seconds=1)  # never before now + delay
    clock.set(T0 + timedelta(milliseconds=990))
    [same] = store(rules, instance(series="1.1.2", sop="1.1.2.1"))
    # an arrival within the same second: same time, the stored task is not written again
    stored = rules.task_manager.get(task.task_id)
    assert same.task_id == task.task_id and stored.scheduled_time == task.scheduled_time
    assert stored.updated_time == task.updated_time
    clock.set(T0 + timedelta(seconds=1, milliseconds=1))
    [later] = store(rules, instance(sop="1.1.1.3"))
    assert later.task_id == task.task_id and later.scheduled_time == T0 + timedelta(minutes=1, seconds=2)
    clock.set(T0 + timedelta(seconds=5))  # on a whole second: unchanged
    [exact] = store(rules, instance(sop="1.1.1.4"))
    assert exact.scheduled_time == T0 + timedelta(minutes=1, seconds=5)


def test_rounding_never_schedules_before_now_plus_delay() -> None:
    from dcm_exporter.rules.engine import scheduled_time

    delay = timedelta(seconds=30)
    for micros in (0, 1, 499_999, 500_000, 999_999):
        now = T0 + timedelta(microseconds=micros)
        when = scheduled_time(now, delay, Schedules.ALWAYS)
        assert now + delay <= when < now + delay + timedelta(seconds=1) and when.microsecond == 0
    window = Schedules.parse(["hour=18-6"], tz=UTC)
    assert scheduled_time(T0 + timedelta(microseconds=1), delay, window) == T0.replace(hour=18)


def test_explicit_now_and_naive_now(clock: FakeClock) -> None:
    rules = make(configuration([rule("r")]), clock)
    later = T0 + timedelta(hours=2)
    [task] = store(rules, instance(), now=later)
    assert task.scheduled_time == later
    with pytest.raises(ValueError, match="timezone-aware"):
        store(rules, instance(), now=datetime(2024, 1, 1, 12, 0))


# --- reoccurred instances ----------------------------------------------------------------------------------

EXPECTED = {
    ("NEVER", Occurrence.NEW): True,
    ("NEVER", Occurrence.REPLACED): False,
    ("NEVER", Occurrence.DUPLICATE): False,
    ("REPLACE", Occurrence.NEW): True,
    ("REPLACE", Occurrence.REPLACED): True,
    ("REPLACE", Occurrence.DUPLICATE): False,
    ("ALWAYS", Occurrence.NEW): True,
    ("ALWAYS", Occurrence.REPLACED): True,
    ("ALWAYS", Occurrence.DUPLICATE): True,
}


@pytest.mark.parametrize(("policy", "occurrence"), list(EXPECTED))
def test_export_reoccurred_instances(clock: FakeClock, policy: str, occurrence: Occurrence) -> None:
    rules = make(configuration([rule("r", export_reoccurred_instances=policy)]), clock)
    assert bool(store(rules, instance(), reoccurred=occurrence)) is EXPECTED[(policy, occurrence)]


def test_reoccurred_flag_maps_to_occurrences(clock: FakeClock) -> None:
    assert Occurrence.of(False) is Occurrence.NEW
    assert Occurrence.of(True) is Occurrence.DUPLICATE
    assert Occurrence.of("replaced") is Occurrence.REPLACED
    rules = make(configuration([rule("r")]), clock)  # default REPLACE
    assert store(rules, instance(), reoccurred=True) == []
    assert len(store(rules, instance(), reoccurred=False)) == 1


def test_policy_of_the_winning_rule_decides(clock: FakeClock) -> None:
    rules = make(
        configuration(
            [rule("study-never", "Study", export_reoccurred_instances="NEVER"),
             rule("inst-always", "Instance", export_reoccurred_instances="ALWAYS")]
        ),
        clock,
    )
    assert store(rules, instance(), reoccurred=Occurrence.REPLACED) == []


def test_export_previous_entity(clock: FakeClock) -> None:
    rules = make(
        configuration(
            [rule("study", "Study", exporters=("E1",), export_previous_entity=True),
             rule("series", "Series", exporters=("E2",), export_previous_entity=True)]
        ),
        clock,
    )
    tasks = store(rules, instance(), previous_study_uid="0.9", previous_series_uid="0.9.1")
    scopes = sorted((t.exporter_id, t.study_uid, t.series_uid) for t in tasks)
    assert scopes == [("E1", "0.9", "*"), ("E1", "1.1", "*"), ("E2", "0.9", "0.9.1"), ("E2", "1.1", "1.1.1")]
    # the same entity as before: nothing extra
    assert len(store(rules, instance(study="5.5", series="5.5.1"), previous_study_uid="5.5",
                     previous_series_uid="5.5.1")) == 2


def test_previous_entity_off_by_default(clock: FakeClock) -> None:
    rules = make(configuration([rule("study")]), clock)
    assert len(store(rules, instance(), previous_study_uid="0.9")) == 1


# --- coalescing ----------------------------------------------------------------------------------------------


def test_study_tasks_coalesce_and_time_only_moves_later(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", delay=timedelta(minutes=2))]), clock)
    [first] = store(rules, instance(series="1.1.1", sop="1.1.1.1"))
    clock.advance(timedelta(seconds=30))
    [second] = store(rules, instance(series="1.1.2", sop="1.1.2.1"))
    assert second.task_id == first.task_id
    assert second.scheduled_time == T0 + timedelta(seconds=30, minutes=2)
    [third] = store(rules, instance(sop="1.1.1.3"), now=T0)  # an earlier arrival time does not move it back
    assert third.task_id == first.task_id and third.scheduled_time == second.scheduled_time
    assert rules.task_manager.count() == 1


def test_series_tasks_per_series(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", "Series", delay=timedelta(minutes=1))]), clock)
    a1 = store(rules, instance(series="1.2.1", sop="1.9.1"))[0]
    b1 = store(rules, instance(series="1.2.2", sop="1.9.2"))[0]
    clock.advance(timedelta(seconds=10))
    a2 = store(rules, instance(series="1.2.1", sop="1.9.3"))[0]
    assert a1.task_id == a2.task_id != b1.task_id
    assert a2.scheduled_time == T0 + timedelta(seconds=70)
    assert rules.task_manager.get(b1.task_id).scheduled_time == T0 + timedelta(minutes=1)
    assert sorted(t.series_uid for t in rules.task_manager.tasks()) == ["1.2.1", "1.2.2"]


def test_instance_tasks_per_instance_then_series_rule_absorbs_them(clock: FakeClock) -> None:
    config = configuration([rule("i", "Instance", delay=timedelta(minutes=5))])
    rules = make(config, clock)
    for sop in ("1.9.1", "1.9.2", "1.9.1"):
        store(rules, instance(series="1.2.1", sop=sop))
    assert sorted(t.sop_instance_uid for t in rules.task_manager.tasks()) == ["1.9.1", "1.9.2"]
    # a Series rule now: the waiting instance tasks of that series are replaced by one series task
    rules.reload(configuration([rule("s", "Series", delay=timedelta(minutes=1))]))
    [task] = store(rules, instance(series="1.2.1", sop="1.9.3"))
    assert (task.series_uid, task.sop_instance_uid) == ("1.2.1", "*")
    assert task.scheduled_time == T0 + timedelta(minutes=5)  # never earlier than what it replaced
    assert [t.task_id for t in rules.task_manager.tasks()] == [task.task_id]


def test_waiting_study_task_covers_series_requests(clock: FakeClock) -> None:
    rules = make(configuration([rule("study", delay=timedelta(minutes=1))]), clock)
    [study_task] = store(rules, instance())
    rules.reload(configuration([rule("series", "Series", delay=timedelta(minutes=3))]))
    [task] = store(rules, instance(series="1.2.9"))
    assert task.task_id == study_task.task_id and task.series_uid == "*"
    assert task.scheduled_time == T0 + timedelta(minutes=3)


def test_started_task_is_not_reused(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", "Series")]), clock)
    [task] = store(rules, instance(series="1.2.1"))
    manager = rules.task_manager
    [(claimed, _)] = manager.claim("Export1", 1)
    assert claimed.task_id == task.task_id
    [again] = store(rules, instance(series="1.2.1", sop="1.9.4"))
    assert again.task_id != task.task_id and again.status is TaskStatus.SCHEDULED
    rules2 = make(configuration([rule("r", "Study")]), clock)
    [study_task] = store(rules2, instance())
    rules2.task_manager.claim("Export1", 1)
    assert store(rules2, instance())[0].task_id != study_task.task_id


def test_cancelled_task_is_not_reused_from_the_cache(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", "Series")]), clock)
    [task] = store(rules, instance(series="1.2.1"))
    rules.task_manager.cancel(TaskFilter(task_ids=(task.task_id,)))
    [again] = store(rules, instance(series="1.2.1", sop="1.9.4"))  # same time: would be a cache hit
    assert again.task_id != task.task_id


def test_batch_tasks_are_left_alone(clock: FakeClock) -> None:
    rules = make(configuration([rule("r", "Series")]), clock)
    batch = rules.task_manager.schedule_export("E1", "1.1", "1.1.1", batch_id="b1", scheduled_time=T0)
    [task] = store(rules, instance())
    assert task.task_id != batch.task_id


# --- devices -------------------------------------------------------------------------------------------------


def test_rule_device_name_schedules_on_that_device(clock: FakeClock) -> None:
    rules = make(configuration([rule("fwd", exporters=("X1",), device_name="other")], other_device=True), clock)
    [task] = store(rules, instance())
    assert task.device_name == "other" and task.queue_name == "Q"


def test_unknown_exporter_is_a_warning_and_is_skipped(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    rules = make(configuration([rule("r", exporters=("NOPE", "E1"))]), clock)
    [issue] = rules.validate()
    assert issue.severity is Severity.WARNING and "exporter NOPE does not exist" in issue.message
    assert issue.dn == "cn=r,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"
    with caplog.at_level(logging.WARNING, logger="dcm_exporter.rules"):
        tasks = store(rules, instance())
        store(rules, instance())
    assert [t.exporter_id for t in tasks] == ["E1"]
    assert sum("no exporter NOPE" in r.getMessage() for r in caplog.records) == 1


# --- configuration errors ------------------------------------------------------------------------------------


def test_bad_rules_are_reported_at_load_with_their_dn(clock: FakeClock) -> None:
    config = configuration(
        [rule("bad-regex", conditions=("Modality=[CT",))],
        [rule("bad-keyword", conditions=("Modalty=CT",))],
    )
    with pytest.raises(ConfigurationError) as info:
        make(config, clock)
    text = str(info.value)
    assert "2 export rule(s) cannot be used" in text
    assert "cn=bad-regex,dicomDeviceName=arc,cn=Devices" in text and "invalid regular expression" in text
    assert "cn=bad-keyword,dicomAETitle=ARC,dicomDeviceName=arc" in text and "unknown DICOM keyword 'Modalty'" in text
    issues = ExportRules.check(config)
    assert sorted(i.severity.value for i in issues) == ["error", "error"]


def test_single_bad_rule_error_carries_the_dn(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError) as info:
        make(configuration([rule("x", conditions=("ImageType[0]=A",))]), clock)
    assert info.value.dn == "cn=x,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"


LDIF = """
dn: dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dicomDevice
dicomDeviceName: arc
dicomInstalled: TRUE

dn: dcmQueueName=Export1,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dcmQueue
dcmQueueName: Export1

dn: dcmExporterID=E1,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dcmExporter
dcmExporterID: E1
dcmURI: noop:E1
dcmQueueName: Export1

dn: cn=r1,dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dcmExportRule
cn: r1
dcmEntity: {entity}
dcmExporterID: E1
dcmProperty: {condition}
"""


def test_ldif_errors_name_file_line_and_dn(clock: FakeClock) -> None:
    config = ldif.load(LDIF.format(entity="Series", condition="Modality=CT("), filename="arc.ldif")
    with pytest.raises(ConfigurationError) as info:
        ExportRules.from_configuration(config, store=InMemoryTaskStore(), clock=clock)
    assert "arc.ldif:" in str(info.value) and "cn=r1,dicomDeviceName=arc" in str(info.value)


def test_unknown_entity_is_rejected_when_reading_with_the_dn() -> None:
    with pytest.raises(ConfigurationError) as info:
        ldif.load(LDIF.format(entity="Patient", condition="Modality=CT"))
    assert "cn=r1,dicomDeviceName=arc" in str(info.value) and "Patient" in str(info.value)


# --- reload ---------------------------------------------------------------------------------------------------


def test_rules_follow_a_reload_of_the_manager(clock: FakeClock) -> None:
    rules = make(configuration([rule("ct", conditions=("Modality=CT",))]), clock)
    assert store(rules, instance(modality="MR")) == []
    rules.task_manager.reload(configuration([rule("mr", conditions=("Modality=MR",))]))
    assert len(store(rules, instance(modality="MR"))) == 1
    assert store(rules, instance(modality="CT", study="9")) == []


def test_bad_reload_keeps_the_old_rules(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    rules = make(configuration([rule("ct", conditions=("Modality=CT",))]), clock)
    bad = configuration([rule("bad", conditions=("Modality=(",))])
    with pytest.raises(ConfigurationError):
        rules.reload(bad)
    assert [r.name for r in rules.rules] == ["ct"]
    with caplog.at_level(logging.ERROR, logger="dcm_exporter.rules"):
        rules.task_manager.reload(bad)  # followed lazily: logged, old rules stay
        assert len(store(rules, instance())) == 1
        assert len(store(rules, instance(study="2"))) == 1
    assert sum("unusable export rules" in r.getMessage() for r in caplog.records) == 1


def test_explicit_configuration_is_not_replaced_by_the_managers(clock: FakeClock) -> None:
    manager = TaskManager(InMemoryTaskStore(), configuration([rule("a")]), device_name="arc", clock=clock)
    rules = ExportRules(manager, configuration([rule("b", conditions=("Modality=MR",))]))
    manager.reload(configuration([rule("c")]))
    assert store(rules, instance()) == []


# --- bad data never raises -----------------------------------------------------------------------------------


def test_object_without_uids_is_not_exported(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    rules = make(configuration([rule("study"), rule("series", "Series", exporters=("E2",))]), clock)
    ds = Dataset()
    ds.StudyInstanceUID = "1.1"
    with caplog.at_level(logging.WARNING, logger="dcm_exporter.rules"):
        tasks = store(rules, ds)
    assert [(t.exporter_id, t.series_uid) for t in tasks] == [("E1", "*")]
    assert any("without Series Instance UID" in r.getMessage() for r in caplog.records)
    assert store(rules, Dataset()) == []


class _Broken(Dataset):
    def get_item(self, key: object, **kw: object) -> object:
        if key == 0x00080060:
            raise RuntimeError("corrupt element")
        return super().get_item(key, **kw)  # type: ignore[arg-type]


def test_element_that_cannot_be_read_skips_the_rule(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    rules = make(configuration([rule("ct", conditions=("Modality=CT",)), rule("any", exporters=("E2",))]), clock)
    ds = _Broken()
    ds.StudyInstanceUID = "1.1"
    with caplog.at_level(logging.WARNING, logger="dcm_exporter.rules"):
        tasks = store(rules, ds)
    assert [t.exporter_id for t in tasks] == ["E2"]
    assert any("could not be evaluated" in r.getMessage() for r in caplog.records)


def test_dicom_json_dataset(clock: FakeClock) -> None:
    rules = make(configuration([rule("ct", "Series", conditions=("Modality=CT",))]), clock)
    ds = {
        "0020000D": {"vr": "UI", "Value": ["1.1"]},
        "0020000E": {"vr": "UI", "Value": ["1.1.1"]},
        "00080018": {"vr": "UI", "Value": ["1.1.1.1"]},
        "00080060": {"vr": "CS", "Value": ["CT"]},
    }
    [task] = store(rules, ds)
    assert task.series_uid == "1.1.1"


def test_from_configuration_and_properties(clock: FakeClock) -> None:
    config = configuration([rule("a")], [rule("b", "Series")])
    task_store = InMemoryTaskStore()
    rules = ExportRules.from_configuration(config, store=task_store, clock=clock)
    assert rules.configuration is config and rules.task_manager.store is task_store
    assert sorted(r.name for r in rules.rules) == ["a", "b"]
    assert {r.name: r.dn for r in rules.rules}["b"].startswith("cn=b,dicomAETitle=ARC,dicomDeviceName=arc")
    with pytest.raises(TypeError, match="needs a TaskManager"):
        ExportRules(object())


def test_from_configuration_has_no_default_store(clock: FakeClock) -> None:
    # tasks scheduled into a store nobody chose (one in memory) would vanish at exit: the caller names it
    config = configuration([rule("a")])
    with pytest.raises(TypeError, match=r"needs store=<a task store>.*got NoneType"):
        ExportRules.from_configuration(config, store=None, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store"):
        ExportRules.from_configuration(config, clock=clock)  # type: ignore[call-arg]


def test_from_configuration_schedules_into_a_store_that_outlives_it(clock: FakeClock, tmp_path: Path) -> None:
    config = configuration([rule("a")])
    path = tmp_path / "tasks.sqlite"
    with closing(open_store(f"sqlite:{path}")) as task_store:
        rules = ExportRules.from_configuration(config, store=task_store, clock=clock)
        scheduled = store(rules, instance())
    assert scheduled
    with closing(open_store(f"sqlite:{path}")) as reopened:
        assert [t.task_id for t in reopened.list(TaskFilter())] == [t.task_id for t in scheduled]


def test_rank_table_covers_every_entity() -> None:
    from dcm_exporter.models import Entity
    from dcm_exporter.rules.engine import _RANK

    assert set(_RANK) == set(Entity)
    assert attrs.has(ExportRule)


# --- the Exporter facade hook --------------------------------------------------------------------------------


def test_exporter_on_store_and_reload(clock: FakeClock, tmp_path: object) -> None:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.sources import FileSystemSource

    with Exporter(
        configuration([rule("ct", conditions=("Modality=CT",))]),
        FileSystemSource(str(tmp_path)),
        store=InMemoryTaskStore(),
        clock=clock,
        device_name="arc",
    ) as exporter:
        [task] = exporter.on_store(instance(), sending_aet="MOD", receiving_aet="ARC")
        assert exporter.queue.tasks() == [task]
        assert exporter.rules is exporter.rules
        with pytest.raises(ConfigurationError, match="cannot be used"):
            exporter.reload(configuration([rule("bad", conditions=("Modality=(",))]))
        assert [r.name for r in exporter.rules.rules] == ["ct"]  # nothing changed
        exporter.reload(configuration([rule("mr", conditions=("Modality=MR",))]))
        assert exporter.on_store(instance(study="2.2"), sending_aet="MOD", receiving_aet="ARC") == []
        assert len(exporter.on_store(instance(study="2.2", modality="MR"), sending_aet="M", receiving_aet="ARC")) == 1
