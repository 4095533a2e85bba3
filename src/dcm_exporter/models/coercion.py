"""Archive attribute coercion rules: ``dcmArchiveAttributeCoercion2`` and the legacy ``dcmArchiveAttributeCoercion``.

A rule sits below a device (device level) or below one of its network AEs (AE level). On an outgoing
C-STORE (a ``dicom:`` or ``stow:`` export) dcm4chee-arc applies every ``dcmArchiveAttributeCoercion2`` rule of
the exporter's AE and of the device whose role is SCP, DIMSE ``C_STORE_RQ``, SOP classes and conditions
match, highest ``dcmRulePriority`` first; the legacy rules are only consulted when no new rule matches.
:mod:`dcm_exporter.coercion` implements that selection and the processors named by ``dcmURI``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._fields import (
    bool_field,
    extra_field,
    non_empty,
    object_classes_field,
    optional_str,
    properties_field,
    tuple_field,
)
from dcm_exporter.models._frozen import str_tuple
from dcm_exporter.models.enums import TransferRole, _ParseMixin

__all__ = ["AttributeCoercion", "AttributeUpdatePolicy", "CoercionOnFailure", "LegacyAttributeCoercion"]


class CoercionOnFailure(_ParseMixin, enum.Enum):
    """``dcmCoercionOnFailure``: what an exception of the rule's processor does."""

    RETHROW = "RETHROW"
    """The instance fails with the reason (upstream default)."""
    CONTINUE = "CONTINUE"
    """Go on with the next rule; the object is sent."""
    SUFFICIENT = "SUFFICIENT"
    """Apply no further rule; the object is sent."""


class AttributeUpdatePolicy(_ParseMixin, enum.Enum):
    """``dcmAttributeUpdatePolicy`` (dcm4che ``Attributes.UpdatePolicy``); only ``leading-arc:`` reads it."""

    SUPPLEMENT = "SUPPLEMENT"
    MERGE = "MERGE"
    OVERWRITE = "OVERWRITE"
    REPLACE = "REPLACE"
    PRESERVE = "PRESERVE"


def _check_uri(instance: AttributeCoercion, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or ":" not in value or value.startswith(":"):
        raise ConfigurationError(
            f"attribute coercion {instance.name!r}: dcmURI {value!r} is not <scheme>:<scheme specific part> "
            "(e.g. 'deidentify:' or 'merge-attrs:')"
        )


def _check_conditions(instance: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for cond in value:
        if "=" not in cond or cond.startswith(("=", "!=")):
            raise ConfigurationError(
                f"attribute coercion {instance.name!r}: condition {cond!r} is not Key=regex or Key!=regex"
            )


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"dcmRulePriority must be an integer, got {value!r}")
    return value


@attrs.frozen(kw_only=True)
class AttributeCoercion:
    """One ``dcmArchiveAttributeCoercion2`` rule.

    ``conditions`` are the raw ``dcmProperty`` strings (``Key=regex`` / ``Key!=regex``), evaluated by the
    same engine as export rule conditions. ``ae_title`` is the AE the rule is configured under (``None`` at
    device level; taken from the DN, not an attribute).

    Examples:
        >>> rule = AttributeCoercion(name="Research", dimse="C_STORE_RQ", role="SCP",
        ...     uri="deidentify:RetainUIDsOption", conditions=["ReceivingApplicationEntityTitle=RESEARCH"])
        >>> rule.scheme, rule.scheme_specific_part
        ('deidentify', 'RetainUIDsOption')
    """

    name: str = attrs.field(validator=non_empty)
    """``cn``."""
    dimse: str = attrs.field(validator=non_empty)
    """``dcmDIMSE``: ``C_STORE_RQ`` for outgoing C-STORE (also ``N_CREATE_RQ``, ``C_FIND_RQ``, ``C_FIND_RSP``)."""
    role: TransferRole = attrs.field(converter=TransferRole)
    """``dicomTransferRole``: the role of the *peer*; ``SCP`` for what an export sends."""
    uri: str = attrs.field(validator=_check_uri)
    """``dcmURI``: ``<scheme>:<ssp>``, the scheme picks the processor."""
    description: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDescription``."""
    priority: int = attrs.field(default=0, converter=_int)
    """``dcmRulePriority``: higher first."""
    sop_classes: tuple[str, ...] = tuple_field()
    """``dcmSOPClass``: SOP Class UIDs the rule applies to (empty: any)."""
    conditions: tuple[str, ...] = attrs.field(factory=tuple, converter=str_tuple, validator=_check_conditions)
    """``dcmProperty``: conditions, all AND-ed."""
    attribute_update_policy: AttributeUpdatePolicy = attrs.field(
        default=AttributeUpdatePolicy.MERGE, converter=AttributeUpdatePolicy
    )
    """``dcmAttributeUpdatePolicy`` (read by ``leading-arc:`` only)."""
    supplement_from_device: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmSupplementFromDeviceReference``: the device's DN (LDAP) as written (read by ``sup-from-dev:``)."""
    merge_attributes: tuple[str, ...] = tuple_field()
    """``dcmMergeAttribute``: ``Path=format`` sets, ``Path=`` nullifies, ``Path!`` removes (``merge-attrs:``)."""
    params: Mapping[str, str] = properties_field()
    """``dcmCoercionParam``: ``name=value`` processor parameters (e.g. ``xsl-no-keyword=true``)."""
    sufficient: bool = bool_field(False)
    """``dcmCoercionSufficient``: when the rule applied, skip rules of lower priority."""
    on_failure: CoercionOnFailure = attrs.field(default=CoercionOnFailure.RETHROW, converter=CoercionOnFailure)
    """``dcmCoercionOnFailure``."""
    ae_title: str | None = attrs.field(default=None, validator=optional_str)
    """The AE the rule is configured under; ``None`` for a device-level rule."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    @property
    def scheme(self) -> str:
        """The ``dcmURI`` scheme, lower-cased: the processor's name."""
        return self.uri.partition(":")[0].lower()

    @property
    def scheme_specific_part(self) -> str:
        """What follows the first ``:`` of ``dcmURI``."""
        return self.uri.partition(":")[2]


@attrs.frozen(kw_only=True)
class LegacyAttributeCoercion:
    """One legacy ``dcmArchiveAttributeCoercion`` rule (kept; used only when no new rule matches).

    Only the attributes dcm4chee uses on the outgoing path are modelled; the others (MWL merge,
    issuer of patient ID, use-calling-AET, ...) stay in ``extra`` and are written back unchanged.
    """

    name: str = attrs.field(validator=non_empty)
    """``cn``."""
    dimse: str = attrs.field(validator=non_empty)
    """``dcmDIMSE``."""
    role: TransferRole = attrs.field(converter=TransferRole)
    """``dicomTransferRole`` (of the peer)."""
    priority: int = attrs.field(default=0, converter=_int)
    """``dcmRulePriority``."""
    sop_classes: tuple[str, ...] = tuple_field()
    """``dcmSOPClass``."""
    conditions: tuple[str, ...] = attrs.field(factory=tuple, converter=str_tuple, validator=_check_conditions)
    """``dcmProperty``."""
    retrieve_as_received: bool = bool_field(False)
    """``dcmRetrieveAsReceived``."""
    deidentification: tuple[str, ...] = tuple_field()
    """``dcmDeIdentification``: de-identification options (applied last)."""
    xslt_uri: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmURI``: an XSLT stylesheet."""
    no_keywords: bool = bool_field(False)
    """``dcmNoKeywords``: XML without keywords for the stylesheet."""
    leading_cfind_scp: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmLeadingCFindSCP``."""
    nullify_tags: tuple[str, ...] = tuple_field()
    """``dcmNullifyTag``: tags (hex) written with zero length; ``7FE00010`` nullifies pixel data."""
    merge_attributes: tuple[str, ...] = tuple_field()
    """``dcmMergeAttribute``."""
    attribute_update_policy: AttributeUpdatePolicy = attrs.field(
        default=AttributeUpdatePolicy.MERGE, converter=AttributeUpdatePolicy
    )
    """``dcmAttributeUpdatePolicy``."""
    ae_title: str | None = attrs.field(default=None, validator=optional_str)
    """The AE the rule is configured under; ``None`` for a device-level rule."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""
