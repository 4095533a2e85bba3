"""Every code example of the docs site is executed: this module runs the pages no dedicated test runs.

A page's examples are its fenced ```python blocks (executed) and ```pycon blocks (run as doctests), in page
order, sharing one namespace. Pages whose examples need a server or other set-up have their own test module
(e.g. tests/integration/test_dicom_docs.py); such a module names the page's file, and this module leaves the page
to it. A block right after the comment ``<!-- not executed -->`` is skipped (say why next to it).
The guard test fails when a page with examples is executed by nobody.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
TESTS = REPO / "tests"
FENCE = re.compile(r"(?P<skip><!-- not executed -->\s*\n)?^```(?P<lang>python|pycon)[^\n]*\n(?P<body>.*?)^```[ \t]*$",
                   re.M | re.S)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def has_examples(page: Path) -> bool:
    return bool(FENCE.search(page.read_text(encoding="utf-8")))


def _test_module_texts() -> dict[Path, str]:
    """The text of every test module other than this one."""
    return {
        module: module.read_text(encoding="utf-8")
        for module in sorted(TESTS.rglob("test_*.py"))
        if module.name != Path(__file__).name
    }


def dedicated_tests(page: Path, modules: dict[Path, str] | None = None) -> list[Path]:
    """Test modules other than this one that name the page (``"how-to" / "ldif.md"``)."""
    rel = page.relative_to(DOCS)
    needles = [f'"{rel.name}"', f"'{rel.name}'"]
    folder = [f'"{rel.parent.name}"', f"'{rel.parent.name}'", f"{rel.parent.name}/{rel.name}"]
    found = []
    for module, text in (_test_module_texts() if modules is None else modules).items():
        if any(n in text for n in needles) and (rel.parent == Path(".") or any(f in text for f in folder)):
            found.append(module)
    return found


EXECUTES = re.compile(r"\bdoctest\b|\bexec\(|\brun_page\(|\brun_page_doctests\(")


def _survey() -> dict[Path, tuple[list[Path], list[Path]]]:
    """Every page with examples -> (the other test modules that name it, those of them that run examples).

    The tree is read once, at collection: the parametrisation below and the guard test both use this one
    snapshot. They used to look at it at two different times (``HERE`` at collection, the guard re-scanning
    ``docs/`` and ``tests/`` when it ran, minutes later in a full run), so a page that gained examples in between
    — or whose dedicated test module was being rewritten — in the shared working tree was in neither view and
    the guard failed, while a run of this module alone passed.
    """
    modules = _test_module_texts()
    out = {}
    for page in pages():
        if has_examples(page):
            naming = dedicated_tests(page, modules)
            out[page] = (naming, [m for m in naming if EXECUTES.search(modules[m])])
    return out


SURVEY = _survey()
HERE = [page for page, (naming, _) in SURVEY.items() if not naming]


def run_page(page: Path) -> tuple[int, int]:
    """Run the examples of one page in order; returns (python blocks executed, doctest examples attempted)."""
    text = page.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    executed = attempted = 0
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for match in FENCE.finditer(text):
        if match.group("skip"):
            continue
        line = text[: match.start("body")].count("\n") + 1
        body = match.group("body")
        if match.group("lang") == "python":
            code = compile(body, f"{page.relative_to(REPO)}:{line}", "exec")
            exec(code, namespace)
            executed += 1
        else:
            test = parser.get_doctest(body, namespace, f"{page.name}:{line}", str(page), line - 1)
            result = runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # a DocTest works on a copy of the namespace
            assert result.failed == 0, f"{page.relative_to(REPO)}:{line}: {result.failed} example(s) failed"
            attempted += result.attempted
    return executed, attempted


def test_every_page_with_examples_is_executed_somewhere() -> None:
    assert SURVEY, "no examples found: the fence pattern is broken"
    for page, (naming, running) in SURVEY.items():
        if not naming:
            assert page in HERE, page  # run by test_page_examples_run
        else:  # a module that names the page must also run examples, not merely mention the file
            assert running, f"{page.relative_to(REPO)} is named by {[str(m.relative_to(REPO)) for m in naming]}, " \
                "but none of them runs examples"


def test_the_guard_judges_the_tree_as_collected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that gains examples after collection (another developer editing docs/ during a long run) does not
    make the guard fail: it is judged with the next collection, like every other page."""
    late = tmp_path / "late.md"
    late.write_text("```python\nx = 1\n```\n", encoding="utf-8")
    assert has_examples(late)
    monkeypatch.setitem(globals(), "pages", lambda: [*SURVEY, late])
    monkeypatch.setitem(globals(), "dedicated_tests", lambda page, modules=None: [])
    test_every_page_with_examples_is_executed_somewhere()


@pytest.mark.parametrize("page", HERE, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page: Path) -> None:
    executed, attempted = run_page(page)
    assert executed + attempted > 0


def mapping_tables() -> str:
    """The LDAP attribute <-> field tables of docs/explanation/dcm4chee-mapping.md, from the mapping itself."""
    from datetime import timedelta
    from enum import Enum

    from dcm_exporter.codecs.ldap_mapping.table import _NO_DEFAULT, OBJECT_SPECS

    def default(value: object) -> str:
        if value is _NO_DEFAULT:
            return "—"
        if value is None or value == ():
            return "none"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, Enum):
            return str(value.value)
        if isinstance(value, timedelta):
            return f"{int(value.total_seconds())} s"
        return str(value)

    lines = []
    for spec in OBJECT_SPECS:
        lines += [f"### `{spec.object_class}` ↔ `{spec.model.__name__}`", "", "| LDAP attribute | field | default |",
                  "|---|---|---|"]
        for a in spec.attributes:
            aux = f" ({a.aux})" if a.aux else ""
            lines.append(f"| `{a.ldap}`{aux} | `{a.field}` | {default(a.default)} |")
        lines.append("")
    return "\n".join(lines)


def test_mapping_page_matches_the_mapping_table() -> None:
    page = (DOCS / "explanation" / "dcm4chee-mapping.md").read_text(encoding="utf-8")
    assert mapping_tables().strip() in page, "regenerate the tables with tests/unit/test_docs_examples.mapping_tables()"
