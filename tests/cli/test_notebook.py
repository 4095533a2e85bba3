"""The notebooks, executed with nbclient in a Jupyter kernel running this Python (CI runs them too).

Each must run without an error and show its tables, its progress bars and at least one picture (a PNG).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "docs" / "notebooks"
KERNEL = "dcm-exporter-tests"


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec for this interpreter (the nox venv in CI) with the repository's src on its path."""
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (test extra)")
    pytest.importorskip("matplotlib", reason="the notebooks draw with matplotlib (notebook extra)")
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dcm_exporter tests",
        "language": "python",
        "env": {"PYTHONPATH": f"{REPO / 'src'}{':' + str(REPO)}"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.delenv("DCM_EXPORTER_QUEUE", raising=False)
    return KERNEL


def execute(name: str, kernel_name: str, tmp_path: Path) -> Any:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_name, timeout=240, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell (the notebooks assert what they do)
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []
    return nb


def outputs(nb: Any, mime: str) -> list[Any]:
    return [out["data"][mime] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if mime in out.get("data", {})]


def pngs(nb: Any) -> list[bytes]:
    images = [base64.b64decode(data) for data in outputs(nb, "image/png")]
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    return images


def test_tutorial_notebook_runs_and_shows_tables_and_pictures(kernel_name: str, tmp_path: Path) -> None:
    nb = execute("tutorial.ipynb", kernel_name, tmp_path)
    joined = "\n".join(outputs(nb, "text/html"))
    assert "dicom:STORESCP" in joined  # the configuration and exporter tables
    assert "1 exporter(s)" in joined and "1 queue(s)" in joined  # config.exporters, config.queues as tables
    assert "Remote AE STORESCP" in joined  # one remote AE as a table
    assert "dcm-exporter-week" in joined and "Sat 12:00 100 % open" in joined  # the schedule's week grid
    assert "COMPLETED" in joined and "background:#c8e6c9" in joined  # the task list, status coloured
    assert "number_of_instances" in joined  # the pandas data frame
    assert "completed:5" in joined  # the Outcome of export_now
    # the progress bars of run_until_idle and export_now, updated in place and ended
    progress = [out for cell in nb.cells for out in cell.get("outputs", [])
                if "dcm-exporter-progress" in out.get("data", {}).get("text/html", "")]
    assert any("export to STORESCP" in p["data"]["text/html"] for p in progress)
    assert any("export queue" in p["data"]["text/html"] for p in progress)
    assert len(pngs(nb)) >= 2  # the schedule and the task history


def test_last_night_notebook_summarises_plots_and_reschedules(kernel_name: str, tmp_path: Path) -> None:
    nb = execute("last-night.ipynb", kernel_name, tmp_path)
    joined = "\n".join(outputs(nb, "text/html"))
    assert "PACS" in joined and "BACKUP" in joined and "STORESCP" in joined  # the summary per exporter
    assert "FAILED" in joined and "Connection refused" in joined  # the failures and their reason
    assert len(pngs(nb)) >= 2  # the night and the status after the reschedule


@pytest.mark.postgres
def test_last_night_notebook_reads_a_postgresql_queue(kernel_name: str, tmp_path: Path, pg_database: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same night, written to and read from a PostgreSQL queue (``open_store`` with a postgresql:// URL)."""
    pytest.importorskip("psycopg", reason="needs the postgres extra")
    monkeypatch.setenv("DCM_EXPORTER_NIGHT_QUEUE", pg_database.url)
    nb = execute("last-night.ipynb", kernel_name, tmp_path)
    joined = "\n".join(outputs(nb, "text/html"))
    assert "FAILED" in joined and "Connection refused" in joined
    assert len(pngs(nb)) >= 2
    import psycopg

    with psycopg.connect(pg_database.dsn) as conn:  # the tasks really are in PostgreSQL
        (count,) = conn.execute("SELECT count(*) FROM dcm_exporter.export_task").fetchone()  # type: ignore[misc]
    assert count > 100
