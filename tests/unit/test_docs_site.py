"""The built docs site: every cross-reference rendered (no raw reST role left), doctests as code, links to
pydicom's documentation (names pydicom added after Debian's 2.3 too), inventories written without the network,
and the notebooks as pages with their pictures and tables, executed without a traceback.

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
from typing import Any

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


class _NotebookOutputs(html.parser.HTMLParser):
    """What the cell outputs of a notebook page hold: pictures, tables, the kinds of output and their text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0
        self.kinds: list[str] = []
        self.text: list[str] = []
        self._divs: list[bool] = []  # per open <div>: is it (or an ancestor) a cell output?

    def _inside(self) -> bool:
        return bool(self._divs) and self._divs[-1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            inside = self._inside() or "cell_output" in classes
            if inside and "output" in classes:
                self.kinds.append(" ".join(c for c in classes if c not in ("output", "notranslate")))
            self._divs.append(inside)
        elif self._inside() and tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        elif self._inside() and tag == "table":
            self.tables += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._divs:
            self._divs.pop()

    def handle_data(self, data: str) -> None:
        if self._inside():
            self.text.append(data)


def notebook_outputs(markup: str) -> _NotebookOutputs:
    parser = _NotebookOutputs()
    parser.feed(markup)
    parser.close()
    return parser


def notebook_problems(markup: str) -> list[str]:
    """What is wrong on a notebook page: no picture or table among the outputs, a traceback, stderr, raw markup."""
    out = notebook_outputs(markup)
    found = problems(markup)
    if not out.images:
        found.append("no picture among the cell outputs")
    if not out.tables:
        found.append("no table among the cell outputs")
    found += [f"{kind} output" for kind in out.kinds if "traceback" in kind or "stderr" in kind]
    text = "".join(out.text)
    found += [f"{needle!r} in an output" for needle in ("Traceback (most recent call last)", "<Figure size")
              if needle in text]  # a figure shown as its text stand-in: its picture was not rendered
    return found


class _UnlinkedXrefs(html.parser.HTMLParser):
    """The text of cross-references Sphinx could not resolve: ``<code class="xref ...">`` outside any link."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._links = 0
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._links += 1
        elif tag == "code" and not self._links and "xref" in (dict(attrs).get("class") or "").split():
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._links -= 1
        elif tag == "code" and self._code is not None:
            self.found.append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)


def unlinked_xrefs(markup: str) -> list[str]:
    parser = _UnlinkedXrefs()
    parser.feed(markup)
    parser.close()
    return parser.found


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
    pytest.importorskip("myst_nb", reason="building the site needs the docs extra")
    pytest.importorskip("ipykernel", reason="the notebook pages are executed in a kernel (test extra)")
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
    jupyter_path = os.environ.get("JUPYTER_PATH")  # conf.py points it at the docs' kernel while it builds
    with warnings.catch_warnings():
        # Python deprecation warnings inside Sphinx and its extensions (napoleon on Sphinx 9) are not docs
        # warnings; pytest's filterwarnings=error would turn them into a crash. -W still fails on docs warnings.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        try:
            status = build_main(["-W", "--keep-going", "-q", "-b", "html", "-d", str(out / ".doctrees"), str(DOCS),
                                 str(out)])
        finally:
            if jupyter_path is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = jupyter_path
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


NOTEBOOKS = sorted((DOCS / "notebooks").glob("*.ipynb"))


def test_the_notebook_checker_sees_missing_pictures_tracebacks_and_stderr() -> None:
    """The checker itself, on outputs as MyST-NB renders them."""
    good = ('<div class="cell_output docutils container"><img alt="a" src="../_images/a.png" /></div>'
            '<div class="cell_output docutils container"><div class="output text_html"><table><tr><td>1</td></tr>'
            '</table></div></div>')
    assert notebook_problems(good) == [], notebook_problems(good)
    assert notebook_outputs(good).images == ["../_images/a.png"]
    bad = ('<p>Call :meth:`plot` first.</p><img src="logo.png" />'  # a picture outside the outputs does not count
           '<div class="cell_output docutils container">'
           '<div class="output text_plain highlight-myst-ansi notranslate"><pre>&lt;Figure size 640x480 with 3 Axes&gt;'
           '</pre></div>'
           '<div class="output traceback highlight-ipythontb notranslate"><pre>Traceback (most recent call last):'
           '</pre></div><div class="output stderr highlight-myst-ansi notranslate"><pre>warn</pre></div></div>')
    found = notebook_problems(bad)
    assert len(found) == 7, found  # raw role, no picture, no table, traceback, stderr, the two texts


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_pages_show_their_pictures_and_tables_without_tracebacks(site: Path, notebook: Path) -> None:
    """Each notebook is a page, executed for the build: pictures (matplotlib PNGs that draw something), tables."""
    page = site / "notebooks" / f"{notebook.stem}.html"
    assert page.is_file(), f"{notebook.name} is not a page of the site"
    markup = page.read_text(encoding="utf-8")
    assert notebook_problems(markup) == []
    out = notebook_outputs(markup)
    assert len(out.images) >= 2, out.images  # each notebook draws at least two figures (tests/cli/test_notebook.py)
    assert out.tables >= 3, out.tables
    pil = pytest.importorskip("PIL.Image", reason="looking into the pictures needs Pillow (matplotlib's)")
    for src in out.images:
        image = (page.parent / src).resolve()
        assert image.is_file() and image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), src
        with pil.open(image) as picture:
            width, height = picture.size
            colours = picture.convert("RGB").getcolors(maxcolors=1 << 16)
        assert width >= 300 and height >= 150, (src, picture.size)
        assert colours is None or len(colours) > 16, (src, colours)  # a drawing, not an empty canvas


def test_notebook_pages_show_what_the_notebooks_compute(site: Path) -> None:
    """The outputs are today's: the export ran (COMPLETED, coloured), its progress bar ended, the night failed."""
    tutorial = site / "notebooks" / "tutorial.html"
    text = "".join(notebook_outputs(tutorial.read_text(encoding="utf-8")).text)
    assert "COMPLETED" in text and "completed:10" in text, text[:2000]
    assert "dcm-exporter-progress" in tutorial.read_text(encoding="utf-8")
    night = "".join(notebook_outputs((site / "notebooks" / "last-night.html").read_text(encoding="utf-8")).text)
    assert "FAILED" in night and "Connection refused" in night


def test_notebooks_are_in_the_navigation(site: Path) -> None:
    """From the home page to the notebooks' page, and every page's sidebar lists both notebooks."""
    assert 'href="notebooks.html"' in (site / "index.html").read_text(encoding="utf-8")
    for page in ("notebooks.html", "reference/api.html", "tutorial/index.html"):
        markup = (site / page).read_text(encoding="utf-8")
        prefix = "../" if "/" in page else ""
        for notebook in NOTEBOOKS:
            assert f'href="{prefix}notebooks/{notebook.stem}.html"' in markup, (page, notebook.name)


def test_pydicom_names_added_after_2_3_are_links(site: Path) -> None:
    """Names Debian's pydicom 2.3 inventory lacks link to pydicom's stable pages (PYDICOM_AFTER_2_3)."""
    stable = "https://pydicom.github.io/pydicom/stable/reference/"
    expected = {
        "reference/api.html": f"{stable}examples.html#module-pydicom.examples",  # generate_study's docstring
        "how-to/dicom-export.html": f"{stable}pixels.decoders.html#module-pydicom.pixels.decoders",
        "how-to/export-rules.html": f"{stable}hooks.html#module-pydicom.hooks",
    }
    for page, href in expected.items():
        assert f'href="{href}"' in (site / page).read_text(encoding="utf-8"), (page, href)
    # and no pydicom cross-reference is left as code without a link anywhere
    unlinked = {str(p.relative_to(site)): names for p in sorted(site.rglob("*.html"))
                if (names := [n for n in unlinked_xrefs(p.read_text(encoding="utf-8")) if "pydicom" in n])}
    assert unlinked == {}


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
    pytest.importorskip("sphinx", reason="needs the docs extra")  # the extension imports Sphinx
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


def _offline_inventories() -> Any:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import offline_inventories
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return offline_inventories


def test_the_pydicom_table_holds_only_names_pydicom_has_and_debians_inventory_lacks() -> None:
    """Each PYDICOM_AFTER_2_3 name exists in the installed pydicom and is missing from Debian's inventory."""
    pytest.importorskip("sphinx", reason="needs the docs extra")
    import importlib

    from sphinx.util.inventory import InventoryFile

    inv = _offline_inventories()
    for name in inv.PYDICOM_AFTER_2_3:
        module_name, _, attribute = name, "", ""
        while True:  # the longest importable prefix, then the attributes under it
            try:
                obj: Any = importlib.import_module(module_name)
                break
            except ImportError:
                module_name, _, last = module_name.rpartition(".")
                attribute = f"{last}.{attribute}" if attribute else last
        for part in filter(None, attribute.split(".")):
            obj = getattr(obj, part)  # AttributeError: the installed pydicom has no such name
    try:
        debian = inv._debian_inventory("python-pydicom-doc", "python-pydicom-doc/html/objects.inv")
    except inv.MissingInventory as exc:
        pytest.skip(str(exc))
    with open(debian, "rb") as f:
        data = InventoryFile.load(f, "", lambda base, uri: base + uri)
    items = data if isinstance(data, dict) else data.data
    known = {name for role, names in items.items() if role.startswith("py:") for name in names}
    assert known & set(inv.PYDICOM_AFTER_2_3) == set()  # already resolved by Debian's: drop it from the table
    assert "pydicom.dataset.Dataset" in known  # the 2.3 inventory is the one read


@pytest.mark.parametrize("reference, links", [(":mod:`pydicom.examples`", True),
                                              (":func:`pydicom.no_such_function`", False)])
def test_a_pydicom_name_no_inventory_holds_fails_the_build(tmp_path: Path, reference: str, links: bool) -> None:
    """A pydicom name neither inventory holds is a build warning (an error with -W), never silent code."""
    pytest.importorskip("sphinx", reason="needs the docs extra")
    inv = _offline_inventories()
    try:
        inv.intersphinx_mapping_offline(tmp_path / "inventories")
    except inv.MissingInventory as exc:
        pytest.skip(str(exc))
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "from pathlib import Path\n"
        "from offline_inventories import intersphinx_mapping_offline\n"
        "extensions = ['sphinx.ext.intersphinx', 'offline_inventories']\n"
        f"intersphinx_mapping = intersphinx_mapping_offline(Path({str(tmp_path / 'inventories')!r}))\n",
        encoding="utf-8")
    (src / "index.rst").write_text(f"Test\n====\n\nSee {reference}.\n", encoding="utf-8")
    from sphinx.cmd.build import build_main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        status = build_main(["-W", "-q", "-b", "html", "-w", str(tmp_path / "warnings.txt"),
                             "-d", str(tmp_path / "doctrees"), str(src), str(tmp_path / "out")])
    logged = (tmp_path / "warnings.txt").read_text(encoding="utf-8")
    if links:
        assert status == 0, logged
        markup = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
        stable = "https://pydicom.github.io/pydicom/stable/reference/"
        assert f'href="{stable}examples.html#module-pydicom.examples"' in markup
    else:
        assert status != 0
        assert "pydicom.no_such_function is in neither" in logged and "PYDICOM_AFTER_2_3" in logged, logged


#: the geometry of a page as the browser lays it out: how far anything reaches right, and every cell output's
#: pictures (loaded and decoded?) and boxes against the text column
_LAYOUT = """
const column = document.querySelector("article").getBoundingClientRect();
const outputs = [...document.querySelectorAll("div.cell_output")];
return {
  pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  column: [column.left, column.right],
  images: [...document.querySelectorAll("div.cell_output img")].map(img => {
    const box = img.getBoundingClientRect();
    return {src: img.getAttribute("src"), complete: img.complete, natural: img.naturalWidth,
            left: box.left, right: box.right, width: box.width, height: box.height};
  }),
  outputs: outputs.map(out => {
    const box = out.getBoundingClientRect();
    const wide = [...out.querySelectorAll("div.output")].filter(o => o.scrollWidth > o.clientWidth + 1);
    return {left: box.left, right: box.right,
            wide: wide.map(o => ({overflow: getComputedStyle(o).overflowX, height: o.clientHeight}))};
  }),
  viewport: window.innerHeight,
  links: [...document.querySelectorAll("a[href^='https://pydicom.github.io/pydicom/stable/']")]
    .filter(a => a.getBoundingClientRect().width > 0).length,
};
"""


@pytest.mark.parametrize("width", [1280, 1920, 800])
def test_notebook_and_api_pages_in_a_browser(site: Path, browser: Any, tmp_path: Path, width: int) -> None:
    """Chromium lays the pages out: pictures load and fit the text column, a wide table scrolls inside its output
    (never under the sidebar or off the page), the page itself never scrolls sideways. Screenshots are written to
    ``DCM_EXPORTER_SCREENSHOTS`` when it is set, for a person to look at."""
    from selenium.webdriver.common.by import By

    shots = Path(os.environ.get("DCM_EXPORTER_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 1000)
    for page in [f"notebooks/{nb.stem}.html" for nb in NOTEBOOKS] + ["reference/api.html"]:
        browser.get((site / page).as_uri())
        layout = browser.execute_script(_LAYOUT)
        assert layout["pageOverflow"] <= 0, (page, width, layout["pageOverflow"])
        left, right = layout["column"]
        for image in layout["images"]:
            assert image["complete"] and image["natural"] > 0, (page, image)  # the PNG loaded and decoded
            assert image["width"] >= 200 and image["height"] >= 100, (page, width, image)
            assert left - 1 <= image["left"] and image["right"] <= right + 1, (page, width, image, layout["column"])
        for out in layout["outputs"]:
            assert left - 1 <= out["left"] and out["right"] <= right + 1, (page, width, out, layout["column"])
            for wide in out["wide"]:  # scrolls sideways, with its scrollbar in sight (the box fits the screen)
                assert wide["overflow"] in ("auto", "scroll") and wide["height"] <= layout["viewport"], (page, out)
        name = page.replace("/", "-").removesuffix(".html")
        if page.startswith("notebooks/"):
            assert len(layout["images"]) >= 2, (page, layout["images"])
            tables = browser.find_elements(By.CSS_SELECTOR, "div.cell_output table")
            assert tables, page
            for n, element in enumerate(browser.find_elements(By.CSS_SELECTOR, "div.cell_output img")):
                browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
                                       element)
                browser.save_screenshot(str(shots / f"{name}-{width}-picture{n}.png"))
            widest = max(tables, key=lambda t: t.size["width"])
            browser.execute_script("arguments[0].scrollIntoView({block: 'start', behavior: 'instant'});",
                                   widest)
            browser.save_screenshot(str(shots / f"{name}-{width}-table.png"))
        else:
            assert layout["links"] >= 3, layout["links"]  # pydicom's pages, linked from the API reference
        browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
        browser.save_screenshot(str(shots / f"{name}-{width}.png"))
