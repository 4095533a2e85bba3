"""Where instances come from: the :class:`InstanceSource` protocol and :class:`FileSystemSource`."""

from __future__ import annotations

from dcm_exporter.sources.base import IndexReport, InstanceSource, UnreadableFile
from dcm_exporter.sources.filesystem import FileSystemSource

__all__ = ["FileSystemSource", "IndexReport", "InstanceSource", "UnreadableFile"]
