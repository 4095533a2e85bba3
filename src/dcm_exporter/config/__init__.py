"""Configuration stores: where dcm4che device configuration is read from and written to.

The LDAP schema files the project ships live in ``dcm_exporter/config/schema/``:
``dcm-exporter.ldif`` is a compact ``olcSchemaConfig`` entry with the dcm4che object classes
dcm_exporter uses (same names and OIDs as upstream), for an OpenLDAP server without the full
dcm4che schema.
"""
