"""Instance Availability Notification (DICOM PS3.4 Annex R) after a COMPLETED export.

An IAN task sends one N-CREATE-RQ of the Instance Availability Notification SOP Class
(``1.2.840.10008.5.1.4.33``) to its ``dcmIanDestination`` naming every instance of the exported study,
as dcm4chee-arc does. The data set (PS3.3 Instance Availability Notification Module):

- Referenced Performed Procedure Step Sequence (0008,1111): empty (Type 2; no MPPS is known);
- Study Instance UID (0020,000D);
- Referenced Series Sequence (0008,1115), per series: Series Instance UID (0020,000E) and a Referenced
  SOP Sequence (0008,1199) with, per instance, Referenced SOP Class / Instance UID, Retrieve AE Title
  (0008,0054) from ``dcmRetrieveAET`` (the exporter's ``dicomAETitle`` when none is configured),
  Retrieve Location UID (0040,E011) from ``dcmRetrieveLocationUID`` when set, and Instance Availability
  (0008,0056) from ``dcmInstanceAvailability``.

An N-CREATE-RSP other than Success or a warning (PS3.7 Annex C: 0x0001, 0x0107, 0x0116, 0xBxxx; see
:mod:`dcm_exporter._dicom.status`) fails the attempt; the queue retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from dcm_exporter._dicom.status import StatusCategory, status_category, status_text
from dcm_exporter._dicom.uids import INSTANCE_AVAILABILITY_NOTIFICATION
from dcm_exporter.actions._sop import sop_reference
from dcm_exporter.errors import TransportError
from dcm_exporter.export import InstanceRef, Outcome, OutcomeStatus

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["INSTANCE_AVAILABILITY_NOTIFICATION", "build_ian", "send_ian"]

log = logging.getLogger("dcm_exporter.actions")

def build_ian(
    study_uid: str,
    instances: Iterable[InstanceRef],
    *,
    retrieve_ae_titles: Sequence[str],
    retrieve_location_uid: str | None,
    instance_availability: str,
) -> Dataset:
    """The IAN data set for ``instances`` of one study (series in first-seen order).

    >>> ref = InstanceRef(study_uid="1.2", series_uid="1.2.3", sop_instance_uid="1.2.3.4",
    ...                   sop_class_uid="1.2.840.10008.5.1.4.1.1.7",
    ...                   transfer_syntax_uid="1.2.840.10008.1.2.1", size=0, path="x.dcm")
    >>> ds = build_ian("1.2", [ref], retrieve_ae_titles=["DCM4CHEE"], retrieve_location_uid=None,
    ...                instance_availability="ONLINE")
    >>> item = ds.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    >>> item.ReferencedSOPInstanceUID, item.RetrieveAETitle, item.InstanceAvailability
    ('1.2.3.4', 'DCM4CHEE', 'ONLINE')
    """
    from pydicom import Dataset

    ds = Dataset()
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.StudyInstanceUID = study_uid
    by_series: dict[str, list[InstanceRef]] = {}
    for ref in instances:
        by_series.setdefault(ref.series_uid, []).append(ref)
    aets = list(retrieve_ae_titles)
    series_items = []
    for series_uid, refs in by_series.items():
        series = Dataset()
        series.SeriesInstanceUID = series_uid
        sops = []
        for ref in refs:
            item = sop_reference(ref)
            if aets:
                item.RetrieveAETitle = aets if len(aets) > 1 else aets[0]
            if retrieve_location_uid:
                item.RetrieveLocationUID = retrieve_location_uid
            item.InstanceAvailability = instance_availability
            sops.append(item)
        series.ReferencedSOPSequence = sops
        series_items.append(series)
    ds.ReferencedSeriesSequence = series_items
    return ds


def send_ian(
    *,
    configuration: Configuration,
    exporter: ExporterDescriptor,
    ae_title: str,
    calling_ae_title: str,
    study_uid: str,
    instances: Sequence[InstanceRef],
    entity: str | None = None,
) -> Outcome:
    """Send the IAN of ``instances`` (the whole study) to ``ae_title`` with an N-CREATE-RQ.

    Returns:
        COMPLETED (message ``IAN of Study[...] to AET - instances:N``), or WARNING when the N-CREATE-RSP
        status is a warning.

    Raises:
        UnknownAEError, AENotInstalledError, ConfigurationError: the destination cannot be resolved.
        ConnectionFailedError, AssociationRejectedError, TransportTimeoutError: no association or answer.
        TransportError: the destination refused the notification (N-CREATE status, named in the message).
    """
    from pydicom.uid import generate_uid

    from dcm_exporter._dicom.destination import resolve_destination
    from dcm_exporter._dicom.services import send_n_create

    destination = resolve_destination(configuration, ae_title, exporter)
    retrieve = exporter.retrieve_ae_titles or ((exporter.ae_title,) if exporter.ae_title else ())
    dataset = build_ian(
        study_uid,
        instances,
        retrieve_ae_titles=retrieve,
        retrieve_location_uid=exporter.retrieve_location_uid,
        instance_availability=exporter.instance_availability.value,
    )
    entity = entity or f"Study[{study_uid}]"
    code, comment = send_n_create(
        destination, calling_ae_title, INSTANCE_AVAILABILITY_NOTIFICATION, generate_uid(prefix="2.25."), dataset
    )
    message = f"IAN of {entity} to {ae_title} - instances:{len(instances)}"
    if code == 0x0000:
        log.info("%s", message)
        return Outcome(
            status=OutcomeStatus.COMPLETED,
            message=message,
            completed=len(instances),
            destination=ae_title,
            entity=entity,
        )
    if status_category(code) is StatusCategory.WARNING:
        return Outcome(
            status=OutcomeStatus.WARNING,
            message=f"{message} (N-CREATE status 0x{code:04X})",
            warning=len(instances),
            destination=ae_title,
            entity=entity,
        )
    raise TransportError(
        f"IAN of {entity} refused by {destination.where}: {status_text('N-CREATE', code, comment)}",
        destination=ae_title,
    )

