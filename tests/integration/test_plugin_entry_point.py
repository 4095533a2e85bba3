"""A third-party transport registered through the entry-point group ``dcm_exporter.transports``.

The package ``dcm-exporter-example-plugin`` (tests/plugin_pkg) is installed into the test environment
(``pip install ./tests/plugin_pkg``; the nox ``tests`` session does it). It registers the scheme
``example:``, which writes one JSON line per instance.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from _dicom_files import make_study

from dcm_exporter.export import OutcomeStatus
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.transports.registry import TransportRegistry

try:
    distribution("dcm-exporter-example-plugin")
except PackageNotFoundError:  # pragma: no cover - depends on the environment
    pytestmark = pytest.mark.skip(reason="pip install ./tests/plugin_pkg to run the entry-point tests")


def test_entry_point_scheme_is_listed_and_loaded_lazily() -> None:
    registry = TransportRegistry()
    schemes = registry.schemes()
    assert "example" in schemes
    entry = schemes["example"]
    assert getattr(entry, "value", None) == "dcm_exporter_example_plugin:create_transport"
    factory = registry.get_factory("example")
    assert factory.__module__ == "dcm_exporter_example_plugin"


def test_without_entry_points_the_scheme_is_unknown() -> None:
    assert "example" not in TransportRegistry(entry_points=False).schemes()


def test_export_through_the_plugin(tmp_path: Path) -> None:
    study = make_study(tmp_path / "archive", series=1, per_series=3)
    out_dir = tmp_path / "manifest"
    exp = ExporterDescriptor(exporter_id="EX", uri=f"example:{out_dir}", queue_name="Export1")
    cfg = Configuration(devices=(Device(device_name="arc", exporters=(exp,)),))
    with FileSystemSource(tmp_path / "archive") as source, Exporter(
        cfg, source, registry=TransportRegistry()
    ) as exporter:
        outcome = exporter.export_now("EX", study.study_uid)
    assert outcome.status is OutcomeStatus.COMPLETED
    assert outcome.message == f"Export Study[uid={study.study_uid}] to example:{out_dir} - completed:3"
    lines = [json.loads(line) for line in (out_dir / "manifest.jsonl").read_text().splitlines()]
    assert {line["sop_instance_uid"] for line in lines} == set(study.files)
    for line in lines:
        data = study.files[line["sop_instance_uid"]].read_bytes()
        assert line["sha256"] == hashlib.sha256(data).hexdigest() and line["size"] == len(data)


def test_explicit_registration_wins_over_the_entry_point() -> None:
    from dcm_exporter.testing import MockTransport

    registry = TransportRegistry()
    mock = MockTransport()
    with pytest.raises(ValueError, match="already registered"):
        registry.register_scheme("example", mock.factory)
    registry.register_scheme("example", mock.factory, clobber=True)
    assert registry.get_factory("example") == mock.factory


def test_coercion_processor_from_an_entry_point() -> None:
    """The plug-in also registers ``stamp:`` in the group ``dcm_exporter.coercions``."""
    from pydicom.dataset import Dataset

    from dcm_exporter.coercion import ProcessorRegistry, plan_for_export
    from dcm_exporter.models import ApplicationEntity, AttributeCoercion

    registry = ProcessorRegistry()
    if "stamp" not in registry.schemes():
        pytest.skip("the installed example plug-in predates its coercion entry point: pip install ./tests/plugin_pkg")
    assert "stamp" not in ProcessorRegistry(entry_points=False).schemes()
    rule = AttributeCoercion(name="Stamp", dimse="C_STORE_RQ", role="SCP", uri="stamp:research copy")
    exp = ExporterDescriptor(exporter_id="EX", uri="dicom:RESEARCH", queue_name="Export1", ae_title="ARC")
    cfg = Configuration(
        devices=(
            Device(
                device_name="arc",
                application_entities=(ApplicationEntity(ae_title="ARC", attribute_coercions=(rule,)),),
                exporters=(exp,),
            ),
        )
    )
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    plan = plan_for_export(cfg, exp, receiving_ae_title="RESEARCH", registry=registry)
    assert plan.apply(ds) == ("Stamp",)
    assert ds.InstitutionName == "research copy for RESEARCH"
    assert type(registry.get("stamp")).__module__ == "dcm_exporter_example_plugin.coercion"
