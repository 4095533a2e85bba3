"""Exporter.export_now: exporter resolution, "Could not find", calling AE, transport caching and errors.

The instances come from a real FileSystemSource over generated files; the dicom: scheme is replaced by
a MockTransport in a private registry so these tests check the facade, not the network.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _dicom_files import GeneratedStudy, make_study

from dcm_exporter.errors import ConfigurationError, ConnectionFailedError, UnknownSchemeError
from dcm_exporter.export import ExportRequest, Outcome, OutcomeStatus
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.testing import MockTransport
from dcm_exporter.transports.registry import TransportRegistry


def config(*exporters: ExporterDescriptor) -> Configuration:
    return Configuration(devices=(Device(device_name="dcm4chee-arc", exporters=exporters),))


STORESCP = ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1",
                              ae_title="DCM4CHEE")


@pytest.fixture
def study(tmp_path: Path) -> GeneratedStudy:
    return make_study(tmp_path / "archive", series=2, per_series=2, source_ae="CT_SCANNER")


@pytest.fixture
def source(tmp_path: Path, study: GeneratedStudy) -> FileSystemSource:
    return FileSystemSource(tmp_path / "archive")


def mocked(mock: MockTransport) -> TransportRegistry:
    registry = TransportRegistry(entry_points=False)
    registry.register_scheme("dicom", mock.factory, clobber=True)
    return registry


def test_sends_the_found_instances_with_the_exporter_ae_title(study: GeneratedStudy,
                                                              source: FileSystemSource) -> None:
    mock = MockTransport()
    with Exporter(config(STORESCP), source, registry=mocked(mock)) as exporter:
        outcome = exporter.export_now("STORESCP", study.study_uid, study.series_uids[0])
    assert outcome.status is OutcomeStatus.COMPLETED and outcome.completed == 2
    (request,) = mock.requests
    assert request.calling_ae_title == "DCM4CHEE"
    assert request.series_uid == study.series_uids[0] and request.sop_instance_uid == "*"
    assert {r.series_uid for r in request.instances} == {study.series_uids[0]}
    assert request.exporter == STORESCP
    assert mock.closed  # the Exporter closed its transports


def test_unknown_exporter_is_a_configuration_error(source: FileSystemSource) -> None:
    with Exporter(config(STORESCP), source) as exporter, pytest.raises(
        ConfigurationError, match=r"Unknown exporter: NOPE.*STORESCP"
    ):
        exporter.export_now("NOPE", "1.2.3")


def test_nothing_found_is_warning_could_not_find(study: GeneratedStudy, source: FileSystemSource) -> None:
    mock = MockTransport()
    with Exporter(config(STORESCP), source, registry=mocked(mock)) as exporter:
        outcome = exporter.export_now("STORESCP", study.study_uid, "1.2.3.999")
    assert outcome.status is OutcomeStatus.WARNING
    assert outcome.message == f"Could not find Series[uid=1.2.3.999] of Study[uid={study.study_uid}]"
    assert mock.requests == []


def test_export_as_source_ae_uses_the_sender_of_the_instances(study: GeneratedStudy,
                                                               source: FileSystemSource) -> None:
    mock = MockTransport()
    exp = ExporterDescriptor(exporter_id="X", uri="dicom:STORESCP", queue_name="Export1", ae_title="DCM4CHEE",
                             export_as_source_ae=True)
    with Exporter(config(exp), source, registry=mocked(mock)) as exporter:
        exporter.export_now("X", study.study_uid)
    assert mock.requests[0].calling_ae_title == "CT_SCANNER"


def test_dicom_exporter_without_ae_title_is_a_clear_configuration_error(study: GeneratedStudy,
                                                                       source: FileSystemSource) -> None:
    mock = MockTransport()
    exp = ExporterDescriptor(exporter_id="X", uri="dicom:STORESCP", queue_name="Export1")
    with Exporter(config(exp), source, registry=mocked(mock)) as exporter, pytest.raises(
        ConfigurationError, match=r"no dicomAETitle.*#1181"
    ):
        exporter.export_now("X", study.study_uid)
    assert mock.requests == []


def test_transport_errors_propagate(study: GeneratedStudy, source: FileSystemSource) -> None:
    def down(request: ExportRequest) -> Outcome:
        raise ConnectionFailedError("Connection refused", destination="STORESCP")

    with Exporter(config(STORESCP), source, registry=mocked(MockTransport(down))) as exporter, pytest.raises(
        ConnectionFailedError
    ) as info:
        exporter.export_now("STORESCP", study.study_uid)
    assert info.value.retryable


def test_noop_completes_without_instances(source: FileSystemSource) -> None:
    exp = ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1")
    with Exporter(config(exp), source) as exporter:
        outcome = exporter.export_now("NOOP", "1.2.3.404")
    assert (outcome.status, outcome.message) == (OutcomeStatus.COMPLETED, "NOOP")


def test_transports_are_cached_and_recreated_on_reload(
    study: GeneratedStudy, source: FileSystemSource
) -> None:
    mock = MockTransport()
    with Exporter(config(STORESCP), source, registry=mocked(mock)) as exporter:
        exporter.export_now("STORESCP", study.study_uid)
        exporter.export_now("STORESCP", study.study_uid)
        assert len(mock.created_for) == 1
        changed = ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1",
                                     ae_title="OTHER")
        exporter.reload(config(changed))
        assert exporter.configuration.exporters["STORESCP"].ae_title == "OTHER"
        exporter.export_now("STORESCP", study.study_uid)
        assert len(mock.created_for) == 2
        assert mock.requests[-1].calling_ae_title == "OTHER"


def test_unknown_scheme_names_the_known_ones(source: FileSystemSource) -> None:
    exp = ExporterDescriptor(exporter_id="W", uri="xds-i:REPOSITORY", queue_name="Export1")
    registry = TransportRegistry(entry_points=False)
    with Exporter(config(exp), source, registry=registry) as exporter, pytest.raises(
        UnknownSchemeError, match="dicom:, noop:, storage:, stow:, wado:"
    ):
        exporter.export_now("W", "1.2.3")


def test_closed_exporter_refuses_work(source: FileSystemSource) -> None:
    exporter = Exporter(config(STORESCP), source)
    exporter.close()
    with pytest.raises(ConfigurationError, match="closed"):
        exporter.export_now("STORESCP", "1.2.3")
