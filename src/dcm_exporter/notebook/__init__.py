"""Jupyter display: HTML tables for the configuration's collections, a week grid for schedules, pictures.

The display layer sits just above the models and imports only them and the leaf helpers: the models know
nothing about HTML. Instead, this module registers HTML formatters with the running IPython kernel
(``import dcm_exporter`` does it when it runs inside one; :func:`register` does it explicitly), so in a notebook

- ``config.exporters``, ``config.queues``, ``config.web_applications``, ``config.storages`` and
  ``config.export_rules`` show as one table each, as do lists of :class:`~dcm_exporter.models.RemoteAE`;
- ``device.attribute_coercions`` (and an AE's) show as a table of the rules;
  :func:`dcm_exporter.coercion.preview` shows the attribute differences a destination would receive;
- a whole :class:`~dcm_exporter.models.Configuration` as its devices, exporters and queues, one
  :class:`~dcm_exporter.models.ExporterDescriptor` as a field / value table;
- one :class:`~dcm_exporter.models.RemoteAE`, :class:`~dcm_exporter.models.QueueDescriptor`,
  :class:`~dcm_exporter.models.WebApplication` or :class:`~dcm_exporter.models.ExportRule` shows as a
  field / value table (secrets masked), and a :class:`~dcm_exporter.schedule.Schedules` as a week grid of the
  hours in which exports may run;
- a :class:`matplotlib.figure.Figure` returned by the plot functions shows as a PNG picture.

Outside a kernel nothing is registered and :func:`to_html` gives the same HTML for any other use.
The pictures: :func:`plot_history`, :func:`plot_status`, :func:`plot_exporters` (task history; also
``tasks.plot()`` on a :class:`~dcm_exporter.queue.TaskList`) and :func:`plot_schedule` (a week grid).

>>> from dcm_exporter.cli._demo import demo_configuration
>>> config = demo_configuration()
>>> markup = to_html(config.exporters)
>>> "<caption" in markup and ">dicom:STORESCP</td>" in markup
True
>>> to_html([1, 2]) is None      # not ours: IPython shows its plain repr
True
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dcm_exporter._plots import plot_exporters, plot_history, plot_schedule, plot_status, schedule_grid
from dcm_exporter._tables import caption_row as _caption
from dcm_exporter._tables import field_table as _status_fields
from dcm_exporter._tables import table as _table
from dcm_exporter._tables import text as _text
from dcm_exporter.notebook._configuration import configuration_html, exporter_html

__all__ = [
    "configuration_html",
    "exporter_html",
    "plot_exporters",
    "plot_history",
    "plot_schedule",
    "plot_status",
    "register",
    "register_if_notebook",
    "schedule_html",
    "to_html",
]


def _models() -> Any:
    from dcm_exporter import models

    return models


def _schedule_text(schedules: Any) -> str:
    return "; ".join(schedules.to_strings()) or "always"


def _seconds(value: Any) -> str:
    return "" if value is None else _text(value)


# --- collections --------------------------------------------------------------------------------------------


def exporters_html(exporters: Sequence[Any]) -> str:
    """Exporters as one table: id, URI (password masked), queue, AE title, schedules, actions, description."""
    from dcm_exporter._secrets import mask_url

    return _table(
        ("exporter", "URI", "queue", "AE title", "schedules", "after export", "description"),
        (
            (e.exporter_id, mask_url(e.uri), e.queue_name, e.ae_title, _schedule_text(e.schedules),
             ", ".join([*(["STGCMT " + e.stgcmt_scp] if e.stgcmt_scp else []),
                        *(["IAN " + a for a in e.ian_destinations])]),
             e.description)
            for e in exporters
        ),
        status_column=None, caption=f"{len(exporters)} exporter(s)",
    )


def queues_html(queues: Sequence[Any]) -> str:
    """Queues as one table: parallel tasks, retries and their delays, schedules, installed."""
    return _table(
        ("queue", "parallel", "retries", "retry delay", "× per retry", "max retry delay", "schedules", "installed",
         "description"),
        (
            (q.queue_name, q.max_tasks_parallel, q.max_retries, q.retry_delay, f"{q.retry_delay_multiplier} %",
             _seconds(q.max_retry_delay), _schedule_text(q.schedules), q.installed, q.description)
            for q in queues
        ),
        status_column=None, caption=f"{len(queues)} queue(s)",
    )


def web_applications_html(apps: Sequence[Any]) -> str:
    """Web applications as one table: name, path, services, AE title, connections, installed."""
    return _table(
        ("web application", "service path", "services", "AE title", "connections", "installed", "description"),
        ((w.name, w.service_path, w.service_classes, w.ae_title, w.connection_refs,
          "" if w.installed is None else w.installed, w.description) for w in apps),
        status_column=None, caption=f"{len(apps)} web application(s)",
    )


def storages_html(storages: Sequence[Any]) -> str:
    """Storage descriptors as one table."""
    return _table(
        ("storage", "URI", "path format"),
        ((s.storage_id, getattr(s, "uri", ""), getattr(s, "path_format", "")) for s in storages),
        status_column=None, caption=f"{len(storages)} storage(s)",
    )


def export_rules_html(rules: Sequence[Any]) -> str:
    """Export rules as one table: what triggers them (entity, conditions, schedules) and where they export."""
    return _table(
        ("rule", "device / AE", "entity", "exporters", "conditions", "schedules", "delay", "previous entity",
         "reoccurred"),
        (
            (r.name, " / ".join(x for x in (r.device_name, r.ae_title) if x), r.entity, r.exporter_ids,
             "; ".join(r.conditions), _schedule_text(r.schedules), _seconds(r.delay), r.export_previous_entity,
             r.export_reoccurred_instances)
            for r in rules
        ),
        status_column=None, caption=f"{len(rules)} export rule(s)",
    )


def attribute_coercions_html(rules: Sequence[Any]) -> str:
    """Attribute coercion rules as one table: where, priority, what they apply to and what they do."""
    return _table(
        ("rule", "AE", "priority", "role / DIMSE", "URI", "conditions", "SOP classes", "on failure", "sufficient"),
        (
            (r.name, r.ae_title or "(device)", r.priority, f"{_text(r.role)} {r.dimse}", r.uri,
             "; ".join(r.conditions), r.sop_classes, r.on_failure, r.sufficient)
            for r in rules
        ),
        status_column=None, caption=f"{len(rules)} attribute coercion rule(s)",
    )


def remote_aes_html(aes: Sequence[Any]) -> str:
    """Remote AEs (resolved destinations) as one table: address, TLS, timeouts, what they accept."""
    return _table(
        ("AE title", "device", "host", "port", "TLS", "connect / response timeout (ms)", "SCP capabilities",
         "installed"),
        (
            (a.ae_title, a.device_name, a.hostname, a.port, "TLS" if a.tls else "",
             f"{_seconds(a.connect_timeout) or '—'} / {_seconds(a.response_timeout) or '—'}",
             _capabilities(a), a.installed)
            for a in aes
        ),
        status_column=None, caption=f"{len(aes)} remote AE(s)",
    )


def _capabilities(ae: Any) -> str:
    scp = [tc for tc in ae.transfer_capabilities if _text(tc.role) == "SCP"]
    if not scp:
        return "any (none configured)"
    return f"{len(scp)} SOP class(es)"


# --- single objects -----------------------------------------------------------------------------------------


def remote_ae_html(ae: Any) -> str:
    """One remote AE as a field / value table."""
    pairs = [
        ("ae_title", ae.ae_title), ("device_name", ae.device_name), ("hostname", ae.hostname), ("port", ae.port),
        ("tls", ae.tls), ("tls_protocols", ae.tls_protocols), ("tls_cipher_suites", ae.tls_cipher_suites),
        ("connect_timeout (ms)", ae.connect_timeout), ("request_timeout (ms)", ae.request_timeout),
        ("acceptance_timeout (ms)", ae.acceptance_timeout), ("response_timeout (ms)", ae.response_timeout),
        ("idle_timeout (ms)", ae.idle_timeout), ("SCP capabilities", _capabilities(ae)),
        ("installed", ae.installed),
    ]
    return _status_fields(f"Remote AE {ae.ae_title}", [(k, v) for k, v in pairs if v not in (None, ())], "")


def queue_html(queue: Any) -> str:
    """One queue as a field / value table, with its schedules as a week grid."""
    pairs = [
        ("queue_name", queue.queue_name), ("description", queue.description),
        ("max_tasks_parallel", queue.max_tasks_parallel), ("max_retries", queue.max_retries),
        ("retry_delay", queue.retry_delay), ("retry_delay_multiplier", f"{queue.retry_delay_multiplier} %"),
        ("max_retry_delay", queue.max_retry_delay), ("retry_on_warning", queue.retry_on_warning),
        ("purge_completed_delay", queue.purge_completed_delay), ("purge_failed_delay", queue.purge_failed_delay),
        ("purge_warning_delay", queue.purge_warning_delay), ("purge_canceled_delay", queue.purge_canceled_delay),
        ("schedules", _schedule_text(queue.schedules)), ("installed", queue.installed),
    ]
    fields = _status_fields(f"Queue {queue.queue_name}", [(k, v) for k, v in pairs if v is not None], "")
    if queue.schedules.is_always:
        return fields
    return f"<div>{fields}<br>{schedule_html(queue.schedules)}</div>"


def web_application_html(app: Any) -> str:
    """One web application as a field / value table (secret properties masked)."""
    from dcm_exporter._secrets import mask_properties

    pairs = [
        ("name", app.name), ("service_path", app.service_path), ("service_classes", app.service_classes),
        ("connection_refs", app.connection_refs), ("ae_title", app.ae_title), ("description", app.description),
        ("keycloak_client_id", app.keycloak_client_id), ("properties", mask_properties(app.properties)),
        ("installed", app.installed),
    ]
    return _status_fields(f"Web application {app.name}", [(k, v) for k, v in pairs if v not in (None, (), {})],
                          "")


def export_rule_html(rule: Any) -> str:
    """One export rule as a field / value table."""
    return export_rules_html([rule])


def schedule_html(schedules: Any) -> str:
    """A week grid: one row per day, one cell per hour, green where exports may run (shaded when only part
    of the hour is open)."""
    grid = schedule_grid(schedules)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    cell = "width:1.4em;height:1.2em;padding:0;border:1px solid #fff"
    head = "<th></th>" + "".join(f"<th style='font-weight:normal;font-size:0.75em;padding:0 1px'>{h:02d}</th>"
                                 for h in range(24))
    rows = []
    for day, row in zip(days, grid, strict=True):
        cells = "".join(
            f"<td title='{day} {h:02d}:00 {round(share * 100)} % open' "
            f"style='{cell};background:{_green(share)}'></td>"
            for h, share in enumerate(row)
        )
        rows.append(f"<tr><th style='font-weight:normal;padding:0 4px'>{day}</th>{cells}</tr>")
    title = f"Schedules: {_schedule_text(schedules)}"
    return (f"<table class='dcm-exporter dcm-exporter-week' style='border-collapse:collapse;font-size:0.9em'>"
            f"{_caption(title)}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _green(share: float) -> str:
    """#eeeeee (closed) to #43a047 (open), linearly."""
    closed, opened = (0xEE, 0xEE, 0xEE), (0x43, 0xA0, 0x47)
    return "#" + "".join(f"{round(c + (o - c) * share):02x}" for c, o in zip(closed, opened, strict=True))


# --- dispatch -----------------------------------------------------------------------------------------------


def _collection_renderers() -> list[tuple[type, Callable[[Sequence[Any]], str]]]:
    m = _models()
    return [
        (m.ExporterDescriptor, exporters_html),
        (m.QueueDescriptor, queues_html),
        (m.WebApplication, web_applications_html),
        (m.StorageDescriptor, storages_html),
        (m.ExportRule, export_rules_html),
        (m.AttributeCoercion, attribute_coercions_html),
        (m.RemoteAE, remote_aes_html),
    ]


def _single_renderers() -> list[tuple[type, Callable[[Any], str]]]:
    from dcm_exporter.schedule import Schedules

    m = _models()
    return [
        (m.Configuration, configuration_html),
        (m.ExporterDescriptor, exporter_html),
        (m.RemoteAE, remote_ae_html),
        (m.QueueDescriptor, queue_html),
        (m.WebApplication, web_application_html),
        (m.ExportRule, export_rule_html),
        (Schedules, schedule_html),
    ]


def to_html(obj: Any) -> str | None:
    """The notebook HTML of ``obj``, or ``None`` when this module has none for it (and it has no
    ``_repr_html_``): a mapping or list/tuple of one kind of configuration object becomes one table."""
    own = getattr(type(obj), "_repr_html_", None)
    if own is not None:  # TaskList, BatchList, Configuration, ...: their own table
        return str(own(obj))
    for kind, render in _single_renderers():
        if isinstance(obj, kind):
            return render(obj)
    if isinstance(obj, Mapping):
        items: Sequence[Any] = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        items = obj
    else:
        return None
    if not items:
        return None
    for kind, render_many in _collection_renderers():
        if all(isinstance(item, kind) for item in items):
            return render_many(items)
    return None


def _safe_html(obj: Any) -> str | None:
    try:
        return to_html(obj)
    except Exception:  # a display hook must never break the cell: IPython then shows the plain repr
        return None


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96)
    return buffer.getvalue()


def register(shell: Any = None) -> bool:
    """Register the HTML and PNG formatters with an IPython shell (the running one by default).

    Returns ``False`` when there is no IPython shell. Registering twice replaces the same formatters.
    """
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    from dcm_exporter.models._frozen import FrozenMap

    formatters = shell.display_formatter.formatters
    html_formatter = formatters["text/html"]
    for kind in (FrozenMap, tuple, list, *(k for k, _ in _single_renderers())):
        html_formatter.for_type(kind, _safe_html)
    formatters["image/png"].for_type_by_name("matplotlib.figure", "Figure", _figure_png)
    return True


def register_if_notebook() -> bool:
    """:func:`register` when running in an IPython kernel (a notebook); nothing otherwise (no IPython import)."""
    from dcm_exporter._progress import in_notebook

    return register() if in_notebook() else False
