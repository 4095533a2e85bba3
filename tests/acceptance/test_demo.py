"""README command (1): ``dcm-exporter demo`` run as a user would (a subprocess), its output checked.

The demo exports a generated study through the SQLite queue to the built-in Store SCP; these tests read
what it printed and what it left in the work folder, never a hard-coded UID or count from a previous run.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

REPO = Path(__file__).resolve().parents[2]


def run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dcm_exporter.cli", "demo", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def _check_completed_export(result: subprocess.CompletedProcess[str], work: Path, expected: int) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    study_uid = re.search(r"sample study (\S+):", out)
    assert study_uid, out
    study = study_uid.group(1)
    # the task table: header, then the row of this run's task with COMPLETED and upstream's message
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("TASK_ID"))
    assert lines[header].split() == ["TASK_ID", "EXPORTER_ID", "STATUS", "INSTANCES", "OUTCOME"]
    row = lines[header + 1].split(maxsplit=4)
    assert row[1:4] == ["STORESCP", "COMPLETED", str(expected)]
    assert row[4] == f"Export Study[uid={study}] to STORESCP - completed:{expected}"
    assert f"received {expected} of {expected} instances in {work / 'received' / study}" in out
    assert "byte-identical" in out
    assert "export COMPLETED" in out
    # what arrived: one file per generated instance, same SOP Instance UIDs, same dataset
    sent = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
            for p in (work / "archive" / study).rglob("*.dcm")}
    got = {p.stem: p for p in (work / "received" / study).glob("*.dcm")}
    assert len(sent) == expected
    assert set(got) == set(sent)
    for uid, path in got.items():
        ds = pydicom.dcmread(path)
        assert ds.SOPInstanceUID == uid
        assert ds.StudyInstanceUID == study
        assert ds.PixelData == pydicom.dcmread(sent[uid]).PixelData
    # the queue in the work folder holds the task, COMPLETED
    db = sqlite3.connect(work / "queue.sqlite")
    try:
        status = db.execute("SELECT status FROM export_task WHERE study_uid = ?", (study,)).fetchall()
    finally:
        db.close()
    assert status == [("COMPLETED",)]
    return study


def test_demo_exports_a_sample_study_and_says_so(tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = run_demo("--work-dir", str(work), "--series", "2", "--instances", "5", cwd=tmp_path)
    _check_completed_export(result, work, expected=10)
    assert (work / "config.ldif").is_file()
    assert "dn: dcmExporterID=STORESCP" in (work / "config.ldif").read_text()


def test_demo_default_work_dir_is_in_the_current_folder_and_a_second_run_adds_a_study(tmp_path: Path) -> None:
    first = run_demo(cwd=tmp_path)
    work = tmp_path / "dcm-exporter-demo"
    study1 = _check_completed_export(first, work, expected=20)
    second = run_demo(cwd=tmp_path)
    study2 = _check_completed_export(second, work, expected=20)
    assert study1 != study2
    # the second run's table shows only its own task
    assert study1 not in second.stdout


def test_demo_moves_to_a_free_port_when_11117_is_busy(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT from an earlier run is fine
    try:
        try:
            blocker.bind(("127.0.0.1", 11117))
            blocker.listen()
        except OSError:
            pass  # somebody else listens on 11117 already: the demo must move away from it all the same
        work = tmp_path / "w"
        result = run_demo("--work-dir", str(work), "--instances", "3", cwd=tmp_path)
        port = re.search(r"port 11117 is busy .*listens on 127\.0\.0\.1:(\d+)", result.stdout)
        assert port, result.stdout
        _check_completed_export(result, work, expected=6)
        assert f"dicomPort: {port.group(1)}" in (work / "config.ldif").read_text()
    finally:
        blocker.close()


def test_demo_fails_with_exit_1_when_the_destination_refuses(tmp_path: Path) -> None:
    """The built-in Store SCP answers every C-STORE with 0xA700: the task is not COMPLETED, exit status 1."""
    work = tmp_path / "w"
    result = run_demo("--work-dir", str(work), "--instances", "2", "--scp-status", "0xA700", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("TASK_ID"))
    row = lines[header + 1]
    assert " WARNING " in row  # upstream rule: failed > 0 without missing ones is WARNING
    assert "failed:4" in row
    assert "received 0 of 4 instances" in result.stdout
    assert "the export did not complete" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_rejects_bad_input_with_exit_2(tmp_path: Path) -> None:
    result = run_demo("--work-dir", str(tmp_path / "w"), "--instances", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: series and instances_per_series must be >= 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_help(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-m", "dcm_exporter.cli", *args], capture_output=True,
                            text=True, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_demo_on_a_terminal_shows_progress_and_colour_and_none_without(tmp_path: Path) -> None:
    import pexpect

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(sys.executable, ["-m", "dcm_exporter.cli", "demo", "--work-dir", str(tmp_path / "w"),
                                           "--instances", "3"], env=env, encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b[32mCOMPLETED\x1b[0m" in child.before  # the status cell, green
    assert "export to STORESCP" in child.before  # the progress bar's label
    piped = run_demo("--work-dir", str(tmp_path / "w2"), "--instances", "3", cwd=tmp_path)
    assert "\x1b[" not in piped.stdout + piped.stderr
