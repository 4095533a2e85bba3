"""Intersphinx inventories without the network.

The docs build runs where only package registries are reachable (CI too), so intersphinx may not download
``objects.inv`` from docs.python.org or pydicom.github.io. Each project's inventory comes from a file instead;
the links still point at that project's public documentation:

- Python, pydicom, attrs: the ``objects.inv`` that Debian ships with the projects' own Sphinx builds
  (``python3-doc``, ``python-pydicom-doc``, ``python-attr-doc``; ``scripts/install-system-deps.sh`` installs
  them). Debian's pydicom documentation is of 2.3 while we link to pydicom's *stable* (3.x) pages: the API
  pages keep their paths (``reference/generated/pydicom.dataset.Dataset.html``) across the two, and only names
  that exist in 2.3 can resolve.
- pynetdicom: no package ships its inventory. It is written at build time from the *installed* pynetdicom: every
  public class and function of the modules pynetdicom's API reference documents, mapped to the page its Sphinx
  autosummary generates (``reference/generated/<module>.<name>.html``), methods to an anchor on their class's page.
- httpx: its documentation is built with MkDocs and publishes no inventory at all; a small hand-written table maps
  the names we mention to the sections of https://www.python-httpx.org/api/.

A missing Debian file stops the build with the package to install (never a silent link-less page).
"""

from __future__ import annotations

import importlib
import inspect
import zlib
from pathlib import Path
from typing import Any

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


def intersphinx_mapping_offline(out_dir: Path) -> dict[str, tuple[str, Any]]:
    """The ``intersphinx_mapping`` of conf.py: public URLs, local inventory files (generated into ``out_dir``)."""
    version, entries = pynetdicom_entries()
    pynetdicom_inv = write_inventory(out_dir / "pynetdicom.inv", "pynetdicom", version, entries)
    return {
        "python": (PYTHON_URL, _debian_inventory("python3-doc", "python3.*/html/objects.inv")),
        "pydicom": (PYDICOM_URL, _debian_inventory("python-pydicom-doc", "python-pydicom-doc/html/objects.inv")),
        "attrs": (ATTRS_URL, _debian_inventory("python-attr-doc", "python-attr-doc/html/objects.inv")),
        "pynetdicom": (PYNETDICOM_URL, str(pynetdicom_inv)),
        "httpx": (HTTPX_URL, str(write_inventory(out_dir / "httpx.inv", "httpx", "hand-written", httpx_entries()))),
    }


def setup(app: Any) -> dict[str, Any]:
    return {"parallel_read_safe": True, "parallel_write_safe": True}
