"""Web applications (dcm4che object class ``dcmWebApp``), the destinations of ``stow:`` exporters."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from dcm_exporter.models._fields import (
    extra_field,
    non_empty,
    object_classes_field,
    optional_bool,
    optional_str,
    properties_field,
    tuple_field,
)

__all__ = ["WebApplication"]


@attrs.frozen(kw_only=True)
class WebApplication:
    """A web application of a device: a service path served on one or more of the device's connections.

    ``properties`` (``dcmProperty``) carry client settings such as ``bearer-token``, ``basic-auth``,
    ``chunked``, ``concurrency`` and ``transfer-syntax``.
    """

    name: str = attrs.field(validator=non_empty)
    """``dcmWebAppName``."""
    service_path: str = attrs.field(validator=non_empty)
    """``dcmWebServicePath``, e.g. ``/dcm4chee-arc/aets/DCM4CHEE/rs``."""
    service_classes: tuple[str, ...] = tuple_field()
    """``dcmWebServiceClass``: ``STOW_RS``, ``WADO_RS``, ``QIDO_RS``, ..."""
    connection_refs: tuple[str, ...] = tuple_field()
    """``dicomNetworkConnectionReference``: names of the device's connections serving it."""
    ae_title: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomAETitle``."""
    description: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDescription``."""
    keycloak_client_id: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmKeycloakClientID``."""
    properties: Mapping[str, str] = properties_field()
    """``dcmProperty``."""
    installed: bool | None = attrs.field(default=None, validator=optional_bool)
    """``dicomInstalled``; ``None`` inherits the device's."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    def serves(self, service_class: str) -> bool:
        """Whether the web application offers ``service_class`` (e.g. ``"STOW_RS"``)."""
        return service_class.upper() in (c.upper() for c in self.service_classes)
