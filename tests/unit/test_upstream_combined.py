"""Upstream's configuration files combined the way dcm4chee users combine them, then validated.

An LDAP server for dcm4chee-arc is seeded with ``init-baseDN.ldif``, ``init-config.ldif`` and
``default-config.ldif``; ``sample-export.ldif`` (an export rule and the exporter ``STORESCP``) is imported on top
(``ldapadd``). Facts of upstream's files (``../shared/dcm4che/ldap/config``), checked below: ``default-config.ldif``
configures the export queue ``Export`` and no ``Export1``; ``sample-export.ldif`` names ``Export1``, a name from
releases whose default configuration had the queues ``Export1`` to ``Export10``; no other upstream file defines it.
dcm4chee-arc loads such a configuration and fails only when it queues a task
(``ArchiveDeviceExtension.getQueueDescriptorNotNull``: "No Queue configured with name:Export1"). So do we: the
files load and validate without errors, with one warning naming the queue; a task is refused when queued.

Skipped when ``../shared`` is absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydicom import Dataset

from dcm_exporter.codecs import ldif
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import Severity
from dcm_exporter.queue import InMemoryTaskStore, TaskFilter
from dcm_exporter.rules import ExportRules
from dcm_exporter.testing import FakeClock

SEED = ["init-baseDN.ldif", "init-config.ldif", "default-config.ldif"]


@pytest.fixture(scope="module")
def config_dir(upstream_dir: Path) -> Path:
    folder = upstream_dir / "ldap" / "config"
    missing = [name for name in [*SEED, "sample-export.ldif"] if not (folder / name).is_file()]
    if missing:
        pytest.skip(f"upstream files absent from {folder}: {', '.join(missing)}")
    return folder


def test_no_upstream_file_defines_the_queue_sample_export_names(config_dir: Path) -> None:
    defined = {
        line.removeprefix("dn: dcmQueueName=").split(",", 1)[0]
        for path in sorted(config_dir.glob("*.ldif"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("dn: dcmQueueName=")
    }
    assert "Export" in defined and "Export1" not in defined
    seeded = ldif.load([config_dir / name for name in SEED])
    assert [q.queue_name for q in seeded.device("dcm4chee-arc").queues if q.queue_name.startswith("Export")] == [
        "Export"
    ]
    combined = ldif.load([*(config_dir / name for name in SEED), config_dir / "sample-export.ldif"])
    assert {e.exporter_id: e.queue_name for e in combined.device("dcm4chee-arc").exporters} == {"STORESCP": "Export1"}


def test_seed_and_sample_export_validate_without_errors(config_dir: Path) -> None:
    config = ldif.load([*(config_dir / name for name in SEED), config_dir / "sample-export.ldif"])
    issues = config.validate()
    assert [i for i in issues if i.severity is Severity.ERROR] == []
    (queue_warning,) = [i for i in issues if "queue" in i.message]
    assert queue_warning.severity is Severity.WARNING
    assert "exporter STORESCP: queue Export1 does not exist on device dcm4chee-arc (did you mean Export?)" in (
        queue_warning.message
    )
    assert str(queue_warning.location).startswith(str(config_dir / "sample-export.ldif"))
    # the seed alone is clean
    assert [i for i in ldif.load([config_dir / name for name in SEED]).validate() if i.severity is Severity.ERROR] == []


def _series() -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3", "1.2.3.4", "1.2.3.4.5"
    ds.Modality = "CT"
    return ds


def test_its_tasks_are_refused_when_queued_as_upstream_refuses_them(
    config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = ldif.load([*(config_dir / name for name in SEED), config_dir / "sample-export.ldif"])
    store = InMemoryTaskStore()
    rules = ExportRules.from_configuration(config, store=store, device_name="dcm4chee-arc", clock=FakeClock())
    with pytest.raises(ConfigurationError, match=r"queue Export1 does not exist on device dcm4chee-arc"):
        rules.task_manager.schedule_export("STORESCP", "1.2.3")
    # the export rule "Forward to STORESCP" matches, but no task is written where nothing would run it
    with caplog.at_level(logging.WARNING, logger="dcm_exporter"):
        assert rules.on_store(_series(), sending_aet="MOD", receiving_aet="DCM4CHEE") == []
        assert rules.on_store(_series(), sending_aet="MOD", receiving_aet="DCM4CHEE") == []
    warned = [r.getMessage() for r in caplog.records if "Forward to STORESCP" in r.getMessage()]
    assert warned == [
        "export rule 'Forward to STORESCP': the queue Export1 of exporter STORESCP is not configured on device "
        "dcm4chee-arc; matching objects are not exported to it"
    ]  # once, not for every stored object
    assert store.list(TaskFilter()) == []
