"""The URI-scheme registry: built-ins imported lazily, read-only view, clobber, unknown schemes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dcm_exporter.errors import ConfigurationError, UnknownSchemeError
from dcm_exporter.models import Configuration, ExporterDescriptor
from dcm_exporter.testing import MockTransport
from dcm_exporter.transports import registry as registry_module
from dcm_exporter.transports.noop import NoopTransport
from dcm_exporter.transports.registry import TransportRegistry, scheme_of

SRC = Path(registry_module.__file__).resolve().parents[2]


def exporter(uri: str) -> ExporterDescriptor:
    return ExporterDescriptor(exporter_id="E", uri=uri, queue_name="Export1", ae_title="DCM4CHEE")


def test_builtins_are_registered_as_lazy_paths() -> None:
    reg = TransportRegistry(entry_points=False)
    view = reg.schemes()
    assert set(view) == {"dicom", "stow", "storage", "noop", "wado"}
    assert view["dicom"] == "dcm_exporter.transports.dicom:create_transport"
    assert view["noop"] == "dcm_exporter.transports.noop:create_transport"


def test_view_is_read_only() -> None:
    view = TransportRegistry(entry_points=False).schemes()
    with pytest.raises(TypeError):
        view["x"] = "a:b"  # type: ignore[index]


def test_importing_the_registry_loads_no_transport_dependency() -> None:
    code = (
        "import sys\n"
        "from dcm_exporter.transports.registry import default_registry\n"
        "default_registry.get_factory('noop')\n"
        "print(sorted(m for m in ('pynetdicom', 'httpx') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC)})
    assert out.stdout.strip() == "[]"


def test_noop_factory_resolves_and_creates() -> None:
    reg = TransportRegistry(entry_points=False)
    transport = reg.create_transport(exporter("noop:anything"), Configuration())
    assert isinstance(transport, NoopTransport)


def test_unknown_scheme_lists_known_ones() -> None:
    reg = TransportRegistry(entry_points=False)
    with pytest.raises(UnknownSchemeError) as info:
        reg.create_transport(exporter("xds-i:REPOSITORY"), Configuration())
    err = info.value
    assert err.scheme == "xds-i"
    assert err.known == ("dicom", "noop", "storage", "stow", "wado")
    assert "dicom:, noop:, storage:, stow:, wado:" in str(err)
    assert isinstance(err, ConfigurationError) and isinstance(err, LookupError)


def test_register_refuses_to_clobber_unless_asked() -> None:
    reg = TransportRegistry(entry_points=False)
    mock = MockTransport()
    with pytest.raises(ValueError, match="already registered"):
        reg.register_scheme("noop", mock.factory)
    reg.register_scheme("NOOP:", mock.factory, clobber=True)
    assert reg.create_transport(exporter("noop:x"), Configuration()) is mock


def test_register_new_scheme_and_unregister() -> None:
    reg = TransportRegistry(entry_points=False)
    mock = MockTransport()
    reg.register_scheme("mock", mock.factory)
    assert "mock" in reg
    assert reg.create_transport(exporter("mock:dest"), Configuration()) is mock
    assert mock.created_for[0].uri == "mock:dest"
    reg.unregister_scheme("mock")
    with pytest.raises(UnknownSchemeError):
        reg.get_factory("mock")
    with pytest.raises(UnknownSchemeError):
        reg.unregister_scheme("mock")


@pytest.mark.parametrize("bad", ["", "1abc", "a b", "ä"])
def test_invalid_scheme_names(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid URI scheme"):
        TransportRegistry(entry_points=False).register_scheme(bad, MockTransport().factory)


def test_factory_path_that_cannot_be_imported_is_a_configuration_error() -> None:
    reg = TransportRegistry(entry_points=False)
    reg.register_scheme("broken", "no_such_module_xyz:create")
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        reg.get_factory("broken")
    reg.register_scheme("broken2", "dcm_exporter.transports.noop:no_such_attr")
    with pytest.raises(ConfigurationError, match="does not exist"):
        reg.get_factory("broken2")
    with pytest.raises(TypeError):
        reg.register_scheme("broken3", 42)  # type: ignore[arg-type]


def test_separate_registries_do_not_share_state() -> None:
    a = TransportRegistry(entry_points=False)
    b = TransportRegistry(entry_points=False)
    a.register_scheme("only-a", MockTransport().factory)
    assert "only-a" in a.schemes() and "only-a" not in b.schemes()


def test_scheme_of() -> None:
    assert scheme_of("DICOM:STORESCP") == "dicom"
    assert scheme_of("storage:fs1") == "storage"
    with pytest.raises(ConfigurationError, match="no scheme"):
        scheme_of("STORESCP")


class _LegacyTransport:
    """A third-party transport from before ``needs_instances`` was declared in the protocol."""

    def __init__(self) -> None:
        self.closed = False

    def send(self, request: object) -> object:
        raise AssertionError("never sent: the exporter rejects it first")

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> _LegacyTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_a_transport_lacking_a_declared_capability_is_a_configuration_error(tmp_path: Path) -> None:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Device
    from dcm_exporter.sources import FileSystemSource

    legacy = _LegacyTransport()
    reg = TransportRegistry(entry_points=False)
    reg.register_scheme("legacy", lambda exporter, configuration: legacy)  # type: ignore[arg-type,return-value]
    config = Configuration(devices=[Device(device_name="d", exporters=[exporter("legacy:x")])])
    with (
        Exporter(config, FileSystemSource(tmp_path), registry=reg) as ex,
        pytest.raises(ConfigurationError, match=r"exporter E: .*'legacy'.*lacks needs_instances"),
    ):
        ex.transport("E")
    assert legacy.closed


def test_every_builtin_transport_declares_needs_instances() -> None:
    from dcm_exporter.transports.base import BaseTransport, Transport

    assert BaseTransport.needs_instances is True
    assert NoopTransport.needs_instances is False
    assert isinstance(MockTransport(), Transport)
