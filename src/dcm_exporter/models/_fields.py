"""attrs field helpers shared by the models (converters and validators)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import attrs

from dcm_exporter._secrets import repr_properties, repr_url
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._frozen import FrozenMap, freeze_extra, parse_properties, str_tuple
from dcm_exporter.schedule import Schedules

__all__ = [
    "extra_field",
    "non_empty",
    "object_classes_field",
    "optional_duration",
    "properties_field",
    "schedules_field",
    "to_schedules",
    "tuple_field",
    "url_field",
]


def to_schedules(value: Schedules | Iterable[str] | str | None) -> Schedules:
    """Accept a :class:`Schedules`, an iterable of dcmSchedule strings, one string, or ``None`` (always)."""
    if value is None:
        return Schedules.ALWAYS
    if isinstance(value, Schedules):
        return value
    if isinstance(value, str):
        value = (value,)
    values = tuple(value)
    if not values:
        return Schedules.ALWAYS
    return Schedules.parse(values)


def _name(instance: Any, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def non_empty(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: a required string that must not be empty."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{_name(instance, attribute)} must be a non-empty string, got {value!r}")


def optional_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: ``None`` or a string."""
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{_name(instance, attribute)} must be a string or None, got {value!r}")


def optional_duration(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: ``None`` or a non-negative :class:`~datetime.timedelta`."""
    if value is None:
        return
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ConfigurationError(
            f"{_name(instance, attribute)} must be a non-negative timedelta or None, got {value!r}"
        )


def optional_int(minimum: int | None = None) -> Any:
    """Validator factory: ``None`` or an int (not a bool), at least ``minimum``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"{_name(instance, attribute)} must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigurationError(
                f"{_name(instance, attribute)} must be at least {minimum}, got {value!r}"
            )

    return check


def tuple_field() -> Any:
    """A multi-valued string field: converted to a tuple, default empty."""
    return attrs.field(factory=tuple, converter=str_tuple)


def properties_field() -> Any:
    """``dcmProperty`` as an ordered frozen mapping; accepts a mapping or ``key=value`` strings.

    Its repr masks the values of secret keys (``bearer-token``, ``basic-auth``, ``*password*``, ...).
    """
    return attrs.field(factory=FrozenMap, converter=parse_properties, repr=repr_properties)


def url_field(validator: Any, default: Any = attrs.NOTHING) -> Any:
    """A string field that may hold a URL with ``user:password@``: the password is masked in the repr."""
    return attrs.field(default=default, validator=validator, repr=repr_url)


def schedules_field() -> Any:
    """``dcmSchedule`` as :class:`Schedules`; accepts strings too."""
    return attrs.field(default=Schedules.ALWAYS, converter=to_schedules)


def extra_field() -> Any:
    """LDAP attributes the model does not know, kept verbatim for the round trip."""
    return attrs.field(factory=FrozenMap, converter=freeze_extra, repr=False)


def object_classes_field() -> Any:
    """The entry's object classes as read (empty: the mapping writes the model's own)."""
    return attrs.field(factory=tuple, converter=str_tuple, repr=False)


def bool_field(default: bool) -> Any:
    """A boolean field (``TRUE``/``FALSE`` in LDAP) with an upstream default."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{_name(instance, attribute)} must be a bool, got {value!r}")

    return attrs.field(default=default, validator=check)


def optional_bool(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: ``None`` (inherit) or a bool."""
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"{_name(instance, attribute)} must be a bool or None, got {value!r}")
