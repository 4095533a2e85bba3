"""``dcm-exporter run`` stopped by a real signal: Ctrl-C (SIGINT) or a service manager's SIGTERM.

Running exports either finish or go back to the queue; none is left IN PROCESS, none is lost. The peer
is slow (every C-STORE answered after a delay), so tasks are running when the signal comes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli import cli_env, ok_json

from _helpers import sqlite_task_counts
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.sample import generate_study
from dcm_exporter.testing import StoreSCP

STUDIES = 6


_counts = sqlite_task_counts


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path, StoreSCP]:
    scp = StoreSCP(delay=0.4).start()  # every C-STORE answered after 0.4 s: each study takes over a second
    configuration = with_port(demo_configuration(), "STORESCP", scp.port)
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(configuration))
    archive = tmp_path / "archive"
    studies = [generate_study(archive, series=1, instances_per_series=3, kind="small") for _ in range(STUDIES)]
    db = tmp_path / "q.sqlite"
    common = ("--config", str(config), "--queue", f"sqlite:{db}")
    for study in studies:
        ok_json("export", "STORESCP", "--study", study.study_uid, *common, cwd=tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "run", *common, "--source", str(archive), "--stop-timeout", "1",
         *extra],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )
    return proc, db, scp


def _sigint_as_at_a_terminal() -> None:
    # Ctrl-C reaches a command run in the foreground of a shell with SIGINT at its default; a suite started in
    # the background (`pytest &`, nohup, some CI runners) passes SIGINT on as ignored, and Python then installs
    # no KeyboardInterrupt handler at all, so the child would never see the Ctrl-C this test sends
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_until_running(proc: subprocess.Popen[str], db: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        counts = _counts(db)
        if counts.get("COMPLETED", 0) >= 1 and counts.get("IN PROCESS", 0) >= 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"no export was running: {_counts(db)}; exit {proc.poll()}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_stops_on_a_signal_and_puts_running_exports_back(tmp_path: Path, signum: int) -> None:
    proc, db, scp = _start(tmp_path)
    try:
        _wait_until_running(proc, db)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        scp.stop()
    assert proc.returncode == 0, out + err
    assert "stopping: running exports finish or go back to the queue" in out and "stopped" in out, out
    assert "Traceback" not in err, err
    counts = _counts(db)
    assert "IN PROCESS" not in counts and sum(counts.values()) == STUDIES, counts
    assert set(counts) <= {"COMPLETED", "SCHEDULED"} and counts.get("SCHEDULED", 0) >= 1, counts


@pytest.mark.slow
def test_run_until_idle_interrupted_puts_running_exports_back(tmp_path: Path) -> None:
    proc, db, scp = _start(tmp_path, "--until-idle")
    try:
        _wait_until_running(proc, db)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        scp.stop()
    assert proc.returncode == 130, out + err  # interrupted
    assert "interrupted" in err and "Traceback" not in err, err
    counts = _counts(db)
    assert "IN PROCESS" not in counts and sum(counts.values()) == STUDIES, counts
    assert counts.get("SCHEDULED", 0) >= 1, counts  # it did not go on draining the queue after Ctrl-C
