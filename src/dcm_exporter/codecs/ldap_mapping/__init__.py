"""Configuration models <-> LDAP entries in dcm4che's DN layout.

This package is the one place that knows LDAP attribute names. It works on plain entries
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

The package, by responsibility: :mod:`~dcm_exporter.codecs.ldap_mapping.table` (the attribute <-> field
table), :mod:`~dcm_exporter.codecs.ldap_mapping.entries` (one model <-> one entry),
:mod:`~dcm_exporter.codecs.ldap_mapping.assembly` (a whole configuration <-> its entries, registry entries)
and :mod:`~dcm_exporter.codecs.ldap_mapping.diff` (minimal operations). DNs come from :mod:`dcm_exporter.dn`
(re-exported here).
"""

from __future__ import annotations

from dcm_exporter.codecs.ldap_mapping.assembly import (
    configuration_from_entries,
    configuration_to_entries,
    iter_model_entries,
    registry_entries,
)
from dcm_exporter.codecs.ldap_mapping.diff import (
    AddEntry,
    DeleteEntry,
    LdapOperation,
    Modification,
    ModifyEntry,
    diff_configurations,
    diff_entries,
    diff_models,
)
from dcm_exporter.codecs.ldap_mapping.entries import (
    entry_dn_of,
    model_from_entry,
    model_to_entries,
    model_to_entry,
    object_classes_of,
)
from dcm_exporter.codecs.ldap_mapping.table import (
    OBJECT_SPECS,
    Attributes,
    AttributeSpec,
    Entry,
    Kind,
    Model,
    ObjectSpec,
    Value,
    spec_for,
)
from dcm_exporter.dn import device_dn, devices_dn, escape_rdn_value, normalize_dn, parent_dn, parse_dn

__all__ = [
    "OBJECT_SPECS",
    "AddEntry",
    "AttributeSpec",
    "Attributes",
    "DeleteEntry",
    "Entry",
    "Kind",
    "LdapOperation",
    "Model",
    "Modification",
    "ModifyEntry",
    "ObjectSpec",
    "Value",
    "configuration_from_entries",
    "configuration_to_entries",
    "device_dn",
    "devices_dn",
    "diff_configurations",
    "diff_entries",
    "diff_models",
    "entry_dn_of",
    "escape_rdn_value",
    "iter_model_entries",
    "model_from_entry",
    "model_to_entries",
    "model_to_entry",
    "normalize_dn",
    "object_classes_of",
    "parent_dn",
    "parse_dn",
    "registry_entries",
    "spec_for",
]
