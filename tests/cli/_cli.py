"""Run ``dcm-exporter`` as a user would: a subprocess of this Python with the repository's ``src`` on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def cli_env(**extra: str) -> dict[str, str]:
    # a user's shell has neither our settings nor nox's session variables (the suite itself may run under nox)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCM_EXPORTER_", "NOX_"))}
    env.update(PYTHONPATH=str(SRC), NO_COLOR="1", COLUMNS="200", **extra)
    return env


def run_cli(*args: str, cwd: Path, input: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcm_exporter.cli", *args], cwd=cwd, env=env or cli_env(), input=input,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def ok(*args: str, cwd: Path, **kwargs: Any) -> str:
    result = run_cli(*args, cwd=cwd, **kwargs)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def ok_json(*args: str, cwd: Path, **kwargs: Any) -> Any:
    return json.loads(ok(*args, "--json", cwd=cwd, **kwargs))
