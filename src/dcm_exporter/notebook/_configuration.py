"""HTML of a whole :class:`~dcm_exporter.models.Configuration` and of one exporter (secrets masked).

Registered with the IPython kernel by :func:`dcm_exporter.notebook.register`; the models carry no HTML."""

from __future__ import annotations

from typing import Any

from dcm_exporter._secrets import mask_properties, mask_url
from dcm_exporter._tables import field_table, table

__all__ = ["configuration_html", "exporter_html"]


def configuration_html(configuration: Any) -> str:
    """Devices, exporters and queues of a :class:`~dcm_exporter.models.Configuration` (secrets masked)."""
    devices = table(
        ("device", "installed", "AE titles", "connections", "exporters", "queues"),
        (
            (
                d.device_name, d.installed, [a.ae_title for a in d.application_entities],
                [f"{c.hostname}:{c.port}" if c.port else c.hostname for c in d.connections],
                len(d.exporters), len(d.queues),
            )
            for d in configuration.devices
        ),
        status_column=None, caption=f"Configuration ({configuration.base_dn}): {len(configuration.devices)} devices",
    )
    exporters = table(
        ("exporter", "URI", "queue", "AE title", "schedules", "description"),
        ((e.exporter_id, mask_url(e.uri), e.queue_name, e.ae_title, e.schedules.to_strings() or "always", e.description)
         for e in configuration.exporters.values()),
        status_column=None, caption="Exporters",
    )
    queues = table(
        ("queue", "parallel", "retries", "retry delay", "multiplier %", "schedules", "installed"),
        ((q.queue_name, q.max_tasks_parallel, q.max_retries, q.retry_delay, q.retry_delay_multiplier,
          q.schedules.to_strings() or "always", q.installed) for q in configuration.queues.values()),
        status_column=None, caption="Queues",
    )
    return f"<div>{devices}<br>{exporters}<br>{queues}</div>"


def exporter_html(exporter: Any) -> str:
    """One :class:`~dcm_exporter.models.ExporterDescriptor` as a field / value table (secrets masked)."""
    pairs = [
        ("exporter_id", exporter.exporter_id), ("uri", mask_url(exporter.uri)),
        ("queue_name", exporter.queue_name), ("ae_title", exporter.ae_title),
        ("description", exporter.description), ("schedules", exporter.schedules.to_strings() or "always"),
        ("properties", mask_properties(exporter.properties)),
    ]
    optional = [
        ("export_as_source_ae", exporter.export_as_source_ae), ("stgcmt_scp", exporter.stgcmt_scp),
        ("ian_destinations", exporter.ian_destinations), ("retrieve_ae_titles", exporter.retrieve_ae_titles),
        ("check_if_already_exists_on_destination", exporter.check_if_already_exists_on_destination),
    ]
    pairs += [(k, v) for k, v in optional if v]
    return field_table(f"Exporter {exporter.exporter_id}", [(k, v) for k, v in pairs if v is not None], "")
