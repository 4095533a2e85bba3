"""dcm4che conditions (``dcmProperty`` of export rules): every form, parsed and evaluated."""

from __future__ import annotations

import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dcm_exporter.conditions import (
    CodeItem,
    ConditionError,
    dataset_view,
    parse_condition,
    parse_conditions,
)

NET = ("MODALITY", "ARCHIVE", "mod.example.org", "arc.example.org")


def holds(text: str, ds: Dataset | dict, net: tuple[str | None, ...] = NET) -> bool:
    return parse_condition(text).compile()(dataset_view(ds), net)


def ct() -> Dataset:
    ds = Dataset()
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientID = "00123"
    ds.PatientName = "Doe^John"
    ds.AccessionNumber = ""
    ds.BodyPartExamined = "KNEE"
    ds.SliceThickness = "1.25"
    ds.Rows = 512
    ds.StudyDescription = "  Knee  "
    item1 = Dataset()
    item1.ScheduledProcedureStepID = "SPS1"
    item1.RequestedProcedureID = "RP1"
    item2 = Dataset()
    item2.ScheduledProcedureStepID = "SPS2"
    ds.RequestAttributesSequence = DicomSequence([item1, item2])
    code = Dataset()
    code.CodeValue = "MRProcedure"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = "MR procedure"
    ds.ProcedureCodeSequence = DicomSequence([code])
    ds.ReferencedStudySequence = DicomSequence([])
    return ds


# --- regular expressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Modality=CT", True),
        ("Modality=CT|MR", True),
        ("Modality=MR|US", False),
        ("Modality=C", False),  # full match, not search
        ("Modality=.T", True),
        ("Modality=ct", False),  # case-sensitive
        ("Modality=(?i)ct", True),
        ("PatientID=00.*", True),
        ("PatientName=Doe\\^.*", True),
        ("StudyDescription=Knee", True),  # surrounding blanks are not part of the value
        ("SliceThickness=1\\.25", True),
        ("Rows=512", True),
    ],
)
def test_regex_full_match(text: str, expected: bool) -> None:
    assert holds(text, ct()) is expected


def test_multi_valued_any_value_matches() -> None:
    assert holds("ImageType=AXIAL", ct())
    assert holds("ImageType=ORIGINAL", ct())
    assert not holds("ImageType=LOCALIZER", ct())
    # != holds when no value matches
    assert holds("ImageType!=LOCALIZER", ct())
    assert not holds("ImageType!=PRIMARY", ct())


def test_value_index_selects_one_value() -> None:
    assert holds("ImageType[3]=AXIAL", ct())
    assert not holds("ImageType[1]=AXIAL", ct())
    assert holds("ImageType[1]!=AXIAL", ct())
    assert holds("ImageType[2]=PRIMARY", ct())


def test_value_index_beyond_the_values_does_not_match() -> None:
    # deviation from upstream (which counts it as a match), documented in the module
    assert not holds("ImageType[4]=.*", ct())
    assert holds("ImageType[4]!=LOCALIZER", ct())


def test_empty_components_of_multi_valued_attribute_are_skipped() -> None:
    ds = Dataset()
    ds.ImageType = ["DERIVED", "", "LOCALIZER"]
    assert holds("ImageType[3]=LOCALIZER", ds)
    assert not holds("ImageType[2]=.*", ds)
    assert not holds("ImageType=", ds)  # it has values


def test_negation_holds_when_attribute_is_missing() -> None:
    ds = Dataset()
    assert holds("Modality!=MR|CT", ds)
    assert not holds("Modality=.*", ds)
    # AccessionNumber!=.+ is the upstream idiom for "no value"
    assert holds("AccessionNumber!=.+", ct())
    assert holds("AccessionNumber!=.+", ds)


# --- presence tests --------------------------------------------------------------------------------------


def test_key_equals_nothing_means_absent_or_empty() -> None:
    assert holds("AccessionNumber=", ct())  # present but empty
    assert holds("InstitutionName=", ct())  # absent
    assert not holds("Modality=", ct())


def test_key_not_equals_nothing_means_present_with_value() -> None:
    assert holds("Modality!=", ct())
    assert not holds("AccessionNumber!=", ct())
    assert not holds("InstitutionName!=", ct())


def test_presence_of_sequences_counts_items() -> None:
    assert holds("RequestAttributesSequence!=", ct())
    assert holds("ReferencedStudySequence=", ct())  # present without items
    assert not holds("ReferencedStudySequence!=", ct())
    assert holds("ReferencedSeriesSequence=", ct())  # absent


# --- tags and nested paths -------------------------------------------------------------------------------


def test_tags_in_hex() -> None:
    assert holds("00080060=CT", ct())
    assert holds("00180015=JAW|KNEE", ct())
    assert holds("00080060!=MR", ct())
    assert parse_condition("0008006a=X").path == (0x0008006A,)  # hex is case-insensitive


def test_nested_path_any_item() -> None:
    assert holds("RequestAttributesSequence.ScheduledProcedureStepID=SPS2", ct())
    assert holds("00400275.00400009=SPS1", ct())
    assert holds("RequestAttributesSequence.00400009=SPS.", ct())
    assert not holds("RequestAttributesSequence.ScheduledProcedureStepID=SPS3", ct())
    assert holds("RequestAttributesSequence.ScheduledProcedureStepID!=SPS3", ct())
    assert not holds("RequestAttributesSequence.ScheduledProcedureStepID!=SPS1", ct())


def test_nested_presence_is_per_item() -> None:
    # the second item has no Requested Procedure ID: "some item lacks it" holds, so "!=" (none lacks it) fails
    assert holds("RequestAttributesSequence.RequestedProcedureID=", ct())
    assert not holds("RequestAttributesSequence.RequestedProcedureID!=", ct())
    # a missing sequence: no item lacks it
    assert not holds("ReferencedSeriesSequence.SeriesInstanceUID=", ct())
    assert holds("ReferencedSeriesSequence.SeriesInstanceUID!=", ct())


def test_code_value_in_sequence() -> None:
    assert holds("ProcedureCodeSequence.CodeValue=MRProcedure", ct())
    assert holds("00081032.00080100=MR.*", ct())


def test_code_list_matches_first_item_ignoring_meaning() -> None:
    assert holds('ProcedureCodeSequence=(MRProcedure, 99LOCAL, "anything")', ct())
    assert holds('ProcedureCodeSequence=(X, Y, "z")|(MRProcedure, 99LOCAL, "m")', ct())
    assert not holds('ProcedureCodeSequence=(MRProcedure, OTHER, "m")', ct())
    assert holds('ProcedureCodeSequence!=(MRProcedure, OTHER, "m")', ct())
    assert not holds('RequestAttributesSequence=(MRProcedure, 99LOCAL, "m")', ct())  # no code in the item


def test_code_parse_forms() -> None:
    assert CodeItem.parse('(113001, DCM, "Rejected")') == CodeItem(value="113001", scheme="DCM", version=None)
    assert CodeItem.parse('(1, SRT [1.4], "x")') == CodeItem(value="1", scheme="SRT", version="1.4")
    assert CodeItem.parse('(1, DCM [01], "x")').version is None
    with pytest.raises(ValueError):
        CodeItem.parse("(1, DCM)")


def test_code_text_form_edges() -> None:
    # dcm4che's Code(String): "(" value "," scheme ["[" version "]"] "," '"' meaning '")', each part trimmed and
    # not empty; the meaning starts at the first quote after the second comma
    assert CodeItem.parse('(1,X,"m")') == CodeItem(value="1", scheme="X", version=None)  # the shortest: 9 chars
    assert CodeItem.parse('(113001,DCM,"Rejected")') == CodeItem(value="113001", scheme="DCM", version=None)


@pytest.mark.parametrize(
    "text",
    [
        'x(113001, DCM, "Rejected")',  # not opened by "("
        '(113001, DCM, "Rejected"x)',  # not closed by '")'
        '(113001, DCM "Rejected")',  # one comma
        '( , DCM, "Rejected")',  # no value
        '(113001, , "Rejected")',  # no scheme
        '(113001,,DCM, "Rejected")',  # no scheme: it is what lies between the first two commas
        '(113001, DCM, "  ")',  # no meaning
        '(1, 99"X", "")',  # no meaning: the quote in the scheme is not where it starts
    ],
)
def test_text_that_is_no_code(text: str) -> None:
    with pytest.raises(ValueError):
        CodeItem.parse(text)


def _coded(scheme: str, version: str | None) -> Dataset:
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = scheme
    if version is not None:
        code.CodingSchemeVersion = version
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds = Dataset()
    ds.ProcedureCodeSequence = DicomSequence([code])
    return ds


def test_version_01_of_dcm_is_no_version_and_only_of_dcm() -> None:
    # dcm4che's Code drops Coding Scheme Version "01" when the scheme is DCM (and only then): a DCM code with
    # version 01 and one without a version are the same code; any other scheme's 01, or another DCM version,
    # is a version like any other and must match
    assert holds('ProcedureCodeSequence=(113100, DCM, "x")', _coded("DCM", "01"))
    assert holds('ProcedureCodeSequence=(113100, DCM [01], "x")', _coded("DCM", None))
    assert not holds('ProcedureCodeSequence=(113100, DCM, "x")', _coded("DCM", "02"))
    assert holds('ProcedureCodeSequence=(113100, DCM [02], "x")', _coded("DCM", "02"))
    assert not holds('ProcedureCodeSequence=(113100, 99LOCAL, "x")', _coded("99LOCAL", "01"))
    assert holds('ProcedureCodeSequence=(113100, 99LOCAL [01], "x")', _coded("99LOCAL", "01"))
    assert not holds('ProcedureCodeSequence=(113100, 99LOCAL [01], "x")', _coded("99LOCAL", None))
    assert CodeItem.parse('(1, SRT [01], "x")') == CodeItem(value="1", scheme="SRT", version="01")
    assert CodeItem.parse('(1, DCM [02], "x")') == CodeItem(value="1", scheme="DCM", version="02")


def test_value_starting_with_parenthesis_that_is_no_code_is_a_regex() -> None:
    assert holds("Modality=(CT|MR)", ct())


# --- network keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SendingApplicationEntityTitle=MODALITY", True),
        ("SendingApplicationEntityTitle=MOD", False),
        ("SendingApplicationEntityTitle=MOD.*", True),
        ("SendingApplicationEntityTitle!=FORWARD", True),
        ("ReceivingApplicationEntityTitle=ARCHIVE", True),
        ("ReceivingApplicationEntityTitle!=ARCHIVE", False),
        ("SendingHostname=.*\\.example\\.org", True),
        ("ReceivingHostname=arc\\..*", True),
        ("ReceivingHostname!=arc\\..*", False),
    ],
)
def test_network_keys(text: str, expected: bool) -> None:
    assert holds(text, Dataset()) is expected


def test_unknown_network_value() -> None:
    net = ("MOD", "ARC", None, None)
    assert not holds("SendingHostname=.*", Dataset(), net)
    assert holds("SendingHostname!=host", Dataset(), net)
    assert holds("SendingHostname=", Dataset(), net)
    assert not holds("SendingHostname!=", Dataset(), net)
    assert not holds("SendingHostname=", Dataset())


# --- DICOM JSON datasets -------------------------------------------------------------------------------


def test_dicom_json_dataset() -> None:
    ds = {
        "00080060": {"vr": "CS", "Value": ["MR"]},
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00280010": {"vr": "US", "Value": [256]},
        "00080050": {"vr": "SH"},
        "00400275": {"vr": "SQ", "Value": [{"00400009": {"vr": "SH", "Value": ["SPS9"]}}]},
    }
    assert holds("Modality=MR", ds)
    assert holds("ImageType[2]=PRIMARY", ds)
    assert holds("PatientName=Doe\\^Jane", ds)
    assert holds("Rows=256", ds)
    assert holds("AccessionNumber=", ds)
    assert holds("RequestAttributesSequence.ScheduledProcedureStepID=SPS9", ds)
    assert holds("RequestAttributesSequence!=", ds)


def test_other_dataset_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="pydicom Dataset or a DICOM JSON mapping"):
        dataset_view(["Modality", "CT"])


# --- parsing errors and precedence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Modality", "is not Key=value"),
        ("=CT", "has no key"),
        ("modality=CT", "unknown DICOM keyword 'modality' (keywords are case-sensitive: Modality)"),
        ("NoSuchKeyword=1", "unknown DICOM keyword 'NoSuchKeyword'"),
        ("Modality=[CT", "invalid regular expression"),
        ("Modality=\\p{Alpha}", "invalid regular expression"),
        ("ImageType[0]=X", "must be 1 or more"),
        ("ImageType[x]=X", "is not a number"),
        ("Modality.CodeValue=X", "'Modality' is not a sequence"),
        ("RequestAttributesSequence..X=1", "empty element"),
        ("SendingApplicationEntityTitle[1]=X", "network key"),
        ("PatientID=§PATIENT_ID_EST", "value predicates"),
    ],
)
def test_bad_conditions(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_value_may_contain_equals_and_bang() -> None:
    cond = parse_condition("StudyDescription!=a=b!")
    assert cond.negate and cond.key == "StudyDescription" and cond.pattern is not None
    assert cond.pattern.pattern == "a=b!"


def test_repeated_key_last_wins_and_forms_are_distinct() -> None:
    conditions, notes = parse_conditions(["Modality=CT", "Modality!=MR", "Modality=MR", "ImageType[1]=X"])
    texts = [c.text for c in conditions]
    assert texts == ["Modality!=MR", "Modality=MR", "ImageType[1]=X"]
    assert notes == ["condition 'Modality=CT' is replaced by 'Modality=MR' (same key)"]


def test_network_conditions_come_first() -> None:
    conditions, _ = parse_conditions(
        ["RequestAttributesSequence.ScheduledProcedureStepID=1", "Modality=CT", "SendingHostname=x"]
    )
    keys = [c.key for c in conditions]
    assert keys == ["SendingHostname", "Modality", "RequestAttributesSequence.ScheduledProcedureStepID"]


# --- datasets as read from files (elements pydicom has not converted yet) -----------------------------------


def _read_back(ds: Dataset, *, implicit: bool = False) -> Dataset:
    from io import BytesIO

    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    ds = ds.copy()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


RAW_CASES = [
    "Modality=CT",
    "ImageType[3]=AXIAL",
    "ImageType=PRIMARY",
    "PatientID=00.*",
    "PatientName=Doe\\^John",
    "AccessionNumber=",
    "AccessionNumber!=",
    "Modality!=",
    "StudyDescription=Knee",
    "SliceThickness=1\\.25",
    "Rows=512",
    "RequestAttributesSequence.ScheduledProcedureStepID=SPS2",
    "RequestAttributesSequence.RequestedProcedureID=",
    'ProcedureCodeSequence=(MRProcedure, 99LOCAL, "m")',
    "InstitutionName=",
]


@pytest.mark.parametrize("implicit", [False, True])
def test_raw_elements_decide_like_converted_ones(implicit: bool) -> None:
    converted = ct()
    raw = _read_back(converted, implicit=implicit)
    assert type(raw.get_item(0x00080060)).__name__ == "RawDataElement"
    for text in RAW_CASES:
        assert holds(text, raw) is holds(text, converted), text


@pytest.mark.parametrize(
    ("charset", "name"),
    [("ISO_IR 100", "Müller^Jürgen"), ("ISO_IR 192", "Łukasz^Żółw"), ("ISO_IR 144", "Иванов^Иван")],
)
def test_raw_text_in_specific_character_sets(charset: str, name: str) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.InstitutionName = name.split("^")[0]
    raw = _read_back(ds)
    assert holds(f"PatientName={name.replace('^', '.')}", raw)
    assert holds(f"InstitutionName={name.split('^')[0]}", raw)
    assert not holds("InstitutionName=Other", raw)


# --- cases decided one by one (each pins a rule no other test reaches) ------------------------------------


def _three_views(ds: Dataset) -> list[object]:
    """The same data as a converted pydicom dataset, as read from a file (raw elements), and as DICOM JSON."""
    return [ds, _read_back(ds), ds.to_json_dict()]


def test_any_value_match_skips_empty_values_instead_of_stopping() -> None:
    ds = Dataset()
    ds.ImageType = ["", "DERIVED", "", "LOCALIZER"]
    for view in _three_views(ds):
        assert holds("ImageType=DERIVED", view)
        assert holds("ImageType=LOCALIZER", view)  # after an empty value
        assert not holds("ImageType=", view)
        assert not holds("ImageType=.*X.*", view)
        assert holds("ImageType!=.*X.*", view)


def test_json_null_values_are_skipped_too() -> None:
    ds = {"00080008": {"vr": "CS", "Value": [None, "ORIGINAL", None, "AXIAL"]}}
    assert holds("ImageType=AXIAL", ds)
    assert holds("ImageType[2]=ORIGINAL", ds)
    assert not holds("ImageType[1]=.*", ds)


def test_empty_network_value_counts_as_absent_and_never_matches() -> None:
    net = ("", "ARCHIVE", "", "arc")
    assert not holds("SendingApplicationEntityTitle=.*", Dataset(), net)
    assert not holds("SendingApplicationEntityTitle=", Dataset(), ("X", "ARCHIVE", "h", "arc"))
    assert holds("SendingApplicationEntityTitle=", Dataset(), net)  # presence test: absent
    assert not holds("SendingApplicationEntityTitle!=", Dataset(), net)
    assert holds("SendingApplicationEntityTitle!=.*", Dataset(), net)  # no value, so no match
    assert holds("SendingHostname!=h", Dataset(), net)
    assert holds("ReceivingHostname=arc", Dataset(), net)


def test_network_value_written_like_a_code_list_is_compared_as_text() -> None:
    cond = parse_condition('SendingApplicationEntityTitle=(A, B, "c")')
    assert cond.codes is None and cond.pattern is not None and not cond.is_presence_test
    # as a regular expression: the group matches the text inside the parentheses
    assert holds('SendingApplicationEntityTitle=(A, B, "c")', Dataset(), ('A, B, "c"', "ARC", "h", "h"))
    assert not holds('SendingApplicationEntityTitle=(A, B, "c")', Dataset(), ("A", "ARC", "h", "h"))


def _code(value: str, scheme: str = "99LOCAL") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = value.lower()
    return item


def test_code_list_reads_the_first_item_of_the_code_sequence() -> None:
    # dcm4che's code matcher reads the first item (getNestedDataset); a code in a later item does not count
    ds = Dataset()
    ds.ProcedureCodeSequence = DicomSequence([_code("FIRST"), _code("SECOND")])
    for view in _three_views(ds):
        assert holds('ProcedureCodeSequence=(FIRST, 99LOCAL, "x")', view)
        assert not holds('ProcedureCodeSequence=(SECOND, 99LOCAL, "x")', view)
        assert holds('ProcedureCodeSequence!=(SECOND, 99LOCAL, "x")', view)


def test_code_list_under_a_path_matches_in_any_item_of_the_outer_sequence() -> None:
    ds = Dataset()
    first, second = Dataset(), Dataset()
    first.ScheduledProtocolCodeSequence = DicomSequence([_code("HEAD")])
    second.ScheduledProtocolCodeSequence = DicomSequence([_code("KNEE")])
    ds.RequestAttributesSequence = DicomSequence([first, second])
    for view in _three_views(ds):
        assert holds('RequestAttributesSequence.ScheduledProtocolCodeSequence=(HEAD, 99LOCAL, "h")', view)
        assert holds('RequestAttributesSequence.ScheduledProtocolCodeSequence=(KNEE, 99LOCAL, "k")', view)
        assert holds('RequestAttributesSequence.ScheduledProtocolCodeSequence=(X, Y, "z")|(KNEE, 99LOCAL, "k")',
                     view)
        assert not holds('RequestAttributesSequence.ScheduledProtocolCodeSequence=(FOOT, 99LOCAL, "f")', view)
        assert not holds('RequestAttributesSequence.ScheduledProtocolCodeSequence!=(KNEE, 99LOCAL, "k")', view)


def test_value_index_presence_test_and_plain_presence_test_are_two_conditions() -> None:
    indexed, plain = parse_condition("ImageType[1]="), parse_condition("ImageType=")
    assert (indexed.identity, plain.identity) == ("ImageType[1]", "ImageType")
    assert indexed.value_index == 1 and plain.value_index == 0
    conditions, notes = parse_conditions(["ImageType[1]=", "ImageType=", "ImageType[1]!=", "ImageType!="])
    assert [c.text for c in conditions] == ["ImageType[1]=", "ImageType=", "ImageType[1]!=", "ImageType!="]
    assert notes == []
    assert [c.identity for c in conditions] == ["ImageType[1]", "ImageType", "ImageType[1]!", "ImageType!"]


@pytest.mark.parametrize("vr_keyword", ["ImageComments", "TextValue", "AdditionalPatientHistory"])
def test_lt_st_ut_keep_leading_blanks_and_drop_trailing_ones(vr_keyword: str) -> None:
    # LT (ImageComments), UT (TextValue), LT (AdditionalPatientHistory): only trailing blanks are padding
    ds = Dataset()
    setattr(ds, vr_keyword, "  indented note  ")
    for view in _three_views(ds):
        assert holds(f"{vr_keyword}=  indented note", view), view
        assert not holds(f"{vr_keyword}=indented note", view)
        assert not holds(f"{vr_keyword}=  indented note  ", view)


def test_st_keeps_leading_blanks_too() -> None:
    ds = Dataset()
    ds.InstitutionAddress = "  Main Street 1 "  # ST
    for view in _three_views(ds):
        assert holds("InstitutionAddress=  Main Street 1", view)
        assert not holds("InstitutionAddress=Main Street 1", view)


def test_lo_values_lose_leading_and_trailing_blanks() -> None:
    ds = Dataset()
    ds.StudyDescription = "  Knee "
    for view in _three_views(ds):
        assert holds("StudyDescription=Knee", view)
        assert not holds("StudyDescription=  Knee", view)


@pytest.mark.parametrize("binary", [{"InlineBinary": "AAAA"}, {"BulkDataURI": "http://x/bulk/1"}])
def test_binary_values_in_json_count_as_present(binary: dict[str, str]) -> None:
    ds = {"00660023": {"vr": "OB", **binary}}  # Triangle Point Index List... any binary element will do
    assert holds("00660023!=", ds)
    assert not holds("00660023=", ds)
    assert not holds("00660023=.*", ds)  # no text to match a regular expression against
    empty = {"00660023": {"vr": "OB"}}
    assert holds("00660023=", empty) and not holds("00660023!=", empty)


def test_at_values_are_compared_as_eight_hex_digits() -> None:
    ds = Dataset()
    ds.FrameIncrementPointer = 0x00181063  # AT: Frame Time
    for view in _three_views(ds):
        assert holds("FrameIncrementPointer=00181063", view)
        assert not holds("FrameIncrementPointer=1577059", view)  # not its decimal value


def test_json_sequences_have_no_text_values_and_absent_elements_no_value() -> None:
    ds = {
        "00400275": {"vr": "SQ", "Value": [{"00400009": {"vr": "SH", "Value": ["SPS1"]}}]},
        "00080060": {"vr": "CS", "Value": ["CT"]},
    }
    assert not holds("RequestAttributesSequence=.*", ds)  # a sequence is no string
    assert holds("RequestAttributesSequence!=.*", ds)
    assert holds("RequestAttributesSequence!=", ds)  # but it has a value: an item
    assert holds("InstitutionName=", ds)  # absent
    assert not holds("InstitutionName!=", ds)
    assert not holds("ReferencedSeriesSequence.SeriesInstanceUID=1.*", ds)  # absent sequence: no item
    assert holds("ReferencedSeriesSequence.SeriesInstanceUID!=1.*", ds)


@pytest.mark.parametrize("drop", ["CodeValue", "CodeMeaning", "CodingSchemeDesignator"])
def test_an_incomplete_code_item_matches_no_code(drop: str) -> None:
    item = _code("HEAD")
    delattr(item, drop)
    ds = Dataset()
    ds.ProcedureCodeSequence = DicomSequence([item])
    for view in _three_views(ds):
        assert not holds('ProcedureCodeSequence=(HEAD, 99LOCAL, "h")', view)
        assert holds('ProcedureCodeSequence!=(HEAD, 99LOCAL, "h")', view)


def test_long_and_urn_code_values_are_codes_too() -> None:
    long_item, urn_item = Dataset(), Dataset()
    long_item.LongCodeValue = "A-VERY-LONG-CODE-VALUE-BEYOND-SIXTEEN"
    long_item.CodingSchemeDesignator = "99LOCAL"
    long_item.CodeMeaning = "long"
    urn_item.URNCodeValue = "urn:oid:1.2.3.4"
    urn_item.CodeMeaning = "urn"
    long_ds, urn_ds = Dataset(), Dataset()
    long_ds.ProcedureCodeSequence = DicomSequence([long_item])
    urn_ds.ProcedureCodeSequence = DicomSequence([urn_item])
    for view in _three_views(long_ds):
        assert holds('ProcedureCodeSequence=(A-VERY-LONG-CODE-VALUE-BEYOND-SIXTEEN, 99LOCAL, "x")', view)
        assert not holds('ProcedureCodeSequence=(A-VERY-LONG-CODE-VALUE-BEYOND-SIXTEEN, OTHER, "x")', view)
    for view in _three_views(urn_ds):
        assert holds('ProcedureCodeSequence=(urn:oid:1.2.3.4, any, "x")', view)  # a URN has no scheme
        assert not holds('ProcedureCodeSequence=(urn:oid:1.2.3.5, any, "x")', view)


def test_a_code_list_never_matches_an_absent_or_empty_sequence() -> None:
    empty = Dataset()
    empty.ProcedureCodeSequence = DicomSequence([])
    for ds in (Dataset(), empty):
        for view in _three_views(ds):
            assert not holds('ProcedureCodeSequence=(HEAD, 99LOCAL, "h")', view)
            assert holds('ProcedureCodeSequence!=(HEAD, 99LOCAL, "h")', view)
