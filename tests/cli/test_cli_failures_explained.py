"""Failures are explained: per failed instance its SOP Instance UID, status and reason, in every view.

Against DCMTK storescp, with one truncated file in a study of five: ``export --now`` (table and ``--json``),
a queued export run by ``run --until-idle``, ``queue show`` (table and ``--json``), ``queue list``, and
``-v``'s one WARNING per failed instance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _cli import ok, ok_json, run_cli

from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.sample import generate_study


def _truncated_study(tmp_path: Path) -> tuple[Any, Any]:
    study = generate_study(tmp_path / "archive", series=1, instances_per_series=5, kind="small")
    victim = sorted(study.instances, key=lambda i: i.sop_instance_uid)[0]
    data = victim.path.read_bytes()
    victim.path.write_bytes(data[: len(data) // 2])  # cut in the middle of the pixel data
    return study, victim


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", port)))
    return path


def test_export_now_shows_each_failed_instance_with_its_reason(tmp_path: Path, storescp: Any) -> None:
    study, victim = _truncated_study(tmp_path)
    c = ("--config", str(_config(tmp_path, storescp.port)), "--source", str(tmp_path / "archive"))

    result = run_cli("export", "STORESCP", "--study", study.study_uid, "--now", "--json", *c, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["status"], row["completed"], row["failed"]) == ("WARNING", 4, 1)
    (failure,) = row["failed_instances"]
    assert failure["sop_instance_uid"] == victim.sop_instance_uid
    assert "truncated data set: (7FE0,0010) at offset" in failure["reason"], failure
    assert victim.path.name in failure["reason"]
    assert row["error"].startswith(f"1 instance failed: {victim.sop_instance_uid}: ")

    table = run_cli("export", "STORESCP", "--study", study.study_uid, "--now", *c, cwd=tmp_path)
    assert table.returncode == 1
    lines = table.stdout.splitlines() + table.stderr.splitlines()
    failure_line = next(x for x in lines if x.startswith(victim.sop_instance_uid))
    assert "truncated data set" in failure_line
    assert "Traceback" not in table.stderr


def test_a_queued_export_keeps_its_failures_and_queue_show_list_and_v_tell_them(
    tmp_path: Path, storescp: Any
) -> None:
    study, victim = _truncated_study(tmp_path)
    c = ("--config", str(_config(tmp_path, storescp.port)))
    q = ("--queue", f"sqlite:{tmp_path / 'q.sqlite'}")
    task_id = ok_json("export", "STORESCP", "--study", study.study_uid, *c, *q, cwd=tmp_path)[0]["task_id"]

    run = run_cli("-v", "run", "--until-idle", *c, *q, "--source", str(tmp_path / "archive"), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr  # the task ended WARNING
    warned = [x for x in run.stderr.splitlines() if "dcm_exporter.failures" in x]
    assert len(warned) == 1, run.stderr
    assert "WARNING" in warned[0] and f"task {task_id}" in warned[0] and "STORESCP" in warned[0]
    assert victim.sop_instance_uid in warned[0] and "truncated data set" in warned[0]
    end = next(x for x in run.stdout.splitlines() if x.startswith(f"task {task_id} "))
    assert "WARNING" in end and f"1 instance failed: {victim.sop_instance_uid}" in end, end

    shown = ok_json("queue", "show", str(task_id), *q, cwd=tmp_path)
    assert shown["status"] == "WARNING"
    assert shown["error_message"].startswith(f"1 instance failed: {victim.sop_instance_uid}: ")
    assert "truncated data set: (7FE0,0010) at offset" in shown["error_message"]
    (failure,) = shown["failed_instances"]
    assert failure["sop_instance_uid"] == victim.sop_instance_uid and "truncated" in failure["reason"]
    assert shown["result"]["failed"] == 1 and shown["result"]["omitted"] == 0

    table = ok("queue", "show", str(task_id), *q, cwd=tmp_path)
    assert "1 failed instance(s):" in table
    assert any(x.startswith(victim.sop_instance_uid) and "truncated data set" in x for x in table.splitlines())

    listed = ok("queue", "list", *q, cwd=tmp_path)
    row = next(x for x in listed.splitlines() if x.split()[0] == str(task_id))
    assert "completed:4, failed:1" in row and f"1 instance failed: {victim.sop_instance_uid}" in row

    quiet = run_cli("queue", "show", "999999", *q, cwd=tmp_path)
    assert quiet.returncode != 0 and "Traceback" not in quiet.stderr


def test_on_a_narrow_terminal_the_reasons_are_whole(tmp_path: Path, storescp: Any) -> None:
    """The main table is cut to the terminal's width; the failed instances are not (a cut reason tells
    neither where nor why, a cut UID cannot be looked up)."""
    import sys

    import pexpect
    from _cli import cli_env

    study, victim = _truncated_study(tmp_path)
    c = ("--config", str(_config(tmp_path, storescp.port)), "--source", str(tmp_path / "archive"))
    columns = 80
    child = pexpect.spawn(sys.executable, ["-m", "dcm_exporter.cli", "export", "STORESCP", "--study",
                                           study.study_uid, "--now", *c],
                          cwd=str(tmp_path), env={**cli_env(), "COLUMNS": str(columns)}, encoding="utf-8",
                          timeout=60, dimensions=(50, columns))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    lines = [line for line in child.before.replace("\r", "").split("\n") if line]
    assert max(len(line) for line in lines if line.startswith(("STUDY_UID", "2.25."))
               and not line.startswith(victim.sop_instance_uid)) <= columns, lines
    (failure_line,) = [line for line in lines if line.startswith(victim.sop_instance_uid)]
    expected = run_cli("export", "STORESCP", "--study", study.study_uid, "--now", "--json", *c,
                       cwd=tmp_path)
    reason = json.loads(expected.stdout)[0]["failed_instances"][0]["reason"]
    assert failure_line.rstrip().endswith(reason) and " left" in reason, failure_line


def test_export_now_to_a_destination_that_is_gone_gives_a_failed_row_per_study(
    tmp_path: Path, storescp: Any
) -> None:
    """No association at all: each study's row is FAILED with the reason (scripts reading --json get JSON),
    not one error line that drops the rows."""
    first = generate_study(tmp_path / "archive", series=1, instances_per_series=2, kind="small")
    second = generate_study(tmp_path / "archive", series=1, instances_per_series=3, kind="small")
    c = ("--config", str(_config(tmp_path, storescp.port)), "--source", str(tmp_path / "archive"))
    storescp.stop()  # the destination's process is gone; its port refuses connections

    result = run_cli("export", "STORESCP", "--study", first.study_uid, "--study", second.study_uid, "--now",
                     "--json", *c, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    rows = json.loads(result.stdout)
    assert [(r["study_uid"], r["status"], r["completed"], r["remaining"]) for r in rows] == [
        (first.study_uid, "FAILED", 0, 2), (second.study_uid, "FAILED", 0, 3)]
    assert all(r["error"].startswith(f"Cannot connect to AE STORESCP at localhost:{storescp.port}: ")
               for r in rows), [r["error"] for r in rows]

    table = run_cli("export", "STORESCP", "--study", first.study_uid, "--now", *c, cwd=tmp_path)
    assert table.returncode == 1
    assert f"{first.study_uid}: Cannot connect to AE STORESCP at localhost:{storescp.port}: " in table.stdout
