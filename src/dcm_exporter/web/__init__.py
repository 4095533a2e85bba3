"""The web layer: dcm4chee's export REST API, Prometheus metrics, ``/healthz``, a monitoring page, and live
configuration reload.

``create_app(exporter, token=...)`` is an ASGI application (Starlette) to mount in an archive's server or to run
with ``dcm-exporter serve``; :class:`ExporterMetrics` the Prometheus metrics; :class:`ConfigurationReloader`
keeps a running exporter on the current configuration (LDAP change marker, file modification time, on request).

Needs the ``web`` extra (``pip install dcm-exporter[web]``: starlette, uvicorn, prometheus-client, jinja2) except
:mod:`dcm_exporter.web.reload`, which uses the standard library only; the names load on first use, so importing
this package loads none of them. Nothing below this package imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcm_exporter.web.app import BASE_PATH, create_app
    from dcm_exporter.web.metrics import ExporterMetrics
    from dcm_exporter.web.reload import ConfigurationReloader, ReloadResult

__all__ = ["BASE_PATH", "ConfigurationReloader", "ExporterMetrics", "ReloadResult", "create_app"]

_WHERE = {
    "BASE_PATH": "dcm_exporter.web.app",
    "create_app": "dcm_exporter.web.app",
    "ExporterMetrics": "dcm_exporter.web.metrics",
    "ConfigurationReloader": "dcm_exporter.web.reload",
    "ReloadResult": "dcm_exporter.web.reload",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dcm_exporter.web' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ImportError(f"dcm_exporter.web.{name} needs the 'web' extra: pip install 'dcm-exporter[web]' "
                          f"({exc})") from exc
