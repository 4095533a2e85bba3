"""Masking of credentials for display: reprs, HTML tables, command-line output and log messages.

Configuration carries secrets in a few places: ``dcmProperty`` values such as ``bearer-token`` and
``basic-auth`` (of exporters and web applications), a ``user:password@`` part in a URL (``dcmURI``
``stow:https://user:pw@host/dicom-web``, ``dcmHTTPProxy``), and LDAP attributes the models keep in ``extra``
or in unmodelled entries (``dcmKeyStorePin``, ``dcmTrustStorePin``, ``dcmKeycloakClientSecret``,
``userPassword``). Everything meant for people shows them as ``***``; everything that *is* configuration
(``to_ldif()``, ``to_json()``, LDAP writes, ``dcm-exporter config convert``) keeps them exactly.

>>> is_secret_name("bearer-token"), is_secret_name("basic-auth"), is_secret_name("dcmTrustStorePin")
(True, True, True)
>>> is_secret_name("chunked"), is_secret_name("dcmKeyStorePinProperty")
(False, False)
>>> mask_url("stow:https://user:pw@host/dicom-web")
'stow:https://user:***@host/dicom-web'
>>> mask_properties({"bearer-token": "abc", "chunked": "true"})
{'bearer-token': '***', 'chunked': 'true'}

This module imports nothing from the rest of the package at import time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcm_exporter.models.configuration import Configuration

__all__ = [
    "MASK",
    "is_secret_name",
    "mask_properties",
    "mask_url",
    "redact_configuration",
    "repr_properties",
    "repr_url",
]

MASK = "***"
"""What a secret looks like when shown."""

# a property key or LDAP attribute name holding a secret: ...password..., ...secret..., ...token...,
# basic-auth, authorization, ...credential..., api-key; dcm4che's key store / trust store PINs end in "Pin"
# (dcmKeyStorePin, dcmKeyStoreKeyPin, dcmTrustStorePin; not dcmKeyStorePinProperty, a property *name*)
_SECRET_NAME = re.compile(
    r"password|passwd|secret|token|credential|basic-?auth|authorization|api-?key", re.IGNORECASE
)
_PIN = re.compile(r"(?:Pin|PIN|(?:^|[-_.])pin)$")

# scheme://userinfo@ anywhere in a text (dcmURI "stow:https://u:p@h/...", dcmHTTPProxy "http://u:p@proxy:3128")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@]*)@")


def is_secret_name(name: str) -> bool:
    """Whether a ``dcmProperty`` key or an LDAP attribute name holds a secret (case-insensitive)."""
    return bool(_SECRET_NAME.search(name) or _PIN.search(name))


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match.group("userinfo").partition(":")
    shown = f"{user}:{MASK}" if sep else MASK  # a lone userinfo ("token@host") is the credential itself
    return f"{match.group('scheme')}{shown}@"


def mask_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ``***``."""
    if "@" not in text:
        return text
    return _USERINFO.sub(_mask_userinfo, text)


def mask_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``properties`` with the values of secret keys replaced by ``***`` (URLs in values masked)."""
    return {k: MASK if is_secret_name(k) else mask_url(v) for k, v in properties.items()}


def mask_attributes(
    attributes: Mapping[str, Iterable[str | bytes]],
) -> dict[str, tuple[str | bytes, ...]]:
    """A copy of LDAP attributes with the values of secret attributes replaced by ``***``."""
    return {
        k: tuple(MASK for _ in v) if is_secret_name(k) else tuple(v)
        for k, v in attributes.items()
    }


def repr_properties(properties: Mapping[str, str]) -> str:
    """attrs ``repr=`` of a ``properties`` field: like the mapping's repr, secrets masked."""
    return f"FrozenMap({mask_properties(properties)!r})"


def repr_url(value: str | None) -> str:
    """attrs ``repr=`` of a URI field: the repr of the string with its password masked."""
    return repr(value if value is None else mask_url(value))


def _has_secret_attribute(attributes: Mapping[str, Any]) -> bool:
    return any(is_secret_name(k) for k in attributes)


def redact_configuration(configuration: Configuration) -> Configuration:
    """A copy of ``configuration`` fit for showing: every secret value replaced by ``***``.

    Masks exporter and web application ``properties``, the password of URLs in ``dcmURI`` and
    ``dcmHTTPProxy``, and secret LDAP attributes kept in ``extra`` or in unmodelled entries. The copy is
    for display; writing it back would overwrite the real secrets with ``***``.
    """
    import attrs

    from dcm_exporter.models.configuration import LdapEntry

    def extra(model: Any) -> dict[str, Any]:
        return {"extra": mask_attributes(model.extra)} if _has_secret_attribute(model.extra) else {}

    devices = []
    for device in configuration.devices:
        devices.append(attrs.evolve(
            device,
            connections=tuple(
                attrs.evolve(c, http_proxy=None if c.http_proxy is None else mask_url(c.http_proxy), **extra(c))
                for c in device.connections
            ),
            application_entities=tuple(attrs.evolve(ae, **extra(ae)) for ae in device.application_entities),
            exporters=tuple(
                attrs.evolve(e, uri=mask_url(e.uri), properties=mask_properties(e.properties), **extra(e))
                for e in device.exporters
            ),
            web_applications=tuple(
                attrs.evolve(w, properties=mask_properties(w.properties), **extra(w))
                for w in device.web_applications
            ),
            storages=tuple(
                attrs.evolve(s, uri=mask_url(s.uri), properties=mask_properties(s.properties), **extra(s))
                for s in device.storages
            ),
            **extra(device),
        ))
    others = tuple(
        LdapEntry(dn=entry.dn, attributes=mask_attributes(entry.attributes))
        if _has_secret_attribute(entry.attributes) else entry
        for entry in configuration.other_entries
    )
    return attrs.evolve(configuration, devices=devices, other_entries=others)
