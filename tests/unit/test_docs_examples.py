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


def dedicated_tests(page: Path) -> list[Path]:
    """Test modules other than this one that name the page (``"how-to" / "ldif.md"``)."""
    rel = page.relative_to(DOCS)
    needles = [f'"{rel.name}"', f"'{rel.name}'"]
    folder = [f'"{rel.parent.name}"', f"'{rel.parent.name}'", f"{rel.parent.name}/{rel.name}"]
    found = []
    for module in TESTS.rglob("test_*.py"):
        if module.name == Path(__file__).name:
            continue
        text = module.read_text(encoding="utf-8")
        if any(n in text for n in needles) and (rel.parent == Path(".") or any(f in text for f in folder)):
            found.append(module)
    return found


HERE = [p for p in pages() if has_examples(p) and not dedicated_tests(p)]


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
    with_examples = [p for p in pages() if has_examples(p)]
    assert with_examples, "no examples found: the fence pattern is broken"
    for page in with_examples:
        assert page in HERE or dedicated_tests(page), page


@pytest.mark.parametrize("page", HERE, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page: Path) -> None:
    executed, attempted = run_page(page)
    assert executed + attempted > 0


def mapping_tables() -> str:
    """The LDAP attribute <-> field tables of docs/explanation/dcm4chee-mapping.md, from the mapping itself."""
    from datetime import timedelta
    from enum import Enum

    from dcm_exporter.codecs.ldap_mapping import _NO_DEFAULT, OBJECT_SPECS

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
