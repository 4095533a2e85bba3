"""A thread-safe registry of names (URI schemes) → plug-ins, imported on first use.

Both plug-in points of the library work the same way (the transports by exporter ``dcmURI`` scheme, the coercion
processors by rule ``dcmURI`` scheme): built-ins are ``"module:attribute"`` strings imported when first asked for,
third-party packages add schemes through an entry-point group read on first use, and an entry point never
replaces a built-in or explicitly registered scheme (it is logged and skipped). The subclasses say what a valid
plug-in is (:meth:`LazyRegistry._adopt`) and word their errors with :attr:`LazyRegistry.kind`.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import ClassVar, Generic, TypeVar

from dcm_exporter.errors import ConfigurationError

__all__ = ["SCHEME_RE", "LazyRegistry"]

#: RFC 3986 scheme syntax, lower-cased.
SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*")

T = TypeVar("T")


class LazyRegistry(Generic[T]):
    """Scheme → plug-in ``T`` (or its unimported ``module:attribute`` path / entry point).

    Args:
        builtins: the library's schemes, as ``module:attribute`` paths.
        entry_points: also load the schemes of :attr:`group` on first use.
    """

    #: What a plug-in is called in messages (``"transport"``, ``"coercion processor"``).
    kind: ClassVar[str]
    #: What a scheme is called in messages (``"URI scheme"``).
    scheme_noun: ClassVar[str]
    #: The entry-point group third-party plug-ins register under.
    group: ClassVar[str]
    log: ClassVar[logging.Logger]

    def __init__(self, builtins: Mapping[str, str], *, entry_points: bool) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, str | EntryPoint | T] = dict(builtins)
        self._resolved: dict[str, T] = {}
        self._entry_points_loaded = not entry_points

    def _adopt(self, obj: object, what: str) -> T:
        """``obj`` as a plug-in (``what`` names where it came from).

        Raises:
            ConfigurationError: ``obj`` is not a plug-in of this registry.
        """
        raise NotImplementedError

    def _normalise(self, name: str) -> str:
        scheme = name.strip().lower().removesuffix(":")
        if not SCHEME_RE.fullmatch(scheme):
            raise ValueError(
                f"invalid {self.scheme_noun} {name!r}: a scheme is a letter followed by letters, digits, "
                "'+', '-' or '.'"
            )
        return scheme

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        with self._lock:
            if self._entry_points_loaded:
                return
            self._entry_points_loaded = True
            for ep in entry_points(group=self.group):
                try:
                    scheme = self._normalise(ep.name)
                except ValueError:
                    self.log.warning(
                        "ignoring %s entry point %r (%s): invalid scheme name", self.kind, ep.name, ep.value
                    )
                    continue
                if scheme in self._entries:
                    self.log.warning(
                        "ignoring %s entry point %r (%s): scheme %r is already registered",
                        self.kind, ep.name, ep.value, scheme,
                    )
                    continue
                self._entries[scheme] = ep

    def _describe(self, scheme: str) -> str:
        entry = self._entries[scheme]
        if isinstance(entry, str):
            return entry
        if isinstance(entry, EntryPoint):
            return f"entry point {entry.value}"
        return getattr(entry, "__qualname__", repr(entry))

    def _put(self, scheme: str, plugin: T | str, *, clobber: bool) -> None:
        """Register ``plugin`` (already checked) for the normalised ``scheme``.

        Raises:
            ValueError: ``scheme`` is registered already and ``clobber`` is false.
        """
        self._load_entry_points()
        with self._lock:
            if scheme in self._entries and not clobber:
                raise ValueError(
                    f"{self.scheme_noun} {scheme!r} is already registered ({self._describe(scheme)}); "
                    "pass clobber=True to replace it"
                )
            self._entries[scheme] = plugin
            self._resolved.pop(scheme, None)

    def schemes(self) -> Mapping[str, str | EntryPoint | T]:
        """A read-only snapshot: scheme → plug-in (or its unimported ``module:attribute`` path / entry point)."""
        self._load_entry_points()
        with self._lock:
            return MappingProxyType(dict(self._entries))

    def _import(self, path: str, scheme: str) -> T:
        module_name, sep, attr = path.partition(":")
        if not sep or not module_name or not attr:
            raise ConfigurationError(f"{self.kind} for scheme {scheme!r}: {path!r} is not a 'module:attribute' path")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"{self.kind} for scheme {scheme!r} cannot be imported from {module_name!r}: {exc}"
            ) from exc
        obj: object = module
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError as exc:
            raise ConfigurationError(f"{self.kind} for scheme {scheme!r}: {path!r} does not exist") from exc
        return self._adopt(obj, f"{self.kind} for scheme {scheme!r}: {path!r}")

    def _lookup(self, scheme: str) -> T | None:
        """The plug-in for ``scheme`` (imported on first use), or ``None`` when none is registered.

        Raises:
            ConfigurationError: the registered plug-in cannot be imported or is not a plug-in.
        """
        key = scheme.lower().removesuffix(":")
        self._load_entry_points()
        with self._lock:
            found = self._resolved.get(key)
            if found is not None:
                return found
            entry = self._entries.get(key)
        if entry is None:
            return None
        plugin: T
        if isinstance(entry, str):
            plugin = self._import(entry, key)
        elif isinstance(entry, EntryPoint):
            what = f"{self.kind} entry point {entry.name!r} ({entry.value})"
            try:
                loaded = entry.load()
            except Exception as exc:  # any import-time failure of a third-party package
                raise ConfigurationError(f"{what} of group {self.group!r} cannot be loaded: {exc}") from exc
            plugin = self._adopt(loaded, what)
        else:
            plugin = entry
        with self._lock:
            if self._entries.get(key) is entry:
                self._resolved[key] = plugin
        return plugin
