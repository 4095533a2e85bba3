"""The coercion engine without a network: selection, failure policy, processors, encoding, registry."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dcm_exporter.coercion import (
    DeIdentificationOption,
    DeIdentifier,
    ProcessorRegistry,
    encode_part10,
    plan_for_export,
    preview,
    remap_uid,
)
from dcm_exporter.coercion import _deident_tags as tags
from dcm_exporter.coercion.deidentify import parse_options
from dcm_exporter.coercion.xslt import from_native_xml, to_native_xml
from dcm_exporter.errors import CoercionError, ConfigurationError
from dcm_exporter.models import (
    ApplicationEntity,
    AttributeCoercion,
    CoercionOnFailure,
    Configuration,
    Device,
    ExporterDescriptor,
    LegacyAttributeCoercion,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dcm4che"
ACTIONS = SHARED / "deident" / "dcm4che-deidentifier-actions.json"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def rule(name: str, uri: str, *conditions: str, **kwargs: Any) -> AttributeCoercion:
    kwargs.setdefault("dimse", "C_STORE_RQ")
    kwargs.setdefault("role", "SCP")
    return AttributeCoercion(name=name, uri=uri, conditions=conditions, **kwargs)


def empty(value: Any) -> bool:
    """pydicom gives a zero-length value as ``None`` (or ``""``)."""
    return value in (None, "")


def config(ae_rules: list[Any] = (), device_rules: list[Any] = (), legacy: list[Any] = ()) -> Configuration:  # type: ignore[assignment]
    exporter = ExporterDescriptor(exporter_id="X", uri="dicom:DEST", queue_name="Export1", ae_title="ARC")
    return Configuration(
        devices=[
            Device(
                device_name="arc",
                application_entities=[
                    ApplicationEntity(ae_title="ARC", attribute_coercions=ae_rules),
                    ApplicationEntity(ae_title="OTHER", attribute_coercions=[rule("Other AE", "deidentify:")]),
                ],
                attribute_coercions=device_rules,
                legacy_attribute_coercions=legacy,
                exporters=[exporter],
            )
        ]
    )


def plan(cfg: Configuration, dest: str | None = "DEST", **kwargs: Any) -> Any:
    return plan_for_export(cfg, cfg.exporters["X"], receiving_ae_title=dest, **kwargs)


def dataset(**values: Any) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = "1.2.3.4"
    ds.StudyInstanceUID = "1.2.3"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "P1"
    ds.Modality = "CT"
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


# --- UID remapping and the de-identifier's lists ----------------------------------------------------


def test_remap_uid_is_the_name_based_uuid_of_the_uid() -> None:
    for uid in ("1.2.3", "1.2.840.113619.2.55.3.604688119.969.1268071029.320"):
        digest = bytearray(hashlib.md5(uid.encode("ascii")).digest())
        digest[6] = (digest[6] & 0x0F) | 0x30  # version 3
        digest[8] = (digest[8] & 0x3F) | 0x80  # IETF variant
        assert remap_uid(uid) == f"2.25.{int.from_bytes(digest, 'big')}"
        assert remap_uid(uid) == f"2.25.{uuid.UUID(bytes=bytes(digest)).int}"
    assert len(remap_uid("1.2.3")) <= 64


@pytest.mark.upstream
@pytest.mark.skipif(not ACTIONS.is_file(), reason=f"{ACTIONS} is absent")
def test_tag_lists_are_upstreams() -> None:
    facts = json.loads(ACTIONS.read_text())
    for name, entries in facts["lists"].items():
        assert getattr(tags, name) == frozenset(int(e["tag"], 16) for e in entries), name
    assert set(facts["lists"]) == {n for n in dir(tags) if n.isupper()}


def test_options_are_upstream_names_exactly() -> None:
    assert parse_options("") == ()
    assert parse_options("RetainUIDsOption,RetainPatientIDHashOption") == (
        DeIdentificationOption.RETAIN_UIDS,
        DeIdentificationOption.RETAIN_PATIENT_ID_HASH,
    )
    for bad in ("RetainUIDs", "retainUIDsOption", " RetainUIDsOption"):
        with pytest.raises(ValueError, match="unknown de-identification option"):
            parse_options(bad)


def test_basic_profile() -> None:
    ds = dataset(
        StudyDate="20240101",
        ContentDate="20240101",
        ContentTime="101010",
        InstitutionName="General",
        AccessionNumber="A1",
        PatientAge="042Y",
        FrameOfReferenceUID="1.2.3.9",
        DoseReferenceUID="1.2.3.10",
    )
    ds.add_new(0x00091001, "LO", "private")
    ds.add_new(0x60003000, "OW", b"\0\0")
    item = Dataset()
    item.ReferencedSOPClassUID = CT
    item.ReferencedSOPInstanceUID = "1.2.3.5"
    item.add_new(0x00111001, "LO", "nested private")
    ds.ReferencedImageSequence = [item]
    study = Dataset()
    study.ReferencedSOPInstanceUID = "1.2.3.6"
    ds.ReferencedStudySequence = [study]
    DeIdentifier().deidentify(ds)
    assert all(empty(ds[k].value) for k in ("PatientName", "PatientID", "AccessionNumber", "StudyDate"))
    assert ds.ContentDate == "19991111" and ds.ContentTime == "111111" and ds.InstitutionName == "REMOVED"
    assert "PatientAge" not in ds and 0x00091001 not in ds and 0x60003000 not in ds
    assert ds.SOPInstanceUID == remap_uid("1.2.3.4") and ds.StudyInstanceUID == remap_uid("1.2.3")
    assert ds.FrameOfReferenceUID == remap_uid("1.2.3.9")
    assert ds["DoseReferenceUID"].value == "REMOVED"  # on upstream's D list: its dummy value, whatever the VR
    ref = ds.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == remap_uid("1.2.3.5") and ref.ReferencedSOPClassUID == CT
    assert 0x00111001 not in ref
    assert ds.ReferencedStudySequence == []  # Z_UID: emptied
    assert ds.Modality == "CT" and ds.SOPClassUID == CT
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]


def test_options_keep_what_they_say() -> None:
    ds = dataset(StudyDate="20240101", InstitutionName="General", StationName="CT1", IssuerOfPatientID="HOSP")
    DeIdentifier(
        parse_options(
            "RetainLongitudinalTemporalInformationFullDatesOption,RetainDeviceIdentityOption,"
            "RetainInstitutionIdentityOption,RetainUIDsOption,RetainPatientIDHashOption"
        )
    ).deidentify(ds)
    assert ds.StudyDate == "20240101" and ds.InstitutionName == "General" and ds.StationName == "CT1"
    assert ds.SOPInstanceUID == "1.2.3.4"
    # Java's UUID.nameUUIDFromBytes of "P1^^^HOSP"
    assert ds.PatientID == str(uuid.UUID(bytes=hashlib.md5(b"P1^^^HOSP").digest(), version=3))
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == [
        "113100", "113106", "113109", "113112", "113110", "113113"
    ]


def _qualifiers(**values: str) -> list[Dataset]:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return [item]


@pytest.mark.parametrize(
    ("issuer", "qualifiers", "upstream_text"),
    [
        # the text dcm4che hashes is IDWithIssuer.pidOf(attrs).toString()
        (None, None, "P1"),
        ("HOSP", None, "P1^^^HOSP"),
        ("HOSP", {"UniversalEntityID": "1.2.3", "UniversalEntityIDType": "ISO"}, "P1^^^HOSP&1.2.3&ISO"),
        (None, {"UniversalEntityID": "1.2.3", "UniversalEntityIDType": "ISO"}, "P1^^^&1.2.3&ISO"),
        # Issuer.fromIssuerOfPatientID takes the universal ID only together with its type
        ("HOSP", {"UniversalEntityID": "1.2.3"}, "P1^^^HOSP"),
        (None, {"UniversalEntityID": "1.2.3"}, "P1"),
        # the Identifier Type Code of the qualifiers follows the issuer after '^', also without one
        ("HOSP", {"UniversalEntityID": "1.2.3", "UniversalEntityIDType": "ISO", "IdentifierTypeCode": "MR"},
         "P1^^^HOSP&1.2.3&ISO^MR"),
        (None, {"IdentifierTypeCode": "MR"}, "P1^^^^MR"),
        (" HOSP ", {"IdentifierTypeCode": " MR "}, "P1^^^HOSP^MR"),  # LO and CS values are trimmed
    ],
)
def test_patient_id_hash_input_is_dcm4che_text_of_the_id_with_its_issuer(
    issuer: str | None, qualifiers: dict[str, str] | None, upstream_text: str
) -> None:
    ds = dataset(PatientID="P1")
    if issuer is not None:
        ds.IssuerOfPatientID = issuer
    if qualifiers is not None:
        ds.IssuerOfPatientIDQualifiersSequence = _qualifiers(**qualifiers)
    DeIdentifier(parse_options("RetainPatientIDHashOption")).deidentify(ds)
    # DeIdentifier.hash: UUID.nameUUIDFromBytes of that text's UTF-8 bytes
    assert ds.PatientID == str(uuid.UUID(bytes=hashlib.md5(upstream_text.encode()).digest(), version=3))
    assert "IssuerOfPatientID" not in ds and "IssuerOfPatientIDQualifiersSequence" not in ds  # on the X list


def test_patient_id_hash_option_code_is_dcm4ches_private_code() -> None:
    # dcm4che's DeIdentificationMethod.RetainPatientIDHashOption: a private code (scheme 99DCM4CHE), not PS3.16's
    ds = dataset()
    DeIdentifier(parse_options("RetainPatientIDHashOption")).deidentify(ds)
    codes = [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in ds.DeidentificationMethodCodeSequence]
    assert codes == [
        ("113100", "DCM", "Basic Application Confidentiality Profile"),
        ("113113", "99DCM4CHE", "Retain Patient ID Hash Option"),
    ]


def test_pet_series_date_and_time_get_dummies() -> None:
    ds = dataset(SOPClassUID="1.2.840.10008.5.1.4.1.1.128", SeriesDate="20240101", SeriesTime="1010")
    DeIdentifier().deidentify(ds)
    assert (ds.SeriesDate, ds.SeriesTime) == ("19991111", "111111")


# --- selection ------------------------------------------------------------------------------------------


def test_selection_order_scope_and_conditions() -> None:
    cfg = config(
        ae_rules=[
            rule("AE low", "retrieve-as-received:", priority=1),
            rule("For DEST", "retrieve-as-received:", "ReceivingApplicationEntityTitle=DEST"),
            rule("Not for DEST", "deidentify:", "ReceivingApplicationEntityTitle=ELSE"),
            rule("Incoming", "deidentify:", **{"role": "SCU"}),
            rule("Find", "deidentify:", **{"dimse": "C_FIND_RSP"}),
            rule("MR only", "retrieve-as-received:", sop_classes=[MR]),
            rule("Sender", "retrieve-as-received:", "SendingApplicationEntityTitle=ARC"),
        ],
        device_rules=[rule("Device high", "retrieve-as-received:", priority=5), rule("Device", "merge-attrs:",
                                                                                      merge_attributes=["StudyID=1"])],
    )
    p = plan(cfg)
    assert [r.name for r in p.rules] == ["Device high", "AE low", "For DEST", "MR only", "Sender", "Device"]
    assert p.matching(dataset(), CT) == tuple(r for r in p.rules if r.name != "MR only")
    assert p.wants(CT) and p.wants("1.2.3")  # rules without SOP classes apply to any
    assert "Other AE" not in [r.name for r in p.rules]  # only the exporter's AE
    assert plan(config(ae_rules=[rule("MR", "deidentify:", sop_classes=[MR])])).wants(CT) is False
    assert plan(config()).is_empty


def test_dataset_conditions_and_sufficient() -> None:
    cfg = config(
        ae_rules=[
            rule("First", "merge-attrs:", "Modality=CT", merge_attributes=["StudyID=A"], priority=3, sufficient=True),
            rule("Second", "merge-attrs:", merge_attributes=["StudyID=B"]),
        ]
    )
    p = plan(cfg)
    ds = dataset()
    assert p.apply(ds) == ("First",) and ds.StudyID == "A"
    mr = dataset(Modality="MR")
    assert p.apply(mr) == ("Second",) and mr.StudyID == "B"
    assert plan(config(ae_rules=[rule("MR", "deidentify:", "Modality=MR")])).apply(dataset()) is None


def test_stow_has_no_receiving_ae_as_upstream() -> None:
    cfg = config(
        ae_rules=[
            rule("Is X", "merge-attrs:", "ReceivingApplicationEntityTitle=X", merge_attributes=["StudyID=1"]),
            rule("Not X", "merge-attrs:", "ReceivingApplicationEntityTitle!=X", merge_attributes=["StudyID=2"]),
        ]
    )
    assert [r.name for r in plan(cfg, dest=None).rules] == ["Not X"]


def test_legacy_rules_only_when_no_new_rule_matches() -> None:
    legacy = [LegacyAttributeCoercion(name="Old", dimse="C_STORE_RQ", role="SCP", deidentification=["RetainUIDsOption"],
                                      merge_attributes=["BodyPartExamined=L"])]
    p = plan(config(ae_rules=[rule("New", "merge-attrs:", "Modality=MR", merge_attributes=["StudyID=N"])],
                    legacy=legacy))
    ds = dataset()
    assert p.apply(ds) == ("Old",)
    assert ds.PatientIdentityRemoved == "YES" and ds.BodyPartExamined == "L" and ds.SOPInstanceUID == "1.2.3.4"
    mr = dataset(Modality="MR")
    assert p.apply(mr) == ("New",) and "PatientIdentityRemoved" not in mr


# --- failure policy -------------------------------------------------------------------------------------


def test_failure_policies() -> None:
    broken = {"merge_attributes": ["NoSuchKeyword=1"]}
    good = rule("Good", "merge-attrs:", merge_attributes=["StudyID=ok"])
    with pytest.raises(CoercionError, match=r"'Bad' .*NoSuchKeyword"):
        plan(config(ae_rules=[rule("Bad", "merge-attrs:", priority=1, **broken), good])).apply(dataset())
    ds = dataset()
    cont = rule("Bad", "merge-attrs:", priority=1, on_failure=CoercionOnFailure.CONTINUE, **broken)
    assert plan(config(ae_rules=[cont, good])).apply(ds) == ("Good",) and ds.StudyID == "ok"
    ds = dataset()
    stop = rule("Bad", "merge-attrs:", priority=1, on_failure=CoercionOnFailure.SUFFICIENT, **broken)
    assert plan(config(ae_rules=[stop, good])).apply(ds) == () and "StudyID" not in ds


def test_deidentify_failure_never_lets_the_original_out() -> None:
    for policy in CoercionOnFailure:
        bad = rule("Deid", "deidentify:RetainUIDs", on_failure=policy)
        with pytest.raises(CoercionError, match="never lets the original out"):
            plan(config(ae_rules=[bad])).apply(dataset())


def test_unknown_scheme_fails_the_instance_and_refused_schemes_the_plan() -> None:
    with pytest.raises(CoercionError, match="no processor for dcmURI scheme 'nosuch'"):
        plan(config(ae_rules=[rule("U", "nosuch:x", on_failure=CoercionOnFailure.CONTINUE)])).apply(dataset())
    for uri in ("leading-arc:DCMQRSCP", "merge-mwl:x.xsl", "sup-from-dev:"):
        with pytest.raises(ConfigurationError, match="dcm_exporter does not provide"):
            plan(config(ae_rules=[rule("R", uri)]))
    # a refused rule for another destination is not in scope
    assert plan(config(ae_rules=[rule("R", "leading-arc:Q", "ReceivingApplicationEntityTitle=ELSE")])).is_empty


# --- processors -----------------------------------------------------------------------------------------


def test_merge_attrs() -> None:
    ds = dataset(StudyDescription="keep me?", AccessionNumber="A1")
    item = Dataset()
    item.CodeValue = "1"
    ds.ProcedureCodeSequence = [item]
    p = plan(config(ae_rules=[rule("M", "merge-attrs:", merge_attributes=[
        "IssuerOfPatientID=X.{PatientName,hash}",
        "AccessionNumber=",
        "StudyDescription!",
        "ProcedureCodeSequence[1].CodeMeaning=m {PatientID}",
        "RequestAttributesSequence.ScheduledProcedureStepID=S{AccessionNumber}",
    ])]))
    p.apply(ds)
    assert ds.IssuerOfPatientID.startswith("X.") and len(ds.IssuerOfPatientID) == 10
    assert empty(ds.AccessionNumber) and "StudyDescription" not in ds
    assert ds.ProcedureCodeSequence[0].CodeMeaning == "m P1"
    assert ds.RequestAttributesSequence[0].ScheduledProcedureStepID == "SA1"  # formats see the values before


def test_nullify_pixel_data_and_encode_without_decompressing(tmp_path: Path) -> None:
    source = get_testdata_file("JPEG2000.dcm")
    assert source is not None
    original = pydicom.dcmread(source)
    p = plan(config(ae_rules=[rule("M", "merge-attrs:", merge_attributes=["PatientName=Anon"])]))
    with open(source, "rb") as fp:
        coerced = p.coerce_file(fp)
    assert coerced is not None and coerced.transfer_syntax_uid == original.file_meta.TransferSyntaxUID
    back = pydicom.dcmread(io.BytesIO(coerced.part10))
    assert back.PatientName == "Anon" and back.PixelData == original.PixelData  # compressed bytes untouched
    assert bytes(coerced.dataset) == coerced.part10[coerced.dataset_offset :]
    p = plan(config(ae_rules=[rule("N", "nullify-pixel-data:")]))
    with open(source, "rb") as fp:
        coerced = p.coerce_file(fp, target_transfer_syntax="1.2.840.10008.1.2.1")
    back = pydicom.dcmread(io.BytesIO(coerced.part10))
    assert "PixelData" in back and not back.PixelData
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # nothing to decompress


def test_encode_to_another_syntax_keeps_meta_in_step() -> None:
    ds = dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPInstanceUID = "9.9"
    out = encode_part10(ds, "1.2.840.10008.1.2")
    back = pydicom.dcmread(io.BytesIO(out.part10))
    assert back.file_meta.MediaStorageSOPInstanceUID == "9.9"
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    with pytest.raises(CoercionError, match="only uncompressed"):
        encode_part10(ds, "1.2.840.10008.1.2.4.90")


def test_change_charset_and_trim_iso2022() -> None:
    ds = dataset(SpecificCharacterSet="ISO_IR 100", PatientName="Müller^Jürgen")
    plan(config(ae_rules=[rule("C", "change-charset:ISO_IR 192")])).apply(ds)
    out = encode_part10(_with_meta(ds), None)
    assert "Müller".encode() in out.part10 and pydicom.dcmread(io.BytesIO(out.part10)).PatientName == "Müller^Jürgen"
    with pytest.raises(ConfigurationError, match="unknown Specific Character Set"):
        plan(config(ae_rules=[rule("C", "change-charset:NOPE")]))
    trim = plan(config(ae_rules=[rule("T", "trim-ISO2022:")]))
    ds = dataset(SpecificCharacterSet="ISO 2022 IR 100")
    assert trim.apply(ds) == ("T",) and ds.SpecificCharacterSet == "ISO_IR 100"
    ds = dataset(SpecificCharacterSet=["ISO 2022 IR 6", "ISO 2022 IR 87"])
    trim.apply(ds)
    assert list(ds.SpecificCharacterSet) == ["ISO 2022 IR 6", "ISO 2022 IR 87"]  # extensions in use: kept


def _with_meta(ds: Dataset) -> Dataset:
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    return ds


def test_native_xml_round_trip() -> None:
    ds = dataset(
        PatientName="Doe^Jane^^Dr=ド^ジェーン", ImageType=["ORIGINAL", "PRIMARY"], Rows=2, PixelSpacing=[0.5, 0.5]
    )
    item = Dataset()
    item.CodeValue = "1"
    ds.ProcedureCodeSequence = [item]
    root = to_native_xml(ds)
    assert root.find("DicomAttribute[@keyword='PatientName']/PersonName/Alphabetic/FamilyName").text == "Doe"
    back = from_native_xml(root)
    for keyword in ("PatientName", "ImageType", "Rows", "ProcedureCodeSequence", "SOPInstanceUID"):
        assert back[keyword].value == ds[keyword].value, keyword
    assert to_native_xml(ds, keywords=False).find("DicomAttribute").get("keyword") is None


def test_xslt_parameters_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xsl = tmp_path / "x.xsl"
    xsl.write_text(
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
        '<xsl:param name="SendingApplicationEntityTitle"/><xsl:param name="ReceivingApplicationEntityTitle"/>'
        '<xsl:template match="/"><NativeDicomModel>'
        '<DicomAttribute tag="00081010" vr="SH"><Value number="1"><xsl:value-of select="concat('
        "$SendingApplicationEntityTitle, '>', $ReceivingApplicationEntityTitle)\"/></Value></DicomAttribute>"
        "</NativeDicomModel></xsl:template></xsl:stylesheet>"
    )
    monkeypatch.setenv("XSL_DIR", str(tmp_path))
    ds = dataset()
    assert plan(config(ae_rules=[rule("X", "xslt:${XSL_DIR}/x.xsl")])).apply(ds) == ("X",)
    assert ds.StationName == "ARC>DEST"
    with pytest.raises(CoercionError, match="not found"):
        plan(config(ae_rules=[rule("X", "xslt:/no/such.xsl")])).apply(dataset())
    with pytest.raises(CoercionError, match="NOT_SET"):
        plan(config(ae_rules=[rule("X", "xslt:${NOT_SET}/x.xsl")])).apply(dataset())


# --- registry and preview ---------------------------------------------------------------------------


class _Stamp:
    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: Any) -> bool:
        dataset.StationName = f"{rule.scheme_specific_part}:{context.receiving_ae_title}"
        return True


def test_registry_takes_third_party_processors() -> None:
    registry = ProcessorRegistry(entry_points=False)
    assert "deidentify" in registry and "xslt" in registry and "trim-iso2022" in registry
    registry.register("stamp", _Stamp())
    with pytest.raises(ValueError, match="already registered"):
        registry.register("stamp", _Stamp())
    with pytest.raises(ConfigurationError, match="no coerce"):
        registry.register("bad", object())  # type: ignore[arg-type]
    ds = dataset()
    cfg = config(ae_rules=[rule("S", "stamp:hello")])
    assert plan_for_export(cfg, cfg.exporters["X"], receiving_ae_title="DEST", registry=registry).apply(ds) == ("S",)
    assert ds.StationName == "hello:DEST"


def test_preview_lists_the_differences(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    ds = _with_meta(dataset(AccessionNumber="A1"))
    ds.save_as(path, enforce_file_format=True)
    cfg = config(ae_rules=[rule("D", "deidentify:")])
    shown = preview(cfg, "X", path)
    actions = {c.keyword: c.action for c in shown.changes}
    assert actions["PatientName"] == "emptied" and actions["SOPInstanceUID"] == "changed"
    assert actions["PatientIdentityRemoved"] == "added"
    from dcm_exporter.notebook import to_html

    markup = to_html(shown)  # what Jupyter shows
    assert markup is not None and "<table class='dcm-exporter'" in markup and ">PatientName</td>" in markup
    assert "PatientName" in shown.to_text()
    rules_table = to_html(cfg.devices[0].application_entities[0].attribute_coercions)
    assert rules_table is not None and ">deidentify:</td>" in rules_table
    broken = preview(config(ae_rules=[rule("D", "deidentify:Nope")]), "X", path)
    assert broken.error and "not sent" in broken.to_text().lower()
    assert preview(config(), "X", path).to_text().endswith("sent unchanged")


def test_rules_that_change_nothing_keep_the_stored_bytes(tmp_path: Path) -> None:
    """Upstream's default rule on AE DCM4CHEE removes Encapsulated Pixel Data Value Total Length from all it
    sends: objects without it (nearly all) keep the byte-for-byte path; one that has it is re-encoded."""
    default_rule = rule("RemoveEncapsulatedPixelDataValueTotalLength", "merge-attrs:",
                        merge_attributes=["EncapsulatedPixelDataValueTotalLength!"])
    p = plan(config(ae_rules=[default_rule, rule("As received", "retrieve-as-received:"),
                              rule("No pixels", "nullify-pixel-data:", "Modality=SR")]))
    path = tmp_path / "a.dcm"
    ds = _with_meta(dataset())
    ds.save_as(path, enforce_file_format=True)
    with path.open("rb") as fp:
        assert p.coerce_file(fp) is None
    assert p.apply(pydicom.dcmread(path)) == ("RemoveEncapsulatedPixelDataValueTotalLength", "As received")
    ds.EncapsulatedPixelDataValueTotalLength = 1234
    ds.save_as(path, enforce_file_format=True)
    with path.open("rb") as fp:
        coerced = p.coerce_file(fp)
    assert coerced is not None
    assert "EncapsulatedPixelDataValueTotalLength" not in pydicom.dcmread(io.BytesIO(coerced.part10))
