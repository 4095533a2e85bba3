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

import importlib
import logging
import re
import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

from dcm_exporter.errors import ConfigurationError, UnknownSchemeError

if TYPE_CHECKING:
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

_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*")

def _normalise(name: str) -> str:
    scheme = name.strip().lower().removesuffix(":")
    if not _SCHEME_RE.fullmatch(scheme):
        raise ValueError(
            f"invalid URI scheme {name!r}: a scheme is a letter followed by letters, digits, '+', '-' or '.'"
        )
    return scheme


def scheme_of(uri: str) -> str:
    """The lower-cased scheme of a ``dcmURI`` (``"dicom:STORESCP"`` → ``"dicom"``).

    Raises:
        ConfigurationError: the URI has no scheme.
    """
    scheme, sep, _ = str(uri).partition(":")
    if not sep or not _SCHEME_RE.fullmatch(scheme.lower()):
        raise ConfigurationError(f"export destination URI {uri!r} has no scheme (expected e.g. 'dicom:AET')")
    return scheme.lower()


def _load_path(path: str, scheme: str) -> TransportFactory:
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"transport for scheme {scheme!r}: {path!r} is not a 'module:attribute' path"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"transport for scheme {scheme!r} cannot be imported from {module_name!r}: {exc}"
        ) from exc
    obj: object = module
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ConfigurationError(f"transport for scheme {scheme!r}: {path!r} does not exist") from exc
    if not callable(obj):
        raise ConfigurationError(f"transport for scheme {scheme!r}: {path!r} is not callable")
    return cast("TransportFactory", obj)


class TransportRegistry:
    """A mapping of URI schemes to transport factories.

    Args:
        builtins: start with the library's schemes (``dicom``, ``stow``, ``storage``, ``noop``).
        entry_points: also load third-party schemes from the ``dcm_exporter.transports``
            entry-point group, lazily, the first time the registry is consulted.

    Thread-safe. Explicit registrations win over entry points; an entry point never replaces a
    built-in scheme (it is skipped with a log warning).
    """

    def __init__(self, *, builtins: bool = True, entry_points: bool = True) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, str | EntryPoint | TransportFactory] = {}
        if builtins:
            self._entries.update(BUILTIN_SCHEMES)
        self._resolved: dict[str, TransportFactory] = {}
        self._entry_points_loaded = not entry_points

    # -- entry points --------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        with self._lock:
            if self._entry_points_loaded:
                return
            self._entry_points_loaded = True
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    scheme = _normalise(ep.name)
                except ValueError:
                    log.warning(
                        "ignoring transport entry point %r (%s): invalid scheme name", ep.name, ep.value
                    )
                    continue
                if scheme in self._entries:
                    log.warning(
                        "ignoring transport entry point %r (%s): scheme %r is already registered",
                        ep.name, ep.value, scheme,
                    )
                    continue
                self._entries[scheme] = ep

    # -- registration --------------------------------------------------------------------------

    def register_scheme(self, name: str, factory: TransportFactory | str, clobber: bool = False) -> None:
        """Register ``factory`` (a callable or a ``"module:attribute"`` path) for the scheme ``name``.

        Raises:
            ValueError: ``name`` is already registered and ``clobber`` is false, or is not a valid scheme.
        """
        scheme = _normalise(name)
        if not isinstance(factory, str) and not callable(factory):
            raise TypeError(f"factory for scheme {scheme!r} must be callable or a 'module:attribute' string")
        self._load_entry_points()
        with self._lock:
            if scheme in self._entries and not clobber:
                raise ValueError(
                    f"URI scheme {scheme!r} is already registered ({self._describe(scheme)}); "
                    "pass clobber=True to replace it"
                )
            self._entries[scheme] = factory
            self._resolved.pop(scheme, None)

    def unregister_scheme(self, name: str) -> None:
        """Remove the scheme ``name``.

        Raises:
            UnknownSchemeError: no such scheme is registered.
        """
        scheme = _normalise(name)
        self._load_entry_points()
        with self._lock:
            if scheme not in self._entries:
                raise UnknownSchemeError(scheme, list(self._entries))
            del self._entries[scheme]
            self._resolved.pop(scheme, None)

    def _describe(self, scheme: str) -> str:
        entry = self._entries[scheme]
        if isinstance(entry, str):
            return entry
        if isinstance(entry, EntryPoint):
            return f"entry point {entry.value}"
        return getattr(entry, "__qualname__", repr(entry))

    # -- lookup --------------------------------------------------------------------------------

    def schemes(self) -> Mapping[str, str | EntryPoint | TransportFactory]:
        """A read-only snapshot: scheme → factory (or its unimported ``module:attr`` / entry point)."""
        self._load_entry_points()
        with self._lock:
            return MappingProxyType(dict(self._entries))

    def __contains__(self, scheme: object) -> bool:
        return isinstance(scheme, str) and scheme.lower() in self.schemes()

    def get_factory(self, scheme: str) -> TransportFactory:
        """The factory for ``scheme``, importing it on first use.

        Raises:
            UnknownSchemeError: nothing is registered for ``scheme``; the message lists the known schemes.
            ConfigurationError: the registered factory cannot be imported.
        """
        key = scheme.lower().removesuffix(":")
        self._load_entry_points()
        with self._lock:
            factory = self._resolved.get(key)
            if factory is not None:
                return factory
            entry = self._entries.get(key)
            if entry is None:
                raise UnknownSchemeError(key, list(self._entries))
        if isinstance(entry, str):
            factory = _load_path(entry, key)
        elif isinstance(entry, EntryPoint):
            try:
                loaded = entry.load()
            except Exception as exc:  # any import-time failure of a third-party package
                raise ConfigurationError(
                    f"transport entry point {entry.name!r} ({entry.value}) of group {ENTRY_POINT_GROUP!r} "
                    f"cannot be loaded: {exc}"
                ) from exc
            if not callable(loaded):
                raise ConfigurationError(
                    f"transport entry point {entry.name!r} ({entry.value}) is not callable"
                )
            factory = cast("TransportFactory", loaded)
        else:
            factory = entry
        with self._lock:
            if self._entries.get(key) is entry:
                self._resolved[key] = factory
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
