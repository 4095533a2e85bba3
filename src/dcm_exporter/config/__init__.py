"""Configuration stores: where dcm4che device configuration is read from and written to.

:func:`load_configuration` reads a configuration from an LDIF or device JSON file, LDIF text or an
``ldap://`` / ``ldaps://`` server (also ``dcm_exporter.load_configuration``). ``LdapConfigStore`` (the live
LDAP store, :mod:`dcm_exporter.config.ldap`) is importable from here; ldap3 is imported only when it is first
used.

The LDAP schema files the project ships live in ``dcm_exporter/config/schema/``:
``dcm-exporter.ldif`` is a compact ``olcSchemaConfig`` entry with the dcm4che object classes
dcm_exporter uses (same names and OIDs as upstream), for an OpenLDAP server without the full
dcm4che schema.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LdapConfigStore", "load_configuration"]


def __getattr__(name: str) -> Any:
    if name == "LdapConfigStore":
        from dcm_exporter.config.ldap import LdapConfigStore

        return LdapConfigStore
    if name == "load_configuration":
        from dcm_exporter.config.load import load_configuration

        return load_configuration
    raise AttributeError(f"module 'dcm_exporter.config' has no attribute {name!r}")
