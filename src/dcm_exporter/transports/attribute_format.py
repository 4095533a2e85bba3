"""dcm4che's attribute format (``dcmStoragePathFormat``, ``dcmMergeAttribute`` values): see
:mod:`dcm_exporter._attribute_format`, a leaf module shared by the ``storage:`` transport and the
``merge-attrs:`` coercion processor."""

from __future__ import annotations

from dcm_exporter._attribute_format import (
    DEFAULT_STORAGE_PATH_FORMAT,
    AttributesFormat,
    java_string_hash,
    md5_base32,
)

__all__ = ["DEFAULT_STORAGE_PATH_FORMAT", "AttributesFormat", "java_string_hash", "md5_base32"]
