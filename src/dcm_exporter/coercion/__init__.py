"""Outgoing attribute coercion, as dcm4chee-arc's ``dcmArchiveAttributeCoercion2`` rules on export.

A transport asks :func:`plan_for_export` once per export for the rules that may apply to what it sends to
its destination, then per object :meth:`CoercionPlan.wants` (decided from the SOP class: when false, the
stored bytes go out unchanged) and :meth:`CoercionPlan.coerce_file` (read, coerce, encode once in the accepted
transfer syntax; ``None`` when no rule matches). A rule that cannot be applied raises
:class:`~dcm_exporter.errors.CoercionError`: that instance fails, the export goes on.

Processors are looked up by the ``dcmURI`` scheme in a :class:`ProcessorRegistry` (entry-point group
``dcm_exporter.coercions``): ``deidentify:``, ``merge-attrs:``, ``nullify-pixel-data:``,
``retrieve-as-received:``, ``change-charset:``, ``trim-ISO2022:``, ``xslt:``; ``leading-arc:``, ``merge-mwl:`` and
``sup-from-dev:`` are refused. :func:`preview` shows what a destination would receive.

This package sits below the transports, which call it through :func:`plan_for_export` and the plan. It reuses
the export rules' conditions engine (:mod:`dcm_exporter.conditions`) and the attribute format of storage
paths (:mod:`dcm_exporter.attribute_format`), both leaf modules imported on first use; pydicom and
lxml load on first use too.
"""

from __future__ import annotations

from dcm_exporter.coercion.deidentify import DeIdentificationOption, DeIdentifier, remap_uid
from dcm_exporter.coercion.engine import (
    CoercedInstance,
    CoercionContext,
    CoercionPlan,
    encode_part10,
    instances_as_sent,
    plan_for_export,
)
from dcm_exporter.coercion.preview import AttributeChange, CoercionPreview, preview
from dcm_exporter.coercion.registry import (
    ENTRY_POINT_GROUP,
    CoercionProcessor,
    ProcessorRegistry,
    default_registry,
    register_processor,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AttributeChange",
    "CoercedInstance",
    "CoercionContext",
    "CoercionPlan",
    "CoercionPreview",
    "CoercionProcessor",
    "DeIdentificationOption",
    "DeIdentifier",
    "ProcessorRegistry",
    "default_registry",
    "encode_part10",
    "instances_as_sent",
    "plan_for_export",
    "preview",
    "register_processor",
    "remap_uid",
]
