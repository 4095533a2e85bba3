"""De-identification as dcm4che's ``DeIdentifier`` does it (PS3.15 Basic Application Level Confidentiality Profile).

What happens to a data set, in dcm4che 5.35's order (``deidentify:<Option>[,<Option>...]``):

1. in the data set and, recursively, in every item of every sequence that is left: private attributes, curve
   (50xx) and overlay (60xx) groups and the X list are removed; the Z list is emptied and the D list gets dummy
   values (DA ``19991111``, DT ``19991111111111``, TM ``111111``, IS/DS ``0``, other VRs ``REMOVED``) where
   present; every value of the U list is remapped with :func:`remap_uid`;
2. Patient Identity Removed becomes ``YES``, Longitudinal Temporal Information Modified ``REMOVED`` (``UNMODIFIED``
   with the full-dates option), and one code per option (the Basic Profile included) is appended to
   De-identification Method Code Sequence;
3. a PET image gets the dummy Series Date and Time (unless dates are retained).

The options, by their upstream names: ``RetainLongitudinalTemporalInformationFullDatesOption``,
``RetainDeviceIdentityOption``, ``RetainInstitutionIdentityOption``, ``RetainUIDsOption`` (no remapping; Referenced
Study and Referenced PPS Sequences kept) and ``RetainPatientIDHashOption`` (Patient ID becomes the name-based UUID
of dcm4che's text of the Patient ID with its issuer: ``ID^^^Local&Universal&Type^IdentifierTypeCode``, the
parts present; its De-identification Method code is dcm4che's private ``(113113, 99DCM4CHE, "Retain Patient ID Hash
Option")``). Pixel data is not touched.

UIDs are remapped deterministically, as ``UIDUtils.remapUID``: ``2.25.`` followed by the decimal value of the
name-based (version 3, MD5) UUID of the original UID's ASCII bytes, so dcm4chee and dcm_exporter give a
de-identified object the same UIDs (a pseudonym anyone knowing the original UID can recompute).

    >>> remap_uid("1.2.3")
    '2.25.235153174557024093797895412215599142974'
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter.coercion import _deident_tags as t

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["DeIdentificationOption", "DeIdentifier", "name_based_uuid", "parse_options", "remap_uid"]


def name_based_uuid(data: bytes) -> uuid.UUID:
    """Java's ``UUID.nameUUIDFromBytes``: the version 3 UUID of the MD5 of ``data`` (no namespace)."""
    return uuid.UUID(bytes=hashlib.md5(data, usedforsecurity=False).digest(), version=3)


def remap_uid(uid: str) -> str:
    """dcm4che's ``UIDUtils.remapUID``: ``2.25.<decimal of the name-based UUID of the UID's ASCII bytes>``."""
    return f"2.25.{name_based_uuid(uid.encode('ascii', 'replace')).int}"


class DeIdentificationOption(enum.Enum):
    """dcm4che's ``DeIdentifier.Option``: value = the upstream name, with its PS3.16 CID 7050 code."""

    BASIC = "BasicApplicationConfidentialityProfile"
    RETAIN_FULL_DATES = "RetainLongitudinalTemporalInformationFullDatesOption"
    RETAIN_DEVICE_IDENTITY = "RetainDeviceIdentityOption"
    RETAIN_INSTITUTION_IDENTITY = "RetainInstitutionIdentityOption"
    RETAIN_UIDS = "RetainUIDsOption"
    RETAIN_PATIENT_ID_HASH = "RetainPatientIDHashOption"

    @property
    def code(self) -> tuple[str, str, str]:
        """(Code Value, Coding Scheme Designator, Code Meaning)."""
        return _CODES[self]


_CODES = {
    DeIdentificationOption.BASIC: ("113100", "DCM", "Basic Application Confidentiality Profile"),
    DeIdentificationOption.RETAIN_FULL_DATES: (
        "113106",
        "DCM",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    DeIdentificationOption.RETAIN_DEVICE_IDENTITY: ("113109", "DCM", "Retain Device Identity Option"),
    DeIdentificationOption.RETAIN_INSTITUTION_IDENTITY: ("113112", "DCM", "Retain Institution Identity Option"),
    DeIdentificationOption.RETAIN_UIDS: ("113110", "DCM", "Retain UIDs Option"),
    DeIdentificationOption.RETAIN_PATIENT_ID_HASH: ("113113", "99DCM4CHE", "Retain Patient ID Hash Option"),
}
_BY_NAME = {o.value: o for o in DeIdentificationOption}


def parse_options(text: str | Iterable[str]) -> tuple[DeIdentificationOption, ...]:
    """The options of ``deidentify:<ssp>`` (comma-separated) or of ``dcmDeIdentification`` values.

    Names are exact and case-sensitive, as Java's ``Enum.valueOf``; an empty text is the Basic Profile alone.

    Raises:
        ValueError: an unknown option name (the message lists the known ones).
    """
    parts = [p for p in text.split(",")] if isinstance(text, str) else list(text)
    if parts == [""]:
        parts = []
    out = []
    for part in parts:
        option = _BY_NAME.get(part)
        if option is None:
            known = ", ".join(o.value for o in DeIdentificationOption)
            raise ValueError(f"unknown de-identification option {part!r} (known, case-sensitive: {known})")
        out.append(option)
    return tuple(out)


_DUMMY = {"DA": "19991111", "DT": "19991111111111", "TM": "111111", "IS": "0", "DS": "0"}
_PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
_PATIENT_ID = 0x00100020
_ISSUER = 0x00100021
_QUALIFIERS = 0x00100024
_UNIVERSAL_ENTITY_ID = 0x00400032
_UNIVERSAL_ENTITY_ID_TYPE = 0x00400033
_IDENTIFIER_TYPE_CODE = 0x00400035


def _dictionary_vr(tag: int) -> str:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


@attrs.frozen(init=False)
class DeIdentifier:
    """A de-identifier for one set of options (the Basic Profile is always in it).

    Examples:
        >>> from pydicom import Dataset
        >>> ds = Dataset()
        >>> ds.PatientName, ds.PatientID, ds.StudyInstanceUID = "Doe^John", "123", "1.2.3"
        >>> DeIdentifier().deidentify(ds)
        >>> str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, ds.PatientIdentityRemoved
        ('', '', '2.25.235153174557024093797895412215599142974', 'YES')
    """

    options: tuple[DeIdentificationOption, ...]
    remove: frozenset[int]
    replace: frozenset[int]
    dummy: frozenset[int]
    uids: frozenset[int]

    def __init__(self, options: Iterable[DeIdentificationOption] = ()) -> None:
        chosen = set(options) | {DeIdentificationOption.BASIC}
        ordered = tuple(o for o in DeIdentificationOption if o in chosen)  # EnumSet order
        o = DeIdentificationOption
        dates = o.RETAIN_FULL_DATES in chosen
        device = o.RETAIN_DEVICE_IDENTITY in chosen
        institution = o.RETAIN_INSTITUTION_IDENTITY in chosen
        keep_uids = o.RETAIN_UIDS in chosen
        remove = set(t.X)
        replace = set(t.Z)
        dummy = set(t.D)
        uids: set[int] = set()
        if not device:
            remove |= t.X_DEVICE
            dummy |= t.D_DEVICE
        if not institution:
            remove |= t.X_INSTITUTION
            replace |= t.Z_INSTITUTION
            dummy |= t.D_INSTITUTION
        if not dates:
            remove |= t.X_DATES
            replace |= t.Z_DATES
            dummy |= t.D_DATES
        if not keep_uids:
            replace |= t.Z_UID
            uids |= t.U
            if not device:
                uids |= t.U_DEVICE
        self.__attrs_init__(
            options=ordered,
            remove=frozenset(remove),
            replace=frozenset(replace),
            dummy=frozenset(dummy),
            uids=frozenset(uids),
        )

    @classmethod
    def from_text(cls, text: str) -> DeIdentifier:
        """From the scheme-specific part of ``deidentify:`` (see :func:`parse_options`)."""
        return cls(parse_options(text))

    def has(self, option: DeIdentificationOption) -> bool:
        """Whether ``option`` is in effect."""
        return option in self.options

    def remap(self, uid: str) -> str:
        """A UID as this de-identifier sends it (unchanged with ``RetainUIDsOption``)."""
        return uid if self.has(DeIdentificationOption.RETAIN_UIDS) else remap_uid(uid)

    def deidentify(self, ds: Dataset) -> None:
        """De-identify ``ds`` in place (its file meta information is not touched)."""
        from pydicom.dataset import Dataset as PydicomDataset

        retain_dates = self.has(DeIdentificationOption.RETAIN_FULL_DATES)
        pid_hash = None
        if self.has(DeIdentificationOption.RETAIN_PATIENT_ID_HASH):
            pid = _id_with_issuer(ds)
            if pid is not None:
                pid_hash = str(name_based_uuid(pid.encode("utf-8")))
        self._item(ds)
        if pid_hash is not None:
            ds.PatientID = pid_hash
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if retain_dates else "REMOVED"
        if "DeidentificationMethodCodeSequence" not in ds:
            ds.DeidentificationMethodCodeSequence = []
        for option in self.options:
            item = PydicomDataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = option.code
            ds.DeidentificationMethodCodeSequence.append(item)
        if not retain_dates and ds.get("SOPClassUID") == _PET_IMAGE_STORAGE:
            ds.SeriesDate = _DUMMY["DA"]
            ds.SeriesTime = _DUMMY["TM"]

    def _item(self, ds: Any) -> None:
        from pydicom import config
        from pydicom.dataelem import DataElement

        drop = []
        for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset yields elements, not tags
            group = tag >> 16
            if (
                group & 1
                or (tag & 0xFFE10000) in (0x50000000, 0x60000000)
                or int(tag) in self.remove
            ):
                drop.append(tag)
        for tag in drop:
            del ds[tag]
        for tag in sorted(self.replace | self.dummy):
            if tag not in ds:
                continue
            vr = _dictionary_vr(tag)
            if tag in self.dummy and vr not in ("SQ", "UN"):
                value: Any = _DUMMY.get(vr, "REMOVED")
            else:
                value = [] if vr == "SQ" else None
            # upstream writes its dummy values whatever the VR says (REMOVED in a UI): no validation warning
            ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
        for tag in self.uids:
            if tag not in ds:
                continue
            elem = ds[tag]
            values = elem.value
            if values is None or values == "":
                continue
            if isinstance(values, str):
                elem.value = remap_uid(values.rstrip("\x00 "))
            else:
                elem.value = [remap_uid(str(v).rstrip("\x00 ")) for v in values]
        # look at the VRs of the elements as read (converting every element would cost more than all the rest)
        for tag in list(ds.keys()):
            raw = ds.get_item(tag)
            vr = raw.VR or _dictionary_vr(int(tag))
            if vr == "SQ":
                items = ds[tag].value
                for item in items or ():
                    self._item(item)


def _first_text(ds: Any, tag: int, *, text: bool = False) -> str | None:
    """The first value as dcm4che's ``getString`` gives it: spaces trimmed (for the text VRs, as UT, only
    the trailing ones), ``None`` when absent or empty."""
    elem = ds.get(tag)
    if elem is None or elem.value in (None, ""):
        return None
    value = elem.value
    first = str(value[0] if not isinstance(value, str | bytes) and len(value) else value)
    first = first.rstrip(" \x00") if text else first.strip(" \x00")
    return first or None


def _id_with_issuer(ds: Any) -> str | None:
    """dcm4che's ``IDWithIssuer.pidOf(attrs).toString()``: ``ID``, else ``ID^^^Issuer`` and/or ``^TypeCode``.

    The issuer is ``Local&Universal&Type`` when the first Issuer of Patient ID Qualifiers item has both a
    Universal Entity ID and its type (``Issuer.fromIssuerOfPatientID``), else the Issuer of Patient ID alone;
    that item's Identifier Type Code follows after a ``^``. So ``P1^^^HOSP&1.2.3&ISO^MR``, ``P1^^^HOSP``
    (a Universal Entity ID without its type is left out), ``P1^^^^MR`` (a type code without an issuer).
    """
    pid = _first_text(ds, _PATIENT_ID)
    if pid is None:
        return None
    local = _first_text(ds, _ISSUER)
    universal = universal_type = type_code = None
    qualifiers = ds.get(_QUALIFIERS)
    if qualifiers is not None and qualifiers.value:
        item = qualifiers.value[0]
        universal = _first_text(item, _UNIVERSAL_ENTITY_ID, text=True)  # UT
        universal_type = _first_text(item, _UNIVERSAL_ENTITY_ID_TYPE)
        type_code = _first_text(item, _IDENTIFIER_TYPE_CODE)
    issuer = local
    if universal is not None and universal_type is not None:
        issuer = f"{local or ''}&{universal}&{universal_type}"
    if issuer is None and type_code is None:
        return pid
    return f"{pid}^^^{issuer or ''}" + (f"^{type_code}" if type_code is not None else "")
