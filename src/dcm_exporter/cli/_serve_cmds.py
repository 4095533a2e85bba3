"""``serve``: the queue runner plus the web app (dcm4chee's export REST API, /metrics, /healthz, the page)."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcm_exporter.cli._codes import EXIT_OK
from dcm_exporter.cli._context import (
    add_config_options,
    add_queue_options,
    add_source_options,
    open_source,
    open_store,
    option,
    shown_queue,
)
from dcm_exporter.cli._live import add_live_options, load_timed, make_reloader, sighup_reloads
from dcm_exporter.cli._output import info, warning
from dcm_exporter.errors import ConfigurationError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="run the export queue and serve dcm4chee's export REST API, /metrics and a monitoring page",
        description="Process queued export tasks as 'run' does and serve, on 127.0.0.1 unless told otherwise: "
        "dcm4chee-arc-light's export REST API below /dcm4chee-arc (EXPORT-RS, MONITOR-RS export tasks, "
        "/ctrl/reload), Prometheus metrics at /metrics, /healthz, and the monitoring page at /ui/export. "
        "Changes (POST, DELETE) need the bearer token of --token-file. The configuration reloads itself when it "
        "changes (LDAP change marker / file modification time), on SIGHUP and on POST /ctrl/reload.",
    )
    add_config_options(p)
    add_queue_options(p)
    add_source_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--token-file", metavar="FILE",
                   help="file holding the bearer token that POST and DELETE requests must send "
                   "(without it, the API and the page are read-only)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--poll-interval", type=float, default=None, help="seconds between looks at the queue")
    p.add_argument("--stop-timeout", type=float, default=30.0,
                   help="seconds running exports get to finish on Ctrl-C / SIGTERM (default 30)")
    p.add_argument("--refresh", type=float, default=5.0,
                   help="seconds between refreshes of the monitoring page (default 5; 0: never)")
    add_live_options(p)
    p.set_defaults(handler=serve)


def _read_token(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"--token-file {path}: {exc.strerror or exc}") from exc
    if not token or any(c.isspace() for c in token):
        raise ConfigurationError(f"--token-file {path}: the file must hold one token (no spaces), not "
                                 + ("nothing" if not token else "several words"))
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stop_signals_already_handled() -> Callable[[], None]:
    """uvicorn shuts down gracefully on SIGINT / SIGTERM and then raises the signal again with the handlers
    it found: make those handlers no-ops, so that a graceful stop ends with exit status 0 (as ``run`` does)
    instead of dying by the signal after the fact. Returns how to undo it."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def already_handled(signum: int, frame: object) -> None:
        return None

    previous = {sig: signal.signal(sig, already_handled) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from dcm_exporter.web.app import create_app
    except ImportError as exc:
        raise ConfigurationError(f"serve needs the 'web' extra: pip install 'dcm-exporter[web]' ({exc})") from exc
    from dcm_exporter.exporter import Exporter

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigurationError("--tls-cert and --tls-key go together")
    token = _read_token(args.token_file)
    configuration, loaded_in = load_timed(args)
    if not _is_loopback(args.host):
        warning(f"listening on {args.host}: reachable from other machines"
                + ("" if args.tls_cert else " over plain HTTP (give --tls-cert/--tls-key)"))
    with open_source(args) as source, Exporter(
        configuration, source, store=open_store(args), device_name=option(args, "device")
    ) as exporter:
        reloader, close_reloader = make_reloader(args, exporter, loaded_in)
        restore_sighup = sighup_reloads(reloader)
        stop_timeout = args.stop_timeout

        def start() -> None:
            exporter.start(poll_interval=args.poll_interval)

        def stop() -> None:
            info("stopping: running exports finish or go back to the queue ...")
            exporter.stop(stop_timeout)

        app = create_app(exporter, token=token, reloader=reloader, refresh_seconds=args.refresh,
                         on_startup=[start], on_shutdown=[stop])
        options: dict[str, Any] = {}
        if args.tls_cert:
            options.update(ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key)
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                                lifespan="on", **options)
        server = uvicorn.Server(config)
        scheme = "https" if args.tls_cert else "http"
        info(f"serving device {exporter.queue.device_name} ({shown_queue(args)}) at "
             f"{scheme}://{args.host}:{args.port}/ui/export; REST below /dcm4chee-arc; "
             + ("changes need the bearer token" if token else "read-only (no --token-file)") + "; Ctrl-C stops")
        restore_stop = _stop_signals_already_handled()
        try:
            server.run()
        finally:
            restore_stop()
            restore_sighup()
            if reloader is not None:
                reloader.stop()
            close_reloader()
        info("stopped")
    return EXIT_OK
