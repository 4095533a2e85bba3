"""The deprecated ``Configuration.from_ldif`` / ``to_ldif`` / ``from_json`` / ``to_json``.

The models know no format, and a model may not import a codec, not even inside a method: these four are set
on :class:`~dcm_exporter.models.Configuration` from here, when :mod:`dcm_exporter.codecs` is imported. That
happens whenever a codec, ``dcm_exporter.load_configuration``, the LDAP store, the ``Exporter`` or the CLI is
imported, and when ``Configuration`` is taken from the top-level ``dcm_exporter`` package, which imports the
codecs with it. Type checkers see the signatures declared on the class under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.dn import DEFAULT_BASE_DN
from dcm_exporter.models import Configuration

__all__ = ["install"]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"Configuration.{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def _from_ldif(
    cls: type[Configuration],
    source: str | bytes | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    base_dn: str | None = None,
    filename: str | None = None,
    allow_file_urls: bool = False,
) -> Configuration:
    _deprecated("from_ldif()", "dcm_exporter.load_configuration() or dcm_exporter.codecs.ldif.load()")
    return ldif.load(source, base_dn=base_dn, filename=filename, allow_file_urls=allow_file_urls)


def _to_ldif(self: Configuration) -> str:
    _deprecated("to_ldif()", "dcm_exporter.codecs.ldif.dumps(configuration)")
    return ldif.dumps(self)


def _from_json(cls: type[Configuration], source: str | bytes | Any, *, base_dn: str = DEFAULT_BASE_DN) -> Configuration:
    _deprecated("from_json()", "dcm_exporter.load_configuration() or dcm_exporter.codecs.device_json.loads()")
    return device_json.loads(source, base_dn=base_dn)


def _to_json(self: Configuration, *, indent: int | None = 2) -> str:
    _deprecated("to_json()", "dcm_exporter.codecs.device_json.dumps(configuration)")
    return device_json.dumps(self, indent=indent)


def install() -> None:
    """Set the four aliases on :class:`~dcm_exporter.models.Configuration` (idempotent)."""
    for name, value in (
        ("from_ldif", classmethod(_from_ldif)),
        ("to_ldif", _to_ldif),
        ("from_json", classmethod(_from_json)),
        ("to_json", _to_json),
    ):
        type.__setattr__(Configuration, name, value)
