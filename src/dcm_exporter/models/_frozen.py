"""Small immutable building blocks shared by the models: an ordered frozen mapping and converters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, overload

from dcm_exporter.errors import ConfigurationError

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["FrozenMap", "freeze_extra", "parse_properties", "str_tuple"]


class FrozenMap(Mapping[K, V]):
    """An immutable, hashable mapping that keeps insertion order.

    Equality follows :class:`dict` (order-insensitive, equal to any mapping with the same items).
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def to_dict(self) -> dict[K, V]:
        """A mutable copy as a plain :class:`dict`."""
        return dict(self._data)


def str_tuple(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Convert a multi-valued field to a tuple of strings (a lone string is one value, not characters)."""
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def freeze_extra(
    extra: Mapping[str, Iterable[str | bytes] | str | bytes] | None,
) -> FrozenMap[str, tuple[str | bytes, ...]]:
    """Freeze the ``extra`` attributes (LDAP attribute name -> values) of a model."""
    if extra is None:
        return FrozenMap()
    if isinstance(extra, FrozenMap) and all(isinstance(v, tuple) for v in extra.values()):
        return extra
    out: dict[str, tuple[str | bytes, ...]] = {}
    for key, values in extra.items():
        if isinstance(values, str | bytes):
            out[key] = (values,)
        else:
            out[key] = tuple(values)
    return FrozenMap(out)


@overload
def parse_properties(values: Mapping[str, str]) -> FrozenMap[str, str]: ...
@overload
def parse_properties(values: Iterable[str] | None, *, where: str | None = None) -> FrozenMap[str, str]: ...


def parse_properties(values: Any, *, where: str | None = None) -> FrozenMap[str, str]:
    """Parse ``dcmProperty`` values ``key=value`` into an ordered frozen mapping.

    The value is split at the first ``=``; a repeated key keeps the last value (dcm4che's behaviour).
    A mapping is taken as it is.

    Raises:
        ConfigurationError: a value without ``=`` or with an empty key.
    """
    if values is None:
        return FrozenMap()
    if isinstance(values, FrozenMap):
        return values
    if isinstance(values, Mapping):
        for k, v in values.items():
            if not isinstance(k, str) or not isinstance(v, str) or not k:
                raise ConfigurationError(
                    f"property {k!r}={v!r}: keys and values must be strings, keys non-empty"
                )
        return FrozenMap(values)
    if isinstance(values, str):
        values = (values,)
    out: dict[str, str] = {}
    for raw in values:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        key, sep, value = text.partition("=")
        if not sep:
            raise ConfigurationError(f"dcmProperty {text!r} has no '=': expected key=value", dn=where)
        if not key:
            raise ConfigurationError(f"dcmProperty {text!r} has an empty key: expected key=value", dn=where)
        out.pop(key, None)
        out[key] = value
    return FrozenMap(out)
