"""The exporter descriptor (dcm4che object class ``dcmExporter``)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping

import attrs

from dcm_exporter._secrets import mask_url
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._fields import (
    bool_field,
    extra_field,
    non_empty,
    object_classes_field,
    optional_int,
    optional_str,
    properties_field,
    to_schedules,
    tuple_field,
    url_field,
)
from dcm_exporter.models._uri import java_uri_problem
from dcm_exporter.models.enums import InstanceAvailability
from dcm_exporter.schedule import Schedules

__all__ = ["ExporterDescriptor", "tolerating_invalid_uris"]

_TOLERATE_INVALID_URIS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "dcm_exporter_tolerate_invalid_uris", default=False
)


@contextlib.contextmanager
def tolerating_invalid_uris() -> Iterator[None]:
    """Inside this block (in this thread or task), an exporter may hold a ``dcmURI`` Java cannot parse.

    For readers only: a configuration as found must load (with a warning), while nothing may create or
    write such a value. :attr:`ExporterDescriptor.uri_problem` says what is wrong; the writers refuse it.
    """
    token = _TOLERATE_INVALID_URIS.set(True)
    try:
        yield
    finally:
        _TOLERATE_INVALID_URIS.reset(token)


def invalid_uri_message(exporter_id: str, uri: str, problem: str) -> str:
    """What is wrong with an exporter's ``dcmURI`` and what to do (shared by models, writers, validate)."""
    scheme = uri.partition(":")[0]
    hint = f" (e.g. {scheme}:nothing)" if problem.startswith("Expected scheme-specific part") else ""
    return (
        f"exporter {exporter_id!r}: dcmURI {mask_url(uri)!r} is not a URI dcm4chee-arc-light can read "
        f"(java.net.URISyntaxException: {mask_url(problem)}); the archive would fail to load its whole device. "
        f"Give the scheme-specific part{hint}, without spaces, with valid %-escapes"
    )


def _check_uri(instance: ExporterDescriptor, attribute: attrs.Attribute[str], value: str) -> None:
    non_empty(instance, attribute, value)
    scheme, sep, _ = value.partition(":")
    if not sep or not scheme:
        raise ConfigurationError(
            f"exporter {instance.exporter_id!r}: dcmURI {value!r} has no scheme; expected e.g. dicom:STORESCP"
        )
    if not _TOLERATE_INVALID_URIS.get():
        problem = java_uri_problem(value)
        if problem is not None:
            raise ConfigurationError(invalid_uri_message(instance.exporter_id, value, problem))


@attrs.frozen(kw_only=True)
class ExporterDescriptor:
    """One configured exporter: where to export (``uri``), through which queue, as which AE.

    Field names follow dcm4che's ``dcmExporter`` attributes; defaults are upstream's.

    Examples:
        >>> e = ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1",
        ...                        ae_title="DCM4CHEE")
        >>> e.scheme, e.destination
        ('dicom', 'STORESCP')
    """

    exporter_id: str = attrs.field(validator=non_empty)
    """``dcmExporterID``: the id export rules and tasks refer to."""
    uri: str = url_field(_check_uri)
    """``dcmURI``: the destination; its scheme picks the transport (a password in it is masked in the repr)."""
    queue_name: str = attrs.field(validator=non_empty)
    """``dcmQueueName``: the queue that runs this exporter's tasks."""
    ae_title: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomAETitle``: the local (calling) AE title."""
    description: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDescription``."""
    export_as_source_ae: bool = bool_field(False)
    """``dcmExportAsSourceAE``: call the destination with the AE title that sent the series."""
    stgcmt_scp: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmStgCmtSCP``: request storage commitment from this AE after a completed export."""
    ian_destinations: tuple[str, ...] = tuple_field()
    """``dcmIanDestination``: send an Instance Availability Notification to each after a completed export."""
    retrieve_ae_titles: tuple[str, ...] = tuple_field()
    """``dcmRetrieveAET``: retrieve AE titles put into IANs and commitment results."""
    retrieve_location_uid: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmRetrieveLocationUID``."""
    instance_availability: InstanceAvailability = attrs.field(
        default=InstanceAvailability.ONLINE, converter=InstanceAvailability
    )
    """``dcmInstanceAvailability``: put into the IAN."""
    delete_study_from_storage_id: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmDeleteStudyFromStorageID``: delete the study from that storage after a completed study export."""
    reject_for_data_retention_expiry: bool = bool_field(False)
    """``dcmRejectForDataRetentionExpiry``: reject the exported objects after a completed export."""
    check_if_already_exists_on_destination: bool = bool_field(False)
    """``dcmCheckIfAlreadyExistsOnDestination``: storage exporter skips objects already present."""
    schedules: Schedules = attrs.field(default=Schedules.ALWAYS, converter=to_schedules)
    """``dcmSchedule``: when tasks may run (several are OR-ed; none = always)."""
    properties: Mapping[str, str] = properties_field()
    """``dcmProperty``: exporter-specific settings, ordered."""
    export_priority: int | None = attrs.field(default=None, validator=optional_int())
    """``dcmExportPriority``: no longer used upstream; kept for the round trip only."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read (empty for a new exporter)."""

    @property
    def uri_problem(self) -> str | None:
        """Why ``java.net.URI`` would refuse :attr:`uri` (Java's message), ``None`` when it parses.

        Only a configuration read as found can hold such a value (see :func:`tolerating_invalid_uris`).
        """
        return java_uri_problem(self.uri)

    @property
    def scheme(self) -> str:
        """The URI scheme in lower case (``dicom``, ``stow``, ``storage``, ``noop``, ...)."""
        return self.uri.partition(":")[0].lower()

    @property
    def destination(self) -> str:
        """The part of the URI after the first ``:`` (an AE title, web application name or storage id)."""
        return self.uri.partition(":")[2]

