"""Transcoding a stored instance to the transfer syntax a peer accepted, with pydicom.

Only used when the peer did not accept the stored transfer syntax. The targets are the two
uncompressed syntaxes we always propose (Explicit / Implicit VR Little Endian): a compressed data set
is decompressed (needs the ``codecs`` extra: pylibjpeg and its plugins, numpy), a big-endian or
deflated one is re-encoded. What pydicom cannot do raises :class:`TranscodeError` with the reason, and
only that instance fails.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from dcm_exporter._dicom import part10
from dcm_exporter._dicom.uids import (
    DEFLATED,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)
from dcm_exporter._imports import PYDICOM, require

__all__ = [
    "TranscodeError",
    "is_video",
    "transcode",
]

_UNCOMPRESSED = frozenset(
    {IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, DEFLATED}
)


class TranscodeError(Exception):
    """The instance cannot be converted to the accepted transfer syntax; the message says why."""


def is_video(transfer_syntax_uid: str) -> bool:
    """MPEG-2, MPEG-4 and HEVC transfer syntaxes (1.2.840.10008.1.2.4.100 to .108): never decompressed."""
    prefix = "1.2.840.10008.1.2.4.1"
    if not transfer_syntax_uid.startswith(prefix):
        return False
    rest = transfer_syntax_uid[len(prefix) :].split(".")[0]
    return rest.isdigit() and len(rest) == 2 and 0 <= int(rest) <= 8


def transcode(stream: BinaryIO, source_ts: str, target_ts: str, *, name: str) -> bytes:
    """Read the Part 10 file in ``stream`` and return its data set encoded in ``target_ts``.

    Raises:
        TranscodeError: the conversion is not possible (unsupported target, missing decoder, bad data).
    """
    if target_ts not in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
        raise TranscodeError(
            f"cannot transcode from {source_ts} to {target_ts}: only to uncompressed syntaxes"
        )
    if is_video(source_ts):
        raise TranscodeError(f"{name}: video transfer syntax {source_ts} is never decompressed")
    require(*PYDICOM)
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import UID

    try:
        ds = pydicom.dcmread(stream, force=False)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise TranscodeError(f"{name}: cannot read the stored file: {exc}") from exc
    try:
        if source_ts not in _UNCOMPRESSED:
            ds.decompress(generate_instance_uid=False)  # keep the SOP Instance UID
        out = io.BytesIO()
        ds.file_meta.TransferSyntaxUID = UID(target_ts)
        ds.save_as(
            out,
            enforce_file_format=True,
            implicit_vr=target_ts == IMPLICIT_VR_LITTLE_ENDIAN,
            little_endian=True,
        )
    except Exception as exc:  # pydicom/plugins raise many types (RuntimeError, NotImplementedError, ...)
        hint = ""
        if source_ts not in _UNCOMPRESSED:
            hint = " (decompression needs the 'codecs' extra: pip install dcm-exporter[codecs])"
        raise TranscodeError(
            f"{name}: cannot transcode from {source_ts} to {target_ts}: {type(exc).__name__}: {exc}{hint}"
        ) from exc
    buf = out.getbuffer()
    meta = part10.parse_part10_meta(buf, name=name)
    assert isinstance(meta, part10.Part10Meta)
    return bytes(buf[meta.dataset_offset :])
