"""The File Meta Information a coerced object goes out with (its own, as dcm4che's ``createFileMetaInformation``).

Only what identifies the object and its encoding: version, Media Storage SOP Class and Instance UID, Transfer
Syntax UID and this implementation's class UID and version name. The stored file's Source, Sending and Receiving
AE Titles and its Private Information (0002,0100..0102) stay behind: a de-identified object sent over STOW-RS
carried them (the hospital's AE title, a vendor's private block), and dcm4chee writes none of them either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dcm_exporter._dicom.association import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

if TYPE_CHECKING:
    from pydicom.dataset import FileMetaDataset

__all__ = ["outgoing_file_meta"]

_VERSION = 0x00020001
_SOP_CLASS = 0x00020002
_SOP_INSTANCE = 0x00020003
_SYNTAX = 0x00020010


def outgoing_file_meta(meta: FileMetaDataset) -> FileMetaDataset:
    """A new File Meta Information with the UIDs of ``meta`` and this implementation's identity, nothing else."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    out = FileMetaDataset()
    for tag in (_VERSION, _SOP_CLASS, _SOP_INSTANCE, _SYNTAX):
        if tag in meta:
            out[tag] = meta[tag]
    out.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    out.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return out
