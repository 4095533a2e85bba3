"""Attribute coercion rules as models: LDIF, device JSON and the upstream files (``../shared``)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.codecs import ldap_mapping as lm
from dcm_exporter.errors import ConfigurationError, JsonCodecError
from dcm_exporter.models import (
    ApplicationEntity,
    AttributeCoercion,
    AttributeUpdatePolicy,
    CoercionOnFailure,
    Connection,
    Device,
    LegacyAttributeCoercion,
    TransferRole,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dcm4che"
DEFAULT_CONFIG = SHARED / "ldap" / "config" / "default-config.ldif"
BASE = "dc=dcm4che,dc=org"
DEV = f"dicomDeviceName=arc,cn=Devices,cn=DICOM Configuration,{BASE}"
AE = f"dicomAETitle=EXPORTER,{DEV}"

LDIF = f"""version: 1

dn: {DEV}
objectClass: dicomDevice
objectClass: dcmDevice
objectClass: dcmArchiveDevice
dicomDeviceName: arc
dicomInstalled: TRUE

dn: cn=dicom,{DEV}
objectClass: dicomNetworkConnection
cn: dicom
dicomHostname: localhost
dicomPort: 11112

dn: {AE}
objectClass: dicomNetworkAE
objectClass: dcmNetworkAE
objectClass: dcmArchiveNetworkAE
dicomAETitle: EXPORTER
dicomNetworkConnectionReference: cn=dicom,{DEV}
dicomAssociationInitiator: TRUE
dicomAssociationAcceptor: TRUE

dn: cn=Research,{AE}
objectClass: dcmArchiveAttributeCoercion2
cn: Research
dcmDIMSE: C_STORE_RQ
dicomTransferRole: SCP
dcmURI: deidentify:RetainPatientIDHashOption
dcmProperty: ReceivingApplicationEntityTitle=RESEARCH
dcmRulePriority: 5
dcmCoercionSufficient: TRUE
dcmCoercionOnFailure: CONTINUE
dcmCoercionParam: a=b
dcmSOPClass: 1.2.840.10008.5.1.4.1.1.2
dcmSomethingNew: kept

dn: cn=Nullify PN,{DEV}
objectClass: dcmArchiveAttributeCoercion2
dcmDIMSE: C_STORE_RQ
dicomTransferRole: SCP
dcmCoercionParam: xsl-no-keyword=true
dcmProperty: ReceivingApplicationEntityTitle=NULLIFY_PN
dcmURI: xslt:${{jboss.server.temp.url}}/dcm4chee-arc/nullify-pn.xsl
cn: Nullify PN

dn: cn=Old,{DEV}
objectClass: dcmArchiveAttributeCoercion
cn: Old
dcmDIMSE: C_STORE_RQ
dicomTransferRole: SCP
dcmDeIdentification: RetainUIDsOption
dcmNullifyTag: 7FE00010
dcmMergeMWLMatchingKey: AccessionNumber
"""


def test_coercion_entries_become_models() -> None:
    config = ldif.load(LDIF)
    device = config.device("arc")
    (ae,) = device.application_entities
    (rule,) = ae.attribute_coercions
    assert (rule.name, rule.dimse, rule.role, rule.uri, rule.ae_title) == (
        "Research",
        "C_STORE_RQ",
        TransferRole.SCP,
        "deidentify:RetainPatientIDHashOption",
        "EXPORTER",
    )
    assert (rule.scheme, rule.scheme_specific_part) == ("deidentify", "RetainPatientIDHashOption")
    assert rule.priority == 5 and rule.sufficient and rule.on_failure is CoercionOnFailure.CONTINUE
    assert rule.params == {"a": "b"} and rule.sop_classes == ("1.2.840.10008.5.1.4.1.1.2",)
    assert rule.conditions == ("ReceivingApplicationEntityTitle=RESEARCH",)
    assert rule.extra == {"dcmSomethingNew": ("kept",)}
    (xslt,) = device.attribute_coercions
    assert xslt.ae_title is None and xslt.scheme == "xslt" and xslt.params == {"xsl-no-keyword": "true"}
    assert xslt.priority == 0 and xslt.on_failure is CoercionOnFailure.RETHROW
    assert xslt.attribute_update_policy is AttributeUpdatePolicy.MERGE
    (legacy,) = device.legacy_attribute_coercions
    assert legacy.deidentification == ("RetainUIDsOption",) and legacy.nullify_tags == ("7FE00010",)
    assert legacy.extra == {"dcmMergeMWLMatchingKey": ("AccessionNumber",)}
    # nothing left over as an unmodelled entry
    assert not [e for e in config.other_entries if "oercion" in str(e.attributes.get("objectClass"))]


def test_ldif_and_json_round_trip() -> None:
    config = ldif.load(LDIF)
    text = ldif.dumps(config)
    assert ldif.load(text) == config
    assert "dcmSomethingNew: kept" in text and "dcmCoercionOnFailure: CONTINUE" in text
    via_json = device_json.loads(device_json.dumps(config))
    assert via_json.devices == config.devices
    arc = json.loads(device_json.dumps(config))[0]
    (rule,) = arc["dicomNetworkAE"][0]["dcmNetworkAE"]["dcmArchiveNetworkAE"]["dcmArchiveAttributeCoercion2"]
    assert rule["dcmRulePriority"] == 5 and rule["dcmCoercionSufficient"] is True
    assert rule["dcmCoercionOnFailure"] == "CONTINUE"
    archive = arc["dcmDevice"]["dcmArchiveDevice"]
    assert archive["dcmArchiveAttributeCoercion2"][0]["cn"] == "Nullify PN"
    assert archive["dcmArchiveAttributeCoercion"][0]["dcmNullifyTag"] == ["7FE00010"]


def test_upstream_json_with_on_failure_under_the_wrong_key() -> None:
    """dcm4chee-arc 5.35 writes the on-failure policy under ``dcmCoercionSufficient``: it is read right."""
    arc = json.loads(device_json.dumps(ldif.load(LDIF)))[0]
    (rule,) = arc["dicomNetworkAE"][0]["dcmNetworkAE"]["dcmArchiveNetworkAE"]["dcmArchiveAttributeCoercion2"]
    del rule["dcmCoercionOnFailure"]
    rule["dcmCoercionSufficient"] = "SUFFICIENT"
    device = device_json.loads(json.dumps(arc)).device("arc")
    (read,) = device.application_entities[0].attribute_coercions
    assert read.on_failure is CoercionOnFailure.SUFFICIENT and read.sufficient is False


def test_models_validate() -> None:
    with pytest.raises(ConfigurationError, match="not <scheme>:"):
        AttributeCoercion(name="x", dimse="C_STORE_RQ", role="SCP", uri="deidentify")
    with pytest.raises(ConfigurationError, match="not Key=regex"):
        AttributeCoercion(name="x", dimse="C_STORE_RQ", role="SCP", uri="merge-attrs:", conditions=["Modality"])
    with pytest.raises(ValueError, match="CoercionOnFailure"):
        AttributeCoercion(name="x", dimse="C_STORE_RQ", role="SCP", uri="merge-attrs:", on_failure="MAYBE")
    rule = AttributeCoercion(name="x", dimse="C_STORE_RQ", role="SCP", uri="merge-attrs:")
    ae = ApplicationEntity(ae_title="A", attribute_coercions=[rule])
    assert ae.attribute_coercions[0].ae_title == "A"  # as the DN says
    with pytest.raises(ConfigurationError, match="duplicate attribute coercion"):
        ApplicationEntity(ae_title="A", attribute_coercions=[rule, rule])
    with pytest.raises(ConfigurationError, match="belongs to AE"):
        ApplicationEntity(ae_title="B", attribute_coercions=[attrs.evolve(rule, ae_title="A")])
    with pytest.raises(ConfigurationError, match="must not carry ae_title"):
        Device(device_name="d", attribute_coercions=[attrs.evolve(rule, ae_title="A")])


def test_new_rule_is_written_with_its_object_class_and_without_defaults() -> None:
    rule = AttributeCoercion(
        name="Drop pixels", dimse="C_STORE_RQ", role="SCP", uri="nullify-pixel-data:", conditions=["Modality=MG"]
    )
    device = Device(
        device_name="d",
        connections=[Connection(name="dicom", hostname="localhost", port=104)],
        attribute_coercions=[rule],
        legacy_attribute_coercions=[LegacyAttributeCoercion(name="L", dimse="C_STORE_RQ", role="SCP")],
    )
    entries = dict(lm.model_to_entries(device, lm.devices_dn(BASE)))
    written = entries[f"cn=Drop pixels,dicomDeviceName=d,cn=Devices,cn=DICOM Configuration,{BASE}"]
    assert written == {
        "objectClass": ["dcmArchiveAttributeCoercion2"],
        "cn": ["Drop pixels"],
        "dcmDIMSE": ["C_STORE_RQ"],
        "dicomTransferRole": ["SCP"],
        "dcmProperty": ["Modality=MG"],
        "dcmURI": ["nullify-pixel-data:"],
    }
    assert entries[f"cn=L,dicomDeviceName=d,cn=Devices,cn=DICOM Configuration,{BASE}"]["objectClass"] == [
        "dcmArchiveAttributeCoercion"
    ]


def test_json_of_a_broken_rule_names_the_path() -> None:
    arc = json.loads(device_json.dumps(ldif.load(LDIF)))[0]
    (rule,) = arc["dicomNetworkAE"][0]["dcmNetworkAE"]["dcmArchiveNetworkAE"]["dcmArchiveAttributeCoercion2"]
    rule["dcmRulePriority"] = "high"
    with pytest.raises(JsonCodecError, match="dcmRulePriority"):
        device_json.loads(json.dumps(arc))


@pytest.mark.upstream
@pytest.mark.skipif(not DEFAULT_CONFIG.is_file(), reason=f"{DEFAULT_CONFIG} is absent")
def test_upstream_coercion_entries_are_models_now() -> None:
    config = ldif.load(DEFAULT_CONFIG)
    arc = config.device("dcm4chee-arc")
    by_ae = {ae.ae_title: [c.name for c in ae.attribute_coercions] for ae in arc.application_entities}
    assert by_ae["DCM4CHEE"] == [
        "SupplementIssuerOfPatientID",
        "SupplementIssuerOfPatientIDOnMPPS",
        "RemoveEncapsulatedPixelDataValueTotalLength",
    ]
    assert by_ae["AS_RECEIVED"] == ["RetrieveAsReceived"]
    assert by_ae["WORKLIST"] == ["SupplementIssuerOfPatientIDOnMPPS"]
    assert by_ae["IOCM_REGULAR_USE"] == ["RemoveEncapsulatedPixelDataValueTotalLength"]
    remove = arc.application_entity("DCM4CHEE").attribute_coercions[2]  # type: ignore[union-attr]
    assert (remove.uri, remove.role, remove.dimse, remove.merge_attributes) == (
        "merge-attrs:",
        TransferRole.SCP,
        "C_STORE_RQ",
        ("EncapsulatedPixelDataValueTotalLength!",),
    )
    mpps = arc.application_entity("WORKLIST").attribute_coercions[0]  # type: ignore[union-attr]
    assert mpps.sop_classes == ("1.2.840.10008.3.1.2.3.3",) and mpps.conditions == ("IssuerOfPatientID!=.+",)
    assert not [e for e in config.other_entries if "dcmArchiveAttributeCoercion2" in e.attributes["objectClass"]]
    # and they come back as they were, through LDIF and JSON
    assert ldif.load(ldif.dumps(config)) == config
    assert device_json.loads(device_json.dumps(config)).devices == config.devices
