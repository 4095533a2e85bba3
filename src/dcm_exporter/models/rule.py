"""Export rules (dcm4che object class ``dcmExportRule``), on device or AE level."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._fields import (
    bool_field,
    extra_field,
    non_empty,
    object_classes_field,
    optional_duration,
    optional_str,
    to_schedules,
)
from dcm_exporter.models._frozen import str_tuple
from dcm_exporter.models.enums import Entity, ReoccurredInstances
from dcm_exporter.schedule import Schedules

__all__ = ["ExportRule"]


def _check_exporter_ids(instance: ExportRule, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value or any(not v for v in value):
        raise ConfigurationError(f"export rule {instance.name!r}: needs at least one non-empty dcmExporterID")


def _check_conditions(instance: ExportRule, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for cond in value:
        if "=" not in cond or cond.startswith(("=", "!=")):
            raise ConfigurationError(
                f"export rule {instance.name!r}: condition {cond!r} is not Key=regex or Key!=regex"
            )


@attrs.frozen(kw_only=True)
class ExportRule:
    """When to export what: an entity level, exporters, a delay, time windows and conditions.

    ``conditions`` are the raw ``dcmProperty`` strings (``Key=regex`` / ``Key!=regex``), interpreted by
    :mod:`dcm_exporter.rules`. ``ae_title`` is set for a rule configured under a network AE.
    """

    name: str = attrs.field(validator=non_empty)
    """``cn``: the rule's name."""
    entity: Entity = attrs.field(converter=Entity)
    """``dcmEntity``: Study, Series or Instance, the scope of the created task."""
    exporter_ids: tuple[str, ...] = attrs.field(converter=str_tuple, validator=_check_exporter_ids)
    """``dcmExporterID`` (multi-valued): the exporters to schedule."""
    delay: timedelta | None = attrs.field(default=None, validator=optional_duration)
    """``dcmDuration``: wait this long after the last received instance."""
    schedules: Schedules = attrs.field(default=Schedules.ALWAYS, converter=to_schedules)
    """``dcmSchedule``: the rule fires only inside these windows."""
    conditions: tuple[str, ...] = attrs.field(factory=tuple, converter=str_tuple, validator=_check_conditions)
    """``dcmProperty``: conditions, all AND-ed."""
    device_name: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDeviceName``: the device on which the tasks are scheduled (default: the receiving one)."""
    export_previous_entity: bool = bool_field(False)
    """``dcmExportPreviousEntity``."""
    export_reoccurred_instances: ReoccurredInstances = attrs.field(
        default=ReoccurredInstances.REPLACE, converter=ReoccurredInstances
    )
    """``dcmExportReoccurredInstances``."""
    ae_title: str | None = attrs.field(default=None, validator=optional_str)
    """The AE the rule is configured under; ``None`` for a device-level rule (from the DN, no attribute)."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""
