"""A varied set of Part 10 files for comparing the two ways ``deidentify:`` encodes an object.

Every pydicom bundled test file (explicit and implicit VR, big endian, deflated, encapsulated JPEG / JPEG 2000 /
JPEG-LS / RLE pixel data, multi-frame, private and nested sequences, SR, RT, overlays, odd lengths, truncated
files, missing meta), pydicom's character-set files, and variants built here for the shapes those do not have:
undefined-length sequences and items, an existing De-identification Method Code Sequence, multi-valued and
badly padded UIDs, curve and group-length elements, a PET object, trailing padding, elements out of order.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bundled() -> Iterator[tuple[str, bytes]]:
    import pydicom.data

    root = Path(pydicom.data.__file__).parent
    for folder in ("test_files", "charset_files"):
        for path in sorted((root / folder).glob("*.dcm")):
            yield f"{folder}/{path.name}", path.read_bytes()


def _encode(ds: object, *, implicit: bool = False) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=implicit)  # type: ignore[attr-defined]
    return out.getvalue()


def _variants() -> Iterator[tuple[str, bytes]]:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ImplicitVRLittleEndian

    def ct() -> pydicom.FileDataset:
        return pydicom.dcmread(get_testdata_file("CT_small.dcm"))

    ds = ct()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    yield "variant/CT_small_implicit", _encode(ds, implicit=True)

    def nested(undefined: bool) -> pydicom.FileDataset:
        ds = ct()
        inner = Dataset()
        inner.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        inner.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
        inner.PatientName = "Inner^Name"
        inner.add_new(0x00091010, "LO", "private in an item")
        inner.InstitutionName = "Somewhere"
        item = Dataset()
        item.ReferencedSeriesSequence = Sequence([inner])
        item.StudyInstanceUID = "1.2.3.4"
        item.AccessionNumber = "A123"
        empty = Dataset()
        ds.ReferencedImageSequence = Sequence([item, empty])
        ds.SourceImageSequence = Sequence([])
        ds.add_new(0x00291010, "SQ", Sequence([Dataset()]))
        ds.OtherPatientIDsSequence = Sequence([Dataset()])
        if undefined:
            for seq in (ds.ReferencedImageSequence, item.ReferencedSeriesSequence, ds.SourceImageSequence):
                seq.is_undefined_length = True
            item.is_undefined_length_sequence_item = True
            inner.is_undefined_length_sequence_item = True
        return ds

    for undefined in (False, True):
        label = "undefined" if undefined else "defined"
        yield f"variant/sequences_{label}", _encode(nested(undefined))
        ds = nested(undefined)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        yield f"variant/sequences_{label}_implicit", _encode(ds, implicit=True)

    ds = ct()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "Basic"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    ds.PatientIdentityRemoved = "YES"
    yield "variant/already_deidentified", _encode(ds)
    ds.DeidentificationMethodCodeSequence.is_undefined_length = True
    yield "variant/already_deidentified_undefined", _encode(ds)

    ds = ct()
    ds.add_new(0x00081155, "UI", ["1.2.3", "1.2.3.4"])  # Referenced SOP Instance UID, two values
    ds.add_new(0x00200052, "UI", "")  # Frame of Reference UID, empty
    ds.add_new(0x00209161, "UI", "1.2.3.99 ")  # a space before the pad
    ds.add_new(0x00280303, "CS", "MODIFIED")
    ds.add_new(0x50000010, "US", 3)  # a curve group
    ds.add_new(0x60000010, "US", 4)  # an overlay group
    ds.add_new(0x00180000, "UL", 0)  # a retired group length
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 6)  # trailing padding
    yield "variant/uids_curves_padding", _encode(ds)

    ds = ct()
    ds.PatientID = " ID-7  "
    ds.IssuerOfPatientID = "HOSP"
    qualifier = Dataset()
    qualifier.UniversalEntityID, qualifier.UniversalEntityIDType = "1.2.3.4", "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = Sequence([qualifier])
    yield "variant/issuer", _encode(ds)
    ds.IssuerOfPatientIDQualifiersSequence.is_undefined_length = True
    yield "variant/issuer_undefined", _encode(ds)
    del ds.PatientID
    yield "variant/no_patient_id", _encode(ds)

    ds = ct()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.128"  # PET: dummy series date and time
    ds.SeriesDate, ds.SeriesTime = "20200101", "101010"
    yield "variant/pet", _encode(ds)

    ds = ct()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Mëller^Jürgen"
    ds.StudyDescription = "Ünïcode"
    yield "variant/utf8", _encode(ds)

    blob = _encode(ct())
    yield "variant/truncated", blob[: len(blob) - 1001]
    yield "variant/extra_byte", blob + b"\x00"

    # two top-level elements swapped: pydicom sorts them when it writes
    ds = ct()
    raw = _encode(ds)
    a = raw.find(b"\x08\x00\x20\x00DA")  # Study Date
    b = raw.find(b"\x08\x00\x21\x00DA")  # Series Date
    if 0 < a < b:
        la, lb = 8 + raw[a + 6], 8 + raw[b + 6]
        if a + la == b:
            yield "variant/out_of_order", raw[:a] + raw[b : b + lb] + raw[a : a + la] + raw[b + lb :]

    # an odd-length value written as it was read, and a UN element of a known tag
    ds = ct()
    ds.add_new(0x00081030, "LO", "odd")
    ds.add_new(0x00200011, "UN", b"7 ")
    raw = _encode(ds)
    yield "variant/odd_and_un", raw.replace(b"\x08\x00\x30\x10LO\x04\x00odd ", b"\x08\x00\x30\x10LO\x03\x00odd")


def corpus() -> list[tuple[str, bytes]]:
    """(name, Part 10 bytes) of every file of the set; built afresh on each call."""
    out = [*_bundled()]
    from dcm_exporter.sample import generate_study

    with tempfile.TemporaryDirectory() as tmp:
        study = generate_study(Path(tmp) / "s", series=2, instances_per_series=1, kind="mixed")
        for i, f in enumerate(sorted(study.files)):
            out.append((f"sample/mixed_{i}", Path(f).read_bytes()))
    out.extend(_variants())
    return out
