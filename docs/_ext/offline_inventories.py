"""Intersphinx inventories without the network.

The docs build runs where only package registries are reachable (CI too), so intersphinx may not download
``objects.inv`` from docs.python.org or pydicom.github.io. Each project's inventory comes from a file instead;
the links still point at that project's public documentation:

- Python, pydicom, attrs: the ``objects.inv`` that Debian ships with the projects' own Sphinx builds
  (``python3-doc``, ``python-pydicom-doc``, ``python-attr-doc``; ``scripts/install-system-deps.sh`` installs
  them). Debian's pydicom documentation is of 2.3 while we link to pydicom's *stable* (3.x) pages: the API
  pages keep their paths (``reference/generated/pydicom.dataset.Dataset.html``) across the two. Names pydicom
  added after 2.3 (``pydicom.examples``, ``pydicom.pixels``, ``pydicom.hooks`` ...) are not in that inventory:
  those our pages mention come from a small hand-written table (``PYDICOM_AFTER_2_3``), each entry the page
  that pydicom's own ``doc/reference/*.rst`` gives it: the build writes Debian's entries and the table's into
  one pydicom inventory (intersphinx takes one inventory per URL).
- pynetdicom: no package ships its inventory. It is written at build time from the *installed* pynetdicom: every
  public class and function of the modules pynetdicom's API reference documents, mapped to the page its Sphinx
  autosummary generates (``reference/generated/<module>.<name>.html``), methods to an anchor on their class's page.
- httpx: its documentation is built with MkDocs and publishes no inventory at all; a small hand-written table maps
  the names we mention to the sections of https://www.python-httpx.org/api/.

A missing Debian file stops the build with the package to install (never a silent link-less page), and so does a
cross-reference to a pydicom name that neither inventory holds: it would render as code, not as a link, so it is a
warning (an error under ``-W``) that says to add the name to ``PYDICOM_AFTER_2_3``.
"""

from __future__ import annotations

import importlib
import inspect
import zlib
from pathlib import Path
from typing import Any

from sphinx.util import logging

logger = logging.getLogger(__name__)

PYTHON_URL = "https://docs.python.org/3/"
PYDICOM_URL = "https://pydicom.github.io/pydicom/stable/"
ATTRS_URL = "https://www.attrs.org/en/stable/"
PYNETDICOM_URL = "https://pydicom.github.io/pynetdicom/stable/"
HTTPX_URL = "https://www.python-httpx.org/"

DEBIAN_DOCS = Path("/usr/share/doc")

#: pynetdicom modules whose members have generated pages in pynetdicom's API reference
PYNETDICOM_MODULES = (
    "pynetdicom.ae", "pynetdicom.association", "pynetdicom.events", "pynetdicom.presentation",
    "pynetdicom.status", "pynetdicom.sop_class", "pynetdicom.service_class", "pynetdicom.pdu_primitives",
    "pynetdicom.transport", "pynetdicom.utils", "pynetdicom.dsutils",
)
#: names the package exports under a second name (``pynetdicom.AE``)
PYNETDICOM_ALIASES = {"pynetdicom.AE": "pynetdicom.ae.ApplicationEntity",
                      "pynetdicom.Association": "pynetdicom.association.Association",
                      "pynetdicom.debug_logger": "pynetdicom.utils.debug_logger"}

#: httpx name -> (role, page#anchor) on https://www.python-httpx.org/
HTTPX_NAMES = {
    "httpx.Client": ("class", "api/#client"),
    "httpx.AsyncClient": ("class", "api/#asyncclient"),
    "httpx.Response": ("class", "api/#response"),
    "httpx.Request": ("class", "api/#request"),
    "httpx.URL": ("class", "api/#url"),
    "httpx.Headers": ("class", "api/#headers"),
    "httpx.Cookies": ("class", "api/#cookies"),
    "httpx.Timeout": ("class", "advanced/timeouts/"),
    "httpx.Limits": ("class", "advanced/resource-limits/"),
    "httpx.HTTPTransport": ("class", "advanced/transports/"),
    "httpx.MockTransport": ("class", "advanced/transports/#mock-transports"),
    "httpx.Proxy": ("class", "advanced/proxies/"),
    "httpx.HTTPError": ("exception", "exceptions/"),
    "httpx.RequestError": ("exception", "exceptions/"),
    "httpx.TransportError": ("exception", "exceptions/"),
    "httpx.TimeoutException": ("exception", "exceptions/"),
    "httpx.ConnectError": ("exception", "exceptions/"),
    "httpx.HTTPStatusError": ("exception", "exceptions/"),
}


#: pydicom names of the 3.x documentation that Debian's 2.3 inventory lacks and our pages mention:
#: name -> (role, page#anchor under PYDICOM_URL), as pydicom's doc/reference/*.rst places them (an autosummary
#: entry has its page under reference/generated/, a module its anchor where its ``.. module::`` stands, a method
#: its anchor on its class's page). Add a name here when the build says so.
PYDICOM_AFTER_2_3 = {
    "pydicom.examples": ("module", "reference/examples.html#module-pydicom.examples"),
    "pydicom.hooks": ("module", "reference/hooks.html#module-pydicom.hooks"),
    "pydicom.pixels.decoders": ("module", "reference/pixels.decoders.html#module-pydicom.pixels.decoders"),
}


class MissingInventory(RuntimeError):
    """A Debian documentation package is not installed."""


def _debian_inventory(package: str, *candidates: str) -> str:
    for pattern in candidates:
        found = sorted(DEBIAN_DOCS.glob(pattern))
        if found:
            return str(found[-1])
    raise MissingInventory(
        f"the docs need {package}'s objects.inv ({', '.join(str(DEBIAN_DOCS / c) for c in candidates)}): "
        f"install the Debian package {package} (scripts/install-system-deps.sh does)"
    )


def write_inventory(path: Path, project: str, version: str, entries: list[tuple[str, str, str]]) -> Path:
    """Write a Sphinx inventory (format 2): ``entries`` are (name, domain:role, uri)."""
    lines = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in sorted(set(entries)))
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress(lines.encode()))
    return path


def pynetdicom_entries() -> tuple[str, list[tuple[str, str, str]]]:
    import pynetdicom

    entries: list[tuple[str, str, str]] = [("pynetdicom", "py:module", "reference/index.html")]
    for module_name in PYNETDICOM_MODULES:
        module = importlib.import_module(module_name)
        entries.append((module_name, "py:module", f"reference/index.html#module-{module_name}"))
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            full = f"{module_name}.{name}"
            page = f"reference/generated/{full}.html"
            if inspect.isclass(obj):
                role = "py:exception" if issubclass(obj, BaseException) else "py:class"
                entries.append((full, role, page))
                for member, value in vars(obj).items():
                    if member.startswith("_"):
                        continue
                    kind = "py:method" if callable(value) else "py:attribute"
                    if isinstance(value, property):
                        kind = "py:property"
                    entries.append((f"{full}.{member}", kind, f"{page}#{full}.{member}"))
            elif inspect.isfunction(obj):
                entries.append((full, "py:function", page))
    for alias, target in PYNETDICOM_ALIASES.items():
        role = "py:function" if alias.endswith("logger") else "py:class"
        entries.append((alias, role, f"reference/generated/{target}.html"))
    return pynetdicom.__version__, entries


def httpx_entries() -> list[tuple[str, str, str]]:
    return [(name, f"py:{role}", uri) for name, (role, uri) in HTTPX_NAMES.items()]


def pydicom_after_2_3_entries() -> list[tuple[str, str, str]]:
    return [(name, f"py:{role}", uri) for name, (role, uri) in PYDICOM_AFTER_2_3.items()]


def extend_inventory(source: str, path: Path, entries: list[tuple[str, str, str]]) -> Path:
    """Write ``source``'s inventory (format 2) with ``entries`` (name, domain:role, uri) added to ``path``."""
    data = Path(source).read_bytes()
    header_lines = data.split(b"\n", 4)
    if len(header_lines) < 5 or header_lines[0] != b"# Sphinx inventory version 2":
        raise MissingInventory(f"{source} is not a Sphinx inventory of version 2")
    header, body = b"\n".join(header_lines[:4]) + b"\n", zlib.decompress(header_lines[4])
    body += "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in sorted(set(entries))).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + zlib.compress(body))
    return path


def intersphinx_mapping_offline(out_dir: Path) -> dict[str, tuple[str, Any]]:
    """The ``intersphinx_mapping`` of conf.py: public URLs, local inventory files (generated into ``out_dir``)."""
    version, entries = pynetdicom_entries()
    pynetdicom_inv = write_inventory(out_dir / "pynetdicom.inv", "pynetdicom", version, entries)
    return {
        "python": (PYTHON_URL, _debian_inventory("python3-doc", "python3.*/html/objects.inv")),
        "pydicom": (PYDICOM_URL, str(extend_inventory(
            _debian_inventory("python-pydicom-doc", "python-pydicom-doc/html/objects.inv"),
            out_dir / "pydicom.inv", pydicom_after_2_3_entries()))),
        "attrs": (ATTRS_URL, _debian_inventory("python-attr-doc", "python-attr-doc/html/objects.inv")),
        "pynetdicom": (PYNETDICOM_URL, str(pynetdicom_inv)),
        "httpx": (HTTPX_URL, str(write_inventory(out_dir / "httpx.inv", "httpx", "hand-written", httpx_entries()))),
    }


def unresolved_pydicom_reference(app: Any, env: Any, node: Any, contnode: Any) -> None:
    """``missing-reference``: a pydicom name no inventory holds is a warning, not plain code on the page.

    Sphinx calls every handler of the event, so this asks intersphinx itself whether it resolves the name.
    """
    from sphinx.ext.intersphinx import missing_reference

    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not (target == "pydicom" or target.startswith("pydicom.")):
        return
    if missing_reference(app, env, node, contnode) is None:
        logger.warning("%s is in neither Debian's pydicom 2.3 inventory nor PYDICOM_AFTER_2_3 "
                       "(docs/_ext/offline_inventories.py): add it with its page in pydicom's reference, or write "
                       "it as plain text", target, location=node, type="ref", subtype="pydicom")


def setup(app: Any) -> dict[str, Any]:
    app.connect("missing-reference", unresolved_pydicom_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
