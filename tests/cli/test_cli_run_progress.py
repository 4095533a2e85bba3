"""``dcm-exporter run`` shows its progress: a periodic one-line summary in a log (not a terminal), a live
status line on a terminal (a real pseudo-terminal here). Against DCMTK storescp slowed to one second per
instance (``--sleep-during 1``), so that a task is seen running."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _cli import cli_env, ok_json, run_cli

from _helpers import wait_for
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.sample import generate_study


def _setup(tmp_path: Path, port: int, instances: int) -> tuple[tuple[str, ...], Any]:
    study = generate_study(tmp_path / "archive", series=1, instances_per_series=instances, kind="small")
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", port)))
    args = ("--config", str(config), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}")
    ok_json("export", "STORESCP", "--study", study.study_uid, *args, cwd=tmp_path)
    return args, study


def test_until_idle_ends_with_the_totals(tmp_path: Path, storescp: Any) -> None:
    args, _study = _setup(tmp_path, storescp.port, 6)
    result = run_cli("run", "--until-idle", *args, "--source", str(tmp_path / "archive"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"done: 1 task\(s\) done \(1 COMPLETED\); 6 instances, [0-9.]+ MB in [0-9.]+ s", last), last


def test_a_log_gets_a_periodic_summary_line_with_tasks_running_and_rates(
    tmp_path: Path, storescp_factory: Any
) -> None:
    scp = storescp_factory(options=("+xa", "--sleep-during", "1"))  # one second per instance
    args, _study = _setup(tmp_path, scp.port, 4)
    runner = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "run", *args, "--source", str(tmp_path / "archive"),
         "--progress-interval", "0.5", "--poll-interval", "0.2"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert wait_for(lambda: len(scp.files()) >= 4, timeout=60)
        assert wait_for(
            lambda: '"COMPLETED"' in run_cli("queue", "list", "--json", *args[2:], cwd=tmp_path).stdout, timeout=30
        )
    finally:
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, out + err
    lines = [x for x in out.splitlines() if x.startswith("progress: ")]
    assert lines, out
    running = [x for x in lines if re.search(r"; 1 running: task \d+ \(\d+ instances\);", x)]
    assert running, lines
    for line in lines:
        assert re.search(r"; [0-9?]+ waiting; ", line) and re.search(r"[0-9.]+ instances/s, [0-9.]+ MB/s$", line)
    assert re.search(r"stopped: 1 task\(s\) done \(1 COMPLETED\); 4 instances, [0-9.]+ MB", out), out
    assert "\033[" not in out  # no terminal control in a log


def test_a_terminal_gets_a_live_status_line(tmp_path: Path, storescp_factory: Any) -> None:
    scp = storescp_factory(options=("+xa", "--sleep-during", "1"))
    args, _study = _setup(tmp_path, scp.port, 3)
    primary, secondary = os.openpty()
    env = cli_env()
    runner = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "run", *args, "--source", str(tmp_path / "archive"),
         "--poll-interval", "0.2"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, start_new_session=True,
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"COMPLETED" not in seen:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(primary, 65536)
                except OSError:
                    break
    finally:
        runner.send_signal(signal.SIGTERM)
        end = time.monotonic() + 30
        while runner.poll() is None and time.monotonic() < end:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(primary, 65536)
                except OSError:
                    break
        runner.wait(timeout=30)
        os.close(primary)
    text = seen.decode(errors="replace")
    live = re.findall(r"\r\x1b\[K([^\r\n]+)", text)
    assert any(re.search(r"1 running: task \d+ \(\d+ instances\); [0-9.]+ instances/s, [0-9.]+ MB/s", x)
               for x in live), text
    assert "progress: " not in text  # the periodic log line is for logs only
