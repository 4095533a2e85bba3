"""Live configuration: notice a changed configuration and hand it to a running :class:`Exporter`.

dcm4chee-arc needs "reload configuration" pressed after an exporter was changed; a runner of ours notices it:

- from LDAP by polling a cheap change marker of the configuration (:meth:`LdapConfigStore.change_marker
  <dcm_exporter.config.ldap.LdapConfigStore.change_marker>`; every 10 s by default),
- from a file by its modification time (and size),
- on request: :meth:`ConfigurationReloader.reload` (``POST /ctrl/reload`` of the web app; ``dcm-exporter run``
  and ``serve`` call it on SIGHUP — the library itself installs no signal handler).

A new configuration is taken only when it loads and passes the checks (the archive device the runner works for
still exists, no validation error, the export rules are usable); otherwise the old one stays and the reason is
logged and kept in :attr:`ConfigurationReloader.last_result` (shown by ``/healthz`` and the metrics). Running
exports finish with what they hold; new ones use the new configuration (:meth:`Exporter.reload
<dcm_exporter.exporter.Exporter.reload>`).

Only the standard library is imported here, so ``dcm-exporter run`` reloads without the ``web`` extra.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter.errors import ConfigurationError, DcmExporterError

if TYPE_CHECKING:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Configuration

__all__ = ["DEFAULT_POLL_INTERVAL", "ConfigurationReloader", "ReloadResult", "file_marker", "read_configuration_file"]

log = logging.getLogger("dcm_exporter.web.reload")

#: Seconds between two looks at the change marker (as the issue asks: every 10 s by default).
DEFAULT_POLL_INTERVAL = 10.0


@attrs.frozen(kw_only=True)
class ReloadResult:
    """How one load of the configuration ended.

    Attributes:
        ok: the configuration was loaded and is in use (or was unchanged).
        changed: it differed from the one in use (``False`` for an identical one: nothing was replaced).
        trigger: what asked for it: ``"start"``, ``"poll"``, ``"request"`` (``POST /ctrl/reload``),
            ``"signal"`` (SIGHUP) or ``"api"``.
        at: when it ended (UTC).
        seconds: how long loading and checking took.
        error: why the configuration was not taken (``None`` when ``ok``).
    """

    ok: bool
    changed: bool
    trigger: str
    at: datetime
    seconds: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for ``/healthz`` and ``POST /ctrl/reload``)."""
        return {
            "ok": self.ok,
            "changed": self.changed,
            "trigger": self.trigger,
            "at": self.at.isoformat(timespec="milliseconds"),
            "seconds": round(self.seconds, 6),
            "error": self.error,
        }


def file_marker(path: str | os.PathLike[str]) -> Callable[[], Hashable]:
    """A change marker of a configuration file: its modification time and size (``None`` when it is missing).

    Editors that replace the file (write a copy, rename it over) change the marker too.
    """
    file = Path(path)

    def marker() -> Hashable:
        try:
            st = file.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    return marker


def read_configuration_file(path: str | os.PathLike[str]) -> Configuration:
    """An LDIF file, or dcm4che device JSON when the name ends in ``.json``.

    Raises:
        ConfigurationError: the file is missing or not a valid configuration (names the file).
    """
    from dcm_exporter.config.load import load_configuration

    return load_configuration(Path(path), allow_file_urls=True)  # the file the operator started us with


class ConfigurationReloader:
    """Keeps an :class:`~dcm_exporter.exporter.Exporter` on the current configuration.

    Args:
        exporter: the exporter whose configuration is replaced.
        load: reads the configuration anew (a file parse, an LDAP load); raises on bad input.
        marker: a cheap function whose value changes when the configuration changed (file modification time,
            LDAP change marker); ``None``: only :meth:`reload` reloads.
        interval: seconds between two calls of ``marker`` once :meth:`start` ran.
        source: where the configuration comes from, for messages (no secrets).

    Thread-safe: one reload at a time; :meth:`reload` may be called from any thread (a web request, a
    signal handler's helper thread).

    >>> from dcm_exporter.exporter import Exporter
    >>> from dcm_exporter.models import Configuration
    >>> from dcm_exporter.sources import FileSystemSource
    >>> import tempfile
    >>> with Exporter(Configuration(), FileSystemSource(tempfile.mkdtemp())) as exporter:
    ...     reloader = ConfigurationReloader(exporter, load=Configuration, source="example")
    ...     reloader.reload().ok
    True
    """

    def __init__(
        self,
        exporter: Exporter,
        load: Callable[[], Configuration],
        *,
        marker: Callable[[], Hashable] | None = None,
        interval: float = DEFAULT_POLL_INTERVAL,
        source: str = "configuration",
    ) -> None:
        if interval <= 0:
            raise ConfigurationError(f"the reload poll interval must be positive, got {interval!r} s")
        self.exporter = exporter
        self._load = load
        self._marker = marker
        self.interval = float(interval)
        self.source = source
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_marker: Hashable = None
        if marker is not None:
            try:
                self._last_marker = self._read_marker()
            except DcmExporterError as exc:  # unknown now: the first successful look reloads
                log.warning("cannot read the change marker of %s: %s", source, exc, extra={"source": source})
        self._listeners: list[Callable[[ReloadResult], None]] = []
        self.last_result: ReloadResult | None = None
        """The result of the last load (successful or not), or ``None`` before the first."""
        self.last_success: ReloadResult | None = None
        """The last load that was taken (or found nothing changed)."""
        self.reloads = 0
        """Configurations taken since start (changed ones only)."""
        self.failures = 0
        """Loads that were refused."""

    @classmethod
    def for_file(
        cls, exporter: Exporter, path: str | os.PathLike[str], *, interval: float = DEFAULT_POLL_INTERVAL
    ) -> ConfigurationReloader:
        """Reload from an LDIF or device JSON file when its modification time changes."""
        file = os.fspath(path)
        return cls(exporter, lambda: read_configuration_file(file), marker=file_marker(file),
                   interval=interval, source=file)

    @classmethod
    def for_ldap(
        cls, exporter: Exporter, store: Any, *, interval: float = DEFAULT_POLL_INTERVAL
    ) -> ConfigurationReloader:
        """Reload from an :class:`~dcm_exporter.config.ldap.LdapConfigStore` when its change marker moves."""
        return cls(exporter, store.load, marker=store.change_marker, interval=interval,
                   source=f"LDAP {store.url} ({store.config_root_dn})")

    def note_loaded(self, seconds: float, trigger: str = "start") -> ReloadResult:
        """Record the load that happened before this reloader existed (the configuration the exporter was
        created with), so that ``/healthz`` and the metrics show its time from the start."""
        result = ReloadResult(ok=True, changed=False, trigger=trigger, at=datetime.now(UTC), seconds=seconds)
        with self._lock:
            self.last_result = self.last_success = result
        for listener in list(self._listeners):
            listener(result)
        return result

    # --- listeners ------------------------------------------------------------------------------------

    def on_reload(self, listener: Callable[[ReloadResult], None]) -> Callable[[ReloadResult], None]:
        """Call ``listener(result)`` after every load (taken or refused); usable as a decorator."""
        self._listeners.append(listener)
        return listener

    # --- loading --------------------------------------------------------------------------------------

    def _read_marker(self) -> Hashable:
        assert self._marker is not None
        return self._marker()

    def check(self) -> ReloadResult | None:
        """Look at the change marker once; reload when it moved. Returns the result, or ``None`` (unchanged).

        A marker that cannot be read (LDAP down) is logged and treated as unchanged: the configuration in use
        stays, and the next look tries again.
        """
        if self._marker is None:
            return None
        try:
            current = self._read_marker()
        except DcmExporterError as exc:
            log.warning("cannot read the change marker of %s: %s", self.source, exc,
                        extra={"source": self.source})
            return None
        if current == self._last_marker:
            return None
        return self._reload("poll", current)

    def reload(self, trigger: str = "api") -> ReloadResult:
        """Load the configuration now and take it if it is usable (see the module docstring)."""
        current: Hashable = None
        if self._marker is not None:
            try:
                current = self._read_marker()
            except DcmExporterError:
                current = self._last_marker
        return self._reload(trigger, current)

    def _reload(self, trigger: str, marker: Hashable) -> ReloadResult:
        with self._lock:
            started = time.perf_counter()
            error: str | None = None
            changed = False
            try:
                configuration = self._load()
                self._check(configuration)
                changed = configuration != self.exporter.configuration
                if changed:
                    self.exporter.reload(configuration)
            except (DcmExporterError, ValueError, OSError) as exc:
                error = str(exc) or type(exc).__name__
            seconds = time.perf_counter() - started
            # a refused configuration is not tried again until the marker moves again
            self._last_marker = marker
            result = ReloadResult(ok=error is None, changed=changed, trigger=trigger, at=datetime.now(UTC),
                                  seconds=seconds, error=error)
            self.last_result = result
            if error is None:
                self.last_success = result
                if changed:
                    self.reloads += 1
                    log.info("configuration reloaded from %s (%s, %.3f s)", self.source, trigger, seconds,
                             extra={"source": self.source, "trigger": trigger})
            else:
                self.failures += 1
                log.error("configuration from %s not taken (%s); the previous one stays in use: %s",
                          self.source, trigger, error, extra={"source": self.source, "trigger": trigger})
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:  # a listener (metrics) must not break the reload
                log.exception("reload listener %r failed", listener)
        return result

    def _check(self, configuration: Configuration) -> None:
        """Refuse what would break the running exporter: its device gone, validation errors."""
        from dcm_exporter.models.configuration import Severity

        device = self.exporter.queue.device_name
        if device and self.exporter.configuration.has_device(device) and not configuration.has_device(device):
            raise ConfigurationError(f"the new configuration has no device {device} (the device this runner "
                                     "exports for)")
        errors = [i for i in configuration.validate() if i.severity is Severity.ERROR]
        if errors:
            raise ConfigurationError("; ".join(str(i) for i in errors))

    # --- polling thread -------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether the polling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Poll the change marker every :attr:`interval` seconds in a daemon thread (no-op without a marker)."""
        if self._marker is None or self.is_running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="dcm-exporter-config-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for a reload in progress)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the poller must survive anything a loader raises
                log.exception("configuration poll of %s failed", self.source)

    def __enter__(self) -> ConfigurationReloader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
