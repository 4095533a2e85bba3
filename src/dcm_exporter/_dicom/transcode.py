"""Transcoding a stored instance to the transfer syntax a peer accepted, with pydicom.

Only used when the peer did not accept the stored transfer syntax. The targets are the two
uncompressed syntaxes we always propose (Explicit / Implicit VR Little Endian):

- a compressed data set is decompressed (needs the ``codecs`` extra: pylibjpeg and its plugins, numpy,
  python-gdcm). pydicom tries its decoding plugins in turn; when all of them refuse the pixel data, GDCM's
  own codecs decode it (pydicom's GDCM plugin declines 12-bit JPEG Extended, which GDCM itself reads,
  and pylibjpeg rejects some encoders' start-of-scan headers, e.g. pydicom's ``JPEG-lossy.dcm``). Only
  the decoded Pixel Data is taken from GDCM; every other attribute stays as stored.
- a big-endian one is re-encoded: values are read in its byte order and written little endian, and the
  bytes of OW, OL, OF, OD and OV values (Pixel Data by Bits Allocated) are swapped, as DCMTK's dcmconv does.
- a deflated one is inflated.

Group Length elements (gggg,0000) of the data set, retired, are dropped: their values count the bytes of
the stored encoding.

What cannot be done raises :class:`TranscodeError` with the reason, and only that instance fails.
"""

from __future__ import annotations

import array
import io
import os
import tempfile
from typing import Any, BinaryIO

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
    "transcode_part10",
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
    buf = memoryview(transcode_part10(stream, source_ts, target_ts, name=name))
    meta = part10.parse_part10_meta(buf, name=name)
    assert isinstance(meta, part10.Part10Meta)
    return bytes(buf[meta.dataset_offset :])


def transcode_part10(stream: BinaryIO, source_ts: str, target_ts: str, *, name: str) -> bytes:
    """:func:`transcode`, returning the whole Part 10 file (file meta information included)."""
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
            _decompress(ds, stream, name)
        out = io.BytesIO()
        if source_ts == EXPLICIT_VR_BIG_ENDIAN:
            _swap_to_little_endian(ds, name)
        # group lengths (retired) count bytes of the old encoding; DCMTK recalculates them, we drop them
        for tag in [e.tag for e in ds if e.tag.element == 0 and e.tag.group > 2]:
            del ds[tag]
        ds.file_meta.TransferSyntaxUID = UID(target_ts)
        ds.save_as(
            out,
            enforce_file_format=True,
            implicit_vr=target_ts == IMPLICIT_VR_LITTLE_ENDIAN,
            little_endian=True,
        )
    except TranscodeError:
        raise
    except Exception as exc:  # pydicom/plugins raise many types (RuntimeError, NotImplementedError, ...)
        hint = ""
        if source_ts not in _UNCOMPRESSED:
            hint = " (decompression needs the 'codecs' extra: pip install dcm-exporter[codecs])"
        raise TranscodeError(
            f"{name}: cannot transcode from {source_ts} to {target_ts}: {type(exc).__name__}: {exc}{hint}"
        ) from exc
    return out.getvalue()


# --- decompression: pydicom's plugins, then GDCM's own codecs ------------------------------------------------


def _decompress(ds: Any, stream: BinaryIO, name: str) -> None:
    try:
        ds.decompress(generate_instance_uid=False)  # keep the SOP Instance UID
        return
    except Exception as first:  # every plugin pydicom has refused (the message lists each one's reason)
        pixel_data = _gdcm_pixel_data(stream)
        if isinstance(pixel_data, str):
            raise RuntimeError(f"{first} (and GDCM: {pixel_data})") from first
    decoded, attributes = pixel_data
    for keyword, value in attributes.items():
        if value is not None:
            setattr(ds, keyword, value)
    ds.PixelData = decoded
    ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    ds["PixelData"].is_undefined_length = False


def _gdcm_pixel_data(stream: BinaryIO) -> tuple[bytes, dict[str, Any]] | str:
    """Decode with GDCM's own codecs: (Pixel Data, the image attributes GDCM wrote), or why not. GDCM reads
    a file name, so the stored file is copied to a private temporary file."""
    try:
        import gdcm
    except ImportError:
        return "python-gdcm is not installed"
    import pydicom

    with tempfile.TemporaryDirectory(prefix="dcm-exporter-gdcm-") as tmp:
        src, dst = os.path.join(tmp, "in.dcm"), os.path.join(tmp, "out.dcm")
        stream.seek(0)
        with open(src, "wb") as fh:
            while chunk := stream.read(1 << 20):
                fh.write(chunk)
        reader = gdcm.ImageReader()
        reader.SetFileName(src)
        if not reader.Read():
            return "cannot read the file"
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.ExplicitVRLittleEndian))
        change.SetInput(reader.GetImage())
        if not change.Change():
            return "cannot decode the pixel data"
        writer = gdcm.ImageWriter()
        writer.SetFileName(dst)
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            return "cannot write the decoded pixel data"
        out = pydicom.dcmread(dst)
    keywords = ("PhotometricInterpretation", "PlanarConfiguration", "SamplesPerPixel", "BitsAllocated",
                "BitsStored", "HighBit", "PixelRepresentation")
    return bytes(out.PixelData), {k: out.get(k) for k in keywords}


# --- big endian → little endian ---------------------------------------------------------------------------

#: bytes per value of the VRs whose values are byte data in the data set's byte order
_WORD = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}
_TYPECODE = {size: code for code in "HILQ" for size in (array.array(code).itemsize,) if size in (2, 4, 8)}


def _swapped(data: bytes, width: int, what: str, name: str) -> bytes:
    if len(data) % width:
        raise TranscodeError(f"{name}: {what} has {len(data)} bytes, not a multiple of {width}; cannot swap")
    words = array.array(_TYPECODE[width])
    words.frombytes(data)
    words.byteswap()
    return words.tobytes()


def _swap_to_little_endian(ds: Any, name: str, bits_allocated: int | None = None) -> None:
    """Make ``ds`` (read from Explicit VR Big Endian) ready to be written little endian.

    Every element is converted from its raw big-endian bytes while the data set still knows its byte order
    (numbers are then plain values, written in the target order); byte data is swapped word by word.
    """
    bits = ds.get("BitsAllocated", bits_allocated)
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _swap_to_little_endian(item, name, bits)
        elif elem.VR in _WORD and isinstance(elem.value, bytes | bytearray) and elem.value:
            width = _WORD[elem.VR]
            if elem.tag == 0x7FE00010 and bits is not None and int(bits) in (32, 64):
                width = int(bits) // 8  # pixel values wider than the OW word
            elem.value = _swapped(bytes(elem.value), width, str(elem.tag), name)
    # every element is converted now: from here on the data set is little endian (pydicom refuses to change
    # the byte order of a data set that still says big endian)
    ds.set_original_encoding(False, True)
