"""Transports by URI scheme: the protocol (:mod:`.base`), the registry (:mod:`.registry`) and the built-ins.

``dicom:`` (C-STORE), ``stow:`` (STOW-RS), ``storage:`` (copy into a dcm4che storage), ``wado:``
(WADO/QIDO fetches) and ``noop:`` are imported lazily, the first time an exporter with that scheme is used.
What a transport sends and returns (``ExportRequest``, ``InstanceRef``, ``Outcome``, ``OutcomeBuilder``,
``CancelToken``) lives in :mod:`dcm_exporter.export`.
"""

from __future__ import annotations

from dcm_exporter.transports.base import BaseTransport, Transport, TransportFactory
from dcm_exporter.transports.registry import (
    TransportRegistry,
    create_transport,
    default_registry,
    get_factory,
    register_scheme,
    scheme_of,
    schemes,
)

__all__ = [
    "BaseTransport",
    "Transport",
    "TransportFactory",
    "TransportRegistry",
    "create_transport",
    "default_registry",
    "get_factory",
    "register_scheme",
    "scheme_of",
    "schemes",
]
