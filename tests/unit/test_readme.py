"""The README's test command is the one CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_COMMAND = "scripts/install-system-deps.sh && python3 -m nox -s tests"
DEMO_COMMAND = "python3 -m pip install nox && python3 -m nox -s demo"


def test_readme_holds_both_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert TEST_COMMAND in readme
    assert DEMO_COMMAND in readme


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in [line.strip() for line in ci]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_python_example_runs_as_written(tmp_path: Path) -> None:
    """The ten-line example of the README exports a study and prints COMPLETED."""
    import re
    import socket
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## In ten lines.*?```python\n(.*?)```", readme, re.S)
    assert block is not None
    code = block.group(1)
    ldif = (ROOT / "src" / "dcm_exporter" / "data" / "demo.ldif").read_text()
    with socket.socket() as probe:
        busy = probe.connect_ex(("127.0.0.1", 11117)) == 0
    if busy:  # another program holds the demo port: move both sides of the example
        port = _free_port()
        code = code.replace("port=11117", f"port={port}")
        ldif = ldif.replace("dicomPort: 11117", f"dicomPort: {port}")
    (tmp_path / "archive.ldif").write_text(ldif)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("COMPLETED Export ")
    assert lines[0].endswith("to STORESCP - completed:10")
    assert len([p for p in (tmp_path / "received").rglob("*") if p.is_file()]) == 10
