"""The built docs site: every cross-reference rendered (no raw reST role left), doctests as code, links to
pydicom's documentation, inventories written without the network.

``nox -s docs`` builds the site with warnings as errors and points ``DCM_EXPORTER_DOCS_SITE`` at it; without
that variable this module builds the site itself into a temporary folder (it needs the ``docs`` extra and
Debian's documentation packages, see scripts/install-system-deps.sh) or is skipped when Sphinx is missing.
"""

from __future__ import annotations

import html.parser
import os
import re
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

#: a reST role as it appears when nothing rendered it: ``:class:`` followed by the target (in code or not)
RAW_ROLE = re.compile(r"(?<![\w:]):(?:py:)?(?:class|meth|func|attr|exc|mod|data|obj|const|ref|doc|term|any):"
                      r"(?=[`~\w<])")
#: a reST directive that reached the page as text (``.. autoclass::`` inside a Markdown page, say)
RAW_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::", re.M)


_BLOCKS = {"p", "div", "li", "dt", "dd", "tr", "td", "th", "br", "section", "h1", "h2", "h3", "h4", "h5", "h6",
           "blockquote", "table", "ul", "ol", "dl", "pre"}


class _PageText(html.parser.HTMLParser):
    """The visible text of a page, split into prose and code (``<pre>``), without scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.prose: list[str] = []
        self.code: list[str] = []
        self._pre = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            (self.code if self._pre else self.prose).append("\n")
        if tag == "pre":
            self._pre += 1
        elif tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            (self.code if self._pre else self.prose).append("\n")
        if tag == "pre":
            self._pre -= 1
        elif tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            (self.code if self._pre else self.prose).append(data)


def page_text(markup: str) -> tuple[str, str]:
    """(prose, code) of a page."""
    parser = _PageText()
    parser.feed(markup)
    parser.close()
    # inline code is split into one <span> per word: join without separators, like a reader sees it
    return "".join(parser.prose), "".join(parser.code)


def problems(markup: str) -> list[str]:
    """What a reader would see as unrendered markup on one page."""
    prose, _ = page_text(markup)
    found = [f"raw role {m.group(0)!r} in {prose[max(0, m.start() - 40):m.end() + 60]!r}"
             for m in RAW_ROLE.finditer(prose)]
    found += [f"raw directive {m.group(0).strip()!r}" for m in RAW_DIRECTIVE.finditer(prose)]
    found += [f"doctest as prose: {line.strip()[:80]!r}"
              for line in prose.splitlines() if line.lstrip().startswith(">>>")]
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("DCM_EXPORTER_DOCS_SITE")
    if given:
        path = Path(given)
        if not path.is_absolute():
            path = REPO / path
        assert (path / "index.html").is_file(), f"DCM_EXPORTER_DOCS_SITE={given} holds no built site"
        return path
    pytest.importorskip("sphinx", reason="building the site needs the docs extra")
    pytest.importorskip("myst_parser", reason="building the site needs the docs extra")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from offline_inventories import MissingInventory, intersphinx_mapping_offline

        try:
            intersphinx_mapping_offline(tmp_path_factory.mktemp("inventories"))
        except MissingInventory as exc:
            pytest.skip(str(exc))
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from sphinx.cmd.build import build_main

    out = tmp_path_factory.mktemp("site")
    with warnings.catch_warnings():
        # Python deprecation warnings inside Sphinx and its extensions (napoleon on Sphinx 9) are not docs
        # warnings; pytest's filterwarnings=error would turn them into a crash. -W still fails on docs warnings.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        status = build_main(["-W", "--keep-going", "-q", "-b", "html", "-d", str(out / ".doctrees"), str(DOCS),
                             str(out)])
    assert status == 0, "sphinx-build failed (warnings are errors): run `nox -s docs` to see them"
    return out


def test_the_checker_sees_raw_roles_directives_and_doctests_as_prose() -> None:
    """The checker itself: what mkdocstrings used to produce from these docstrings is reported."""
    bad = ("<p>Bases: :class:<code>~dcm_exporter.queue.facade.QueueMethods</code></p>"
           "<p>Call :meth:`reload` first.</p><p>.. autoclass:: X</p><p>&gt;&gt;&gt; 1 + 1\n2</p>")
    found = problems(bad)
    assert len(found) == 4, found
    good = ("<p>Bases: <a href='x'><code>QueueMethods</code></a>; see <code>a :class: b</code> notes.</p>"
            "<div class='doctest'><pre>&gt;&gt;&gt; 1 + 1\n2</pre></div><pre>:class: in a code block</pre>")
    assert problems(good) == [], problems(good)


def test_no_page_shows_raw_roles_directives_or_doctests_as_prose(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 30, pages  # every Markdown page was built
    found = {str(p.relative_to(site)): problems(p.read_text(encoding="utf-8")) for p in pages}
    assert {k: v for k, v in found.items() if v} == {}


def test_api_pages_render_doctests_as_code(site: Path) -> None:
    for name in ("api.html", "configuration.html"):
        markup = (site / "reference" / name).read_text(encoding="utf-8")
        blocks = re.findall(r'<div class="doctest highlight[^"]*"><div class="highlight"><pre>(.*?)</pre>',
                            markup, re.S)
        assert blocks, f"no doctest block rendered as code on reference/{name}"
        assert all("&gt;&gt;&gt;" in re.sub(r"<[^>]+>", "", b) for b in blocks)


def test_api_pages_link_to_pydicom_pynetdicom_python_and_our_own_objects(site: Path) -> None:
    markup = (site / "reference" / "api.html").read_text(encoding="utf-8")
    hrefs = set(re.findall(r'href="([^"]+)"', markup))
    pydicom = "https://pydicom.github.io/pydicom/stable/reference/generated/"
    assert f"{pydicom}pydicom.dataset.Dataset.html#pydicom.dataset.Dataset" in hrefs  # the example
    assert f"{pydicom}pydicom.filereader.dcmread.html#pydicom.filereader.dcmread" in hrefs
    assert any(h.startswith("https://pydicom.github.io/pynetdicom/stable/reference/generated/pynetdicom.")
               for h in hrefs)
    assert any(h.startswith("https://docs.python.org/3/library/") for h in hrefs)
    # roles to our own objects are links to their entries (on this page or another reference page)
    own = [h for h in hrefs if "#dcm_exporter." in h]
    assert len(own) > 50, own


def test_the_repository_link_is_not_dcm4chees(site: Path) -> None:
    """The site has no repository button (the project's URL is not published); it must not be dcm4chee's."""
    markup = (site / "index.html").read_text(encoding="utf-8")
    assert "github.com/dcm4che/dcm4chee-arc-light" not in markup


def test_generated_inventories_read_back_with_sphinx(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="needs the docs extra")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import offline_inventories as inv
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from sphinx.util.inventory import InventoryFile

    version, entries = inv.pynetdicom_entries()
    path = inv.write_inventory(tmp_path / "pynetdicom.inv", "pynetdicom", version, entries)
    with path.open("rb") as f:
        data = InventoryFile.load(f, "https://pydicom.github.io/pynetdicom/stable/", lambda base, uri: base + uri)
    classes = data["py:class"] if isinstance(data, dict) else data.data["py:class"]  # Sphinx < 8.2 gives a dict
    ae = classes["pynetdicom.ae.ApplicationEntity"]
    url = ae[2] if isinstance(ae, tuple) else ae.uri
    assert url == "https://pydicom.github.io/pynetdicom/stable/reference/generated/pynetdicom.ae.ApplicationEntity.html"
    assert "pynetdicom.association.Association" in classes


def test_intersphinx_reads_local_inventories_only(tmp_path: Path) -> None:
    """No inventory is fetched: every intersphinx entry names a local file (the build runs without internet)."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import offline_inventories as inv
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    try:
        mapping = inv.intersphinx_mapping_offline(tmp_path)
    except inv.MissingInventory as exc:
        pytest.skip(str(exc))
    assert set(mapping) == {"python", "pydicom", "attrs", "pynetdicom", "httpx"}
    for name, (url, inventory) in mapping.items():
        assert url.startswith("https://"), name
        assert Path(inventory).is_file() and Path(inventory).read_bytes().startswith(b"# Sphinx inventory"), name
