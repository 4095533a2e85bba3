"""Task store errors are never silent: the queue file's disk is full (a small real tmpfs).

``run --until-idle`` exits non-zero with one clear line (it exited 0 with tracebacks); the background runner
backs off, reports once per state change, exposes the error (``TaskRunner.store_error``, the web app's
``/healthz``) and goes on by itself when there is space again. With several queues as well (dcm4chee's
default configuration has eleven): the workers of empty queues claim nothing, which succeeds on a full disk too,
and must neither clear the Export queue's error nor make ``--until-idle`` exit 0.

Needs root (``mount -t tmpfs``): skipped with the reason otherwise, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from _cli import ok_json, run_cli

from _helpers import wait_for
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
from dcm_exporter.queue import SqliteTaskStore, TaskStatus
from dcm_exporter.sources import FileSystemSource

SIZE_KB = 1024
#: The other queues of dcm4chee's default configuration (default-config.ldif); nothing is scheduled on them.
OTHER_QUEUES = ("IANSCU", "HL7Send", "MPPSSCU", "RSClient", "Retrieve", "DiffTasks", "Rejection", "StgCmtSCP",
                "StgCmtSCU", "StgVerTasks")


def _with_other_queues(configuration: Configuration, device_name: str, more: bool) -> Configuration:
    if not more:
        return configuration
    device = configuration.device(device_name)
    queues = (*device.queues, *(QueueDescriptor(queue_name=name) for name in OTHER_QUEUES))
    return configuration.replace_device(attrs.evolve(device, queues=queues))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs", str(mount)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        why = f"cannot mount a tmpfs (needs root): {result.stderr.strip() or result.returncode}"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_kb: int) -> None:
    """Fill the disk up to ``leave_kb`` KiB of free space."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize // 1024
    with (disk / "filler").open("wb") as f:
        f.write(b"\0" * max(0, free - leave_kb) * 1024)


def _port_nobody_listens_on() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("more_queues", [False, True], ids=["one-queue", "eleven-queues"])
@pytest.mark.parametrize("leave_kb", [32, 56])  # full at the claim; full when the first attempt is recorded
# (56: schema 4 writes fewer index pages per commit, so a first record fits into 64 KiB)
def test_run_until_idle_on_a_full_disk_exits_non_zero_with_one_clear_line(
    tmp_path: Path, tmpfs: Path, small_study: Any, leave_kb: int, more_queues: bool
) -> None:
    configuration = with_port(demo_configuration(), "STORESCP", _port_nobody_listens_on())
    device_name = configuration.exporter_device("STORESCP").device_name
    configuration = _with_other_queues(configuration, device_name, more_queues)
    assert len(configuration.device(device_name).queues) == (11 if more_queues else 1)
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(configuration))
    c = ("--config", str(config))
    q = ("--queue", f"sqlite:{tmpfs / 'q.sqlite'}")
    for _ in range(3):
        ok_json("export", "STORESCP", "--study", small_study.study_uid, *c, *q, cwd=tmp_path)
    _fill(tmpfs, leave_kb)

    result = run_cli("run", "--until-idle", *c, *q, "--source", str(small_study.directory), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: task database {tmpfs / 'q.sqlite'}: ")
    assert "database or disk is full" in lines[0]


@pytest.mark.parametrize("more_queues", [False, True], ids=["one-queue", "eleven-queues"])
def test_the_background_runner_backs_off_reports_once_and_goes_on_when_there_is_space(
    tmp_path: Path, tmpfs: Path, caplog: pytest.LogCaptureFixture, more_queues: bool
) -> None:
    from dcm_exporter.web._facade import ExporterAdapter

    configuration = _with_other_queues(Configuration(devices=[Device(
        device_name="dcm4chee-arc",
        exporters=[ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1",
                                      ae_title="DCM4CHEE")],
        queues=[QueueDescriptor(queue_name="Export1")],
    )]), "dcm4chee-arc", more_queues)
    (tmp_path / "data").mkdir()
    with SqliteTaskStore(tmpfs / "tasks.db") as store, Exporter(
        configuration, FileSystemSource(tmp_path / "data"), store=store
    ) as exporter:
        tasks = [exporter.schedule_export("NOOP", f"1.2.3.{n}") for n in range(3)]
    _fill(tmpfs, 32)
    caplog.set_level(logging.DEBUG, logger="dcm_exporter.queue")
    store = SqliteTaskStore(tmpfs / "tasks.db")
    with Exporter(configuration, FileSystemSource(tmp_path / "data"), store=store) as exporter:
        exporter.start(poll_interval=0.01)
        runner = exporter._runner  # type: ignore[attr-defined]
        adapter = ExporterAdapter(exporter)
        assert wait_for(lambda: runner.store_error is not None, timeout=30)
        assert "database or disk is full" in str(runner.store_error)
        assert "database or disk is full" in (adapter.store_error() or "")
        # several failed attempts (DEBUG), one report (ERROR), no traceback
        assert wait_for(lambda: sum("failed again" in r.getMessage() for r in caplog.records) >= 3, timeout=30)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert errors[0].exc_info is None and "retrying with back-off" in errors[0].getMessage()
        assert "Export1" in errors[0].getMessage()
        assert all(exporter.queue.task(t.task_id).status is TaskStatus.SCHEDULED for t in tasks)
        # the workers of the empty queues claimed nothing meanwhile, successfully: the Export1 worker's error
        # stands all along (no "works again" between its back-offs) and the health check stays failing
        assert not [r.getMessage() for r in caplog.records if "works again" in r.getMessage()]
        assert "database or disk is full" in str(runner.store_error)
        assert "database or disk is full" in (adapter.store_error() or "")

        (tmpfs / "filler").unlink()  # space again: the runner goes on by itself
        assert wait_for(
            lambda: all(exporter.queue.task(t.task_id).status is TaskStatus.COMPLETED for t in tasks), timeout=120
        )
        assert wait_for(lambda: runner.store_error is None, timeout=30)
        assert adapter.store_error() is None
        recovered = [r for r in caplog.records if "works again" in r.getMessage()]
        assert len(recovered) == 1 and recovered[0].levelno == logging.WARNING, [r.getMessage() for r in recovered]
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
        exporter.stop()
    store.close()
