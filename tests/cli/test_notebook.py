"""The tutorial notebook, executed with nbclient in a Jupyter kernel running this Python (CI runs it too)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "tutorial.ipynb"
KERNEL = "dcm-exporter-tests"


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec for this interpreter (the nox venv in CI) with the repository's src on its path."""
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (test extra)")
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dcm_exporter tests",
        "language": "python",
        "env": {"PYTHONPATH": str(REPO / "src")},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return KERNEL


def test_tutorial_notebook_runs_and_shows_tables(kernel_name: str, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_name, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell (the notebook asserts the export)
    html = [
        out["data"]["text/html"]
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if "text/html" in out.get("data", {})
    ]
    joined = "\n".join(html)
    assert "dicom:STORESCP" in joined  # the configuration and exporter tables
    assert "COMPLETED" in joined and "background:#c8e6c9" in joined  # the task list, status coloured
    assert "number_of_instances" in joined  # the pandas data frame
    assert "completed:5" in joined  # the Outcome of export_now
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []
