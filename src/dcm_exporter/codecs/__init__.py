"""Codecs: turning configuration text into records and back.

- :mod:`dcm_exporter.codecs.ldif` reads and writes LDIF (RFC 2849) content and change records.
- ``dcm_exporter.codecs.ldap_mapping`` maps configuration models to LDAP entries in dcm4che's DN layout.
- ``dcm_exporter.codecs.json`` reads and writes dcm4che device JSON.

Every decoding problem is raised as a :class:`dcm_exporter.errors.CodecError` subclass that says what was
wrong and where.
"""
