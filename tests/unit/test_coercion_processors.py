"""Coercion processors case by case: ``merge-attrs:`` (paths, nullify, remove, multi-valued values, sequences),
``nullify-pixel-data:``, ``trim-ISO2022:``, ``change-charset:``."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dcm_exporter.coercion.engine import CoercionContext
from dcm_exporter.coercion.processors import (
    ChangeCharsetProcessor,
    MergeAttributesProcessor,
    NullifyPixelDataProcessor,
    TrimISO2022Processor,
    merge_attributes,
)
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import AttributeCoercion


def dataset() -> Dataset:
    ds = Dataset()
    ds.PatientID = "P1"
    ds.AccessionNumber = "A1"
    ds.StudyDescription = "Knee"
    code = Dataset()
    code.CodeValue = "1"
    code.CodingSchemeDesignator = "99LOCAL"
    ds.ProcedureCodeSequence = Sequence([code])
    return ds


def test_a_path_through_an_existing_sequence_keeps_its_item() -> None:
    ds = dataset()
    merge_attributes(ds, ["ProcedureCodeSequence.CodeMeaning=m {PatientID}"])
    item = ds.ProcedureCodeSequence[0]
    assert len(ds.ProcedureCodeSequence) == 1
    assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == ("1", "99LOCAL", "m P1")


def test_a_path_with_an_item_number_creates_the_items_up_to_it() -> None:
    # dcm4chee's MergeAttribute counts items from 1 (it subtracts 1 from the number in brackets)
    ds = dataset()
    merge_attributes(ds, ["ProcedureCodeSequence[3].CodeValue=3"])
    assert [getattr(i, "CodeValue", None) for i in ds.ProcedureCodeSequence] == ["1", None, "3"]
    merge_attributes(ds, ["ProcedureCodeSequence[1].CodeMeaning=first"])
    assert ds.ProcedureCodeSequence[0].CodeMeaning == "first" and ds.ProcedureCodeSequence[0].CodeValue == "1"
    merge_attributes(ds, ["RequestAttributesSequence.ScheduledProcedureStepID=S"])
    assert len(ds.RequestAttributesSequence) == 1 and ds.RequestAttributesSequence[0].ScheduledProcedureStepID == "S"


def test_a_path_through_a_non_sequence_replaces_it_by_a_sequence() -> None:
    ds = dataset()
    ds.RequestAttributesSequence = Sequence([])
    merge_attributes(ds, ["RequestAttributesSequence.RequestedProcedureID=R"])
    assert ds.RequestAttributesSequence[0].RequestedProcedureID == "R"


def test_remove_never_creates_what_it_removes_from() -> None:
    ds = dataset()
    merge_attributes(ds, ["RequestAttributesSequence.ScheduledProcedureStepID!", "ProcedureCodeSequence[3].CodeValue!"])
    assert "RequestAttributesSequence" not in ds
    assert len(ds.ProcedureCodeSequence) == 1 and ds.ProcedureCodeSequence[0].CodeValue == "1"
    merge_attributes(ds, ["ProcedureCodeSequence.CodeValue!", "StudyDescription!", "InstitutionName!"])
    assert "CodeValue" not in ds.ProcedureCodeSequence[0] and "StudyDescription" not in ds
    assert "InstitutionName" not in ds
    merge_attributes(ds, ["PatientID!"])
    assert "PatientID" not in ds and ds.AccessionNumber == "A1"


def test_item_number_zero_is_refused_as_upstream_refuses_it() -> None:
    with pytest.raises(ValueError, match=r"count from 1 \(ProcedureCodeSequence\[1\] is the first item\)"):
        merge_attributes(dataset(), ["ProcedureCodeSequence[0].CodeValue=3"])


def test_nullify_keeps_the_attribute_without_a_value_and_empties_a_sequence() -> None:
    ds = dataset()
    merge_attributes(ds, ["AccessionNumber=", "ProcedureCodeSequence=", "InstitutionName="])
    assert "AccessionNumber" in ds and ds["AccessionNumber"].is_empty
    assert "ProcedureCodeSequence" in ds and len(ds.ProcedureCodeSequence) == 0
    # as upstream (only an attribute with a value is emptied): an absent one is not added
    assert "InstitutionName" not in ds


def test_nullify_never_creates_the_items_of_its_path() -> None:
    ds = dataset()
    merge_attributes(ds, ["RequestAttributesSequence.ScheduledProcedureStepID=", "ProcedureCodeSequence[2].CodeValue="])
    assert "RequestAttributesSequence" not in ds and len(ds.ProcedureCodeSequence) == 1
    merge_attributes(ds, ["ProcedureCodeSequence[1].CodeValue="])
    assert ds.ProcedureCodeSequence[0]["CodeValue"].is_empty


def test_a_sequence_cannot_be_set_to_a_value() -> None:
    with pytest.raises(ValueError, match="cannot set a value of a sequence"):
        merge_attributes(dataset(), ["ProcedureCodeSequence=x"])


def test_a_backslash_makes_several_values_and_one_value_stays_one() -> None:
    ds = dataset()
    merge_attributes(ds, ["ImageType=DERIVED\\SECONDARY", "StudyID=1"])
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.StudyID == "1" and isinstance(ds["StudyID"].value, str)
    merge_attributes(ds, ["StudyDescription=\\"])  # two empty values
    assert ds["StudyDescription"].VM == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ProcedureCodeSequence.CodeValue[1]=x", "an item index belongs to a sequence"),
        ("StudyID[0]!", "an item index belongs to a sequence"),
        ("StudyID[x]!", "bad path element"),
        ("NoSuchKeyword=1", "NoSuchKeyword"),
        ("StudyID", "is not Path=format, Path= or Path!"),
    ],
)
def test_malformed_values_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        merge_attributes(dataset(), [text])


def test_every_format_sees_the_values_from_before_the_first() -> None:
    ds = dataset()
    merge_attributes(ds, ["AccessionNumber=B{PatientID}", "StudyID={AccessionNumber}", "PatientID=Q"])
    assert (ds.AccessionNumber, ds.StudyID, ds.PatientID) == ("BP1", "A1", "Q")


# --- the processors themselves ---------------------------------------------------------------------------

CONTEXT = CoercionContext(sop_class_uid="1.2.840.10008.5.1.4.1.1.2")


def rule(uri: str, *merge: str) -> AttributeCoercion:
    return AttributeCoercion(name="R", uri=uri, dimse="C_STORE_RQ", role="SCP", merge_attributes=merge)


@pytest.mark.parametrize(
    ("merge", "unchanged"),
    [
        (("InstitutionName!",), True),  # removing what is not there changes nothing
        (("InstitutionName!", "StationName!"), True),
        (("PatientID!",), False),  # it is there
        (("InstitutionName!", "PatientID!"), False),
        (("InstitutionName=X",), False),
        (("InstitutionName=",), False),
        (("RequestAttributesSequence.ScheduledProcedureStepID!",), False),  # nested: not looked into
        (("NoSuchKeyword!",), False),  # applying it reports the error
    ],
)
def test_merge_attrs_leaves_unchanged_only_removals_of_absent_top_level_attributes(
    merge: tuple[str, ...], unchanged: bool
) -> None:
    assert MergeAttributesProcessor().leaves_unchanged(rule("merge-attrs:", *merge), dataset()) is unchanged


def test_merge_attrs_needs_a_merge_attribute() -> None:
    with pytest.raises(ConfigurationError, match="has no dcmMergeAttribute"):
        MergeAttributesProcessor().check(rule("merge-attrs:"))
    MergeAttributesProcessor().check(rule("merge-attrs:", "StudyID=1"))


@pytest.mark.parametrize(("vr", "kept"), [("OW", "OW"), ("OB", "OB"), ("UN", "OB")])
def test_nullify_pixel_data_keeps_ob_or_ow_and_an_empty_value(vr: str, kept: str) -> None:
    ds = dataset()
    assert NullifyPixelDataProcessor().leaves_unchanged(rule("nullify-pixel-data:"), ds)
    ds.add_new(0x7FE00010, vr, b"\x01\x02")
    assert not NullifyPixelDataProcessor().leaves_unchanged(rule("nullify-pixel-data:"), ds)
    assert NullifyPixelDataProcessor().coerce(rule("nullify-pixel-data:"), ds, CONTEXT)
    assert kept == ds[0x7FE00010].VR and ds[0x7FE00010].value == b""


def test_nullify_pixel_data_without_pixel_data_adds_none() -> None:
    ds = dataset()
    assert NullifyPixelDataProcessor().coerce(rule("nullify-pixel-data:"), ds, CONTEXT)
    assert 0x7FE00010 not in ds


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ("ISO 2022 IR 100", "ISO_IR 100", True),
        ("ISO 2022 IR 6", "", True),
        (" ISO 2022 IR 192", " ISO 2022 IR 192", False),  # not a code it trims
        ("ISO_IR 100", "ISO_IR 100", False),
        (["ISO 2022 IR 6", "ISO 2022 IR 87"], ["ISO 2022 IR 6", "ISO 2022 IR 87"], False),  # extensions in use
        (["ISO 2022 IR 144"], "ISO_IR 144", True),
    ],
)
def test_trim_iso2022(before: object, after: object, changed: bool) -> None:
    ds = dataset()
    ds.SpecificCharacterSet = before
    assert TrimISO2022Processor().coerce(rule("trim-ISO2022:"), ds, CONTEXT) is changed
    value = ds.SpecificCharacterSet
    assert (list(value) if not isinstance(value, str) else value) == after


def test_trim_iso2022_without_a_character_set_does_nothing() -> None:
    ds = dataset()
    assert TrimISO2022Processor().coerce(rule("trim-ISO2022:"), ds, CONTEXT) is False
    assert "SpecificCharacterSet" not in ds
    ds.SpecificCharacterSet = ""
    assert TrimISO2022Processor().coerce(rule("trim-ISO2022:"), ds, CONTEXT) is False


def test_change_charset_sets_one_or_several_codes() -> None:
    ds = dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller"
    assert ChangeCharsetProcessor().coerce(rule("change-charset:ISO_IR 192"), ds, CONTEXT)
    assert ds.SpecificCharacterSet == "ISO_IR 192" and ds.PatientName == "Müller"
    ds = dataset()
    assert ChangeCharsetProcessor().coerce(rule("change-charset:ISO 2022 IR 6: ISO 2022 IR 87"), ds, CONTEXT)
    assert list(ds.SpecificCharacterSet) == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    ChangeCharsetProcessor().check(rule("change-charset:ISO_IR 192:ISO_IR 100"))
    with pytest.raises(ConfigurationError, match="unknown Specific Character Set 'NOPE'"):
        ChangeCharsetProcessor().check(rule("change-charset:ISO_IR 192:NOPE"))


def test_paths_take_hex_tags_too() -> None:
    ds = dataset()
    merge_attributes(ds, ["00100020=Q", "00081032[1].00080104=m", "00081030!"])
    assert ds.PatientID == "Q" and ds.ProcedureCodeSequence[0].CodeMeaning == "m"
    assert "StudyDescription" not in ds


def test_a_backslash_in_a_single_valued_text_is_part_of_the_text() -> None:
    ds = dataset()
    merge_attributes(ds, ["ImageComments=a\\b", "StudyDescription=c\\d"])  # LT, LO
    assert ds.ImageComments == "a\\b" and ds["ImageComments"].VM == 1
    assert list(ds.StudyDescription) == ["c", "d"]
