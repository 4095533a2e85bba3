"""dcm_exporter: the DICOM Exporter of dcm4chee-arc-light, for Python.

Typed dcm4che configuration (LDIF, JSON, live LDAP), transports by URI scheme
(``dicom:``, ``stow:``, ``storage:``, ``wado:``, ``noop:``), dcm4che schedules, and a durable export queue.

Public names are imported lazily: ``import dcm_exporter`` loads neither ldap3, pynetdicom,
psycopg nor httpx; each is imported the first time something that needs it is used.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from dcm_exporter.errors import (
    AENotInstalledError,
    AssociationRejectedError,
    CodecError,
    CoercionError,
    ConfigurationError,
    ConnectionFailedError,
    DcmExporterError,
    ExportCanceledError,
    InstanceMissingError,
    JsonCodecError,
    LdapBindError,
    LdapConnectionError,
    LdapEntryExistsError,
    LdapError,
    LdapNoSuchEntryError,
    LdapSchemaError,
    LdapTimeoutError,
    LdifError,
    QueueError,
    ScheduleSyntaxError,
    SourceError,
    TaskNotFoundError,
    TransportError,
    TransportTimeoutError,
    UnknownAEError,
    UnknownSchemeError,
    UnsafePathError,
)

__version__ = "0.1.0"

logging.getLogger("dcm_exporter").addHandler(logging.NullHandler())

# public name -> module that defines it; resolved on first attribute access
_LAZY: dict[str, str] = {
    "ApplicationEntity": "dcm_exporter.models",
    "AttributeCoercion": "dcm_exporter.models",
    "Configuration": "dcm_exporter.models",
    "Connection": "dcm_exporter.models",
    "Device": "dcm_exporter.models",
    "ExportRule": "dcm_exporter.models",
    "ExporterDescriptor": "dcm_exporter.models",
    "QueueDescriptor": "dcm_exporter.models",
    "RemoteAE": "dcm_exporter.models",
    "TransferCapability": "dcm_exporter.models",
    "WebApplication": "dcm_exporter.models",
    "CronSchedule": "dcm_exporter.schedule",
    "ScheduleExpression": "dcm_exporter.schedule",
    "Schedules": "dcm_exporter.schedule",
    "parse_schedule": "dcm_exporter.schedule",
    "LdifChange": "dcm_exporter.codecs.ldif",
    "LdifEntry": "dcm_exporter.codecs.ldif",
    "iter_ldif": "dcm_exporter.codecs.ldif",
    "read_ldif": "dcm_exporter.codecs.ldif",
    "write_ldif": "dcm_exporter.codecs.ldif",
    "LdapConfigStore": "dcm_exporter.config.ldap",
    "load_configuration": "dcm_exporter.config.load",
    "StowTransport": "dcm_exporter.transports.stow",
    "DicomTransport": "dcm_exporter.transports.dicom",
    "EchoResult": "dcm_exporter.transports.dicom",
    "CancelToken": "dcm_exporter.export",
    "ExportRequest": "dcm_exporter.export",
    "InstanceRef": "dcm_exporter.export",
    "Outcome": "dcm_exporter.export",
    "OutcomeBuilder": "dcm_exporter.export",
    "OutcomeStatus": "dcm_exporter.export",
    "Transport": "dcm_exporter.transports.base",
    "TransportRegistry": "dcm_exporter.transports.registry",
    "register_scheme": "dcm_exporter.transports.registry",
    "StorageTransport": "dcm_exporter.transports.storage",
    "FileSystemSource": "dcm_exporter.sources",
    "InstanceSource": "dcm_exporter.sources",
    "IndexReport": "dcm_exporter.sources",
    "Exporter": "dcm_exporter.exporter",
    "ExportQueue": "dcm_exporter.export_queue",
    "open_store": "dcm_exporter.queue",
    "ExportRules": "dcm_exporter.rules",
    "PostgresTaskStore": "dcm_exporter.queue.postgres",
    "ExportTask": "dcm_exporter.queue",
    "InMemoryTaskStore": "dcm_exporter.queue",
    "SqliteTaskStore": "dcm_exporter.queue",
    "TaskFilter": "dcm_exporter.queue",
    "TaskList": "dcm_exporter.queue",
    "BatchList": "dcm_exporter.queue",
    "TaskRunner": "dcm_exporter.queue",
    "TaskStatus": "dcm_exporter.queue",
    "TaskType": "dcm_exporter.queue",
    "CommitmentResult": "dcm_exporter.actions",
}

__all__ = [
    "AENotInstalledError",
    "ApplicationEntity",
    "AssociationRejectedError",
    "AttributeCoercion",
    "BatchList",
    "CancelToken",
    "CodecError",
    "CoercionError",
    "CommitmentResult",
    "Configuration",
    "ConfigurationError",
    "Connection",
    "ConnectionFailedError",
    "CronSchedule",
    "DcmExporterError",
    "Device",
    "DicomTransport",
    "EchoResult",
    "ExportCanceledError",
    "ExportQueue",
    "ExportRequest",
    "ExportRule",
    "ExportRules",
    "ExportTask",
    "Exporter",
    "ExporterDescriptor",
    "FileSystemSource",
    "InMemoryTaskStore",
    "IndexReport",
    "InstanceMissingError",
    "InstanceRef",
    "InstanceSource",
    "JsonCodecError",
    "LdapBindError",
    "LdapConfigStore",
    "LdapConnectionError",
    "LdapEntryExistsError",
    "LdapError",
    "LdapNoSuchEntryError",
    "LdapSchemaError",
    "LdapTimeoutError",
    "LdifChange",
    "LdifEntry",
    "LdifError",
    "Outcome",
    "OutcomeBuilder",
    "OutcomeStatus",
    "PostgresTaskStore",
    "QueueDescriptor",
    "QueueError",
    "RemoteAE",
    "ScheduleExpression",
    "ScheduleSyntaxError",
    "Schedules",
    "SourceError",
    "SqliteTaskStore",
    "StorageTransport",
    "StowTransport",
    "TaskFilter",
    "TaskList",
    "TaskNotFoundError",
    "TaskRunner",
    "TaskStatus",
    "TaskType",
    "TransferCapability",
    "Transport",
    "TransportError",
    "TransportRegistry",
    "TransportTimeoutError",
    "UnknownAEError",
    "UnknownSchemeError",
    "UnsafePathError",
    "WebApplication",
    "iter_ldif",
    "load_configuration",
    "open_store",
    "parse_schedule",
    "read_ldif",
    "register_scheme",
    "write_ldif",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dcm_exporter' has no attribute {name!r}")
    if name == "Configuration":
        # the codecs set the deprecated Configuration.from_ldif/... aliases (the models cannot import them)
        importlib.import_module("dcm_exporter.codecs")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _notebook_display() -> None:
    """In a Jupyter kernel, show configuration collections and schedules as tables (dcm_exporter.notebook)."""
    import sys

    if "IPython" in sys.modules:  # never import IPython (or the models) outside a notebook
        from dcm_exporter.notebook import register_if_notebook

        register_if_notebook()


_notebook_display()
