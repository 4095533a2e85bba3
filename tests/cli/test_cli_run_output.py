"""``dcm-exporter run`` prints what matters once: the queues that have exporters, and one line per task end.

Found in acceptance testing: with upstream default-config the banner listed all 11 queues of the device
(HL7Send, IANSCU, ...) although one had an exporter, and every task that ended in retry or warning was printed
twice (the command's task line and the queue's WARNING log record).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from _cli import ok_json, run_cli

from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.models import QueueDescriptor

IDLE_QUEUES = ("HL7Send", "IANSCU", "StgCmtSCU", "MPPSSCU", "Rejection")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, port: int) -> Path:
    configuration = with_port(demo_configuration(), "STORESCP", port)
    for name in IDLE_QUEUES:
        configuration = configuration.put_queue(QueueDescriptor(queue_name=name), device_name="dcm-exporter-demo")
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(configuration))
    return path


def test_banner_names_only_queues_with_exporters_and_each_task_end_is_printed_once(
    tmp_path: Path, small_study: Any
) -> None:
    config = _config(tmp_path, _closed_port())  # nobody listens: the export fails and is retried
    c = ("--config", str(config))
    q = ("--queue", f"sqlite:{tmp_path / 'q.sqlite'}")
    queued = ok_json("export", "STORESCP", "--study", small_study.study_uid, *c, *q, cwd=tmp_path)
    task_id = queued[0]["task_id"]

    result = run_cli("run", "--until-idle", *c, *q, "--source", str(small_study.directory), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr  # the task did not complete
    banner = result.stdout.splitlines()[0]
    assert "queues Export1 (STORESCP)" in banner
    assert f"{len(IDLE_QUEUES)} other queue(s) without exporters stay idle" in banner
    for name in IDLE_QUEUES:
        assert name not in banner

    both = result.stdout + result.stderr
    assert both.count(f"task {task_id} ") == 1, both
    assert f"export task {task_id} " not in result.stderr  # the queue's own record of the task end is not shown
    line = next(x for x in result.stdout.splitlines() if x.startswith(f"task {task_id} "))
    assert "SCHEDULED FOR RETRY (failure 1, next attempt at " in line, line
    assert "Traceback" not in result.stderr


def test_task_ends_are_logged_again_with_debug_logging(tmp_path: Path, small_study: Any) -> None:
    """-vv shows every log record as it is, the queue's record of the task end included."""
    config = _config(tmp_path, _closed_port())
    c = ("--config", str(config))
    q = ("--queue", f"sqlite:{tmp_path / 'q.sqlite'}")
    task_id = ok_json("export", "STORESCP", "--study", small_study.study_uid, *c, *q, cwd=tmp_path)[0]["task_id"]
    result = run_cli("-vv", "run", "--until-idle", *c, *q, "--source", str(small_study.directory), cwd=tmp_path)
    assert f"export task {task_id} SCHEDULED FOR RETRY" in result.stderr, result.stderr
