"""Which dcm4che schema file defines an object class, and what to load when a server refuses an entry."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["COMPACT_SCHEMA", "schema_file_of", "schema_hint"]


# object classes of dcm4che's dcm4che.ldif (the dicom* ones are in dicom.ldif, other dcm*/hl7* classes in
# dcm4chee-archive.ldif)
def _words(text: str) -> frozenset[str]:
    return frozenset(word.lower() for word in text.split())


_DCM4CHE_CLASSES = _words(
        "dcmDevice dcmNetworkAE dcmNetworkConnection dcmTransferCapability dcmAttributeCoercion dcmWebApp "
        "dcmBulkDataDescriptor dcmKeycloakClient dcmUniqueWebAppNamesRegistryRoot dcmUniqueWebAppName "
        "dcmAuditLogger dcmAuditSuppressCriteria dcmAuditRecordRepository hl7UniqueApplicationNamesRegistryRoot "
        "hl7Application hl7UniqueApplicationName dcmImageReaderFactory dcmImageReader dcmImageWriterFactory "
        "dcmImageWriter dcmCompressionRule dcmCollection"
)
# what the project's compact schema (dcm_exporter/config/schema/dcm-exporter.ldif) defines
_COMPACT_CLASSES = _words(
        "dicomConfigurationRoot dicomDevicesRoot dicomUniqueAETitlesRegistryRoot dicomUniqueAETitle dicomDevice "
        "dcmDevice dicomNetworkConnection dcmNetworkConnection dicomNetworkAE dcmNetworkAE "
        "dicomTransferCapability dcmExporter dcmQueue dcmExportRule dcmWebApp dcmUniqueWebAppNamesRegistryRoot "
        "dcmUniqueWebAppName hl7UniqueApplicationNamesRegistryRoot dcmStorage dcmTransferCapability "
        "dcmArchiveDevice dcmArchiveNetworkAE dcmArchiveAttributeCoercion2"
)
COMPACT_SCHEMA = "dcm_exporter/config/schema/dcm-exporter.ldif"
# every attribute type of dcm4che's dicom.ldif, dcm4che.ldif and dcm4chee-archive.ldif starts with one of these
_DCM4CHE_ATTRIBUTE_PREFIXES = ("dicom", "dcm", "hl7", "fhir")


def schema_file_of(object_class: str) -> str:
    """The upstream dcm4che schema file (``../ldap/slapd/``) that defines an object class."""
    lower = object_class.lower()
    if lower.startswith("dicom"):
        return "dicom.ldif"
    if lower in _DCM4CHE_CLASSES:
        return "dcm4che.ldif"
    return "dcm4chee-archive.ldif"


def schema_hint(object_classes: Sequence[str], message: str) -> str:
    """What to load, given the classes that were sent and the server's diagnostic message.

    OpenLDAP names an unknown class by value index (``objectClass: value #1 invalid per syntax``) or by
    name; an unknown attribute type by name (``dcmFoo: attribute type undefined``).
    """
    culprit: str | None = None
    m = re.search(r"objectClass: value #(\d+)", message, re.IGNORECASE)
    if m and int(m.group(1)) < len(object_classes):
        culprit = object_classes[int(m.group(1))]
    if culprit is None:
        for c in object_classes:
            if re.search(rf"\b{re.escape(c)}\b", message, re.IGNORECASE):
                culprit = c
                break
    if culprit is not None:
        where = schema_file_of(culprit)
        also = f" (or dcm_exporter's compact schema {COMPACT_SCHEMA})" if culprit.lower() in _COMPACT_CLASSES else ""
        return (
            f"object class {culprit} is not in the server's schema: load dcm4che's {where} "
            f"into cn=schema,cn=config{also}"
        )
    m = re.search(r"^\s*([A-Za-z][\w-]*)(?:;[\w-]+)*: attribute type undefined", message)
    if m:
        attr = m.group(1)
        if not attr.lower().startswith(_DCM4CHE_ATTRIBUTE_PREFIXES):
            # loading dcm4che's schema would not help: none of its files defines such a name
            return (
                f"attribute type {attr} is not in the server's schema, and no dcm4che schema file defines it: "
                "remove it from the entry, or load the schema that defines it"
            )
        where = (
            "dicom.ldif" if attr.lower().startswith("dicom")
            else "dcm4che.ldif or dcm4chee-archive.ldif"
        )
        return (
            f"attribute type {attr} is not in the server's schema: load dcm4che's {where} "
            f"(dcm_exporter's compact schema {COMPACT_SCHEMA} has only the attributes dcm_exporter models)"
        )
    return (
        "the entry does not fit the server's schema: load dcm4che's dicom.ldif, dcm4che.ldif and "
        f"dcm4chee-archive.ldif, or dcm_exporter's compact schema {COMPACT_SCHEMA}"
    )
