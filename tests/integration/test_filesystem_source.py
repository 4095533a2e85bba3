"""FileSystemSource over real files: header-only indexing, SQLite persistence, incremental rescans."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from _dicom_files import make_study, write_instance

from dcm_exporter.errors import SourceError
from dcm_exporter.sources import FileSystemSource, InstanceSource
from dcm_exporter.sources import filesystem as fs_module


def test_indexes_a_study_and_reports_unreadable_files(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    study = make_study(root, series=2, per_series=3, source_ae="MODALITY1")
    (root / "notes.txt").write_text("not DICOM at all")
    good = next(iter(study.files.values()))
    (root / "truncated.dcm").write_bytes(good.read_bytes()[:140])  # preamble + DICM + a few bytes
    (root / ".hidden.dcm.part").write_bytes(b"partial write")
    with FileSystemSource(root, tmp_path / "index.sqlite") as source:
        assert isinstance(source, InstanceSource)
        report = source.refresh()
        assert report.scanned == 8
        assert len(report.added) == 8
        assert {u.path.name for u in report.unreadable} == {"notes.txt", "truncated.dcm"}
        reasons = {u.path.name: u.reason for u in report.unreadable}
        assert "not a DICOM Part 10 file" in reasons["notes.txt"]
        assert reasons["truncated.dcm"]
        assert len(source) == 6
        assert {u.path.name for u in source.unreadable()} == {"notes.txt", "truncated.dcm"}

        refs = source.find(study.study_uid)
        assert {r.sop_instance_uid for r in refs} == set(study.files)
        assert all(r.path == study.files[r.sop_instance_uid] for r in refs)
        assert all(r.size == r.path.stat().st_size for r in refs if r.path)
        assert {r.transfer_syntax_uid for r in refs} == {"1.2.840.10008.1.2.1"}
        assert {r.sop_class_uid for r in refs} == {"1.2.840.10008.5.1.4.1.1.2"}
        assert {r.source_ae_title for r in refs} == {"MODALITY1"}
        assert source.source_ae_title(study.study_uid) == "MODALITY1"

        series = study.series_uids[1]
        assert {r.series_uid for r in source.find(study.study_uid, series)} == {series}
        assert len(source.find(study.study_uid, series)) == 3
        assert len(source.find(study.study_uid, "*", "*")) == 6
        one = refs[0]
        assert source.find(study.study_uid, one.series_uid, one.sop_instance_uid) == [one]
        assert source.find("9.9.9") == []


def test_index_survives_restart_and_rescans_only_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    study = make_study(root, series=1, per_series=4)
    index = tmp_path / "index.sqlite"
    with FileSystemSource(root, index) as source:
        assert len(source.refresh().added) == 4

    reads: list[str] = []
    real = fs_module._read_header

    def counting(path: str) -> tuple[str, str, str, str, str, str | None]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(fs_module, "_read_header", counting)
    with FileSystemSource(root, index) as source:
        assert source.indexed
        assert len(source.find(study.study_uid)) == 4  # answered from the index, no scan
        report = source.refresh()
        assert (report.unchanged, len(report.added), len(report.updated), len(report.removed)) == (4, 0, 0, 0)
        assert reads == []

        files = list(study.files.items())
        changed_sop, changed = files[0]
        write_instance(changed, study_uid=study.study_uid, series_uid=study.series_uids[0],
                       sop_uid=changed_sop, rows=16)
        st = changed.stat()
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        files[1][1].unlink()
        new_sop = write_instance(root / "new" / "n.dcm", study_uid=study.study_uid,
                                 series_uid=study.series_uids[0])
        report = source.refresh()
        assert [p.name for p in report.updated] == [changed.name]
        assert [p for p in report.removed] == [files[1][1]]
        assert [p.name for p in report.added] == ["n.dcm"]
        assert report.unchanged == 2
        assert sorted(reads) == sorted([str(changed), str(root / "new" / "n.dcm")])
        uids = {r.sop_instance_uid for r in source.find(study.study_uid)}
        assert uids == {changed_sop, files[2][0], files[3][0], new_sop}
        assert next(r for r in source.find(study.study_uid) if r.sop_instance_uid == changed_sop).size == (
            changed.stat().st_size
        )


def test_in_memory_index_is_built_on_first_use(tmp_path: Path) -> None:
    study = make_study(tmp_path / "a", series=1, per_series=2)
    source = FileSystemSource(tmp_path / "a")
    assert not source.indexed
    assert len(source.find(study.study_uid)) == 2
    assert source.indexed
    source.close()
    source.close()
    with pytest.raises(SourceError, match="closed"):
        source.find(study.study_uid)


def test_index_of_another_root_is_discarded(tmp_path: Path) -> None:
    a = make_study(tmp_path / "a", series=1, per_series=2)
    b = make_study(tmp_path / "b", series=1, per_series=1)
    index = tmp_path / "index.sqlite"
    with FileSystemSource(tmp_path / "a", index) as source:
        source.refresh()
    with FileSystemSource(tmp_path / "b", index) as source:
        assert not source.indexed
        assert source.find(a.study_uid) == []
        assert len(source.find(b.study_uid)) == 1


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        FileSystemSource(tmp_path / "missing")


def test_reads_while_refreshing_from_other_threads(tmp_path: Path) -> None:
    study = make_study(tmp_path / "a", series=2, per_series=10)
    errors: list[BaseException] = []
    with FileSystemSource(tmp_path / "a", tmp_path / "i.sqlite") as source:
        source.refresh()

        def reader() -> None:
            try:
                for _ in range(50):
                    assert len(source.find(study.study_uid)) == 20
            except BaseException as exc:  # collected and re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        threads.append(threading.Thread(target=source.refresh))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
