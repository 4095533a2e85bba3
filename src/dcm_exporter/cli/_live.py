"""What ``run`` and ``serve`` share: live configuration reload (polling, SIGHUP) and the metrics endpoint.

The SIGHUP handler lives here, in the command, never in the library: an embedding application decides its own
signals and calls :meth:`ConfigurationReloader.reload` itself.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dcm_exporter.cli._context import ldap_store, load_configuration, option
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Configuration
    from dcm_exporter.web.reload import ConfigurationReloader

__all__ = ["add_live_options", "load_timed", "make_reloader", "sighup_reloads", "start_metrics_server"]


def add_live_options(parser: argparse.ArgumentParser) -> None:
    """``--reload-interval SECONDS``."""
    parser.add_argument(
        "--reload-interval", type=float, default=10.0, metavar="SECONDS",
        help="look for a changed configuration this often: the LDAP change marker or the file's modification "
        "time (default 10; 0: only on SIGHUP / POST /ctrl/reload)",
    )


def load_timed(args: argparse.Namespace) -> tuple[Configuration, float]:
    """The configuration and the seconds its load took."""
    started = time.perf_counter()
    configuration = load_configuration(args)
    return configuration, time.perf_counter() - started


def make_reloader(args: argparse.Namespace, exporter: Exporter, loaded_in: float) -> tuple[
        ConfigurationReloader | None, Callable[[], None]]:
    """The reloader for ``--config FILE`` / ``--ldap URL`` (``None`` for standard input), and how to close what
    it holds (the LDAP connection)."""
    from dcm_exporter.web.reload import DEFAULT_POLL_INTERVAL, ConfigurationReloader

    interval = getattr(args, "reload_interval", DEFAULT_POLL_INTERVAL)
    if interval is not None and interval < 0:
        raise ConfigurationError(f"--reload-interval {interval}: give 0 (no polling) or a positive number")
    poll = interval or DEFAULT_POLL_INTERVAL
    reloader: ConfigurationReloader | None = None
    close: Callable[[], None] = lambda: None  # noqa: E731 - nothing to close for a file
    if option(args, "ldap"):
        store = ldap_store(args)
        reloader = ConfigurationReloader.for_ldap(exporter, store, interval=poll)
        close = store.close
    else:
        path = option(args, "config")
        if path and path != "-":
            reloader = ConfigurationReloader.for_file(exporter, path, interval=poll)
    if reloader is not None:
        reloader.note_loaded(loaded_in)
        if interval:
            reloader.start()
    return reloader, close


def sighup_reloads(reloader: ConfigurationReloader | None) -> Callable[[], None]:
    """Make SIGHUP reload the configuration (as for most daemons); returns how to undo it.

    The reload runs in a thread of its own: a handler must return quickly, and the main thread may hold
    locks the reload needs. Only in the main thread, where signals are delivered (else nothing changes).
    """
    import signal

    if reloader is None or not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def hup(signum: int, frame: object) -> None:
        threading.Thread(target=reloader.reload, args=("signal",), name="dcm-exporter-sighup", daemon=True).start()

    previous = signal.signal(signal.SIGHUP, hup)

    def restore() -> None:
        signal.signal(signal.SIGHUP, previous)

    return restore


def start_metrics_server(host: str, port: int, exporter: Exporter,
                         reloader: ConfigurationReloader | None) -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port`` in a thread (prometheus_client's own server); returns its stop.

    Raises:
        ConfigurationError: the ``web`` extra (prometheus-client) is not installed.
        OSError: the port is taken.
    """
    try:
        from dcm_exporter.web.metrics import ExporterMetrics
    except ImportError as exc:
        raise ConfigurationError(f"--metrics-port needs the 'web' extra: pip install 'dcm-exporter[web]' ({exc})"
                                 ) from exc
    return ExporterMetrics(exporter, reloader=reloader).serve(host, port)
