"""URI scheme → transport factory.

The scheme of an exporter's ``dcmURI`` (``dicom:STORESCP``, ``stow:ORTHANC``, ``storage:fs2``,
``wado:WEB``, ``noop:nothing``) picks the transport. Built-in schemes are registered as
``"module:attribute"`` strings and imported the first time they are used, so ``import dcm_exporter``
loads neither pynetdicom nor httpx.
Third-party packages add schemes through the entry-point group ``dcm_exporter.transports``::

    [project.entry-points."dcm_exporter.transports"]
    example = "my_package.transport:create_transport"

An application may also register a factory itself with :func:`register_scheme`, or keep its own
:class:`TransportRegistry` to avoid process-wide state.

    >>> registry = TransportRegistry(entry_points=False)
    >>> sorted(registry.schemes())
    ['dicom', 'noop', 'storage', 'stow', 'wado']
    >>> scheme_of("storage:fs2")
    'storage'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

from dcm_exporter._registry import SCHEME_RE, LazyRegistry
from dcm_exporter.errors import ConfigurationError, UnknownSchemeError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.transports.base import Transport, TransportFactory

__all__ = [
    "BUILTIN_SCHEMES",
    "ENTRY_POINT_GROUP",
    "TransportRegistry",
    "create_transport",
    "default_registry",
    "get_factory",
    "register_scheme",
    "scheme_of",
    "schemes",
]

log = logging.getLogger("dcm_exporter.transports")

#: The entry-point group third-party transports register under.
ENTRY_POINT_GROUP = "dcm_exporter.transports"

#: Schemes the library provides, as lazily imported ``module:attribute`` factory paths.
BUILTIN_SCHEMES: Mapping[str, str] = MappingProxyType(
    {
        "dicom": "dcm_exporter.transports.dicom:create_transport",
        "stow": "dcm_exporter.transports.stow:create_transport",
        "storage": "dcm_exporter.transports.storage:create_transport",
        "noop": "dcm_exporter.transports.noop:create_transport",
        "wado": "dcm_exporter.transports.wado:create_transport",
    }
)


def scheme_of(uri: str) -> str:
    """The lower-cased scheme of a ``dcmURI`` (``"dicom:STORESCP"`` → ``"dicom"``).

    Raises:
        ConfigurationError: the URI has no scheme.
    """
    scheme, sep, _ = str(uri).partition(":")
    if not sep or not SCHEME_RE.fullmatch(scheme.lower()):
        raise ConfigurationError(f"export destination URI {uri!r} has no scheme (expected e.g. 'dicom:AET')")
    return scheme.lower()


class TransportRegistry(LazyRegistry["TransportFactory"]):
    """A mapping of URI schemes to transport factories.

    Args:
        builtins: start with the library's schemes (``dicom``, ``stow``, ``storage``, ``noop``).
        entry_points: also load third-party schemes from the ``dcm_exporter.transports``
            entry-point group, lazily, the first time the registry is consulted.

    Thread-safe. Explicit registrations win over entry points; an entry point never replaces a
    built-in scheme (it is skipped with a log warning).
    """

    kind = "transport"
    scheme_noun = "URI scheme"
    group = ENTRY_POINT_GROUP
    log = log

    def __init__(self, *, builtins: bool = True, entry_points: bool = True) -> None:
        super().__init__(BUILTIN_SCHEMES if builtins else {}, entry_points=entry_points)

    def _adopt(self, obj: object, what: str) -> TransportFactory:
        if not callable(obj):
            raise ConfigurationError(f"{what} is not callable")
        return cast("TransportFactory", obj)

    def register_scheme(self, name: str, factory: TransportFactory | str, clobber: bool = False) -> None:
        """Register ``factory`` (a callable or a ``"module:attribute"`` path) for the scheme ``name``.

        Raises:
            ValueError: ``name`` is already registered and ``clobber`` is false, or is not a valid scheme.
        """
        scheme = self._normalise(name)
        if not isinstance(factory, str) and not callable(factory):
            raise TypeError(f"factory for scheme {scheme!r} must be callable or a 'module:attribute' string")
        self._put(scheme, factory, clobber=clobber)

    def unregister_scheme(self, name: str) -> None:
        """Remove the scheme ``name``.

        Raises:
            UnknownSchemeError: no such scheme is registered.
        """
        scheme = self._normalise(name)
        self._load_entry_points()
        with self._lock:
            if scheme not in self._entries:
                raise UnknownSchemeError(scheme, list(self._entries))
            del self._entries[scheme]
            self._resolved.pop(scheme, None)

    def __contains__(self, scheme: object) -> bool:
        return isinstance(scheme, str) and scheme.lower() in self.schemes()

    def get_factory(self, scheme: str) -> TransportFactory:
        """The factory for ``scheme``, importing it on first use.

        Raises:
            UnknownSchemeError: nothing is registered for ``scheme``; the message lists the known schemes.
            ConfigurationError: the registered factory cannot be imported.
        """
        factory = self._lookup(scheme)
        if factory is None:
            raise UnknownSchemeError(scheme.lower().removesuffix(":"), list(self.schemes()))
        return factory

    def create_transport(self, exporter: ExporterDescriptor, configuration: Configuration) -> Transport:
        """Create the transport for ``exporter``'s ``dcmURI`` scheme."""
        factory = self.get_factory(scheme_of(exporter.uri))
        return factory(exporter, configuration)


#: The process-wide registry used by :class:`~dcm_exporter.exporter.Exporter` unless given another.
default_registry = TransportRegistry()


def register_scheme(name: str, factory: TransportFactory | str, clobber: bool = False) -> None:
    """Register ``factory`` for ``name`` in the default registry (see ``TransportRegistry``)."""
    default_registry.register_scheme(name, factory, clobber=clobber)


def schemes() -> Mapping[str, str | EntryPoint | TransportFactory]:
    """Read-only view of the default registry's schemes."""
    return default_registry.schemes()


def get_factory(scheme: str) -> TransportFactory:
    """The factory for ``scheme`` in the default registry."""
    return default_registry.get_factory(scheme)


def create_transport(exporter: ExporterDescriptor, configuration: Configuration) -> Transport:
    """Create the transport for ``exporter`` from the default registry."""
    return default_registry.create_transport(exporter, configuration)
