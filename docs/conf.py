"""Sphinx configuration of the dcm_exporter docs (``python3 -m nox -s docs`` builds it with warnings as errors).

The docstrings are written in reST with Google-style sections (autodoc + napoleon); the hand-written pages are
Markdown, read by MyST. The notebooks (``notebooks/*.ipynb``, here) are pages too: MyST-NB executes them at every
build in a kernel of this interpreter, so the tables and pictures on the site are the ones the code draws today
(``_ext/notebook_kernel.py``). Cross-references to other projects go through intersphinx, which never touches the
network here: see ``_ext/offline_inventories.py`` for where each inventory comes from.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE / "_ext"))

from notebook_kernel import docs_kernel  # noqa: E402
from offline_inventories import intersphinx_mapping_offline  # noqa: E402

project = "dcm_exporter"
author = "dcm_exporter developers"
copyright = "dcm_exporter developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "myst_nb",  # MyST Markdown (it loads myst_parser) and Jupyter notebooks
    "offline_inventories",
]

root_doc = "index"
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# -- MyST ---------------------------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # the pages link to sections by GitHub-style slugs (queue.md#gates)

# -- notebooks (MyST-NB) --------------------------------------------------------------------------------------
# executed at every build, never from stale outputs (the notebooks are committed without them); a failing cell,
# anything written to stderr or a cell running past its timeout fails the build
nb_execution_mode = "force"
nb_execution_timeout = 240
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True
nb_output_stderr = "warn"
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": docs_kernel(HERE.parent / "build" / "jupyter", HERE.parent / "src")}

# -- autodoc / napoleon -------------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_class_signature = "mixed"
# types go next to the documented parameters only: no second, type-only parameter list and no "Return type: None"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
python_use_unqualified_type_names = True

# -- intersphinx, offline ---------------------------------------------------------------------------------------
intersphinx_mapping = intersphinx_mapping_offline(HERE.parent / "build" / "inventories")
intersphinx_timeout = 1

# -- HTML ---------------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = "dcm_exporter"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": True,
    "top_of_page_buttons": [],
}
pygments_style = "friendly"
pygments_dark_style = "monokai"
