"""Realistic sample studies with fresh UIDs, generated offline from pydicom's bundled test files.

Used by the tests, the benchmarks and the demo. Every generated object is a valid DICOM Part 10 file;
a study gets new Study / Series / SOP Instance / Frame of Reference UIDs, so studies generated one
after another never collide.

Kinds of study (``kind=``):

- ``"ct"``: 512 x 512 16-bit CT slices (about 0.53 MB each), the header of pydicom's ``CT_small.dcm``
  with synthetic phantom pixel data;
- ``"small"``: ``CT_small.dcm`` as it is (128 x 128 CT, about 39 KB each);
- ``"mr"``: ``MR_small.dcm`` (64 x 64 MR, about 10 KB each);
- ``"mixed"``: ``series`` small CT series plus one Comprehensive SR and one RT Structure Set series,
  i.e. several SOP classes in one study.

:func:`add_compressed_series` adds a series copied from a bundled compressed file (JPEG 2000, JPEG-LS,
RLE, JPEG baseline, deflate) to a study, without re-encoding the pixel data.

Example:
    >>> import tempfile
    >>> from dcm_exporter.sample import generate_study
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     study = generate_study(tmp, series=2, instances_per_series=3, kind="small")
    ...     (len(study.files), len(study.series_uids), study.modalities)
    (6, 2, ('CT',))
"""

from __future__ import annotations

import os
import random
import struct
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs
from pydicom.uid import UID

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "COMPRESSED_SOURCES",
    "InstanceInfo",
    "SeriesInfo",
    "StudyInfo",
    "add_compressed_series",
    "generate_studies",
    "generate_study",
    "new_uid",
]

StudyKind = Literal["ct", "small", "mr", "mixed"]
CompressedKind = Literal["jpeg2000", "jpegls", "rle", "jpeg", "deflate"]

#: compressed kind -> (bundled pydicom test file, its transfer syntax UID)
COMPRESSED_SOURCES: dict[str, tuple[str, str]] = {
    "jpeg2000": ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90"),
    "jpegls": ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80"),
    "rle": ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),
    "jpeg": ("SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50"),
    "deflate": ("image_dfl.dcm", "1.2.840.10008.1.2.1.99"),
}

_KIND_SOURCE = {"ct": "CT_small.dcm", "small": "CT_small.dcm", "mr": "MR_small.dcm", "mixed": "CT_small.dcm"}
_SR_SOURCE = "test-SR.dcm"
_RTSTRUCT_SOURCE = "rtstruct.dcm"
_IMPLICIT_VR_LE = "1.2.840.10008.1.2"
_rng = random.SystemRandom()


def new_uid() -> str:
    """A fresh UUID-derived UID (``2.25.<128-bit random number>``, PS3.5 B.2), always 44 characters."""
    while True:  # keep only 39-digit numbers so every UID has the same length (about 71 % of draws)
        n = _rng.getrandbits(128)
        if n >= 10**38:
            return f"2.25.{n}"


# --- results ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InstanceInfo:
    """One generated instance; the fields match :class:`dcm_exporter.export.InstanceRef`."""

    path: Path
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    size: int


@attrs.frozen(kw_only=True)
class SeriesInfo:
    """One generated series."""

    series_uid: str
    modality: str
    sop_class_uid: str
    instances: tuple[InstanceInfo, ...]

    @property
    def files(self) -> list[Path]:
        return [i.path for i in self.instances]


@attrs.frozen(kw_only=True)
class StudyInfo:
    """A generated study.

    Attributes:
        directory: the folder its files are in (``<dest_dir>/<study UID>/<series UID>/<SOP UID>.dcm``).
        study_uid, patient_id, patient_name, accession_number: its identity.
        series: its series in generation order.
    """

    directory: Path
    study_uid: str
    patient_id: str
    patient_name: str
    accession_number: str
    series: tuple[SeriesInfo, ...]

    @property
    def instances(self) -> list[InstanceInfo]:
        """Every instance, series by series."""
        return [i for s in self.series for i in s.instances]

    @property
    def files(self) -> list[Path]:
        """Paths of every file, series by series."""
        return [i.path for i in self.instances]

    @property
    def series_uids(self) -> list[str]:
        return [s.series_uid for s in self.series]

    @property
    def sop_instance_uids(self) -> list[str]:
        return [i.sop_instance_uid for i in self.instances]

    @property
    def sop_classes(self) -> tuple[str, ...]:
        """The distinct SOP Class UIDs, in first-seen order."""
        return tuple(dict.fromkeys(i.sop_class_uid for i in self.instances))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.modality for s in self.series))

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(i.size for i in self.instances)


# --- bundled sources ---------------------------------------------------------------------------------


def _testdata(name: str) -> Path:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing file makes pydicom warn about a download attempt
        path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(
            f"pydicom's bundled test file {name!r} is not available (pydicom {_pydicom_version()} installed)"
        )
    return Path(str(path))


def _pydicom_version() -> str:
    import pydicom

    return str(pydicom.__version__)


def _read(name: str) -> Dataset:
    from pydicom import dcmread
    from pydicom.dataset import FileMetaDataset

    path = _testdata(name)
    ds = dcmread(path, force=True)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", FileMetaDataset()):
        # some bundled files (e.g. rtstruct.dcm) are bare implicit VR datasets without file meta
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = UID(_IMPLICIT_VR_LE)
        ds.file_meta = meta
    return ds


# --- pixel data --------------------------------------------------------------------------------------

_phantoms: dict[tuple[int, int], bytes] = {}


def _phantom(size: int, variant: int) -> bytes:
    """A 16-bit signed CT-like slice: air, a body ellipse, a bone ring, soft-tissue texture rows."""
    key = (size, variant)
    cached = _phantoms.get(key)
    if cached is not None:
        return cached
    air, tissue, bone = struct.pack("<h", -1000), struct.pack("<h", 40), struct.pack("<h", 700)
    c = size / 2
    rx, ry = size * (0.40 + 0.01 * variant), size * 0.30
    bone_r = size * 0.08
    rows = []
    for y in range(size):
        dy = (y + 0.5 - c) / ry
        if abs(dy) >= 1:
            rows.append(air * size)
            continue
        half = int(rx * (1 - dy * dy) ** 0.5)
        left, right = int(c) - half, int(c) + half
        body = bytearray(tissue * (right - left))
        # a bone ring around the centre
        dyb = y + 0.5 - c
        if abs(dyb) < bone_r:
            span = int((bone_r * bone_r - dyb * dyb) ** 0.5)
            start = (int(c) - span - left) * 2
            body[start : start + 2 * span * 2] = bone * (2 * span)
        # soft-tissue texture: a few values per row vary with the row and the variant
        wiggle = struct.pack("<h", 30 + (y * 7 + variant * 13) % 25)
        for x in range(0, len(body) // 2, 37):
            if body[2 * x : 2 * x + 2] == tissue:
                body[2 * x : 2 * x + 2] = wiggle
        rows.append(air * left + bytes(body) + air * (size - right))
    data = b"".join(rows)
    _phantoms[key] = data
    return data


# --- generation --------------------------------------------------------------------------------------


def _now() -> tuple[str, str]:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def _identity(ds: Dataset, study: _StudyContext) -> None:
    ds.PatientID = study.patient_id
    ds.PatientName = study.patient_name
    ds.StudyInstanceUID = study.study_uid
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.accession_number[-8:]
    ds.StudyDate, ds.StudyTime = study.date, study.time
    ds.StudyDescription = "dcm_exporter sample"


@attrs.define
class _StudyContext:
    directory: Path
    study_uid: str
    patient_id: str
    patient_name: str
    accession_number: str
    date: str
    time: str
    series: list[SeriesInfo] = attrs.field(factory=list)

    def info(self) -> StudyInfo:
        return StudyInfo(
            directory=self.directory,
            study_uid=self.study_uid,
            patient_id=self.patient_id,
            patient_name=self.patient_name,
            accession_number=self.accession_number,
            series=tuple(self.series),
        )


def _write_series(ctx: _StudyContext, ds: Dataset, count: int, number: int, *, image: bool) -> SeriesInfo:
    """Write ``count`` instances of ``ds`` as a new series, changing only per-instance attributes."""
    series_uid = new_uid()
    folder = ctx.directory / ctx.study_uid / series_uid
    folder.mkdir(parents=True, exist_ok=True)
    _identity(ds, ctx)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDate, ds.SeriesTime = ctx.date, ctx.time
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = new_uid()
    sop_class = str(ds.SOPClassUID)
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
    thickness = float(ds.get("SliceThickness") or 2.5)
    positioned = image and "ImagePositionPatient" in ds
    writer = _FastWriter.build(ds, positioned=positioned)
    instances = []
    for i in range(count):
        sop_uid = new_uid()
        z = round(-i * thickness, 3)
        path = folder / f"{sop_uid}.dcm"
        if writer is not None:
            path.write_bytes(writer.render(sop_uid, i + 1, z))
        else:
            _set_instance(ds, sop_uid, i + 1, z if positioned else None)
            ds.save_as(path, enforce_file_format=True)
        instances.append(
            InstanceInfo(
                path=path,
                study_uid=ctx.study_uid,
                series_uid=series_uid,
                sop_instance_uid=sop_uid,
                sop_class_uid=sop_class,
                transfer_syntax_uid=transfer_syntax,
                size=path.stat().st_size,
            )
        )
    info = SeriesInfo(
        series_uid=series_uid,
        modality=str(ds.get("Modality", "OT")),
        sop_class_uid=sop_class,
        instances=tuple(instances),
    )
    ctx.series.append(info)
    return info


def _set_instance(ds: Dataset, sop_uid: str, number: int, z: float | None) -> None:
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.InstanceNumber = number
    if z is not None:
        pos = ds.ImagePositionPatient
        ds.ImagePositionPatient = [pos[0], pos[1], _ds_text(z)]
        if "SliceLocation" in ds:
            ds.SliceLocation = _ds_text(z)


_NUM_WIDTH = 10  # characters of the patched Instance Number / z position / Slice Location values


def _ds_text(value: float) -> str:
    return f"{value:.3f}"[:_NUM_WIDTH]


@attrs.frozen
class _FastWriter:
    """Writes instances of one series by patching a file encoded once.

    The SOP Instance UID (always 44 characters, see :func:`new_uid`), Instance Number, the z of Image
    Position (Patient) and Slice Location are encoded with fixed-width placeholders; each file is the
    template with those bytes overwritten, which is several times faster than encoding every file.
    """

    template: bytes
    uid_offsets: tuple[int, ...]
    number_offset: int
    z_offsets: tuple[int, ...]

    @classmethod
    def build(cls, ds: Dataset, *, positioned: bool) -> _FastWriter | None:
        from io import BytesIO

        placeholder_uid = "2.25." + "7" * 39
        placeholder_num = "1" + "7" * (_NUM_WIDTH - 1)  # a valid IS below 2**31
        placeholder_z = "9" * _NUM_WIDTH
        ds.SOPInstanceUID = placeholder_uid
        ds.file_meta.MediaStorageSOPInstanceUID = UID(placeholder_uid)
        ds.InstanceNumber = placeholder_num
        if positioned:
            pos = ds.ImagePositionPatient
            ds.ImagePositionPatient = [pos[0], pos[1], placeholder_z]
            if "SliceLocation" in ds:
                ds.SliceLocation = placeholder_z
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        pixels = len(ds.get("PixelData") or b"")
        header = data[: len(data) - pixels] if pixels else data

        def find_all(needle: bytes) -> list[int]:
            out, at = [], header.find(needle)
            while at >= 0:
                out.append(at)
                at = header.find(needle, at + 1)
            return out

        uids = find_all(placeholder_uid.encode())
        nums = find_all(placeholder_num.encode())
        zs = find_all(placeholder_z.encode()) if positioned else []
        expected_z = (1 + ("SliceLocation" in ds)) if positioned else 0
        if len(uids) != 2 or len(nums) != 1 or len(zs) != expected_z:
            return None  # an unusual source: fall back to encoding each file with pydicom
        return cls(data, tuple(uids), nums[0], tuple(zs))

    def render(self, sop_uid: str, number: int, z: float) -> bytes:
        out = bytearray(self.template)
        uid = sop_uid.encode()
        if len(uid) != 44:
            raise ValueError(f"internal: SOP Instance UID {sop_uid!r} is not 44 characters")
        for at in self.uid_offsets:
            out[at : at + 44] = uid
        out[self.number_offset : self.number_offset + _NUM_WIDTH] = str(number).ljust(_NUM_WIDTH).encode()
        z_text = _ds_text(z).ljust(_NUM_WIDTH).encode()
        for at in self.z_offsets:
            out[at : at + _NUM_WIDTH] = z_text
        return bytes(out)


def _ct_512(ds: Dataset) -> None:
    ds.Rows = 512
    ds.Columns = 512
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelSpacing = [0.7, 0.7]
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    for kw in ("SmallestImagePixelValue", "LargestImagePixelValue"):
        if kw in ds:
            delattr(ds, kw)


def generate_study(
    dest_dir: str | os.PathLike[str],
    *,
    series: int = 1,
    instances_per_series: int = 10,
    kind: StudyKind = "small",
    patient_id: str | None = None,
    patient_name: str = "Sample^Patient",
    study_uid: str | None = None,
    accession_number: str | None = None,
) -> StudyInfo:
    """Generate a study of ``series`` x ``instances_per_series`` instances under ``dest_dir``.

    Each instance is a DICOM Part 10 file that :func:`pydicom.dcmread <pydicom.filereader.dcmread>` reads
    back as a :class:`~pydicom.dataset.FileDataset`.

    Args:
        dest_dir: folder to write into (created); files go to ``<study UID>/<series UID>/<SOP UID>.dcm``.
        series: number of image series (for ``"mixed"``, plus one SR and one RT Structure Set series).
        instances_per_series: instances per image series.
        kind: ``"ct"`` (512 x 512, ~0.53 MB), ``"small"`` (~39 KB CT), ``"mr"`` (~10 KB), ``"mixed"``; CT
            and MR instances take the header of the ``ct`` or ``mr`` data set of :mod:`pydicom.examples`.
        patient_id: defaults to a fresh random ID.
        patient_name: Patient's Name.
        study_uid: reuse a Study Instance UID (e.g. to add series to an existing study); default new.
        accession_number: defaults to a fresh random number.

    Returns:
        What was written: UIDs, files, SOP classes, sizes.

    Raises:
        ValueError: on a count below 0 / 1 or an unknown ``kind``.
        FileNotFoundError: if the installed pydicom lacks a bundled source file.
    """
    if kind not in _KIND_SOURCE:
        raise ValueError(f"unknown sample kind {kind!r}: use one of {', '.join(_KIND_SOURCE)}")
    if series < 1 or instances_per_series < 1:
        raise ValueError(
            f"series and instances_per_series must be >= 1, got {series} and {instances_per_series}"
        )
    date, time = _now()
    ctx = _StudyContext(
        directory=Path(dest_dir),
        study_uid=study_uid or new_uid(),
        patient_id=patient_id or f"DCMEXP{_rng.randrange(10**7, 10**8)}",
        patient_name=patient_name,
        accession_number=accession_number or f"A{_rng.randrange(10**9, 10**10)}",
        date=date,
        time=time,
    )
    ds = _read(_KIND_SOURCE[kind])
    for n in range(series):
        if kind == "ct":
            _ct_512(ds)
            ds.PixelData = _phantom(512, n % 4)
        _write_series(ctx, ds, instances_per_series, n + 1, image=True)
    if kind == "mixed":
        sr = _read(_SR_SOURCE)
        _write_series(ctx, sr, 1, series + 1, image=False)
        rt = _read(_RTSTRUCT_SOURCE)
        _write_series(ctx, rt, 1, series + 2, image=False)
    return ctx.info()


def generate_studies(dest_dir: str | os.PathLike[str], count: int, **kwargs: object) -> list[StudyInfo]:
    """Generate ``count`` independent studies (each with its own patient unless ``patient_id`` is given)."""
    return [generate_study(dest_dir, **kwargs) for _ in range(count)]  # type: ignore[arg-type]


def add_compressed_series(
    study: StudyInfo,
    kinds: CompressedKind | Iterable[CompressedKind] = "jpeg2000",
    *,
    instances: int = 1,
) -> StudyInfo:
    """Add one series per compressed kind to ``study``, copied from pydicom's bundled files with fresh UIDs.

    The encapsulated (or deflated) pixel data is copied as it is, never decoded. Returns the extended study.

    Args:
        study: a study from :func:`generate_study`.
        kinds: one or more of ``"jpeg2000"`` (lossless, .4.90), ``"jpegls"`` (lossless, .4.80), ``"rle"``,
            ``"jpeg"`` (baseline, .4.50), ``"deflate"`` (.1.99).
        instances: instances per added series.
    """
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in names if k not in COMPRESSED_SOURCES]
    if unknown:
        raise ValueError(f"unknown compressed kind(s) {unknown}: use {', '.join(COMPRESSED_SOURCES)}")
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    ctx = _StudyContext(
        directory=study.directory,
        study_uid=study.study_uid,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        accession_number=study.accession_number,
        date=_now()[0],
        time=_now()[1],
        series=list(study.series),
    )
    for name in names:
        source, _syntax = COMPRESSED_SOURCES[name]
        ds = _read(source)
        _write_series(ctx, ds, instances, len(ctx.series) + 1, image=True)
    return ctx.info()
