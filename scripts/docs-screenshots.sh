#!/usr/bin/env bash
# Screenshots for looking at the docs as a reader does: the built API page and both notebook pages (the notebooks
# are executed by the docs build: run `python3 -m nox -s docs` first), taken with headless Chromium (Debian package
# chromium, see install-system-deps.sh). Usage: scripts/docs-screenshots.sh [OUT_DIR] (default build/screenshots).
# tests/unit/test_docs_site.py takes screenshots at three window widths too (DCM_EXPORTER_SCREENSHOTS=DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/screenshots}
mkdir -p "$out"
out=$(realpath "$out")
shoot() {  # PAGE PNG HEIGHT
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$3" --screenshot="$2" \
    "file://$PWD/build/site/$1" >/dev/null 2>&1
  echo "$2"
}
shoot reference/api.html "$out/api.png" 2400
for nb in docs/notebooks/*.ipynb; do
  name=$(basename "$nb" .ipynb)
  shoot "notebooks/$name.html" "$out/$name.png" 6000
done
