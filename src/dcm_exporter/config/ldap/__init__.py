"""The live LDAP configuration store: dcm4che configuration on the LDAP server a dcm4chee installation runs.

:class:`LdapConfigStore` reads the whole ``cn=DICOM Configuration`` tree into a
:class:`~dcm_exporter.models.Configuration` with one (paged) search, finds remote AEs as dcm4che does, adds,
updates and removes exporters, queues, devices and remote AEs, saves a changed configuration with the minimal
modify operations, and imports LDIF files like ``ldapadd`` / ``ldapmodify``::

    with LdapConfigStore("ldap://127.0.0.1:389", "cn=admin,dc=dcm4che,dc=org", password) as store:
        config = store.load()
        store.add_exporter(ExporterDescriptor(exporter_id="STORESCP", uri="dicom:STORESCP",
                                              queue_name="Export1", ae_title="DCM4CHEE"))
        config = store.reload()

The package, by responsibility: :mod:`~dcm_exporter.config.ldap.connection` (the only module that imports
``ldap3``: connection and TLS, the fast search path, and the one place ``ldap3`` errors are translated into the
:mod:`dcm_exporter.errors` tree), :mod:`~dcm_exporter.config.ldap._ber` (the one-pass entry decoder),
:mod:`~dcm_exporter.config.ldap.store` (:class:`LdapConfigStore`: reading, CRUD with undo, saving a diff),
:mod:`~dcm_exporter.config.ldap.importer` (LDIF import and its report) and
:mod:`~dcm_exporter.config.ldap._schema_hints`. The bind password never appears in a log record, ``repr`` or
exception.

All DNs are built with RFC 4514 escaping (:mod:`dcm_exporter.dn`) and all filter values are escaped as
RFC 4515 says, so AE titles and exporter ids may hold ``, + " \\ < > ; = * ( )`` and non-ASCII characters.
"""

from __future__ import annotations

from dcm_exporter.config.ldap.importer import ImportReport, ImportResult
from dcm_exporter.config.ldap.store import LdapConfigStore

__all__ = ["ImportReport", "ImportResult", "LdapConfigStore"]
