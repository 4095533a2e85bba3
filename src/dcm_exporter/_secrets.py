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

A leaf module: it imports nothing from the package, so the models (reprs, ``Configuration.redacted()``),
the notebook display, the CLI and the transports all mask with the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "MASK",
    "is_secret_name",
    "mask_attributes",
    "mask_properties",
    "mask_url",
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
