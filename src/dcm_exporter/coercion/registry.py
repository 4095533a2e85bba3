"""``dcmURI`` scheme of a coercion rule → processor.

The scheme of an ``dcmArchiveAttributeCoercion2`` rule's ``dcmURI`` (``deidentify:``, ``merge-attrs:``,
``xslt:...``) picks the processor, as dcm4chee's ``CoercionFactory`` picks a CDI bean. Built-in processors are
registered as ``"module:attribute"`` strings and imported on first use (``xslt:`` needs lxml). Third-party
packages add schemes through the entry-point group ``dcm_exporter.coercions``::

    [project.entry-points."dcm_exporter.coercions"]
    my-scheme = "my_package.coercion:MyProcessor"

A processor is an object with ``coerce(rule, dataset, context) -> bool`` (the return value says whether the
rule was applied effectively, which only matters for ``dcmCoercionSufficient``) and, optionally,
``check(rule) -> None`` raising :class:`~dcm_exporter.errors.ConfigurationError` for a rule it can never apply.
An entry point may name such an object or a class (instantiated without arguments).

    >>> registry = ProcessorRegistry(entry_points=False)
    >>> sorted(registry.schemes())[:4]
    ['change-charset', 'deidentify', 'leading-arc', 'merge-attrs']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dcm_exporter._registry import LazyRegistry
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.coercion.context import CoercionContext
    from dcm_exporter.models import AttributeCoercion

__all__ = [
    "BUILTIN_PROCESSORS",
    "ENTRY_POINT_GROUP",
    "CoercionProcessor",
    "ProcessorRegistry",
    "default_registry",
    "register_processor",
]

log = logging.getLogger("dcm_exporter.coercion")

#: The entry-point group third-party coercion processors register under.
ENTRY_POINT_GROUP = "dcm_exporter.coercions"

_P = "dcm_exporter.coercion.processors"
#: Schemes the library provides, as lazily imported ``module:attribute`` paths.
BUILTIN_PROCESSORS: Mapping[str, str] = MappingProxyType(
    {
        "deidentify": f"{_P}:DEIDENTIFY",
        "merge-attrs": f"{_P}:MERGE_ATTRIBUTES",
        "nullify-pixel-data": f"{_P}:NULLIFY_PIXEL_DATA",
        "retrieve-as-received": f"{_P}:RETRIEVE_AS_RECEIVED",
        "change-charset": f"{_P}:CHANGE_CHARSET",
        "trim-iso2022": f"{_P}:TRIM_ISO2022",
        "xslt": "dcm_exporter.coercion.xslt:XSLT",
        "leading-arc": f"{_P}:LEADING_ARC",
        "merge-mwl": f"{_P}:MERGE_MWL",
        "sup-from-dev": f"{_P}:SUPPLEMENT_FROM_DEVICE",
    }
)


@runtime_checkable
class CoercionProcessor(Protocol):
    """What a coercion processor does (dcm4chee's ``CoercionProcessor``)."""

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        """Change ``dataset`` in place as ``rule`` says; whether it was applied effectively.

        Raises:
            Exception: the rule cannot be applied to this data set (the rule's ``dcmCoercionOnFailure`` decides).
        """
        ...


def _instance(obj: Any, what: str) -> CoercionProcessor:
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:  # any constructor of a third-party class
            raise ConfigurationError(f"{what} cannot be instantiated: {exc}") from exc
    if not callable(getattr(obj, "coerce", None)):
        raise ConfigurationError(f"{what} has no coerce(rule, dataset, context) method")
    return obj  # type: ignore[no-any-return]


class ProcessorRegistry(LazyRegistry[CoercionProcessor]):
    """A mapping of coercion schemes to processors (thread-safe).

    Args:
        builtins: start with the library's processors.
        entry_points: also load processors of the ``dcm_exporter.coercions`` entry-point group, on first use;
            an entry point never replaces a built-in or explicitly registered scheme (logged and skipped).
    """

    kind = "coercion processor"
    scheme_noun = "coercion scheme"
    group = ENTRY_POINT_GROUP
    log = log

    def __init__(self, *, builtins: bool = True, entry_points: bool = True) -> None:
        super().__init__(BUILTIN_PROCESSORS if builtins else {}, entry_points=entry_points)

    def _adopt(self, obj: object, what: str) -> CoercionProcessor:
        return _instance(obj, what)

    def register(self, scheme: str, processor: CoercionProcessor | str, *, clobber: bool = False) -> None:
        """Register ``processor`` (an object with ``coerce``, or a ``"module:attribute"`` path) for ``scheme``.

        Raises:
            ValueError: the scheme is registered already and ``clobber`` is false, or it is not a valid name.
        """
        key = self._normalise(scheme)
        if not isinstance(processor, str):
            processor = _instance(processor, f"coercion processor for {key!r}")
        self._put(key, processor, clobber=clobber)

    def __contains__(self, scheme: object) -> bool:
        return isinstance(scheme, str) and scheme.lower().removesuffix(":") in self.schemes()

    def get(self, scheme: str) -> CoercionProcessor | None:
        """The processor for ``scheme`` (imported on first use), or ``None`` when none is registered.

        Raises:
            ConfigurationError: the registered processor cannot be imported or is not a processor.
        """
        return self._lookup(scheme)


#: The process-wide registry the transports use unless given another.
default_registry = ProcessorRegistry()


def register_processor(scheme: str, processor: CoercionProcessor | str, *, clobber: bool = False) -> None:
    """Register a processor in the default registry (see :meth:`ProcessorRegistry.register`)."""
    default_registry.register(scheme, processor, clobber=clobber)
