"""The exporter descriptor (dcm4che object class ``dcmExporter``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._display import exporter_html
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
from dcm_exporter.models.enums import InstanceAvailability
from dcm_exporter.schedule import Schedules

__all__ = ["ExporterDescriptor"]


def _check_uri(instance: ExporterDescriptor, attribute: attrs.Attribute[str], value: str) -> None:
    non_empty(instance, attribute, value)
    scheme, sep, _ = value.partition(":")
    if not sep or not scheme:
        raise ConfigurationError(
            f"exporter {instance.exporter_id!r}: dcmURI {value!r} has no scheme; expected e.g. dicom:STORESCP"
        )


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
    def scheme(self) -> str:
        """The URI scheme in lower case (``dicom``, ``stow``, ``storage``, ``noop``, ...)."""
        return self.uri.partition(":")[0].lower()

    @property
    def destination(self) -> str:
        """The part of the URI after the first ``:`` (an AE title, web application name or storage id)."""
        return self.uri.partition(":")[2]

    def _repr_html_(self) -> str:
        return exporter_html(self)
