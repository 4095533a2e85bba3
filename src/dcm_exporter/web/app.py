"""The ASGI application: dcm4chee's export REST API, ``/metrics``, ``/healthz`` and the monitoring page.

``create_app(exporter, ...)`` returns a Starlette application that an archive mounts in its own ASGI server
(``Mount("/exporter", app=create_app(...))``) or that ``dcm-exporter serve`` runs with uvicorn.

Paths (below the application's root):

- ``/dcm4chee-arc/...``: upstream's EXPORT-RS (``POST /aets/{aet}/rs/studies/{study}[/series/{series}
  [/instances/{instance}]]/export/{exporterID}``) and MONITOR-RS for export tasks (``/monitor/export``,
  ``/count``, ``/batch``, ``/cancel``, ``/reschedule``, per task ``/{taskID}/cancel`` ...), and
  ``POST /ctrl/reload``: same parameters, status codes and JSON as dcm4chee-arc-light;
- ``/metrics`` (Prometheus text format), ``/healthz`` (200 when the runner and the store work, else 503);
- ``/ui/export`` (tasks), ``/ui/export/{taskID}`` (one task, its failed instances), ``/ui/batches``.

Every ``POST`` and ``DELETE`` needs ``Authorization: Bearer <token>`` when the app has a token; without one,
they are refused unless ``require_token=False`` (an archive that puts its own authentication in front).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dcm_exporter.errors import ConfigurationError, DcmExporterError, TaskNotFoundError
from dcm_exporter.queue.task import BatchSummary, ExportTask, TaskFilter, TaskStatus, TaskType
from dcm_exporter.web._facade import ExporterAdapter
from dcm_exporter.web._health import health_report
from dcm_exporter.web.dcm4chee import (
    MAX_BATCH_ID,
    MAX_TASK_ID,
    BadParameter,
    batch_json,
    choose_output,
    parse_datetime,
    task_filters,
    task_json,
    tasks_csv,
)

if TYPE_CHECKING:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.web.metrics import ExporterMetrics
    from dcm_exporter.web.reload import ConfigurationReloader

__all__ = ["BASE_PATH", "create_app"]

log = logging.getLogger("dcm_exporter.web")

#: Where dcm4chee-arc-light serves its REST services; scripts keep their paths and change host and port.
BASE_PATH = "/dcm4chee-arc"

_PAGE_LIMIT = 100


def _error(status: int, message: str) -> JSONResponse:
    # upstream answers errors with {"errorMessage": ...}
    return JSONResponse({"errorMessage": message}, status_code=status)


class _Api:
    """The endpoints; one instance per application."""

    def __init__(
        self,
        exporter: Exporter,
        *,
        token: str | None,
        require_token: bool,
        reloader: ConfigurationReloader | None,
        metrics: ExporterMetrics | None,
        refresh_seconds: float,
    ) -> None:
        self.adapter = ExporterAdapter(exporter)
        self._token = token.encode() if token else None
        self._require_token = require_token
        self.reloader = reloader
        self.metrics = metrics
        self.refresh_seconds = refresh_seconds
        self.templates = Environment(
            loader=PackageLoader("dcm_exporter.web", "templates"), autoescape=select_autoescape(["html"]),
            trim_blocks=True, lstrip_blocks=True,
        )

    # --- security -----------------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        """``None`` when the request may change things, else the 401/403 answer."""
        if self._token is None:
            if self._require_token:
                return _error(403, "this server has no token for changes: start it with --token-file "
                              "(or mount the app with require_token=False behind your own authentication)")
            return None
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            return JSONResponse({"errorMessage": "a valid bearer token is required (Authorization: Bearer ...)"},
                                status_code=401, headers={"WWW-Authenticate": 'Bearer realm="dcm-exporter"'})
        return None

    # --- EXPORT-RS ----------------------------------------------------------------------------------------

    def export(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        p = request.path_params
        aet, exporter_id, study = p["aet"], p["exporterID"], p["study"]
        series, instance = p.get("series"), p.get("instance")
        if aet not in self.adapter.local_ae_titles():
            return _error(404, f"No such Archive AE Title: {aet}")
        if self.adapter.exporter_descriptor(exporter_id) is None:
            return _error(404, f"No such Exporter: {exporter_id}")
        q = request.query_params
        batch_id = q.get("batchID") or None
        if batch_id is not None and (len(batch_id) > MAX_BATCH_ID or not batch_id.isprintable()):
            return _error(400, f"batchID={batch_id[:40]!r}{'...' if len(batch_id) > 40 else ''}: at most "
                          f"{MAX_BATCH_ID} printable characters ({len(batch_id)} given)")
        try:
            when = parse_datetime(q["scheduledTime"]) if q.get("scheduledTime") else None
        except BadParameter as exc:
            return _error(400, str(exc))
        try:
            found = self.adapter.has_instances(study, series, instance)
        except DcmExporterError as exc:
            return _error(500, f"cannot look up the instances: {exc}")
        if not found:
            what = ("Instance" if instance else "Series" if series else "Study")
            return _error(404, f"No such {what}: {instance or series or study}")
        client = request.client.host if request.client else None
        try:
            task = self.adapter.schedule_export(
                exporter_id, study, series, instance, batch_id=batch_id, scheduled_time=when,
                requester=client,
            )
        except ConfigurationError as exc:
            return _error(404, str(exc))
        return JSONResponse(task_json(task), status_code=202)

    # --- MONITOR-RS ---------------------------------------------------------------------------------------

    def _filters(self, request: Request, **kwargs: Any) -> list[TaskFilter]:
        q = request.query_params
        return task_filters(dict(q), q.getlist("ExporterID"), **kwargs)

    def _list(self, filters: Sequence[TaskFilter]) -> list[ExportTask]:
        if len(filters) == 1:
            return self.adapter.tasks(filters[0])
        # several ExporterID values: each filtered alone, then merged, ordered and paged as one list
        first = filters[0]
        seen: dict[int, ExportTask] = {}
        for f in filters:
            # each list needs no more than the page's end (limit is always set for lists: at most MAX_LIST)
            end = None if first.limit is None else first.offset + first.limit
            for task in self.adapter.tasks(attrs.evolve(f, offset=0, limit=end)):
                seen[task.task_id] = task
        field = first.order_by.removeprefix("-")
        ordered = sorted(seen.values(), key=lambda t: (getattr(t, field), t.task_id),
                         reverse=first.order_by.startswith("-"))
        end = None if first.limit is None else first.offset + first.limit
        return ordered[first.offset:end]

    def list_tasks(self, request: Request) -> Response:
        q = request.query_params
        # the accept parameters (they may repeat) stand in for the Accept header, as upstream reads them
        accept = ",".join(q.getlist("accept")) or request.headers.get("accept") or "application/json"
        output = choose_output(accept)
        if output is None:
            return _error(406, f"cannot answer {accept[:200]}: use application/json or text/csv")
        try:
            tasks = self._list(self._filters(request, paged=True))
        except BadParameter as exc:
            return _error(400, str(exc))
        if output[0] == "csv":
            return Response(tasks_csv(tasks, delimiter=output[1]), media_type="text/csv; charset=utf-8")
        return JSONResponse([task_json(t) for t in tasks])

    def count_tasks(self, request: Request) -> Response:
        try:
            filters = self._filters(request)
        except BadParameter as exc:
            return _error(400, str(exc))
        return JSONResponse({"count": sum(self.adapter.count(f) for f in filters)})

    def list_batches(self, request: Request) -> Response:
        try:
            filters = self._filters(request, paged=True)
        except BadParameter as exc:
            return _error(400, str(exc))
        return JSONResponse([batch_json(b) for b in self._batches(filters)[0]])

    def _batches(self, filters: Sequence[TaskFilter]) -> tuple[list[BatchSummary], int]:
        """The page of batches the filters ask for, ordered by their time; and how many batches match."""
        batches: dict[str, BatchSummary] = {}
        for f in filters:
            for b in self.adapter.batches(attrs.evolve(f, offset=0, limit=None, order_by="created_time")):
                seen = batches.get(b.batch_id)
                batches[b.batch_id] = b if seen is None else _merged(seen, b)
        first = filters[0]

        def when(b: BatchSummary) -> Any:
            span = b.updated_time_range if "updated" in first.order_by else b.created_time_range
            return (span[1] if span else None) or 0

        ordered = sorted(batches.values(), key=lambda b: (when(b), b.batch_id), reverse=first.order_by.startswith("-"))
        end = None if first.limit is None else first.offset + first.limit
        return ordered[first.offset:end], len(ordered)

    def cancel_task(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        task_id = request.path_params["taskID"]
        task = self._export_task(task_id)
        if task is None:
            return _error(404, f"No such Export Task: {task_id}")
        if task.status.is_final:
            return _error(409, f"Cannot cancel Task[id={task_id}] with Status: {task.status.value}")
        self.adapter.cancel(TaskFilter(task_ids=(task_id,)))
        return Response(status_code=204)

    def cancel_tasks(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        try:
            filters = self._filters(request, status_required=("SCHEDULED", "IN PROCESS"))
        except BadParameter as exc:
            return _error(400, str(exc))
        return JSONResponse({"count": sum(len(self.adapter.cancel(f)) for f in filters)})

    def _export_task(self, task_id: int) -> ExportTask | None:
        if task_id > MAX_TASK_ID:  # no store holds one: no such task (not the store's overflow error)
            return None
        try:
            task = self.adapter.task(task_id)
        except TaskNotFoundError:
            return None
        return task if task.task_type is TaskType.EXPORT else None

    def _new_device(self, request: Request) -> Response | None:
        names = request.query_params.getlist("newDeviceName")
        wrong = [n for n in names if n and n != self.adapter.device_name]
        if wrong:
            return _error(400, f"newDeviceName={wrong[0]}: this server runs the tasks of device "
                          f"{self.adapter.device_name} only")
        return None

    def reschedule_task(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        task_id = request.path_params["taskID"]
        exporter_id = request.path_params.get("exporterID")
        if (bad := self._new_device(request)) is not None:
            return bad
        try:
            when = self._scheduled_time(request)
        except BadParameter as exc:
            return _error(400, str(exc))
        task = self._export_task(task_id)
        if task is None:
            return _error(404, f"No such Export Task: {task_id}")
        if exporter_id is not None and self.adapter.exporter_descriptor(exporter_id) is None:
            return _error(404, f"No such Exporter: {exporter_id}")
        if task.status is TaskStatus.IN_PROCESS:
            return _error(409, f"Cannot reschedule Task[id={task_id}] with Status: IN PROCESS")
        self.adapter.reschedule(TaskFilter(task_ids=(task_id,)), scheduled_time=when, exporter_id=exporter_id)
        return Response(status_code=204)

    @staticmethod
    def _scheduled_time(request: Request) -> datetime | None:
        text = request.query_params.get("scheduledTime")
        return parse_datetime(text) if text else None

    def reschedule_tasks(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        exporter_id = request.path_params.get("newExporterID")
        if (bad := self._new_device(request)) is not None:
            return bad
        try:
            filters = self._filters(request, status_required=tuple(s.value for s in TaskStatus
                                                                    if s is not TaskStatus.SCHEDULED_FOR_RETRY))
            when = self._scheduled_time(request)
        except BadParameter as exc:
            return _error(400, str(exc))
        if exporter_id is not None and self.adapter.exporter_descriptor(exporter_id) is None:
            return _error(404, f"No such Exporter: {exporter_id}")
        total = sum(len(self.adapter.reschedule(f, scheduled_time=when, exporter_id=exporter_id)) for f in filters)
        return JSONResponse({"count": total})

    def delete_task(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        task_id = request.path_params["taskID"]
        if self._export_task(task_id) is None:
            return _error(404, f"No such Export Task: {task_id}")
        self.adapter.delete(TaskFilter(task_ids=(task_id,)))
        return Response(status_code=204)

    def delete_tasks(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        try:
            filters = self._filters(request)
        except BadParameter as exc:
            return _error(400, str(exc))
        return JSONResponse({"deleted": sum(len(self.adapter.delete(f)) for f in filters)})

    def reload(self, request: Request) -> Response:
        if (denied := self.authorize(request)) is not None:
            return denied
        if self.reloader is None:
            return _error(404, "this server was started without a configuration source to reload from")
        result = self.reloader.reload("request")
        if not result.ok:
            return _error(500, f"configuration not taken, the previous one stays in use: {result.error}")
        return Response(status_code=204)

    # --- operations ---------------------------------------------------------------------------------------

    def render_metrics(self, request: Request) -> Response:
        from dcm_exporter.web.metrics import CONTENT_TYPE

        if self.metrics is None:
            return _error(404, "metrics are not enabled")
        return Response(self.metrics.render(), media_type=CONTENT_TYPE.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE})

    def health(self, request: Request) -> Response:
        return JSONResponse(*self.health_report())

    def health_report(self) -> tuple[dict[str, Any], int]:
        return health_report(self.adapter, self.reloader)

    # --- the monitoring page ------------------------------------------------------------------------------

    def _page(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = self.templates.get_template(template).render(
            root=root, api=root + BASE_PATH, refresh=self.refresh_seconds, device=self.adapter.device_name,
            statuses=[s.value for s in TaskStatus], exporters=sorted(self.adapter.configuration.exporters),
            **context,
        )
        return HTMLResponse(html)

    def page_tasks(self, request: Request) -> Response:
        q = dict(request.query_params)
        q.setdefault("limit", str(_PAGE_LIMIT))
        error = None
        tasks: list[ExportTask] = []
        total = 0
        try:
            filters = task_filters(q, request.query_params.getlist("ExporterID"), paged=True)
            tasks = self._list(filters)
            total = sum(self.adapter.count(attrs.evolve(f, offset=0, limit=None)) for f in filters)
        except BadParameter as exc:
            error = str(exc)
        return self._page(request, "tasks.html", tasks=tasks, total=total, query=q, error=error,
                          **_paging(request, len(tasks), total))

    def page_task(self, request: Request) -> Response:
        task_id = request.path_params["taskID"]
        try:
            if task_id > MAX_TASK_ID:
                raise TaskNotFoundError(task_id)
            task = self.adapter.task(task_id)
        except TaskNotFoundError:
            return self._page(request, "task.html", task=None, task_id=task_id, failures=[])
        result = task.result if task.task_type is TaskType.EXPORT else None
        failures = result.get("failures", []) if isinstance(result, dict) else []
        return self._page(request, "task.html", task=task, task_id=task_id, failures=failures)

    def page_batches(self, request: Request) -> Response:
        q = dict(request.query_params)
        q.setdefault("limit", str(_PAGE_LIMIT))
        error = None
        batches: list[BatchSummary] = []
        total = 0
        try:
            batches, total = self._batches(task_filters(q, request.query_params.getlist("ExporterID"), paged=True))
        except BadParameter as exc:
            error = str(exc)
        return self._page(request, "batches.html", batches=[batch_json(b) for b in batches], total=total,
                          error=error, **_paging(request, len(batches), total))


def _merged(a: BatchSummary, b: BatchSummary) -> BatchSummary:
    """One batch as summarised for two ``ExporterID`` values (their tasks are distinct): counts added, names
    and time ranges joined, as one query for both exporters would give them."""
    counts = dict(a.counts)
    for status, n in b.counts.items():
        counts[status] = counts.get(status, 0) + n

    def span(
        x: tuple[datetime, datetime] | None, y: tuple[datetime, datetime] | None
    ) -> tuple[datetime, datetime] | None:
        return x if y is None else y if x is None else (min(x[0], y[0]), max(x[1], y[1]))

    return attrs.evolve(
        a,
        counts=counts,
        device_names=tuple(dict.fromkeys(a.device_names + b.device_names)),
        exporter_ids=tuple(dict.fromkeys(a.exporter_ids + b.exporter_ids)),
        created_time_range=span(a.created_time_range, b.created_time_range),
        updated_time_range=span(a.updated_time_range, b.updated_time_range),
        scheduled_time_range=span(a.scheduled_time_range, b.scheduled_time_range),
        processing_start_time_range=span(a.processing_start_time_range, b.processing_start_time_range),
        processing_end_time_range=span(a.processing_end_time_range, b.processing_end_time_range),
    )


def _paging(request: Request, shown: int, total: int) -> dict[str, Any]:
    """The page's links to the previous and the next page of a list (``None`` where there is none), and the
    position of the first row shown."""
    q = request.query_params
    try:
        offset = max(int(q.get("offset") or 0), 0)
        limit = max(int(q.get("limit") or _PAGE_LIMIT), 1)
    except ValueError:  # the list already says what is wrong with them
        return {"first": 0, "previous_url": None, "next_url": None}

    def url(new_offset: int) -> str:
        items = [(k, v) for k, v in q.multi_items() if k != "offset"] + [("offset", str(new_offset))]
        return "?" + urlencode(items)  # relative: the same page wherever the app is mounted

    return {
        "first": offset + 1 if shown else 0,
        "previous_url": url(max(offset - limit, 0)) if offset > 0 else None,
        "next_url": url(offset + limit) if offset + shown < total else None,
    }


def _route(path: str, endpoint: Callable[[Request], Response], methods: list[str]) -> Route:
    return Route(path, endpoint, methods=methods)


def create_app(
    exporter: Exporter,
    *,
    token: str | None = None,
    require_token: bool = True,
    reloader: ConfigurationReloader | None = None,
    metrics: ExporterMetrics | bool = True,
    refresh_seconds: float = 5.0,
    on_startup: Sequence[Callable[[], Any]] = (),
    on_shutdown: Sequence[Callable[[], Any]] = (),
) -> Starlette:
    """The ASGI application for ``exporter``.

    Args:
        exporter: the exporter whose queue is shown and changed (its runner may run in this process or in
            another one sharing the store).
        token: the bearer token that ``POST`` and ``DELETE`` requests must carry.
        require_token: without a token, refuse changes (``True``) or allow them (``False``: the archive
            mounting the app authenticates in front of it).
        reloader: the configuration reloader behind ``POST /ctrl/reload`` (and shown in ``/healthz``).
        metrics: ``True`` for metrics of this exporter (and reloader), an :class:`ExporterMetrics` to share
            one, ``False`` for none.
        refresh_seconds: how often the monitoring page refreshes itself (0: never).
        on_startup / on_shutdown: callables run when the server starts / stops (``serve`` starts the runner
            and the reloader there).
    """
    if metrics is True:
        from dcm_exporter.web.metrics import ExporterMetrics

        metrics_obj: ExporterMetrics | None = ExporterMetrics(exporter, reloader=reloader)
    else:
        metrics_obj = metrics or None
    api = _Api(exporter, token=token, require_token=require_token, reloader=reloader, metrics=metrics_obj,
               refresh_seconds=refresh_seconds)
    b = BASE_PATH
    export = "/aets/{aet}/rs/studies/{study}"
    task = "/monitor/export/{taskID:int}"
    routes = [
        _route(b + export + "/export/{exporterID}", api.export, ["POST"]),
        _route(b + export + "/series/{series}/export/{exporterID}", api.export, ["POST"]),
        _route(b + export + "/series/{series}/instances/{instance}/export/{exporterID}", api.export, ["POST"]),
        _route(b + "/monitor/export", api.list_tasks, ["GET"]),
        _route(b + "/monitor/export", api.delete_tasks, ["DELETE"]),
        _route(b + "/monitor/export/count", api.count_tasks, ["GET"]),
        _route(b + "/monitor/export/batch", api.list_batches, ["GET"]),
        _route(b + "/monitor/export/cancel", api.cancel_tasks, ["POST"]),
        _route(b + "/monitor/export/reschedule", api.reschedule_tasks, ["POST"]),
        _route(b + "/monitor/export/reschedule/{newExporterID}", api.reschedule_tasks, ["POST"]),
        _route(b + task + "/cancel", api.cancel_task, ["POST"]),
        _route(b + task + "/reschedule", api.reschedule_task, ["POST"]),
        _route(b + task + "/reschedule/{exporterID}", api.reschedule_task, ["POST"]),
        _route(b + task, api.delete_task, ["DELETE"]),
        _route(b + "/ctrl/reload", api.reload, ["POST"]),
        _route("/metrics", api.render_metrics, ["GET"]),
        _route("/healthz", api.health, ["GET"]),
        Route("/", lambda request: RedirectResponse(request.scope.get("root_path", "") + "/ui/export")),
        _route("/ui/export", api.page_tasks, ["GET"]),
        _route("/ui/export/{taskID:int}", api.page_task, ["GET"]),
        _route("/ui/batches", api.page_batches, ["GET"]),
        Mount("/static", app=StaticFiles(packages=[("dcm_exporter.web", "static")]), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for start in on_startup:
            start()
        try:
            yield
        finally:
            for stop in on_shutdown:
                stop()

    async def library_error(request: Request, exc: Exception) -> Response:
        # the store or the source failing (a database gone, a folder unreadable): JSON saying why, no traceback
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return _error(500, f"{type(exc).__name__}: {exc}")

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={DcmExporterError: library_error})
    app.state.exporter = exporter
    app.state.metrics = metrics_obj
    app.state.reloader = reloader
    return app

