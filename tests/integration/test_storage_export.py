"""storage: exports of a generated study into a real folder: bytes, layout, check-if-exists, traversal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _dicom_files import GeneratedStudy, make_study, write_instance

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.export import CancelToken, InstanceRef, InstanceResult, OutcomeStatus
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, StorageDescriptor
from dcm_exporter.sources import FileSystemSource

NOW = datetime(2024, 2, 29, 13, 45, tzinfo=timezone(timedelta(hours=1)))


def java_hash(s: str) -> str:
    # String.hashCode() by its textbook definition, computed independently of the library
    h = 0
    for ch in s:  # UIDs are ASCII, one UTF-16 unit per character
        h = (h * 31 + ord(ch)) % 2**32
    return f"{h:08X}"


def configuration(root: Path, *, check: bool = False, path_format: str | None = None,
                  uri: str | None = None, extra: dict[str, Any] | None = None) -> Configuration:
    storage = StorageDescriptor(
        storage_id="fs2", uri=uri or root.as_uri() + "/", storage_path_format=path_format, extra=extra or {}
    )
    exporter = ExporterDescriptor(
        exporter_id="FS2", uri="storage:fs2", queue_name="Export1", ae_title="DCM4CHEE",
        check_if_already_exists_on_destination=check,
    )
    device = Device(device_name="dcm4chee-arc", exporters=(exporter,), storages=(storage,))
    return Configuration(devices=(device,))


@pytest.fixture
def study(tmp_path: Path) -> GeneratedStudy:
    return make_study(tmp_path / "archive", series=2, per_series=3)


@pytest.fixture
def source(tmp_path: Path, study: GeneratedStudy) -> Iterator[FileSystemSource]:
    with FileSystemSource(tmp_path / "archive", tmp_path / "index.sqlite") as s:
        yield s


def exporter_for(cfg: Configuration, source: FileSystemSource) -> Exporter:
    return Exporter(cfg, source, transport_options={"storage": {"clock": lambda: NOW}})


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_export_copies_byte_identical_files_in_the_documented_layout(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource
) -> None:
    dest = tmp_path / "fs2"
    with exporter_for(configuration(dest), source) as exporter:
        outcome = exporter.export_now("FS2", study.study_uid)
    assert outcome.status is OutcomeStatus.COMPLETED
    assert outcome.completed == 6 and outcome.failed == 0
    assert outcome.message == f"Export Study[uid={study.study_uid}] to storage:fs2 - completed:6"
    files = stored_files(dest)
    assert len(files) == 6
    for sop, original in study.files.items():
        from pydicom import dcmread

        series = str(dcmread(original, stop_before_pixels=True).SeriesInstanceUID)
        expected = dest / "2024/02/29" / java_hash(study.study_uid) / java_hash(series) / java_hash(sop)
        assert expected.read_bytes() == original.read_bytes()
    assert not [p for p in dest.rglob(".*")], "no temporary files are left behind"


def test_second_export_with_check_if_exists_skips_every_file(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource
) -> None:
    dest = tmp_path / "fs2"
    with exporter_for(configuration(dest, check=True), source) as exporter:
        first = exporter.export_now("FS2", study.study_uid)
        before = {p: p.stat().st_mtime_ns for p in stored_files(dest)}
        second = exporter.export_now("FS2", study.study_uid)
    assert first.completed == 6
    assert second.status is OutcomeStatus.COMPLETED
    assert (second.completed, second.skipped, second.failed) == (0, 6, 0)
    assert second.message.endswith(" - completed:0")
    assert {p: p.stat().st_mtime_ns for p in stored_files(dest)} == before


def test_second_export_without_check_writes_random_sibling_paths_only_for_other_bytes(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource
) -> None:
    dest = tmp_path / "fs2"
    with exporter_for(configuration(dest), source) as exporter:
        exporter.export_now("FS2", study.study_uid)
        second = exporter.export_now("FS2", study.study_uid)
    # the very same bytes already at the path: skipped (upstream writes a random-named duplicate)
    assert (second.completed, second.skipped) == (0, 6)
    assert len(stored_files(dest)) == 6
    # different instances on one path: dcmOnStoragePathAlreadyExists default RANDOM_PATH, never overwrite
    shared = tmp_path / "shared"
    with exporter_for(configuration(shared, path_format="{0020000D}/one.dcm"), source) as exporter:
        third = exporter.export_now("FS2", study.study_uid)
    assert third.completed == 6
    files = stored_files(shared)
    assert len(files) == 6 and len({p.read_bytes() for p in files}) == 6
    assert sum(p.name == "one.dcm" for p in files) == 1
    # the retry finds each where the first export put it, the five random-looking names included (they
    # derive from the instance): nothing is written again (upstream writes five more copies per retry)
    with exporter_for(configuration(shared, path_format="{0020000D}/one.dcm"), source) as exporter:
        again = exporter.export_now("FS2", study.study_uid)
    assert (again.completed, again.skipped, again.failed) == (0, 6, 0)
    assert stored_files(shared) == files


@pytest.mark.parametrize(("policy", "completed", "skipped", "failed"),
                         [("NOOP", 0, 6, 0), ("FAILURE", 0, 0, 6)])
def test_on_storage_path_already_exists_policies(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource, policy: str, completed: int,
    skipped: int, failed: int,
) -> None:
    dest = tmp_path / "fs2"
    cfg = configuration(dest, extra={"dcmOnStoragePathAlreadyExists": (policy,)})
    with exporter_for(cfg, source) as exporter:
        exporter.export_now("FS2", study.study_uid)
        second = exporter.export_now("FS2", study.study_uid)
    assert (second.completed, second.skipped, second.failed) == (completed, skipped, failed)
    assert second.status is (OutcomeStatus.FAILED if failed else OutcomeStatus.COMPLETED)


def test_corrupt_file_is_failed_with_its_reason_while_the_others_are_sent(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource
) -> None:
    source.refresh()
    bad_sop, bad_file = next(iter(study.files.items()))
    bad_file.write_bytes(b"\x00" * 50 + b"this is no longer a DICOM file")  # corrupted after indexing
    dest = tmp_path / "fs2"
    with exporter_for(configuration(dest), source) as exporter:
        outcome = exporter.export_now("FS2", study.study_uid)
    assert outcome.status is OutcomeStatus.FAILED  # storage rule: any failure fails the export
    assert (outcome.completed, outcome.failed) == (5, 1)
    assert outcome.message.endswith(" - completed:5, failed:1")
    (failure,) = outcome.failures
    assert failure.sop_instance_uid == bad_sop
    assert "not a readable DICOM file" in failure.reason
    assert len(stored_files(dest)) == 5


def test_instance_deleted_after_indexing_is_missing(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource
) -> None:
    source.refresh()
    gone_sop, gone = next(iter(study.files.items()))
    gone.unlink()
    with exporter_for(configuration(tmp_path / "fs2"), source) as exporter:
        outcome = exporter.export_now("FS2", study.study_uid)
    assert outcome.status is OutcomeStatus.FAILED
    assert (outcome.completed, outcome.failed, outcome.missing) == (5, 1, 1)
    assert outcome.failures[0].sop_instance_uid == gone_sop and outcome.failures[0].missing


def test_path_traversal_from_dataset_values_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    study_uid = "1.2.826.0.1.3680043.8.498.1"
    write_instance(archive / "ok.dcm", study_uid=study_uid, series_uid=study_uid + ".1", patient_id="PID7")
    evil = write_instance(archive / "evil.dcm", study_uid=study_uid, series_uid=study_uid + ".1",
                          patient_id="../../../../escaped")
    evil2 = write_instance(archive / "evil2.dcm", study_uid=study_uid, series_uid=study_uid + ".1",
                           patient_id="..")
    dest = tmp_path / "fs2"
    cfg = configuration(dest, path_format="{00100020}/{00080018}.dcm")
    with FileSystemSource(archive) as source, exporter_for(cfg, source) as exporter:
        outcome = exporter.export_now("FS2", study_uid)
    assert (outcome.completed, outcome.failed) == (1, 2)
    assert {f.sop_instance_uid for f in outcome.failures} == {evil, evil2}
    reasons = {f.sop_instance_uid: f.reason for f in outcome.failures}
    assert "contains a path separator" in reasons[evil]
    assert "'..' segment" in reasons[evil2]
    assert [p.relative_to(dest).parts[0] for p in stored_files(dest)] == ["PID7"]
    assert not list(tmp_path.rglob("escaped*"))


def test_symlink_inside_the_storage_cannot_lead_outside(tmp_path: Path, study: GeneratedStudy,
                                                        source: FileSystemSource) -> None:
    dest = tmp_path / "fs2"
    outside = tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    os.symlink(outside, dest / "link")
    cfg = configuration(dest, path_format="link/{00080018,hash}")
    with exporter_for(cfg, source) as exporter:
        outcome = exporter.export_now("FS2", study.study_uid)
    assert outcome.failed == 6 and outcome.completed == 0
    assert "outside storage" in outcome.failures[0].reason
    assert not list(outside.iterdir())


def test_uri_placeholders_from_variables_and_environment(
    tmp_path: Path, study: GeneratedStudy, source: FileSystemSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = configuration(tmp_path, uri="${dcm.storage.url}/fs2/", path_format="{00080018}")
    base = (tmp_path / "base").as_uri()
    with Exporter(cfg, source, transport_options={"storage": {"variables": {"dcm.storage.url": base}}}) as ex:
        assert ex.export_now("FS2", study.study_uid).completed == 6
    assert len(stored_files(tmp_path / "base" / "fs2")) == 6

    monkeypatch.setenv("DCM_STORAGE_URL", (tmp_path / "env").as_uri())
    with Exporter(cfg, source) as ex:
        assert ex.export_now("FS2", study.study_uid).completed == 6
    assert len(stored_files(tmp_path / "env" / "fs2")) == 6

    monkeypatch.delenv("DCM_STORAGE_URL")
    with Exporter(cfg, source) as ex, pytest.raises(ConfigurationError, match=r"\$\{dcm.storage.url\}"):
        ex.export_now("FS2", study.study_uid)


def test_unknown_storage_and_non_file_uri_are_configuration_errors(tmp_path: Path,
                                                                   source: FileSystemSource,
                                                                   study: GeneratedStudy) -> None:
    cfg = configuration(tmp_path / "fs2")
    cfg = cfg.put_exporter(ExporterDescriptor(exporter_id="FS9", uri="storage:fs9", queue_name="Export1"))
    with Exporter(cfg, source) as ex, pytest.raises(ConfigurationError, match="known storages: fs2"):
        ex.export_now("FS9", study.study_uid)
    s3 = configuration(tmp_path, uri="s3://bucket/fs2/")
    with Exporter(s3, source) as ex, pytest.raises(ConfigurationError, match="not a file: URL"):
        ex.export_now("FS2", study.study_uid)


def test_cancel_mid_export_reports_remaining(tmp_path: Path, study: GeneratedStudy,
                                             source: FileSystemSource) -> None:
    token = CancelToken()
    seen: list[str] = []

    def progress(ref: InstanceRef, result: InstanceResult) -> None:
        seen.append(result.kind)
        if len(seen) == 2:
            token.cancel()

    with exporter_for(configuration(tmp_path / "fs2"), source) as exporter:
        outcome = exporter.export_now("FS2", study.study_uid, cancel=token, progress=progress)
    assert outcome.status is OutcomeStatus.CANCELED
    assert (outcome.completed, outcome.remaining) == (2, 4)
    assert " canceled - remaining:4, completed:2" in outcome.message


def _poison_instance_number(path: Path, value: str) -> None:
    """Rewrite the Instance Number (0020,0013) of an explicit-VR little-endian file with ``value`` as raw
    text, which pydicom itself refuses to write."""
    import struct

    raw = path.read_bytes()
    i = raw.index(struct.pack("<HH", 0x0020, 0x0013) + b"IS")
    length = struct.unpack("<H", raw[i + 6 : i + 8])[0]
    data = value.encode("ascii")
    data += b" " * (len(data) % 2)
    if len(data) > 0xFFFF:
        raise ValueError("an IS value longer than 64 KiB cannot be written with a 16-bit length")
    path.write_bytes(raw[: i + 6] + struct.pack("<H", len(data)) + data + raw[i + 8 + length :])


@pytest.mark.parametrize("path_format", ["{0020000D}/{00200013,offset,1}.dcm",
                                         "{0020000D}/{00200013,number,#}/{00080018}.dcm"])
def test_a_poisoned_instance_number_fails_alone_and_a_retry_writes_no_duplicates(
    tmp_path: Path, path_format: str
) -> None:
    # hostile DICOM content: Instance Numbers no integer holds, next to ordinary instances
    archive = tmp_path / "archive"
    study_uid = "1.2.826.0.1.3680043.8.498.7"
    series_uid = study_uid + ".1"
    for n in (1, 2, 3):
        write_instance(archive / f"ok{n}.dcm", study_uid=study_uid, series_uid=series_uid, number=n)
    poisoned: dict[str, str] = {}
    for k, value in enumerate(["1e400", "inf", "9" * 5000, "1e300"]):
        path = archive / f"bad{k}.dcm"
        poisoned[write_instance(path, study_uid=study_uid, series_uid=series_uid, number=90 + k)] = value
        _poison_instance_number(path, value)
    dest = tmp_path / "fs2"
    cfg = configuration(dest, path_format=path_format)
    with FileSystemSource(archive) as source, exporter_for(cfg, source) as exporter:
        first = exporter.export_now("FS2", study_uid)
        after_first = stored_files(dest)
        retry = exporter.export_now("FS2", study_uid)
    failed = {poisoned[f.sop_instance_uid]: f.reason for f in first.failures}
    assert first.status is OutcomeStatus.FAILED
    # 1e300 is a finite number: 309 digits make a file name the file system refuses (ENAMETOOLONG), for
    # that instance alone
    assert "File name too long" in failed["1e300"]
    if "offset" in path_format:
        # no integer to add 1 to: each fails alone, naming the field and the value
        assert set(failed) == {"1e400", "inf", "9" * 5000, "1e300"}
        for value in ("1e400", "inf"):
            assert f"field {{00200013,offset,1}}: value {value!r} is not a finite number" in failed[value]
        assert "...(5000 characters)' is not a finite number" in failed["9" * 5000]
    else:
        # DecimalFormat prints an infinite double as '∞', a legal folder name, as upstream does
        assert set(failed) == {"1e300"}
        assert {p.parent.name for p in after_first} >= {"1", "2", "3", "∞"}
    assert first.completed == 7 - len(failed) and len(after_first) == first.completed
    # the retry finds every copied instance in place, byte for byte, and writes nothing new
    assert stored_files(dest) == after_first
    assert (retry.completed, retry.skipped, retry.failed) == (0, first.completed, first.failed)
    assert not [p for p in dest.rglob(".*")], "no temporary files are left behind"
