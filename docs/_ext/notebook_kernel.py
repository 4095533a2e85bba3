"""The Jupyter kernel that executes the notebooks of the docs: this interpreter, with the repository's ``src``.

The notebooks name the usual ``python3`` kernel. Which interpreter that name starts depends on the machine (a
kernelspec in the user's Jupyter folder wins over the virtual environment's), so the build registers a kernel of
its own, in a folder of the build, for the interpreter running Sphinx, and conf.py maps every kernel name of a
notebook to it. Its ``PYTHONPATH`` puts the repository's ``src`` first, as conf.py does for autodoc: the pictures
and the API reference document the same code, installed or not.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERNEL_NAME = "dcm-exporter-docs"


def docs_kernel(jupyter_dir: Path, src: Path) -> str:
    """Write the kernelspec under ``jupyter_dir/kernels``, put ``jupyter_dir`` first on ``JUPYTER_PATH``; its name."""
    spec = jupyter_dir / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    python_path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dcm_exporter docs",
        "language": "python",
        "env": {"PYTHONPATH": python_path},
    }), encoding="utf-8")
    # jupyter_client reads JUPYTER_PATH when it looks a kernel up, i.e. while MyST-NB executes
    paths = [str(jupyter_dir), *(p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p)]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return KERNEL_NAME
