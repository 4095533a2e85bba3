"""``/healthz``: whether the queue runner and the task store of an exporter work (standard library only).

Shared by the web app and ``dcm-exporter run --metrics-port`` (prometheus_client's server has no health check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dcm_exporter.queue.task import TaskFilter

if TYPE_CHECKING:
    from dcm_exporter.web._facade import ExporterAdapter
    from dcm_exporter.web.reload import ConfigurationReloader

__all__ = ["health_report"]


def health_report(adapter: ExporterAdapter, reloader: ConfigurationReloader | None) -> tuple[dict[str, Any], int]:
    """The ``/healthz`` body and its status: 200 when the runner (if this process has one) and the store work,
    else 503 with the ``reasons``; the last configuration load when there is a reloader."""
    reasons: list[str] = []
    runner = adapter.runner_running()
    if runner is False:
        reasons.append("the queue runner is not running")
    store = "ok"
    try:
        adapter.tasks(TaskFilter(limit=1))  # one row: cheap on any queue size
    except Exception as exc:  # whatever the store raises: the answer is 503 with the reason
        store = f"{type(exc).__name__}: {exc}"
        reasons.append(f"the task store does not answer: {store}")
    else:
        failing = adapter.store_error()  # reads work, writes may not (a full disk)
        if failing is not None:
            store = f"QueueError: {failing}"
            reasons.append(f"the queue runner cannot write to the task store: {failing}")
    body: dict[str, Any] = {
        "status": "ok" if not reasons else "unavailable",
        "device": adapter.device_name,
        "runner": "running" if runner else "stopped" if runner is False else "not in this process",
        "store": store,
    }
    if reloader is not None:
        last = reloader.last_result
        body["configuration"] = {
            "source": reloader.source,
            "last_reload": last.as_dict() if last is not None else None,
            "reloads": reloader.reloads,
            "refused": reloader.failures,
        }
    if reasons:
        body["reasons"] = reasons
    return body, 200 if not reasons else 503
