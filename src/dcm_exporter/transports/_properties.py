"""The properties (``dcmProperty``) the HTTP transports read: flags, positive numbers, credentials.

One reading for ``stow:`` and ``wado:``, so the same spelling means the same thing in both and a bad value is
named the same way (``property KEY=VALUE of exporter ID: ...``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from dcm_exporter.errors import ConfigurationError

__all__ = ["authorization", "flag", "positive_number"]

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def flag(props: Mapping[str, str], key: str, where: str) -> bool:
    """The property ``key`` as a boolean; ``False`` when absent.

    Raises:
        ConfigurationError: the value is not one of true/yes/1/on, false/no/0/off (any case).
    """
    text = props.get(key)
    if text is None:
        return False
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"property {key}={text!r} of {where}: expected true or false")


def positive_number(props: Mapping[str, str], key: str, where: str, default: float, *, integer: bool = False) -> Any:
    """The property ``key`` as a number greater than 0 (an ``int`` when ``integer``); ``default`` when absent.

    Raises:
        ConfigurationError: the value is not a number (a whole number when ``integer``), or not greater than 0.
    """
    text = props.get(key)
    if text is None:
        return default
    try:
        value: float = int(text.strip()) if integer else float(text.strip())
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigurationError(f"property {key}={text!r} of {where}: expected {kind}") from None
    if value <= 0:
        raise ConfigurationError(f"property {key}={text!r} of {where}: must be greater than 0")
    return value


def authorization(props: Mapping[str, str], where: str, *, user_password: str | None = None) -> str | None:
    """The ``Authorization`` header of ``bearer-token`` or ``basic-auth`` (else ``user_password``), or ``None``.

    Raises:
        ConfigurationError: both properties are set, or the basic credentials have no ``:``.
    """
    bearer, basic = props.get("bearer-token"), props.get("basic-auth")
    if bearer and basic:
        raise ConfigurationError(f"{where}: set either bearer-token or basic-auth, not both")
    if bearer:
        return f"Bearer {bearer.strip()}"
    pair = basic or user_password
    if not pair:
        return None
    if ":" not in pair:
        raise ConfigurationError(f"{where}: basic-auth must be <user>:<password>")
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
