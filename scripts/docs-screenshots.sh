#!/usr/bin/env bash
# Screenshots for looking at the docs as a reader does: the built API page (run `python3 -m nox -s docs` first) and
# each notebook executed and rendered to HTML by nbconvert, all taken with headless Chromium (Debian package
# chromium, see install-system-deps.sh). Usage: scripts/docs-screenshots.sh [OUT_DIR] (default build/screenshots);
# PYTHON names an interpreter with the package and the test + notebook extras (default: .nox/docs/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/screenshots}
python=${PYTHON:-.nox/docs/bin/python}
mkdir -p "$out"
out=$(realpath "$out")
shoot() {  # URL PNG HEIGHT
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$3" --screenshot="$2" "$1" \
    >/dev/null 2>&1
  echo "$2"
}
shoot "file://$PWD/build/site/reference/api.html" "$out/api.png" 2400
for nb in notebooks/*.ipynb; do
  name=$(basename "$nb" .ipynb)
  PYTHONPATH="$PWD/src" "$python" - "$nb" "$out/$name.html" <<'PY'
import sys

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=240, kernel_name="python3").execute()
open(sys.argv[2], "w", encoding="utf-8").write(HTMLExporter().from_notebook_node(nb)[0])
PY
  shoot "file://$out/$name.html" "$out/$name.png" 6000
done
