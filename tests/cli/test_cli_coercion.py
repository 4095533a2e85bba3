"""``dcm-exporter coercion list|show|add|remove|preview`` in a subprocess, on the demo configuration."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from _cli import ok, ok_json, run_cli

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.codecs import ldif
from dcm_exporter.coercion import remap_uid
from dcm_exporter.models import TransferRole


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(demo_configuration()))
    return path


@pytest.fixture
def dicom_file(tmp_path: Path) -> Path:
    from dcm_exporter.sample import generate_study

    study = generate_study(tmp_path / "study", series=1, instances_per_series=1, kind="small")
    return Path(study.files[0])


def test_add_list_show_preview_remove(config_file: Path, dicom_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    out = ok("coercion", "add", "Research", "--ae", "DCM4CHEE", "--uri", "deidentify:RetainPatientIDHashOption",
             "--condition", "ReceivingApplicationEntityTitle=STORESCP", "--priority", "3", *c, cwd=tmp_path)
    assert "attribute coercion Research (deidentify:RetainPatientIDHashOption) added to AE DCM4CHEE" in out
    ok("coercion", "add", "Tag", "--uri", "merge-attrs:", "--merge-attribute", "InstitutionName=Research",
       "--condition", "Modality=MR", *c, cwd=tmp_path)
    saved = ldif.load(config_file)
    (rule,) = saved.device("dcm-exporter-demo").application_entity("DCM4CHEE").attribute_coercions  # type: ignore[union-attr]
    assert (rule.priority, rule.role, rule.ae_title) == (3, TransferRole.SCP, "DCM4CHEE")
    rows = ok_json("coercion", "list", *c, cwd=tmp_path)
    assert [(r["name"], r["ae_title"]) for r in rows] == [("Tag", ""), ("Research", "DCM4CHEE")]
    shown = ok_json("coercion", "show", "Research", *c, cwd=tmp_path)
    assert shown["conditions"] == ["ReceivingApplicationEntityTitle=STORESCP"]

    text = ok("coercion", "preview", "STORESCP", str(dicom_file), *c, cwd=tmp_path)
    original = pydicom.dcmread(dicom_file)
    assert "rules applied: Research" in text
    assert remap_uid(str(original.StudyInstanceUID)) in text
    changes = {r["keyword"]: r for r in ok_json("coercion", "preview", "STORESCP", str(dicom_file), *c, cwd=tmp_path)}
    assert changes["PatientName"]["action"] == "emptied"
    assert changes["PatientID"]["action"] == "changed" and len(changes["PatientID"]["after"]) == 36  # the hash

    ok("coercion", "remove", "Research", *c, cwd=tmp_path)
    assert "sent unchanged" in ok("coercion", "preview", "STORESCP", str(dicom_file), *c, cwd=tmp_path)
    assert [r["name"] for r in ok_json("coercion", "list", *c, cwd=tmp_path)] == ["Tag"]


def test_bad_rules_are_refused_and_a_failing_preview_says_not_sent(
    config_file: Path, dicom_file: Path, tmp_path: Path
) -> None:
    c = ("--config", str(config_file))
    for flags, message in (
        (["--uri", "deidentify:RetainUIDs"], "unknown de-identification option 'RetainUIDs'"),
        (["--uri", "nosuch:"], "no coercion processor for scheme 'nosuch'"),
        (["--uri", "merge-attrs:"], "has no dcmMergeAttribute"),
        (["--uri", "deidentify:", "--condition", "modality=CT"], "keywords are case-sensitive"),
    ):
        result = run_cli("coercion", "add", "Bad", *flags, *c, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, (flags, result.stderr)
        assert "Traceback" not in result.stderr
    result = run_cli("coercion", "add", "Leading", "--uri", "leading-arc:DCMQRSCP", *c, cwd=tmp_path)
    assert result.returncode == 0 and "needs a C-FIND" in result.stderr  # kept for dcm4chee, warned
    result = run_cli("coercion", "preview", "STORESCP", str(dicom_file), *c, cwd=tmp_path)
    assert result.returncode == 2 and "leading-arc: processor needs" in result.stderr
    ok("coercion", "remove", "Leading", *c, cwd=tmp_path)

    # a rule written by hand with a bad option: the preview shows the instance would not be sent
    config = ldif.load(config_file)
    text = config_file.read_text()
    from dcm_exporter.models import AttributeCoercion

    dev = config.device("dcm-exporter-demo")
    import attrs

    bad = AttributeCoercion(name="Broken", dimse="C_STORE_RQ", role="SCP", uri="deidentify:Typo")
    config_file.write_text(ldif.dumps(config.replace_device(attrs.evolve(dev, attribute_coercions=[bad]))))
    assert text != config_file.read_text()
    result = run_cli("coercion", "preview", "STORESCP", str(dicom_file), *c, cwd=tmp_path)
    assert result.returncode == 1 and "NOT SENT" in result.stdout and "Typo" in result.stdout
    result = run_cli("coercion", "show", "Nope", *c, cwd=tmp_path)
    assert result.returncode == 2 and "Unknown attribute coercion: Nope" in result.stderr


def test_config_validate_reports_rules_that_cannot_work(config_file: Path, tmp_path: Path) -> None:
    import attrs

    from dcm_exporter.models import AttributeCoercion

    config = ldif.load(config_file)
    device = config.device("dcm-exporter-demo")
    rules = [
        AttributeCoercion(name="Typo", dimse="C_STORE_RQ", role="SCP", uri="deidentify:RetainUIDs"),
        AttributeCoercion(name="Leading", dimse="C_STORE_RQ", role="SCP", uri="leading-arc:Q"),
        AttributeCoercion(name="Incoming", dimse="C_STORE_RQ", role="SCU", uri="nosuch:"),  # not on export
    ]
    config_file.write_text(ldif.dumps(config.replace_device(attrs.evolve(device, attribute_coercions=rules))))
    result = run_cli("config", "validate", "--config", str(config_file), "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    import json

    issues = json.loads(result.stdout)["issues"]
    by_rule = {i["message"].split(" (")[0]: i for i in issues if "attribute coercion" in i["message"]}
    assert by_rule["attribute coercion Typo"]["severity"] == "error"
    assert "unknown de-identification option 'RetainUIDs'" in by_rule["attribute coercion Typo"]["message"]
    assert by_rule["attribute coercion Leading"]["severity"] == "warning"
    assert "attribute coercion Incoming" not in by_rule
    assert by_rule["attribute coercion Typo"]["where"].startswith(str(config_file))  # file and line
