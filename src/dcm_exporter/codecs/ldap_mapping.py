"""Configuration models <-> LDAP entries in dcm4che's DN layout.

This module is the one place that knows LDAP attribute names. It works on plain entries
``(dn, {attribute: [values]})`` — as read from LDIF (:mod:`dcm_exporter.codecs.ldif`) or returned by an LDAP
server — so the LDIF file store and the live LDAP store share it.

The DN layout (base DN configurable, default ``dc=dcm4che,dc=org``)::

    dicomDeviceName=<dev>,cn=Devices,cn=DICOM Configuration,<base DN>
      cn=<connection>                     dicomNetworkConnection
      dicomAETitle=<AET>                  dicomNetworkAE
        cn=<transfer capability>          dicomTransferCapability
        cn=<rule>                         dcmExportRule (AE level)
      dcmExporterID=<id>                  dcmExporter
      dcmQueueName=<queue>                dcmQueue
      cn=<rule>                           dcmExportRule (device level)
      dcmWebAppName=<name>                dcmWebApp
      dcmStorageID=<id>                   dcmStorage

Writing omits default values, writes booleans as ``TRUE``/``FALSE``, schedules in normalised form and
durations as ISO-8601; RDN values are escaped (RFC 4514). Attributes a model does not know are kept in its
``extra`` and written back unchanged, and entries no model covers are kept in
:attr:`Configuration.other_entries <dcm_exporter.models.Configuration.other_entries>`.

:func:`diff_entries`, :func:`diff_models` and :func:`diff_configurations` compute the minimal LDAP operations
(add, delete, modify with per-attribute replace) that turn one state into another.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, TypeAlias

import attrs

from dcm_exporter.errors import ConfigurationError, DcmExporterError
from dcm_exporter.models import (
    DEFAULT_BASE_DN,
    ApplicationEntity,
    AttributeCoercion,
    AttributeUpdatePolicy,
    CoercionOnFailure,
    Configuration,
    Connection,
    Device,
    Entity,
    ExporterDescriptor,
    ExportRule,
    InstanceAvailability,
    LdapEntry,
    LegacyAttributeCoercion,
    QueueDescriptor,
    ReoccurredInstances,
    SourceLocation,
    StorageDescriptor,
    TransferCapability,
    TransferRole,
    WebApplication,
    format_duration,
    parse_duration,
)
from dcm_exporter.models._frozen import FrozenMap, parse_properties
from dcm_exporter.models._uri import java_uri_problem
from dcm_exporter.models.exporter import invalid_uri_message, tolerating_invalid_uris
from dcm_exporter.schedule import Schedules, warn_if_cron

_log = logging.getLogger("dcm_exporter.codecs")

__all__ = [
    "OBJECT_SPECS",
    "AddEntry",
    "AttributeSpec",
    "Attributes",
    "DeleteEntry",
    "Kind",
    "LdapOperation",
    "Modification",
    "ModifyEntry",
    "ObjectSpec",
    "configuration_from_entries",
    "configuration_to_entries",
    "device_dn",
    "devices_dn",
    "diff_configurations",
    "diff_entries",
    "diff_models",
    "entry_dn_of",
    "escape_rdn_value",
    "model_from_entry",
    "model_to_entries",
    "model_to_entry",
    "normalize_dn",
    "parent_dn",
    "parse_dn",
    "registry_entries",
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

# --- DNs (RFC 4514) ------------------------------------------------------------------------------------

_SPECIAL = set(',+"\\<>;=')
_NEEDS_ESCAPE = re.compile(r'[,+"\\<>;=\x00]')
_RDN_SEPARATORS = re.compile(r"[,;]")


def escape_rdn_value(value: str) -> str:
    """Escape an attribute value for use in an RDN (RFC 4514).

    Examples:
        >>> escape_rdn_value("Forward, to + STORESCP")
        'Forward\\\\, to \\\\+ STORESCP'
    """
    if _NEEDS_ESCAPE.search(value) is None and value[:1] not in (" ", "#") and value[-1:] != " ":
        return value  # the common case: nothing to escape
    out = []
    for i, ch in enumerate(value):
        if ch in _SPECIAL or ch == "\x00":
            out.append("\\" + ch if ch != "\x00" else "\\00")
        elif (i == 0 and ch in " #") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def parse_dn(dn: str) -> list[list[tuple[str, str]]]:
    r"""Split a DN into RDNs, each a list of ``(attribute type, unescaped value)`` pairs (RFC 4514).

    Examples:
        >>> parse_dn(r"cn=Forward\, to X,dicomDeviceName=a+b=c")
        [[('cn', 'Forward, to X')], [('dicomDeviceName', 'a'), ('b', 'c')]]

    Raises:
        ConfigurationError: a malformed DN.
    """
    if not dn.strip():
        return []
    if "\\" not in dn:
        plain = _parse_plain_dn(dn)
        if plain is not None:
            return plain
    return _parse_dn_general(dn)


def _parse_plain_dn(dn: str) -> list[list[tuple[str, str]]] | None:
    """The fast path of :func:`parse_dn` for a DN without any ``\\`` escape.

    Returns ``None`` for anything but a well-formed DN (an AVA without ``=`` or with an empty type, a
    trailing separator, ...); :func:`_parse_dn_general` then gives the answer, or the error, as before.
    """
    rdns: list[list[tuple[str, str]]] = []
    for part in _RDN_SEPARATORS.split(dn):
        rdn: list[tuple[str, str]] = []
        for ava in part.split("+"):
            attr, eq, value = ava.partition("=")
            attr = attr.strip()
            if not eq or not attr:
                return None
            rdn.append((attr, value.strip(" ")))
        rdns.append(rdn)
    return rdns


def _parse_dn_general(dn: str) -> list[list[tuple[str, str]]]:
    """:func:`parse_dn` for any DN, escapes included (character by character)."""
    rdns: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    i, n = 0, len(dn)
    while i < n:
        eq = dn.find("=", i)
        if eq < 0:
            raise ConfigurationError(f"malformed DN {dn!r}: expected attribute=value at position {i}")
        attr = dn[i:eq].strip()
        if not attr or any(c in attr for c in ",+;\\"):
            raise ConfigurationError(f"malformed DN {dn!r}: bad attribute type at position {i}")
        i = eq + 1
        chars: list[tuple[str, bool]] = []  # (text, escaped)
        pending = bytearray()
        while i < n and dn[i] not in ",+;":
            ch = dn[i]
            if ch == "\\":
                pair = dn[i + 1 : i + 3]
                if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                    pending.append(int(pair, 16))
                    i += 3
                    continue
                if i + 1 >= n:
                    raise ConfigurationError(f"malformed DN {dn!r}: dangling backslash")
                if pending:
                    chars.append((pending.decode("utf-8", errors="replace"), True))
                    pending.clear()
                chars.append((dn[i + 1], True))
                i += 2
                continue
            if pending:
                chars.append((pending.decode("utf-8", errors="replace"), True))
                pending.clear()
            chars.append((ch, False))
            i += 1
        if pending:
            chars.append((pending.decode("utf-8", errors="replace"), True))
        while chars and chars[0] == (" ", False):
            chars.pop(0)
        while chars and chars[-1] == (" ", False):
            chars.pop()
        current.append((attr, "".join(t for t, _ in chars)))
        if i < n and dn[i] == "+":
            i += 1
            continue
        rdns.append(current)
        current = []
        if i < n:
            i += 1  # past , or ;
            if i >= n:
                raise ConfigurationError(f"malformed DN {dn!r}: ends with a separator")
    if current:
        rdns.append(current)
    return rdns


def _join(rdns: Iterable[Iterable[tuple[str, str]]]) -> str:
    return ",".join("+".join(f"{a}={escape_rdn_value(v)}" for a, v in rdn) for rdn in rdns)


def _normalized_rdns(rdns: list[list[tuple[str, str]]]) -> list[str]:
    """Each RDN in the canonical form of :func:`normalize_dn` (a DN's is these joined with ``,``)."""
    out = []
    for rdn in rdns:
        if len(rdn) == 1:
            a, v = rdn[0]
            out.append(f"{a.lower()}={escape_rdn_value(v.lower())}")
        else:
            pairs = sorted((a.lower(), v.lower()) for a, v in rdn)
            out.append("+".join(f"{a}={escape_rdn_value(v)}" for a, v in pairs))
    return out


def normalize_dn(dn: str) -> str:
    """A canonical form of a DN for comparisons: types and values lower-cased, escaping normalised."""
    try:
        rdns = parse_dn(dn)
    except ConfigurationError:
        return dn.strip().lower()
    return ",".join(_normalized_rdns(rdns))


def parent_dn(dn: str) -> str:
    """The DN of the parent entry ("" for a single-RDN DN)."""
    return _join(parse_dn(dn)[1:])


def _rdn(attr: str, value: str, parent: str) -> str:
    return f"{attr}={escape_rdn_value(value)},{parent}" if parent else f"{attr}={escape_rdn_value(value)}"


def devices_dn(base_dn: str = DEFAULT_BASE_DN) -> str:
    """``cn=Devices,cn=DICOM Configuration,<base DN>``."""
    return f"cn=Devices,cn=DICOM Configuration,{base_dn}"


def device_dn(device_name: str, base_dn: str = DEFAULT_BASE_DN) -> str:
    """``dicomDeviceName=<name>,cn=Devices,cn=DICOM Configuration,<base DN>`` (value escaped)."""
    return _rdn("dicomDeviceName", device_name, devices_dn(base_dn))


# --- the attribute <-> field table --------------------------------------------------------------------


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
    "dicomDeviceName",
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
    "cn",
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
    "dicomAETitle",
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
    "cn",
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
    "dcmExporterID",
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
    "dcmQueueName",
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
    "cn",
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
    "dcmWebAppName",
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
    "dcmStorageID",
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
    "cn",
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
    "cn",
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


# --- reading one entry -----------------------------------------------------------------------------------


def _where(dn: str, location: SourceLocation | None) -> str:
    return f"{location}: " if location is not None else ""


def _fail(message: str, dn: str, location: SourceLocation | None) -> ConfigurationError:
    return ConfigurationError(f"{_where(dn, location)}{message}", dn=dn)


def _text(value: Value, attr: str, dn: str, location: SourceLocation | None) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(f"{attr}: value is not UTF-8 text", dn, location) from None
    return value


def _texts(values: Sequence[Value], attr: str, dn: str, location: SourceLocation | None) -> Sequence[str]:
    """Every value as text (``values`` itself when all are ``str`` already)."""
    for v in values:
        if type(v) is not str:
            return [_text(v, attr, dn, location) for v in values]
    return values  # type: ignore[return-value]


def _single(values: Sequence[Value], attr: str, dn: str, location: SourceLocation | None) -> str:
    if len(values) != 1:
        raise _fail(f"{attr} must have exactly one value, found {len(values)}", dn, location)
    return _text(values[0], attr, dn, location)


def _parse_bool(text: str, attr: str, dn: str, location: SourceLocation | None) -> bool:
    upper = text.strip().upper()
    if upper == "TRUE":
        return True
    if upper == "FALSE":
        return False
    raise _fail(f"{attr}: {text!r} is not a boolean (TRUE or FALSE)", dn, location)


def _convert(
    spec: AttributeSpec,
    values: Sequence[Value],
    dn: str,
    location: SourceLocation | None,
    conn_refs: Callable[[str], str] | None,
) -> Any:
    attr = spec.ldap
    kind = spec.kind
    if kind is Kind.STR:
        if len(values) == 1 and type(values[0]) is str:
            return values[0]  # the common case of _single
        return _single(values, attr, dn, location)
    if kind is Kind.STRS:
        return tuple(_texts(values, attr, dn, location))
    if kind is Kind.INT:
        text = _single(values, attr, dn, location)
        try:
            return int(text.strip())
        except ValueError:
            raise _fail(f"{attr}: {text!r} is not an integer", dn, location) from None
    if kind in (Kind.BOOL, Kind.OPT_BOOL):
        return _parse_bool(_single(values, attr, dn, location), attr, dn, location)
    if kind is Kind.DURATION:
        text = _single(values, attr, dn, location)
        try:
            return parse_duration(text)
        except ConfigurationError as exc:
            raise _fail(f"{attr}: {exc}", dn, location) from None
    if kind is Kind.SCHEDULES:
        texts = [_text(v, attr, dn, location) for v in values]
        try:
            return Schedules.parse(texts)
        except (DcmExporterError, ValueError) as exc:
            raise _fail(f"{attr}: {exc}", dn, location) from exc
    if kind is Kind.PROPERTIES:
        texts = [_text(v, attr, dn, location) for v in values]
        for t in texts:
            if "=" not in t:
                raise _fail(f"{attr}: {t!r} has no '=': expected key=value", dn, location)
        return parse_properties(texts)
    if kind is Kind.ENUM:
        assert spec.enum_type is not None
        text = _single(values, attr, dn, location)
        member = _ENUM_TEXTS[spec.enum_type].get(text.strip().lower())
        if member is not None:
            return member  # what enum_type.parse returns, without scanning the members
        try:
            return spec.enum_type.parse(text)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise _fail(f"{attr}: {exc}", dn, location) from None
    if kind is Kind.CONN_REFS:
        texts = [_text(v, attr, dn, location) for v in values]
        if conn_refs is None:
            return tuple(texts)
        return tuple(conn_refs(t) for t in texts)
    raise AssertionError(kind)  # pragma: no cover


def object_classes_of(attributes: Attributes) -> tuple[str, ...]:
    """The ``objectClass`` values of an entry (attribute name matched case-insensitively)."""
    out: list[str] = []
    for name, values in attributes.items():
        if name.lower() == "objectclass":
            out.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values)
    return tuple(out)


@attrs.frozen
class _Plan:
    """What reading an entry needs of an :class:`ObjectSpec`, computed once per model."""

    spec: ObjectSpec
    rows: tuple[tuple[str, AttributeSpec], ...]  # (lower-cased attribute name, row), in table order
    known: frozenset[str]  # lower-cased names the model consumes, objectClass included
    rdn_attr: str  # lower-cased


def _make_plan(spec: ObjectSpec) -> _Plan:
    rows = tuple((a.ldap.lower(), a) for a in spec.attributes)
    return _Plan(spec, rows, frozenset(low for low, _ in rows) | {"objectclass"}, spec.rdn_attr.lower())


_PLANS: dict[type, _Plan] = {s.model: _make_plan(s) for s in OBJECT_SPECS}
_ENUM_TEXTS: dict[type[enum.Enum], dict[str, enum.Enum]] = {
    a.enum_type: {m.value.lower(): m for m in a.enum_type}
    for s in OBJECT_SPECS
    for a in s.attributes
    if a.enum_type is not None
}


def model_from_entry(
    model: type[Any],
    dn: str,
    attributes: Attributes,
    *,
    location: SourceLocation | None = None,
    conn_refs: Callable[[str], str] | None = None,
    **children: Any,
) -> Any:
    """Build one model from one entry (children are passed in by the caller as keyword arguments).

    ``conn_refs`` maps a ``dicomNetworkConnectionReference`` DN to a connection key; without it the DNs are
    kept as they are (the caller must then resolve them).

    Raises:
        ConfigurationError: a missing required attribute or a value that is not valid, naming the DN and,
            with ``location``, the file and line.
    """
    return _model_from_entry(model, dn, attributes, location, conn_refs, children, None)


_RDN = list[tuple[str, str]]


def _model_from_entry(
    model: type[Any],
    dn: str,
    attributes: Attributes,
    location: SourceLocation | None,
    conn_refs: Callable[[str], str] | None,
    children: dict[str, Any],
    first_rdn: _RDN | None,
) -> Any:
    """:func:`model_from_entry`; ``first_rdn`` is the DN's parsed first RDN when the caller has it already."""
    spec = spec_for(model)
    plan = _PLANS[spec.model]
    known = plan.known
    # one pass over the entry: values by lower-cased name (repeated names merged in order), and the rest
    grouped: dict[str, Sequence[Value]] = {}
    extra: dict[str, tuple[Value, ...]] = {}
    for name, raw in attributes.items():
        low = name.lower()
        if low in known:
            seen = grouped.get(low)
            grouped[low] = raw if seen is None else [*seen, *raw]
        else:
            extra[name] = tuple(raw)
    kwargs: dict[str, Any] = {}
    for low, aspec in plan.rows:
        values = grouped.get(low)
        if not values:
            if aspec.required and aspec.default is _NO_DEFAULT:
                raise _fail(f"{spec.object_class} entry has no {aspec.ldap}", dn, location)
            continue
        kwargs[aspec.field] = _convert(aspec, values, dn, location, conn_refs)
    if spec.rdn_field not in kwargs:
        if first_rdn is None:
            rdns = parse_dn(dn)
            first_rdn = rdns[0] if rdns else []
        if len(first_rdn) == 1 and first_rdn[0][0].lower() == plan.rdn_attr:
            kwargs[spec.rdn_field] = first_rdn[0][1]
    kwargs.update(children)
    classes = grouped.get("objectclass") or ()
    object_classes = tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in classes)
    try:
        if model is ExporterDescriptor and isinstance(uri := kwargs.get("uri"), str) and java_uri_problem(uri):
            return _tolerated_exporter(kwargs, extra, object_classes, dn, location)
        return model(**kwargs, extra=extra, object_classes=object_classes)
    except ConfigurationError as exc:
        raise _fail(str(exc), dn, location) from None
    except (TypeError, ValueError) as exc:
        raise _fail(f"invalid {spec.object_class} entry: {exc}", dn, location) from exc


def _tolerated_exporter(
    kwargs: dict[str, Any],
    extra: dict[str, tuple[Value, ...]],
    object_classes: tuple[str, ...],
    dn: str,
    location: SourceLocation | None,
) -> ExporterDescriptor:
    # read as found, so that a configuration dcm4chee-arc cannot load can still be inspected and repaired;
    # the writers refuse it (model_to_entry) and Configuration.validate reports it as an error
    with tolerating_invalid_uris():
        exporter = ExporterDescriptor(**kwargs, extra=extra, object_classes=object_classes)
    assert exporter.uri_problem is not None
    message = invalid_uri_message(exporter.exporter_id, exporter.uri, exporter.uri_problem)
    _log.warning("%s%s: %s", _where(dn, location), dn, message, extra={"dn": dn})
    return exporter


def _check_writable(model: Model, dn: str) -> None:
    if isinstance(model, ExporterDescriptor) and (problem := model.uri_problem) is not None:
        raise ConfigurationError(
            f"refusing to write {dn}: {invalid_uri_message(model.exporter_id, model.uri, problem)}"
        )


# --- writing one entry -----------------------------------------------------------------------------------


def _is_default(aspec: AttributeSpec, value: Any) -> bool:
    if aspec.default is _NO_DEFAULT:
        return False
    if value is None:
        return True
    if aspec.kind in (Kind.STRS, Kind.CONN_REFS, Kind.PROPERTIES):
        return len(value) == 0
    if aspec.kind is Kind.SCHEDULES:
        return bool(value.is_always)
    return bool(value == aspec.default)


def _format(aspec: AttributeSpec, value: Any, conn_dn: Callable[[str], str] | None) -> list[Value]:
    kind = aspec.kind
    if kind is Kind.STR:
        return [value]
    if kind is Kind.STRS:
        return list(value)
    if kind is Kind.INT:
        return [str(value)]
    if kind in (Kind.BOOL, Kind.OPT_BOOL):
        return ["TRUE" if value else "FALSE"]
    if kind is Kind.DURATION:
        return [format_duration(value)]
    if kind is Kind.SCHEDULES:
        return list(value.to_strings())
    if kind is Kind.PROPERTIES:
        return [f"{k}={v}" for k, v in value.items()]
    if kind is Kind.ENUM:
        return [value.value]
    if kind is Kind.CONN_REFS:
        return [conn_dn(v) if conn_dn else v for v in value]
    raise AssertionError(kind)  # pragma: no cover


def entry_dn_of(model: Model, parent: str) -> str:
    """The DN of a model's entry below ``parent`` (the device DN, or the AE DN for its children)."""
    spec = spec_for(model)
    if isinstance(model, Connection) and not model.name:
        host = escape_rdn_value(model.hostname)
        if model.port is not None:
            return f"dicomHostname={host}+dicomPort={model.port},{parent}"
        return f"dicomHostname={host},{parent}"
    if isinstance(model, TransferCapability) and not model.name:
        sop = escape_rdn_value(model.sop_class)
        return f"dicomSOPClass={sop}+dicomTransferRole={model.role.value},{parent}"
    return _rdn(spec.rdn_attr, getattr(model, spec.rdn_field), parent)


def model_to_entry(model: Model, parent: str, *, conn_dn: Callable[[str], str] | None = None) -> Entry:
    """One model as one entry ``(dn, {attribute: [values]})`` below ``parent``, children not included.

    ``conn_dn`` maps a connection key to the DN written in ``dicomNetworkConnectionReference``; by default
    ``cn=<key>,<device DN>`` is used, with the device DN taken from ``parent``.
    """
    spec = spec_for(model)
    dn = entry_dn_of(model, parent)
    _check_writable(model, dn)
    if conn_dn is None:
        conn_dn = _default_conn_dn(parent)
    attributes: dict[str, list[Value]] = {}
    needed_aux: list[str] = []
    for aspec in spec.attributes:
        value = getattr(model, aspec.field)
        if not aspec.required and _is_default(aspec, value):
            continue
        if value is None:
            continue
        attributes[aspec.ldap] = _format(aspec, value, conn_dn)
        if aspec.kind is Kind.SCHEDULES:
            warn_if_cron(value, where=dn)  # dcm4chee cannot read cron: windows
        if aspec.aux and aspec.aux not in needed_aux:
            needed_aux.append(aspec.aux)
    modelled = {a.lower() for a in attributes} | {a.ldap.lower() for a in spec.attributes}
    for name, kept in model.extra.items():
        values: Sequence[Value] = kept
        if name.startswith("json:"):
            name, values = _from_json_extra(name, kept)
            if not values:
                continue  # a nested JSON structure has no place in this entry
        if name.lower() not in modelled and name.lower() != "objectclass":
            attributes[name] = list(values)
    classes = list(model.object_classes) or [spec.object_class]
    lower = {c.lower() for c in classes}
    if spec.object_class.lower() not in lower:
        classes.insert(0, spec.object_class)
        lower.add(spec.object_class.lower())
    for aux in needed_aux:
        if aux.lower() not in lower:
            classes.append(aux)
            lower.add(aux.lower())
    return dn, {"objectClass": list(classes), **attributes}


def _from_json_extra(name: str, values: Sequence[Value]) -> tuple[str, list[Value]]:
    """A member kept from device JSON (``json:<path>``): scalars become attribute values, others go."""
    import json

    attr = name.rsplit("/", 1)[-1].removeprefix("json:")
    try:
        raw = json.loads(values[0]) if values else None
    except (ValueError, TypeError):
        return attr, []
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(v, str | int | float | bool) for v in items):
        return attr, []
    return attr, [("TRUE" if v else "FALSE") if isinstance(v, bool) else str(v) for v in items]


def _default_conn_dn(device: str) -> Callable[[str], str]:
    def conn(key: str) -> str:
        return _rdn("cn", key, device)

    return conn


def _device_conn_dn(device: Device, ddn: str) -> Callable[[str], str]:
    by_key = {c.key: entry_dn_of(c, ddn) for c in device.connections}

    def conn(key: str) -> str:
        return by_key.get(key) or _rdn("cn", key, ddn)

    return conn


def _named_children(device: Device) -> tuple[tuple[Model, ...], ...]:
    """The device's children that sit directly below it, apart from connections and AEs, in entry order."""
    return (
        device.exporters,
        device.queues,
        device.export_rules,
        device.web_applications,
        device.storages,
        device.attribute_coercions,
        device.legacy_attribute_coercions,
    )


def model_to_entries(model: Model, parent: str, *, device: Device | None = None) -> list[Entry]:
    """A model and its children as entries, parents first.

    ``parent`` is the devices root DN for a :class:`Device` (``cn=Devices,cn=DICOM Configuration,<base>``),
    the device DN for a device child, and the AE DN for an AE child. ``device`` is needed to write
    connection references of an :class:`ApplicationEntity` or :class:`WebApplication` to unnamed connections.
    """
    if isinstance(model, Device):
        ddn = entry_dn_of(model, parent)
        conn = _device_conn_dn(model, ddn)
        out = [model_to_entry(model, parent, conn_dn=conn)]
        for c in model.connections:
            out.append(model_to_entry(c, ddn, conn_dn=conn))
        for ae in model.application_entities:
            out.extend(model_to_entries(ae, ddn, device=model))
        for group in _named_children(model):
            for child in group:
                out.append(model_to_entry(child, ddn, conn_dn=conn))
        return out
    conn_of: Callable[[str], str] | None = _device_conn_dn(device, parent) if device is not None else None
    if isinstance(model, ApplicationEntity):
        aedn = entry_dn_of(model, parent)
        out = [model_to_entry(model, parent, conn_dn=conn_of)]
        for tc in model.transfer_capabilities:
            out.append(model_to_entry(tc, aedn))
        for rule in model.export_rules:
            out.append(model_to_entry(rule, aedn))
        coercions: tuple[Model, ...] = (*model.attribute_coercions, *model.legacy_attribute_coercions)
        for coercion in coercions:
            out.append(model_to_entry(coercion, aedn))
        return out
    return [model_to_entry(model, parent, conn_dn=conn_of)]


# --- a whole configuration ---------------------------------------------------------------------------


_CHILD_CLASSES = (
    "dicomnetworkconnection",
    "dicomnetworkae",
    "dcmexporter",
    "dcmqueue",
    "dcmexportrule",
    "dcmwebapp",
    "dcmstorage",
    "dcmarchiveattributecoercion2",
    "dcmarchiveattributecoercion",
)
_AE_CHILD_CLASSES = (
    "dicomtransfercapability",
    "dcmexportrule",
    "dcmarchiveattributecoercion2",
    "dcmarchiveattributecoercion",
)


@attrs.define
class _Read:
    dn: str
    attributes: Attributes
    location: SourceLocation | None
    norm: str
    parent: str
    classes: set[str]
    index: int
    first_rdn: _RDN

    def build(self, model: type[Any], conn_refs: Callable[[str], str] | None = None, **children: Any) -> Any:
        """:func:`model_from_entry` of this entry, reusing its parsed DN."""
        return _model_from_entry(model, self.dn, self.attributes, self.location, conn_refs, children, self.first_rdn)


def _normal_forms(dn: str, seen: dict[str, str]) -> tuple[str, str, _RDN]:
    """The normal forms of a DN and of its parent, and its parsed first RDN.

    ``seen`` maps DNs (as written) normalised before to their normal form: when the part after the first
    RDN is one of them (a parent read before its children, the usual order), only the first RDN is parsed.

    Raises:
        ConfigurationError: a malformed DN (the message of :func:`parse_dn`).
    """
    if "\\" not in dn:
        sep = _RDN_SEPARATORS.search(dn)
        if sep is not None:
            parent = seen.get(dn[sep.end() :])
            if parent is not None:
                head = _parse_plain_dn(dn[: sep.start()])
                if head is not None:  # one RDN: no separator before sep
                    norm = f"{_normalized_rdns(head)[0]},{parent}"
                    seen[dn] = norm
                    return norm, parent, head[0]
    rdns = parse_dn(dn)
    parts = _normalized_rdns(rdns)
    norm = ",".join(parts)
    if rdns:
        seen[dn] = norm
    return norm, ",".join(parts[1:]), rdns[0] if rdns else []


def _structural(r: _Read, candidates: Iterable[str]) -> str | None:
    for c in candidates:
        if c in r.classes:
            return c
    return None


def configuration_from_entries(
    entries: Iterable[tuple[str, Attributes] | tuple[str, Attributes, SourceLocation | None]],
    *,
    base_dn: str | None = None,
) -> Configuration:
    """Build a :class:`Configuration` from LDAP entries in dcm4che's layout.

    ``entries`` are ``(dn, attributes)`` or ``(dn, attributes, location)``. Devices are recognised by object
    class ``dicomDevice``; their connections, AEs (with transfer capabilities and export rules), exporters,
    queues, export rules, web applications and storages become models; every other entry is kept verbatim.
    ``base_dn`` defaults to the one the first device lives under.

    Raises:
        ConfigurationError: an entry that cannot be a valid model, with DN (and file and line when known).
    """
    reads: list[_Read] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(entries):
        dn, attributes = item[0], item[1]
        location = item[2] if len(item) > 2 else None
        try:
            norm, parent, first_rdn = _normal_forms(dn, seen)
        except ConfigurationError as exc:
            raise _fail(str(exc), dn, location) from None
        classes = {c.lower() for c in object_classes_of(attributes)}
        reads.append(_Read(dn, attributes, location, norm, parent, classes, i, first_rdn))

    devices = [r for r in reads if "dicomdevice" in r.classes]
    if base_dn is None:
        base_dn = DEFAULT_BASE_DN
        if devices:
            rdns = parse_dn(devices[0].dn)
            root = [[(a.lower(), v.lower()) for a, v in rdn] for rdn in rdns[1:3]]
            if root == [[("cn", "devices")], [("cn", "dicom configuration")]]:
                base_dn = _join(rdns[3:])
    root_norm = normalize_dn(devices_dn(base_dn))
    device_by_norm = {r.norm: r for r in devices}
    for r in devices:
        if r.parent != root_norm:
            raise _fail(
                f"device entry is not below {devices_dn(base_dn)}; pass the right base_dn", r.dn, r.location
            )

    used: set[int] = {r.index for r in devices}
    children: dict[str, dict[str, list[_Read]]] = {
        norm: {c: [] for c in _CHILD_CLASSES} for norm in device_by_norm
    }
    for r in reads:
        if r.parent in device_by_norm:
            kind = _structural(r, _CHILD_CLASSES)
            if kind is not None:
                children[r.parent][kind].append(r)
                used.add(r.index)

    ae_by_norm = {r.norm: r for per in children.values() for r in per["dicomnetworkae"]}
    ae_children: dict[str, dict[str, list[_Read]]] = {n: {c: [] for c in _AE_CHILD_CLASSES} for n in ae_by_norm}
    for r in reads:
        if r.parent in ae_by_norm and r.index not in used:
            kind = _structural(r, _AE_CHILD_CLASSES)
            if kind is not None:
                ae_children[r.parent][kind].append(r)
                used.add(r.index)

    built: list[Device] = []
    locations: dict[str, SourceLocation] = {}
    for r in reads:
        if r.location is not None:
            locations.setdefault(r.norm, r.location)
    for dev in devices:
        per = children[dev.norm]
        conns = [
            c.build(Connection)
            for c in per["dicomnetworkconnection"]
        ]
        conn_keys = {c.norm: m.key for c, m in zip(per["dicomnetworkconnection"], conns, strict=True)}

        def resolver(
            owner: _Read, keys: dict[str, str] = conn_keys, device: _Read = dev
        ) -> Callable[[str], str]:
            def resolve(ref: str) -> str:
                key = keys.get(normalize_dn(ref))
                if key is None:
                    raise _fail(
                        f"dicomNetworkConnectionReference {ref!r} points nowhere: no connection entry "
                        f"with that DN below device {device.dn}",
                        owner.dn,
                        owner.location,
                    )
                return key

            return resolve

        aes = []
        for a in per["dicomnetworkae"]:
            sub = ae_children[a.norm]
            ae_title = _rdn_value(a.dn)
            tcs = tuple(t.build(TransferCapability) for t in sub["dicomtransfercapability"])
            rules = tuple(t.build(ExportRule, ae_title=ae_title) for t in sub["dcmexportrule"])
            coercions = tuple(
                t.build(AttributeCoercion, ae_title=ae_title) for t in sub["dcmarchiveattributecoercion2"]
            )
            legacy = tuple(
                t.build(LegacyAttributeCoercion, ae_title=ae_title) for t in sub["dcmarchiveattributecoercion"]
            )
            aes.append(
                model_from_entry(
                    ApplicationEntity,
                    a.dn,
                    a.attributes,
                    location=a.location,
                    conn_refs=resolver(a),
                    transfer_capabilities=tcs,
                    export_rules=rules,
                    attribute_coercions=coercions,
                    legacy_attribute_coercions=legacy,
                )
            )

        def many(kind: str, model: type[Any], per: dict[str, list[_Read]] = per) -> tuple[Any, ...]:
            return tuple(x.build(model, resolver(x)) for x in per[kind])

        built.append(
            model_from_entry(
                Device,
                dev.dn,
                dev.attributes,
                location=dev.location,
                connections=tuple(conns),
                application_entities=tuple(aes),
                exporters=many("dcmexporter", ExporterDescriptor),
                queues=many("dcmqueue", QueueDescriptor),
                export_rules=many("dcmexportrule", ExportRule),
                web_applications=many("dcmwebapp", WebApplication),
                storages=many("dcmstorage", StorageDescriptor),
                attribute_coercions=many("dcmarchiveattributecoercion2", AttributeCoercion),
                legacy_attribute_coercions=many("dcmarchiveattributecoercion", LegacyAttributeCoercion),
            )
        )
    other = tuple(LdapEntry(dn=r.dn, attributes=r.attributes) for r in reads if r.index not in used)
    try:
        return Configuration(
            devices=tuple(built), base_dn=base_dn, other_entries=other, locations=FrozenMap(locations)
        )
    except ConfigurationError as exc:
        first = devices[0] if devices else None
        raise _fail(str(exc), first.dn if first else base_dn, first.location if first else None) from None


def _rdn_value(dn: str) -> str | None:
    rdns = parse_dn(dn)
    return rdns[0][0][1] if rdns and len(rdns[0]) == 1 else None


def _depth(dn: str) -> int:
    try:
        return len(parse_dn(dn))
    except ConfigurationError:
        return dn.count(",") + 1


def configuration_to_entries(config: Configuration) -> list[Entry]:
    """Every entry of the configuration, parents before children.

    Entries read from a file keep their order there; new entries follow. An entry whose parent would come
    later waits for it, so the result can be loaded with ``ldapadd`` as it is.
    """
    root = devices_dn(config.base_dn)
    produced: list[Entry] = []
    for device in config.devices:
        produced.extend(model_to_entries(device, root))
    for e in config.other_entries:
        produced.append((e.dn, {k: list(v) for k, v in e.attributes.items()}))
    big = 1 << 60
    files: dict[str, int] = {}
    for loc in config.locations.values():
        files.setdefault(loc.filename, len(files))
    keyed: list[tuple[tuple[int, int, int], str, str, Entry]] = []
    for seq, entry in enumerate(produced):
        norm = normalize_dn(entry[0])
        found = config.locations.get(norm)
        if found is not None:
            order = (files[found.filename], found.line if found.line is not None else big, seq)
        else:
            order = (big, big, seq)
        try:
            parent = normalize_dn(parent_dn(entry[0]))
        except ConfigurationError:
            parent = ""
        keyed.append((order, norm, parent, entry))
    keyed.sort(key=lambda k: k[0])
    present = {k[1] for k in keyed}
    emitted: set[str] = set()
    waiting: dict[str, list[tuple[tuple[int, int, int], str, str, Entry]]] = {}
    out: list[Entry] = []

    def emit(item: tuple[tuple[int, int, int], str, str, Entry]) -> None:
        stack = [item]
        while stack:
            cur = stack.pop()
            out.append(cur[3])
            emitted.add(cur[1])
            stack.extend(reversed(waiting.pop(cur[1], [])))

    for item in keyed:
        parent = item[2]
        if parent and parent in present and parent not in emitted:
            waiting.setdefault(parent, []).append(item)
        else:
            emit(item)
    for items in waiting.values():  # a cycle cannot happen with DNs; keep anything left, in order
        out.extend(i[3] for i in items)
    return out


def registry_entries(device: Device, base_dn: str = DEFAULT_BASE_DN) -> list[Entry]:
    """The unique-name registry entries dcm4che adds with a device: one per AE title and web application."""
    out: list[Entry] = []
    ae_root = f"cn=Unique AE Titles Registry,cn=DICOM Configuration,{base_dn}"
    web_root = f"cn=Unique Web Application Names Registry,cn=DICOM Configuration,{base_dn}"
    for ae in device.application_entities:
        out.append(
            (
                _rdn("dicomAETitle", ae.ae_title, ae_root),
                {"objectClass": ["dicomUniqueAETitle"], "dicomAETitle": [ae.ae_title]},
            )
        )
    for web in device.web_applications:
        out.append(
            (
                _rdn("dcmWebAppName", web.name, web_root),
                {"objectClass": ["dcmUniqueWebAppName"], "dcmWebAppName": [web.name]},
            )
        )
    return out


# --- minimal modifications -------------------------------------------------------------------------------


@attrs.frozen
class Modification:
    """One change of one attribute of an entry: ``add`` / ``delete`` values, or ``replace`` them all.

    ``delete`` with no values removes the attribute.
    """

    operation: Literal["add", "delete", "replace"]
    attribute: str
    values: tuple[Value, ...] = ()


@attrs.frozen
class AddEntry:
    """Add an entry."""

    dn: str
    attributes: Mapping[str, tuple[Value, ...]]


@attrs.frozen
class DeleteEntry:
    """Delete an entry (it has no children left when the operation runs)."""

    dn: str


@attrs.frozen
class ModifyEntry:
    """Modify attributes of an existing entry."""

    dn: str
    modifications: tuple[Modification, ...]


LdapOperation: TypeAlias = AddEntry | DeleteEntry | ModifyEntry


def _grouped(attributes: Attributes) -> dict[str, tuple[str, list[Value]]]:
    out: dict[str, tuple[str, list[Value]]] = {}
    for name, values in attributes.items():
        key = name.lower()
        if key in out:
            out[key][1].extend(values)
        else:
            out[key] = (name, list(values))
    return out


def _same_values(a: Sequence[Value], b: Sequence[Value], attribute: str) -> bool:
    if attribute == "objectclass":
        return sorted(str(v).lower() for v in a) == sorted(str(v).lower() for v in b)
    return sorted(a, key=repr) == sorted(b, key=repr)


def diff_entries(
    before: Iterable[tuple[str, Attributes]], after: Iterable[tuple[str, Attributes]]
) -> list[LdapOperation]:
    """The minimal operations turning the entries ``before`` into the entries ``after``.

    Entries are matched by normalised DN. A changed attribute is replaced as a whole (object classes are
    added and deleted value by value); unchanged attributes are not touched. Deletions come first, deepest
    entries first; then modifications; then additions, parents first.
    """
    old = {normalize_dn(dn): (dn, attrs_) for dn, attrs_ in before}
    new = {normalize_dn(dn): (dn, attrs_) for dn, attrs_ in after}
    deletes = [DeleteEntry(old[n][0]) for n in old if n not in new]
    deletes.sort(key=lambda d: -_depth(d.dn))
    adds = [AddEntry(new[n][0], {k: tuple(v) for k, v in new[n][1].items()}) for n in new if n not in old]
    adds.sort(key=lambda a: _depth(a.dn))
    modifies: list[LdapOperation] = []
    for n, (dn, attrs_after) in new.items():
        if n not in old:
            continue
        a = _grouped(old[n][1])
        b = _grouped(attrs_after)
        mods: list[Modification] = []
        for key, (name, values) in b.items():
            if key not in a:
                mods.append(Modification("add", name, tuple(values)))
            elif not _same_values(a[key][1], values, key):
                if key == "objectclass":
                    have = {str(v).lower() for v in a[key][1]}
                    want = {str(v).lower() for v in values}
                    added = tuple(v for v in values if str(v).lower() not in have)
                    removed = tuple(v for v in a[key][1] if str(v).lower() not in want)
                    if added:
                        mods.append(Modification("add", name, added))
                    if removed:
                        mods.append(Modification("delete", name, removed))
                else:
                    mods.append(Modification("replace", name, tuple(values)))
        for key, (name, _) in a.items():
            if key not in b:
                mods.append(Modification("delete", name))
        if mods:
            modifies.append(ModifyEntry(dn, tuple(mods)))
    return [*deletes, *modifies, *adds]


def diff_models(
    before: Model | None, after: Model | None, parent: str, *, device: Device | None = None
) -> list[LdapOperation]:
    """The minimal operations turning one model (with its children) into another below ``parent``.

    ``None`` for ``before`` adds ``after``; ``None`` for ``after`` deletes ``before`` (children first).
    ``parent`` is as for :func:`model_to_entries`.
    """
    old = model_to_entries(before, parent, device=device) if before is not None else []
    new = model_to_entries(after, parent, device=device) if after is not None else []
    return diff_entries(old, new)


def diff_configurations(before: Configuration, after: Configuration) -> list[LdapOperation]:
    """The minimal operations turning one whole configuration into another."""
    return diff_entries(configuration_to_entries(before), configuration_to_entries(after))


def iter_model_entries(config: Configuration) -> Iterator[tuple[Model, str]]:
    """Every modelled object with its DN (useful for messages and LDAP stores)."""
    root = devices_dn(config.base_dn)
    for device in config.devices:
        ddn = entry_dn_of(device, root)
        yield device, ddn
        for group in (device.connections, *_named_children(device)):
            for child in group:
                yield child, entry_dn_of(child, ddn)
        for ae in device.application_entities:
            aedn = entry_dn_of(ae, ddn)
            yield ae, aedn
            subs: tuple[Model, ...] = (
                *ae.transfer_capabilities,
                *ae.export_rules,
                *ae.attribute_coercions,
                *ae.legacy_attribute_coercions,
            )
            for sub in subs:
                yield sub, entry_dn_of(sub, aedn)
