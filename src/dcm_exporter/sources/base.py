"""Where instances come from: the protocol an embedding archive implements.

An archive that embeds dcm_exporter already knows its instances (a database, object storage, a
folder). It implements :class:`InstanceSource` — one method, ``find`` — and returns
:class:`~dcm_exporter.export.InstanceRef` objects whose ``open()`` yields the Part 10 bytes
(through ``path`` or an ``opener`` callable). :class:`~dcm_exporter.sources.filesystem.FileSystemSource`
is the ready-made implementation for a folder tree of DICOM files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from dcm_exporter.export import InstanceRef

__all__ = ["IndexReport", "InstanceSource", "UnreadableFile"]


@runtime_checkable
class InstanceSource(Protocol):
    """Finds the stored instances of a study, series or single instance."""

    def find(
        self, study_uid: str, series_uid: str | None = None, sop_instance_uid: str | None = None
    ) -> list[InstanceRef]:
        """The instances of the entity; ``None`` or ``"*"`` for series/instance means all.

        Returns an empty list when nothing matches (the exporter then reports WARNING
        ``Could not find …``). Raises :class:`~dcm_exporter.errors.SourceError` when the source
        itself cannot be queried.
        """
        ...


@attrs.frozen(kw_only=True)
class UnreadableFile:
    """A file the index could not use, and why (not DICOM, truncated header, no SOP Instance UID, ...)."""

    path: Path
    reason: str


@attrs.frozen(kw_only=True)
class IndexReport:
    """What one scan of a :class:`~dcm_exporter.sources.filesystem.FileSystemSource` changed.

    Attributes:
        scanned: files seen in the folder tree.
        added: files newly indexed.
        updated: files re-read because their size or modification time changed.
        removed: files that disappeared from the tree and were dropped from the index.
        unreadable: files read in this scan that are not usable DICOM instances, with the reason.
        unchanged: files whose index entry was reused without reading them.
    """

    scanned: int = 0
    added: tuple[Path, ...] = ()
    updated: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()
    unreadable: tuple[UnreadableFile, ...] = ()
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"scanned {self.scanned} files: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed, {len(self.unreadable)} unreadable, {self.unchanged} unchanged"
        )
