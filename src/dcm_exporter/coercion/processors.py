"""The built-in coercion processors (dcm4chee-arc 5.35's ``@Named`` coercion beans), by ``dcmURI`` scheme.

==========================  =====================================================================================
``deidentify:<options>``    :class:`~dcm_exporter.coercion.deidentify.DeIdentifier` with the comma-separated options
``merge-attrs:``            every ``dcmMergeAttribute``: ``Path=<format>`` sets the value from an attribute format,
                            ``Path=`` empties it, ``Path!`` removes it; ``Seq[n].Attr`` addresses item n (from 1,
                            as dcm4chee counts; ``Seq.Attr`` the first item)
``nullify-pixel-data:``     top-level Pixel Data sent with zero length
``retrieve-as-received:``   nothing (upstream it skips merging database attributes, which we do not have)
``change-charset:<c>[:c]``  text decoded with the current Specific Character Set, re-encoded in the given one(s)
``trim-ISO2022:``           a single ISO 2022 code replaced by the code without extensions
``xslt:<stylesheet>``       see :mod:`dcm_exporter.coercion.xslt`
``leading-arc:``,           refused with a :class:`~dcm_exporter.errors.ConfigurationError`: they need C-FIND /
``merge-mwl:``,             modality worklist services dcm_exporter does not have
``sup-from-dev:``
==========================  =====================================================================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dcm_exporter.coercion.deidentify import DeIdentifier
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.coercion.context import CoercionContext
    from dcm_exporter.models import AttributeCoercion

__all__ = [
    "CHANGE_CHARSET",
    "DEIDENTIFY",
    "LEADING_ARC",
    "MERGE_ATTRIBUTES",
    "MERGE_MWL",
    "NULLIFY_PIXEL_DATA",
    "RETRIEVE_AS_RECEIVED",
    "SUPPLEMENT_FROM_DEVICE",
    "TRIM_ISO2022",
    "merge_attribute",
    "merge_attributes",
]

PIXEL_DATA = 0x7FE00010


class DeidentifyProcessor:
    """``deidentify:<Option>[,<Option>...]``."""

    def __init__(self) -> None:
        self._cache: dict[str, DeIdentifier] = {}

    def deidentifier(self, rule: AttributeCoercion) -> DeIdentifier:
        """The de-identifier of the rule's options.

        Raises:
            ValueError: an unknown option name.
        """
        ssp = rule.scheme_specific_part
        found = self._cache.get(ssp)
        if found is None:
            found = self._cache[ssp] = DeIdentifier.from_text(ssp)
        return found

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        self.deidentifier(rule).deidentify(dataset)
        return True


_PATH_PART = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<index>\d+)\])?$")


def _tag(name: str, text: str) -> int:
    from pydicom.datadict import tag_for_keyword

    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        return int(name, 16)
    tag = tag_for_keyword(name)
    if tag is None:
        raise ValueError(f"dcmMergeAttribute {text!r}: unknown DICOM keyword {name!r}")
    return int(tag)


def _vr(tag: int, text: str) -> str:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        raise ValueError(f"dcmMergeAttribute {text!r}: no VR known for tag {tag:08X} (private or unknown)") from None


def _parse_path(path: str, text: str) -> list[tuple[int, int]]:
    """``Seq[2].Seq2.Attr`` → ``[(Seq, 1), (Seq2, 0), (Attr, -1)]``: item numbers count from 1, as dcm4chee's
    ``MergeAttribute`` reads them (it subtracts 1 and refuses ``[0]``); the result holds 0-based positions."""
    out: list[tuple[int, int]] = []
    parts = path.split(".")
    for i, part in enumerate(parts):
        m = _PATH_PART.match(part.strip())
        if m is None:
            raise ValueError(f"dcmMergeAttribute {text!r}: bad path element {part!r}")
        last = i == len(parts) - 1
        if last and m.group("index") is not None:
            raise ValueError(f"dcmMergeAttribute {text!r}: an item index belongs to a sequence, not to {part!r}")
        number = int(m.group("index") or 1)
        if number < 1:
            raise ValueError(
                f"dcmMergeAttribute {text!r}: item numbers count from 1 ({m.group('name')}[1] is the first item)"
            )
        out.append((_tag(m.group("name"), text), -1 if last else number - 1))
    return out


def merge_attributes(dataset: Dataset, texts: Sequence[str]) -> None:
    """Apply ``dcmMergeAttribute`` values to ``dataset`` in order; every format sees the values as they were
    before the first one (upstream: "replaced by the value of that attribute in the original dataset").

    Raises:
        ValueError: a malformed value or an unknown keyword.
        ConfigurationError: an attribute format that is malformed or not supported.
    """
    from dcm_exporter.attribute_format import AttributesFormat

    planned = []
    for text in texts:  # parse and format everything first: no copy of the data set is needed
        action, steps = _parse_merge(text)
        value = AttributesFormat(text.partition("=")[2]).format(dataset) if action == "set" else None
        planned.append((text, action, steps, value))
    for text, action, steps, value in planned:
        _merge(dataset, text, action, steps, value)


def merge_attribute(dataset: Dataset, text: str) -> None:
    """Apply one ``dcmMergeAttribute`` value (see :func:`merge_attributes`)."""
    merge_attributes(dataset, [text])


def _parse_merge(text: str) -> tuple[str, list[tuple[int, int]]]:
    if "=" in text:
        path, _, fmt = text.partition("=")
        action = "set" if fmt else "nullify"
    elif text.endswith("!"):
        path, action = text[:-1], "remove"
    else:
        raise ValueError(f"dcmMergeAttribute {text!r} is not Path=format, Path= or Path!")
    return action, _parse_path(path.strip(), text)


def _merge(dataset: Dataset, text: str, action: str, steps: list[tuple[int, int]], value: str | None) -> None:
    from pydicom import config
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset as PydicomDataset

    # only a value to set creates the items on its path; removing and emptying (upstream: only an attribute
    # that has a value) leave a data set without the attribute as it is
    creates = action == "set"
    target: Any = dataset
    for tag, index in steps[:-1]:
        elem = target.get(tag)
        if elem is None or elem.VR != "SQ":
            if not creates:
                return
            target[tag] = DataElement(tag, "SQ", [])
            elem = target[tag]
        items = elem.value
        while len(items) <= index:
            if not creates:
                return
            items.append(PydicomDataset())
        target = items[index]
    tag = steps[-1][0]
    if action == "remove":
        if tag in target:
            del target[tag]
        return
    vr = _vr(tag, text)
    if action == "nullify":
        if tag in target and not target[tag].is_empty:
            target[tag] = DataElement(tag, vr, [] if vr == "SQ" else None)
        return
    if vr == "SQ":
        raise ValueError(f"dcmMergeAttribute {text!r}: cannot set a value of a sequence")
    # as dcm4che: the formatted value is set as it is (a value longer than its VR allows is not refused); a
    # backslash separates values except in the single-valued text VRs (LT, ST, UT, UR), as pydicom reads it
    target[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)


class MergeAttributesProcessor:
    """``merge-attrs:``: the rule's ``dcmMergeAttribute`` values, in order."""

    def check(self, rule: AttributeCoercion) -> None:
        if not rule.merge_attributes:
            raise ConfigurationError(f"attribute coercion {rule.name!r} ({rule.uri}) has no dcmMergeAttribute")

    def leaves_unchanged(self, rule: AttributeCoercion, dataset: Dataset) -> bool:
        """Only removals of top-level attributes the data set does not have (upstream's default rule on AE
        ``DCM4CHEE`` removes Encapsulated Pixel Data Value Total Length from everything it sends)."""
        for text in rule.merge_attributes:
            if "=" in text or not text.endswith("!") or "." in text:
                return False
            try:
                tag = _tag(text[:-1].strip(), text)
            except ValueError:
                return False
            if tag in dataset:
                return False
        return True

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        merge_attributes(dataset, rule.merge_attributes)
        return True


class NullifyPixelDataProcessor:
    """``nullify-pixel-data:``: the top-level Pixel Data is written with zero length."""

    def leaves_unchanged(self, rule: AttributeCoercion, dataset: Dataset) -> bool:
        return PIXEL_DATA not in dataset

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        from pydicom.dataelem import DataElement

        elem = dataset.get(PIXEL_DATA)
        if elem is not None:
            vr = elem.VR if elem.VR in ("OB", "OW") else "OB"
            dataset[PIXEL_DATA] = DataElement(PIXEL_DATA, vr, b"")
        return True


class NoopProcessor:
    """``retrieve-as-received:``: nothing to do here (the data set is sent as stored anyway)."""

    def leaves_unchanged(self, rule: AttributeCoercion, dataset: Dataset) -> bool:
        return True

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        return True


class ChangeCharsetProcessor:
    """``change-charset:<code>[:<code>...]``: decode every text with the current character set, re-encode."""

    def check(self, rule: AttributeCoercion) -> None:
        from pydicom.charset import python_encoding

        for code in _codes(rule):
            if code and code not in python_encoding:
                raise ConfigurationError(
                    f"attribute coercion {rule.name!r}: {rule.uri}: unknown Specific Character Set {code!r}"
                )

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        codes = _codes(rule)
        dataset.decode()
        dataset.SpecificCharacterSet = codes[0] if len(codes) == 1 else codes
        return True


def _codes(rule: AttributeCoercion) -> list[str]:
    codes = rule.scheme_specific_part.split(":")
    return [c.strip() for c in codes]


_TRIMMED = {
    "ISO 2022 IR 6": "",
    "ISO 2022 IR 100": "ISO_IR 100",
    "ISO 2022 IR 101": "ISO_IR 101",
    "ISO 2022 IR 109": "ISO_IR 109",
    "ISO 2022 IR 110": "ISO_IR 110",
    "ISO 2022 IR 144": "ISO_IR 144",
    "ISO 2022 IR 127": "ISO_IR 127",
    "ISO 2022 IR 126": "ISO_IR 126",
    "ISO 2022 IR 138": "ISO_IR 138",
    "ISO 2022 IR 148": "ISO_IR 148",
    "ISO 2022 IR 13": "ISO_IR 13",
    "ISO 2022 IR 166": "ISO_IR 166",
    "ISO 2022 IR 203": "ISO_IR 203",
}


class TrimISO2022Processor:
    """``trim-ISO2022:``: a single ISO 2022 code (no extension in use) becomes the plain code."""

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        elem = dataset.get(0x00080005)
        if elem is None or not elem.value:
            return False
        value = elem.value
        codes = [value] if isinstance(value, str) else list(value)
        if len(codes) != 1 or codes[0].strip() not in _TRIMMED:
            return False
        dataset.SpecificCharacterSet = _TRIMMED[codes[0].strip()]
        return True


class RefusedProcessor:
    """A scheme dcm4chee implements with services dcm_exporter does not have: refused at configuration time."""

    def __init__(self, needs: str) -> None:
        self.needs = needs

    def check(self, rule: AttributeCoercion) -> None:
        raise ConfigurationError(
            f"attribute coercion {rule.name!r} ({rule.uri}): the {rule.scheme}: processor needs {self.needs}, "
            "which dcm_exporter does not provide; remove the rule or restrict its conditions to destinations "
            "dcm_exporter does not export to (see docs/explanation/deviations.md)"
        )

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        self.check(rule)
        return False  # pragma: no cover - check raises


DEIDENTIFY = DeidentifyProcessor()
MERGE_ATTRIBUTES = MergeAttributesProcessor()
NULLIFY_PIXEL_DATA = NullifyPixelDataProcessor()
RETRIEVE_AS_RECEIVED = NoopProcessor()
CHANGE_CHARSET = ChangeCharsetProcessor()
TRIM_ISO2022 = TrimISO2022Processor()
LEADING_ARC = RefusedProcessor("a C-FIND to a leading archive")
MERGE_MWL = RefusedProcessor("a modality worklist query (C-FIND or the archive's worklist)")
SUPPLEMENT_FROM_DEVICE = RefusedProcessor("the archive's device-supplement service")
