"""Hostile values against rule conditions (issue 18, item 6): patterns that make a backtracking engine take
exponential time run on RE2 (linear), patterns RE2 cannot run with repetition are refused at load time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydicom import Dataset

from dcm_exporter.conditions import ConditionError, compile_value_pattern, parse_condition
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, ExportRule, QueueDescriptor
from dcm_exporter.queue import InMemoryTaskStore, TaskManager
from dcm_exporter.rules import ExportRules
from dcm_exporter.testing import FakeClock

# Python's re takes ~12 s for (a+)+$ against 28 characters and doubles with each one more: with 10,000 this
# could never end, so finishing at all (within the marker's bound) shows the engine does not backtrack
pytestmark = pytest.mark.timeout(60)

HOSTILE = "a" * 10_000 + "!"


def _rules(*conditions: str) -> ExportRules:
    device = Device(
        device_name="arc",
        exporters=(ExporterDescriptor(exporter_id="E1", uri="noop:E1", queue_name="Export1", ae_title="ARC"),),
        queues=(QueueDescriptor(queue_name="Export1"),),
        export_rules=(ExportRule(name="evil", entity="Study", exporter_ids=("E1",), conditions=conditions),),
    )
    manager = TaskManager(InMemoryTaskStore(), Configuration(devices=(device,)), device_name="arc",
                          clock=FakeClock(datetime(2024, 1, 3, 10, tzinfo=UTC)))
    return ExportRules(manager)


def _instance(value: str) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.1", "1.1.1", "1.1.1.1"
    if len(value) <= 64:
        ds.PatientID = value
    ds.TextValue = value  # UT: no length limit, as a hostile sender may send
    return ds


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)*", r"(.*a){12}", r"\d*\d*\d*\d*\d*x"])
def test_catastrophic_patterns_on_store_stay_linear_and_still_match(pattern: str) -> None:
    rules = _rules(f"TextValue={pattern}")
    assert rules.on_store(_instance(HOSTILE), sending_aet="MOD", receiving_aet="ARC") == []
    assert _rules(f"PatientID={pattern}").on_store(_instance("a" * 28 + "!"), sending_aet="MOD",
                                                    receiving_aet="ARC") == []
    # the same engine still decides as the pattern says
    matching = {r"(a+)+$": "aaaa", r"(a|aa)*": "aaaaa", r"(.*a){12}": "a" * 12, r"\d*\d*\d*\d*\d*x": "123x"}
    assert [t.exporter_id for t in rules.on_store(_instance(matching[pattern]), sending_aet="MOD",
                                                  receiving_aet="ARC")] == ["E1"]


def test_simple_patterns_keep_python_re_and_java_ascii_classes() -> None:
    import re

    for pattern in ("CT|MR", "CT_.*", "[0-9]+", r"\d{8}", "ORIGINAL|DERIVED", "(?i)ct"):
        assert isinstance(compile_value_pattern(pattern), re.Pattern), pattern
    # java.util.regex reads \d as [0-9]; so do both engines here
    assert compile_value_pattern(r"\d+").fullmatch("\u0663") is None
    assert compile_value_pattern(r"(\d+)+").fullmatch("\u0663") is None
    assert compile_value_pattern(r"(\d+)+").fullmatch("123") is not None


def test_backtracking_only_syntax_with_repetition_is_refused_at_load_naming_the_rule() -> None:
    with pytest.raises(ConditionError, match=r"cannot be matched in bounded time.*backreferences"):
        parse_condition(r"PatientID=(a+)\1+")
    with pytest.raises(ConfigurationError) as info:
        _rules(r"PatientID=(?=a)(a+)+")
    assert "evil" in str(info.value) and "cannot be matched in bounded time" in str(info.value)
    # without repetition, a backreference cannot backtrack: Python's re runs it
    assert parse_condition(r"PatientID=(ab)\1").pattern is not None
