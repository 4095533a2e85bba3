"""A running ``dcm-exporter run --source DIR`` finds studies written to DIR after it started.

Found in a trial: an export queued while the runner ran, for a study whose files arrived after the runner's
first scan, ended WARNING ``Could not find Study`` and was never retried. A miss now refreshes the index
(incrementally) before it is reported. Against DCMTK storescp, with the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from _cli import cli_env, ok_json, run_cli

from _helpers import received_sop_uids, wait_for
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.sample import generate_study


def _status(task_id: int, q: tuple[str, ...], cwd: Path) -> str:
    result = run_cli("queue", "show", str(task_id), *q, "--json", cwd=cwd)
    return str(json.loads(result.stdout)["status"]) if result.returncode == 0 else ""


def test_an_export_of_a_study_written_after_the_runner_started_completes(tmp_path: Path, storescp: Any) -> None:
    archive = tmp_path / "archive"
    first = generate_study(archive, series=1, instances_per_series=2, kind="small")
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", storescp.port)))
    c = ("--config", str(config))
    q = ("--queue", f"sqlite:{tmp_path / 'q.sqlite'}")
    runner = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "run", *c, *q, "--source", str(archive),
         "--index", str(tmp_path / "index.sqlite"), "--poll-interval", "0.2"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the runner indexes the folder for a first export ...
        one = ok_json("export", "STORESCP", "--study", first.study_uid, *c, *q, cwd=tmp_path)[0]["task_id"]
        assert wait_for(lambda: _status(one, q, tmp_path) == "COMPLETED", timeout=60), _status(one, q, tmp_path)
        # ... then a study arrives in the folder, and its export is queued
        later = generate_study(archive, series=2, instances_per_series=3, kind="small")
        two = ok_json("export", "STORESCP", "--study", later.study_uid, *c, *q, cwd=tmp_path)[0]["task_id"]
        assert wait_for(lambda: _status(two, q, tmp_path) not in ("", "SCHEDULED", "IN PROCESS"), timeout=60)
        shown = ok_json("queue", "show", str(two), *q, cwd=tmp_path)
        assert shown["status"] == "COMPLETED", shown
        assert "Could not find" not in (shown["outcome_message"] or "")
        assert shown["number_of_instances"] == 6
    finally:
        runner.send_signal(signal.SIGTERM)  # stops like Ctrl-C
        out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0, out + err
    assert "Traceback" not in err
    assert received_sop_uids(storescp.output_dir) == set(first.sop_instance_uids) | set(later.sop_instance_uids)
