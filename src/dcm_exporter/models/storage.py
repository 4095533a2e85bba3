"""Storage descriptors (dcm4chee-arc ``dcmStorage``), the destinations of ``storage:`` exporters."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from dcm_exporter.models._fields import (
    extra_field,
    non_empty,
    object_classes_field,
    optional_str,
    properties_field,
    url_field,
)

__all__ = ["DEFAULT_STORAGE_PATH_FORMAT", "StorageDescriptor"]

DEFAULT_STORAGE_PATH_FORMAT = "{now,date,yyyy/MM/dd}/{0020000D,hash}/{0020000E,hash}/{00080018,hash}"
"""dcm4chee-arc's storage path format when ``dcmStoragePathFormat`` is absent."""


@attrs.frozen(kw_only=True)
class StorageDescriptor:
    """A storage system of the archive device; other attributes are kept in ``extra``."""

    storage_id: str = attrs.field(validator=non_empty)
    """``dcmStorageID``."""
    uri: str = url_field(non_empty)
    """``dcmURI``, e.g. ``file:///var/local/dcm4chee-arc/fs1/`` (may hold ``${...}`` system properties)."""
    storage_path_format: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmStoragePathFormat``; ``None`` = :data:`DEFAULT_STORAGE_PATH_FORMAT`."""
    properties: Mapping[str, str] = properties_field()
    """``dcmProperty``."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    @property
    def effective_path_format(self) -> str:
        """The storage path format in effect."""
        return self.storage_path_format or DEFAULT_STORAGE_PATH_FORMAT
