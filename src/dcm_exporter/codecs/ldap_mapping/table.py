"""The attribute <-> field table: how each configuration model maps to one LDAP entry.

This is the one place that knows LDAP attribute names; LDIF, the live LDAP store and device JSON all read it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeAlias

import attrs

from dcm_exporter.dn import AE_RDN, DEVICE_RDN, EXPORTER_RDN, NAME_RDN, QUEUE_RDN, STORAGE_RDN, WEB_APP_RDN
from dcm_exporter.models import (
    ApplicationEntity,
    AttributeCoercion,
    AttributeUpdatePolicy,
    CoercionOnFailure,
    Connection,
    Device,
    Entity,
    ExporterDescriptor,
    ExportRule,
    InstanceAvailability,
    LegacyAttributeCoercion,
    QueueDescriptor,
    ReoccurredInstances,
    StorageDescriptor,
    TransferCapability,
    TransferRole,
    WebApplication,
)
from dcm_exporter.schedule import Schedules

__all__ = [
    "OBJECT_SPECS",
    "AttributeSpec",
    "Attributes",
    "Entry",
    "Kind",
    "Model",
    "ObjectSpec",
    "Value",
    "spec_for",
]

Value: TypeAlias = str | bytes
Attributes: TypeAlias = Mapping[str, Sequence[Value]]
"""An entry's attributes: attribute name -> values (names compared case-insensitively)."""
Entry: TypeAlias = tuple[str, dict[str, list[Value]]]

Model: TypeAlias = (
    Device
    | Connection
    | ApplicationEntity
    | TransferCapability
    | ExporterDescriptor
    | QueueDescriptor
    | ExportRule
    | WebApplication
    | StorageDescriptor
    | AttributeCoercion
    | LegacyAttributeCoercion
)

class Kind(enum.Enum):
    """How an attribute's values become a field value."""

    STR = "str"
    STRS = "strs"
    INT = "int"
    BOOL = "bool"
    OPT_BOOL = "opt_bool"
    DURATION = "duration"
    SCHEDULES = "schedules"
    PROPERTIES = "properties"
    ENUM = "enum"
    CONN_REFS = "conn_refs"


_NO_DEFAULT: Any = object()


@attrs.frozen
class AttributeSpec:
    """One row of the table: LDAP attribute <-> model field.

    ``default`` values are not written; ``required`` attributes (the object class's MUST) always are.
    ``aux`` names the auxiliary object class the attribute belongs to (added on write when needed; in
    dcm4che's JSON it is also the nested object the attribute lives in).
    """

    ldap: str
    field: str
    kind: Kind
    default: Any = _NO_DEFAULT
    required: bool = False
    aux: str | None = None
    enum_type: type[enum.Enum] | None = None


@attrs.frozen
class ObjectSpec:
    """How one model maps to one LDAP entry: its structural object class, RDN and attribute rows."""

    model: type
    object_class: str
    rdn_attr: str
    rdn_field: str
    attributes: tuple[AttributeSpec, ...]

    def by_ldap(self) -> dict[str, AttributeSpec]:
        """Lower-cased attribute name -> row."""
        return {a.ldap.lower(): a for a in self.attributes}


A = AttributeSpec
_DCM_CONN = "dcmNetworkConnection"
_DCM_AE = "dcmNetworkAE"

DEVICE_SPEC = ObjectSpec(
    Device,
    "dicomDevice",
    DEVICE_RDN,
    "device_name",
    (
        A("dicomDeviceName", "device_name", Kind.STR, required=True),
        A("dicomDescription", "description", Kind.STR, None),
        A("dicomPrimaryDeviceType", "primary_device_types", Kind.STRS, ()),
        A("dicomInstalled", "installed", Kind.BOOL, True, required=True),
    ),
)
CONNECTION_SPEC = ObjectSpec(
    Connection,
    "dicomNetworkConnection",
    NAME_RDN,
    "name",
    (
        A("cn", "name", Kind.STR, None),
        A("dicomHostname", "hostname", Kind.STR, required=True),
        A("dicomPort", "port", Kind.INT, None),
        A("dicomTLSCipherSuite", "tls_cipher_suites", Kind.STRS, ()),
        A("dicomInstalled", "installed", Kind.OPT_BOOL, None),
        A("dcmProtocol", "protocol", Kind.STR, "DICOM", aux=_DCM_CONN),
        A("dcmHTTPProxy", "http_proxy", Kind.STR, None, aux=_DCM_CONN),
        A("dcmTLSProtocol", "tls_protocols", Kind.STRS, (), aux=_DCM_CONN),
        A("dcmTCPConnectTimeout", "tcp_connect_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmAARQTimeout", "aarq_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmAAACTimeout", "aaac_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmARRPTimeout", "arrp_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmSendTimeout", "send_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmStoreTimeout", "store_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmResponseTimeout", "response_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmRetrieveTimeout", "retrieve_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmIdleTimeout", "idle_timeout", Kind.INT, None, aux=_DCM_CONN),
        A("dcmBindAddress", "bind_address", Kind.STR, None, aux=_DCM_CONN),
        A("dcmClientBindAddress", "client_bind_address", Kind.STR, None, aux=_DCM_CONN),
    ),
)
AE_SPEC = ObjectSpec(
    ApplicationEntity,
    "dicomNetworkAE",
    AE_RDN,
    "ae_title",
    (
        A("dicomAETitle", "ae_title", Kind.STR, required=True),
        A("dicomDescription", "description", Kind.STR, None),
        A("dicomNetworkConnectionReference", "connection_refs", Kind.CONN_REFS, (), required=True),
        A("dicomAssociationInitiator", "association_initiator", Kind.BOOL, False, required=True),
        A("dicomAssociationAcceptor", "association_acceptor", Kind.BOOL, False, required=True),
        A("dicomInstalled", "installed", Kind.OPT_BOOL, None),
        A("dcmOtherAETitle", "other_ae_titles", Kind.STRS, (), aux=_DCM_AE),
        A("dcmPreferredTransferSyntax", "preferred_transfer_syntaxes", Kind.STRS, (), aux=_DCM_AE),
    ),
)
TC_SPEC = ObjectSpec(
    TransferCapability,
    "dicomTransferCapability",
    NAME_RDN,
    "name",
    (
        A("cn", "name", Kind.STR, None),
        A("dicomSOPClass", "sop_class", Kind.STR, required=True),
        A("dicomTransferRole", "role", Kind.ENUM, required=True, enum_type=TransferRole),
        A("dicomTransferSyntax", "transfer_syntaxes", Kind.STRS, (), required=True),
    ),
)
EXPORTER_SPEC = ObjectSpec(
    ExporterDescriptor,
    "dcmExporter",
    EXPORTER_RDN,
    "exporter_id",
    (
        A("dcmExporterID", "exporter_id", Kind.STR, required=True),
        A("dcmURI", "uri", Kind.STR, required=True),
        A("dcmQueueName", "queue_name", Kind.STR, required=True),
        A("dicomDescription", "description", Kind.STR, None),
        A("dicomAETitle", "ae_title", Kind.STR, None),
        A("dcmExportAsSourceAE", "export_as_source_ae", Kind.BOOL, False),
        A("dcmStgCmtSCP", "stgcmt_scp", Kind.STR, None),
        A("dcmIanDestination", "ian_destinations", Kind.STRS, ()),
        A("dcmRetrieveAET", "retrieve_ae_titles", Kind.STRS, ()),
        A("dcmRetrieveLocationUID", "retrieve_location_uid", Kind.STR, None),
        A(
            "dcmInstanceAvailability",
            "instance_availability",
            Kind.ENUM,
            InstanceAvailability.ONLINE,
            enum_type=InstanceAvailability,
        ),
        A("dcmDeleteStudyFromStorageID", "delete_study_from_storage_id", Kind.STR, None),
        A("dcmRejectForDataRetentionExpiry", "reject_for_data_retention_expiry", Kind.BOOL, False),
        A("dcmCheckIfAlreadyExistsOnDestination", "check_if_already_exists_on_destination", Kind.BOOL, False),
        A("dcmSchedule", "schedules", Kind.SCHEDULES, Schedules.ALWAYS),
        A("dcmProperty", "properties", Kind.PROPERTIES, {}),
        A("dcmExportPriority", "export_priority", Kind.INT, None),
    ),
)
QUEUE_SPEC = ObjectSpec(
    QueueDescriptor,
    "dcmQueue",
    QUEUE_RDN,
    "queue_name",
    (
        A("dcmQueueName", "queue_name", Kind.STR, required=True),
        A("dicomDescription", "description", Kind.STR, None),
        A("dcmMaxTasksParallel", "max_tasks_parallel", Kind.INT, 1),
        A("dcmMaxRetries", "max_retries", Kind.INT, 0),
        A("dcmRetryDelay", "retry_delay", Kind.DURATION, timedelta(minutes=1)),
        A("dcmMaxRetryDelay", "max_retry_delay", Kind.DURATION, None),
        A("dcmRetryDelayMultiplier", "retry_delay_multiplier", Kind.INT, 100),
        A("dcmRetryOnWarning", "retry_on_warning", Kind.BOOL, False),
        A("dcmPurgeQueueMessageCompletedDelay", "purge_completed_delay", Kind.DURATION, None),
        A("dcmPurgeQueueMessageFailedDelay", "purge_failed_delay", Kind.DURATION, None),
        A("dcmPurgeQueueMessageWarningDelay", "purge_warning_delay", Kind.DURATION, None),
        A("dcmPurgeQueueMessageCanceledDelay", "purge_canceled_delay", Kind.DURATION, None),
        A("dcmSchedule", "schedules", Kind.SCHEDULES, Schedules.ALWAYS),
        A("dicomInstalled", "installed", Kind.BOOL, True),
    ),
)
RULE_SPEC = ObjectSpec(
    ExportRule,
    "dcmExportRule",
    NAME_RDN,
    "name",
    (
        A("cn", "name", Kind.STR, required=True),
        A("dcmEntity", "entity", Kind.ENUM, required=True, enum_type=Entity),
        A("dcmExporterID", "exporter_ids", Kind.STRS, (), required=True),
        A("dcmDuration", "delay", Kind.DURATION, None),
        A("dcmSchedule", "schedules", Kind.SCHEDULES, Schedules.ALWAYS),
        A("dcmProperty", "conditions", Kind.STRS, ()),
        A("dicomDeviceName", "device_name", Kind.STR, None),
        A("dcmExportPreviousEntity", "export_previous_entity", Kind.BOOL, False),
        A(
            "dcmExportReoccurredInstances",
            "export_reoccurred_instances",
            Kind.ENUM,
            ReoccurredInstances.REPLACE,
            enum_type=ReoccurredInstances,
        ),
    ),
)
WEBAPP_SPEC = ObjectSpec(
    WebApplication,
    "dcmWebApp",
    WEB_APP_RDN,
    "name",
    (
        A("dcmWebAppName", "name", Kind.STR, required=True),
        A("dicomDescription", "description", Kind.STR, None),
        A("dcmWebServicePath", "service_path", Kind.STR, required=True),
        A("dcmWebServiceClass", "service_classes", Kind.STRS, (), required=True),
        A("dicomNetworkConnectionReference", "connection_refs", Kind.CONN_REFS, ()),
        A("dicomAETitle", "ae_title", Kind.STR, None),
        A("dcmKeycloakClientID", "keycloak_client_id", Kind.STR, None),
        A("dcmProperty", "properties", Kind.PROPERTIES, {}),
        A("dicomInstalled", "installed", Kind.OPT_BOOL, None),
    ),
)
STORAGE_SPEC = ObjectSpec(
    StorageDescriptor,
    "dcmStorage",
    STORAGE_RDN,
    "storage_id",
    (
        A("dcmStorageID", "storage_id", Kind.STR, required=True),
        A("dcmURI", "uri", Kind.STR, required=True),
        A("dcmStoragePathFormat", "storage_path_format", Kind.STR, None),
        A("dcmProperty", "properties", Kind.PROPERTIES, {}),
    ),
)
# --- attribute coercion (dcmArchiveAttributeCoercion2, and the legacy class; device and AE level) ---
COERCION_SPEC = ObjectSpec(
    AttributeCoercion,
    "dcmArchiveAttributeCoercion2",
    NAME_RDN,
    "name",
    (
        A("cn", "name", Kind.STR, required=True),
        A("dicomDescription", "description", Kind.STR, None),
        A("dcmRulePriority", "priority", Kind.INT, 0),
        A("dcmDIMSE", "dimse", Kind.STR, required=True),
        A("dicomTransferRole", "role", Kind.ENUM, required=True, enum_type=TransferRole),
        A("dcmSOPClass", "sop_classes", Kind.STRS, ()),
        A("dcmProperty", "conditions", Kind.STRS, ()),
        A("dcmURI", "uri", Kind.STR, required=True),
        A(
            "dcmAttributeUpdatePolicy",
            "attribute_update_policy",
            Kind.ENUM,
            AttributeUpdatePolicy.MERGE,
            enum_type=AttributeUpdatePolicy,
        ),
        A("dcmSupplementFromDeviceReference", "supplement_from_device", Kind.STR, None),
        A("dcmMergeAttribute", "merge_attributes", Kind.STRS, ()),
        A("dcmCoercionParam", "params", Kind.PROPERTIES, {}),
        A("dcmCoercionSufficient", "sufficient", Kind.BOOL, False),
        A("dcmCoercionOnFailure", "on_failure", Kind.ENUM, CoercionOnFailure.RETHROW, enum_type=CoercionOnFailure),
    ),
)
LEGACY_COERCION_SPEC = ObjectSpec(
    LegacyAttributeCoercion,
    "dcmArchiveAttributeCoercion",
    NAME_RDN,
    "name",
    (
        A("cn", "name", Kind.STR, required=True),
        A("dcmRulePriority", "priority", Kind.INT, 0),
        A("dcmDIMSE", "dimse", Kind.STR, required=True),
        A("dicomTransferRole", "role", Kind.ENUM, required=True, enum_type=TransferRole),
        A("dcmSOPClass", "sop_classes", Kind.STRS, ()),
        A("dcmProperty", "conditions", Kind.STRS, ()),
        A("dcmRetrieveAsReceived", "retrieve_as_received", Kind.BOOL, False),
        A("dcmDeIdentification", "deidentification", Kind.STRS, ()),
        A("dcmURI", "xslt_uri", Kind.STR, None),
        A("dcmNoKeywords", "no_keywords", Kind.BOOL, False),
        A("dcmLeadingCFindSCP", "leading_cfind_scp", Kind.STR, None),
        A("dcmNullifyTag", "nullify_tags", Kind.STRS, ()),
        A("dcmMergeAttribute", "merge_attributes", Kind.STRS, ()),
        A(
            "dcmAttributeUpdatePolicy",
            "attribute_update_policy",
            Kind.ENUM,
            AttributeUpdatePolicy.MERGE,
            enum_type=AttributeUpdatePolicy,
        ),
    ),
)
del A

OBJECT_SPECS: tuple[ObjectSpec, ...] = (
    DEVICE_SPEC,
    CONNECTION_SPEC,
    AE_SPEC,
    TC_SPEC,
    EXPORTER_SPEC,
    QUEUE_SPEC,
    RULE_SPEC,
    WEBAPP_SPEC,
    STORAGE_SPEC,
    COERCION_SPEC,
    LEGACY_COERCION_SPEC,
)
"""Every model's mapping, the single attribute <-> field table."""

_SPEC_BY_MODEL: dict[type, ObjectSpec] = {s.model: s for s in OBJECT_SPECS}


def spec_for(model: type | Model) -> ObjectSpec:
    """The :class:`ObjectSpec` of a model class or instance."""
    cls = model if isinstance(model, type) else type(model)
    return _SPEC_BY_MODEL[cls]
