"""The examples of the web how-to pages run as written: the Python ones in-process, the curl session of
docs/how-to/rest-api.md against ``dcm-exporter serve`` exporting to DCMTK storescp."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from _helpers import run_page_doctests
from _web import start_serve
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.models import Configuration, ExporterDescriptor
from dcm_exporter.sample import StudyInfo
from servers.dcmtk import StorescpServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
WEB_APP = DOCS / "how-to" / "web-app.md"
PROMETHEUS = DOCS / "how-to" / "prometheus.md"
LIVE_RELOAD = DOCS / "how-to" / "live-reload.md"
REST_API = DOCS / "how-to" / "rest-api.md"


def _configuration(port: int = 11117) -> Configuration:
    return with_port(demo_configuration(), "STORESCP", port).put_exporter(
        ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1", ae_title="DCM4CHEE"))


def _globs(tmp_path: Path, study: StudyInfo) -> dict[str, Any]:
    config_file = tmp_path / "archive.ldif"
    config_file.write_text(ldif.dumps(_configuration()))
    return {"configuration": _configuration(), "archive": str(study.directory), "study_uid": study.study_uid,
            "queue_file": str(tmp_path / "queue.sqlite"), "config_file": str(config_file)}


@pytest.mark.parametrize("page", [WEB_APP, PROMETHEUS, LIVE_RELOAD], ids=lambda p: p.name)
def test_python_examples(tmp_path: Path, small_study: StudyInfo, page: Path) -> None:
    result = run_page_doctests(page, globs=_globs(tmp_path, small_study))
    assert result.failed == 0 and result.attempted >= 5, result


# --- the curl session -----------------------------------------------------------------------------------------


def _session(text: str) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of every ``$ `` line in the page's console blocks."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


def _same_shape(expected: Any, actual: Any) -> bool:
    """Same JSON type; objects with the same keys (lists: compared by their first item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and set(expected) == set(actual)
    if isinstance(expected, list):
        return isinstance(actual, list) and (not expected or (bool(actual) and _same_shape(expected[0], actual[0])))
    return type(expected) is type(actual)


@pytest.mark.slow
def test_rest_api_curl_session(tmp_path: Path, storescp: StorescpServer, small_study: StudyInfo) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian package curl)")
    config = tmp_path / "archive.ldif"
    config.write_text(ldif.dumps(_configuration(storescp.port)))
    served = start_serve(tmp_path, "--config", str(config), "--queue", f"sqlite:{tmp_path / 'queue.sqlite'}",
                         "--source", str(small_study.directory), "--poll-interval", "0.1")
    steps = _session(REST_API.read_text(encoding="utf-8"))
    assert len(steps) >= 12
    env = {**os.environ, "BASE": served.url + "/dcm4chee-arc", "TOKEN": served.token or "",
           "STUDY": small_study.study_uid}
    try:
        for command, expected in steps:
            run = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, text=True,
                                 timeout=120, check=False)
            assert run.returncode == 0, f"{command}\nexit {run.returncode}\n{run.stdout}{run.stderr}"
            lines = run.stdout.splitlines()
            if expected and expected[0].startswith(("{", "[")):
                actual = json.loads(run.stdout)
                assert _same_shape(json.loads(expected[0]), actual), f"{command}\n{run.stdout}"
            else:
                assert lines[: len(expected)] == expected, f"{command}\n{run.stdout}"
    finally:
        code = served.stop()
    assert code == 0, served.output()
