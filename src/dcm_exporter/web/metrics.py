"""Prometheus metrics of a running exporter (prometheus_client, the ``web`` extra).

Every :class:`ExporterMetrics` has its own ``CollectorRegistry`` (no process-global state: two apps in one
process do not mix), served at ``/metrics`` by the web app and by ``dcm-exporter run --metrics-port``.

=============================================  =========  ==================================================
name                                           type       labels / meaning
=============================================  =========  ==================================================
``dcm_exporter_tasks``                         gauge      ``queue``, ``status``: export tasks of the device in
                                                          the store, counted when scraped
``dcm_exporter_tasks_finished_total``          counter    ``exporter``, ``status``: attempts this process
                                                          finished (``SCHEDULED FOR RETRY`` for a failed
                                                          attempt that will be retried)
``dcm_exporter_instances_total``               counter    ``exporter``, ``result`` (completed, warning,
                                                          failed, missing, skipped)
``dcm_exporter_bytes_sent_total``              counter    ``exporter``: Part 10 size of the instances sent
                                                          (completed or warning)
``dcm_exporter_export_duration_seconds``       histogram  ``exporter``: processing start to end of an attempt
``dcm_exporter_configuration_load_seconds``    gauge      time the last configuration load and check took
``dcm_exporter_configuration_last_reload_success``  gauge  1 when the last load was taken, 0 when refused
``dcm_exporter_configuration_last_reload_timestamp_seconds``  gauge  when it ended (Unix time)
``dcm_exporter_configuration_reloads_total``   counter    ``result`` (taken, unchanged, refused)
=============================================  =========  ==================================================
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dcm_exporter.errors import DcmExporterError
from dcm_exporter.queue.task import TaskFilter, TaskStatus, TaskType
from dcm_exporter.web._facade import ExporterAdapter
from dcm_exporter.web._health import health_report

if TYPE_CHECKING:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue.manager import TaskResult
    from dcm_exporter.web.reload import ConfigurationReloader, ReloadResult

__all__ = ["CONTENT_TYPE", "ExporterMetrics"]

log = logging.getLogger("dcm_exporter.web.metrics")

#: The content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Export durations span a single small instance on loopback to a large study over a WAN.
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


class _QuietHandler(WSGIRequestHandler):
    """No access log on standard error for every scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _TaskGauge(Collector):
    """``dcm_exporter_tasks{queue,status}``: counted in the store at each scrape (tasks of other processes
    sharing the queue included)."""

    def __init__(self, adapter: ExporterAdapter) -> None:
        self._adapter = adapter

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("dcm_exporter_tasks", "Export tasks of the device in the store, by queue and "
                                   "status", labels=["queue", "status"])
        try:
            device = self._adapter.device_name
            for queue in self._adapter.queue_names():
                for status in TaskStatus:
                    n = self._adapter.count(TaskFilter(device_name=device, queue_name=queue, status=status,
                                                       task_type=TaskType.EXPORT))
                    family.add_metric([queue, status.value], n)
        except (DcmExporterError, OSError) as exc:  # a scrape must answer even when the store does not
            log.warning("cannot count tasks for /metrics: %s", exc)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class ExporterMetrics:
    """The metrics of one exporter (and its configuration reloader, when there is one).

    Registers a task-finished hook on the exporter; call :meth:`render` for the text exposition.
    """

    def __init__(self, exporter: Exporter, *, reloader: ConfigurationReloader | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._adapter = ExporterAdapter(exporter)
        self._reloader = reloader
        r = self.registry
        self.registry.register(_TaskGauge(self._adapter))
        self.finished = Counter("dcm_exporter_tasks_finished", "Export attempts finished by this process",
                                ["exporter", "status"], registry=r)
        self.instances = Counter("dcm_exporter_instances", "Instances exported by this process, by result",
                                 ["exporter", "result"], registry=r)
        self.bytes_sent = Counter("dcm_exporter_bytes_sent", "Part 10 bytes of the instances sent (completed "
                                  "or warning)", ["exporter"], registry=r)
        self.duration = Histogram("dcm_exporter_export_duration_seconds", "Duration of export attempts",
                                  ["exporter"], buckets=_BUCKETS, registry=r)
        self.load_seconds = Gauge("dcm_exporter_configuration_load_seconds",
                                  "Seconds the last configuration load and check took", registry=r)
        self.reload_success = Gauge("dcm_exporter_configuration_last_reload_success",
                                    "1 when the last configuration load was taken, 0 when it was refused",
                                    registry=r)
        self.reload_time = Gauge("dcm_exporter_configuration_last_reload_timestamp_seconds",
                                 "When the last configuration load ended (Unix time)", registry=r)
        self.reloads = Counter("dcm_exporter_configuration_reloads", "Configuration loads, by result",
                               ["result"], registry=r)
        self._adapter.on_task_finished(self._task_finished)
        if reloader is not None:
            reloader.on_reload(self.record_reload)
            if reloader.last_result is not None:
                self.record_reload(reloader.last_result)

    def _task_finished(self, result: TaskResult) -> None:
        task = result.task
        if task is None or result.released or task.task_type is not TaskType.EXPORT:
            return
        exporter = task.exporter_id
        self.finished.labels(exporter, task.status.value).inc()
        outcome = result.outcome
        if outcome is not None:
            counts = {
                "completed": outcome.completed,
                "warning": outcome.warning,
                "failed": outcome.failed,
                "missing": outcome.missing,
                "skipped": outcome.skipped,
            }
            for name, n in counts.items():
                if n:
                    self.instances.labels(exporter, name).inc(n)
            if outcome.bytes_sent:
                self.bytes_sent.labels(exporter).inc(outcome.bytes_sent)
        if task.processing_start_time is not None and task.processing_end_time is not None:
            seconds = (task.processing_end_time - task.processing_start_time).total_seconds()
            self.duration.labels(exporter).observe(max(seconds, 0.0))

    def record_reload(self, result: ReloadResult) -> None:
        """Take a configuration load's result (registered on the reloader by the constructor)."""
        self.load_seconds.set(result.seconds)
        self.reload_success.set(1 if result.ok else 0)
        self.reload_time.set(result.at.timestamp())
        self.reloads.labels("refused" if not result.ok else "taken" if result.changed else "unchanged").inc()

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """Serve ``/metrics`` and ``/healthz`` on ``host:port`` in a daemon thread (a small WSGI server of the
        standard library around prometheus_client's exposition); returns how to stop it. For ``dcm-exporter
        run --metrics-port``. ``/healthz`` answers as the web app's; every other path the metrics, as
        prometheus_client's own server does.

        Raises:
            OSError: the address is taken.
        """
        metrics = make_wsgi_app(self.registry)
        adapter, reloader = self._adapter, self._reloader

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                body, status = health_report(adapter, reloader)
                data = json.dumps(body).encode()
                start_response("200 OK" if status == 200 else "503 Service Unavailable",
                               [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
                return [data]
            result: Iterable[bytes] = metrics(environ, start_response)
            return result

        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

        class Server(ThreadingMixIn, WSGIServer):
            address_family = family
            daemon_threads = True

        server = make_server(host, port, app, Server, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="dcm-exporter-metrics", daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop

    def render(self) -> bytes:
        """The text exposition format (``Content-Type``: :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
