"""Frozen attrs models of the dcm4che configuration an exporter needs.

Every model is ``attrs.frozen(kw_only=True)``, valid once constructed, and changed with
:func:`attrs.evolve`. Durations are :class:`datetime.timedelta`, network timeouts are ``int``
milliseconds, multi-valued attributes are tuples, ``dcmProperty`` is an ordered immutable mapping
``properties`` and ``dcmSchedule`` is :class:`~dcm_exporter.schedule.Schedules` ``schedules``.
LDAP attributes a model does not know are kept in ``extra`` and its object classes in
``object_classes``, so nothing is lost on a round trip.
"""

from __future__ import annotations

from dcm_exporter.models._frozen import FrozenMap
from dcm_exporter.models.coercion import (
    AttributeCoercion,
    AttributeUpdatePolicy,
    CoercionOnFailure,
    LegacyAttributeCoercion,
)
from dcm_exporter.models.configuration import (
    DEFAULT_BASE_DN,
    Configuration,
    LdapEntry,
    RemoteAE,
    RemoteWebApplication,
    Severity,
    SourceLocation,
    ValidationIssue,
)
from dcm_exporter.models.device import (
    DEFAULT_TLS_PROTOCOLS,
    ApplicationEntity,
    Connection,
    Device,
    TransferCapability,
)
from dcm_exporter.models.duration import format_duration, parse_duration
from dcm_exporter.models.enums import Entity, InstanceAvailability, ReoccurredInstances, TransferRole
from dcm_exporter.models.exporter import ExporterDescriptor
from dcm_exporter.models.queue import QueueDescriptor
from dcm_exporter.models.rule import ExportRule
from dcm_exporter.models.storage import DEFAULT_STORAGE_PATH_FORMAT, StorageDescriptor
from dcm_exporter.models.webapp import WebApplication

__all__ = [
    "DEFAULT_BASE_DN",
    "DEFAULT_STORAGE_PATH_FORMAT",
    "DEFAULT_TLS_PROTOCOLS",
    "ApplicationEntity",
    "AttributeCoercion",
    "AttributeUpdatePolicy",
    "CoercionOnFailure",
    "Configuration",
    "Connection",
    "Device",
    "Entity",
    "ExportRule",
    "ExporterDescriptor",
    "FrozenMap",
    "InstanceAvailability",
    "LdapEntry",
    "LegacyAttributeCoercion",
    "QueueDescriptor",
    "RemoteAE",
    "RemoteWebApplication",
    "ReoccurredInstances",
    "Severity",
    "SourceLocation",
    "StorageDescriptor",
    "TransferCapability",
    "TransferRole",
    "ValidationIssue",
    "WebApplication",
    "format_duration",
    "parse_duration",
]
