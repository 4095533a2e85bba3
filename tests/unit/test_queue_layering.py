"""The queue sits below the rules, the follow-up actions and the ``Exporter`` facade: none of its modules
imports them, not even inside a function or under ``TYPE_CHECKING`` (issue 16 found a ``queue`` <-> ``actions``
cycle through the old facade mixin)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dcm_exporter"

#: package -> what it must never import (a module or package prefix)
ABOVE = {
    "queue": ("dcm_exporter.actions", "dcm_exporter.rules", "dcm_exporter.exporter", "dcm_exporter.export_queue",
              "dcm_exporter.cli", "dcm_exporter.web", "dcm_exporter.transports"),
    "rules": ("dcm_exporter.actions", "dcm_exporter.exporter", "dcm_exporter.export_queue", "dcm_exporter.cli",
              "dcm_exporter.web"),
    "actions": ("dcm_exporter.exporter", "dcm_exporter.export_queue", "dcm_exporter.cli", "dcm_exporter.web"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):  # every import, wherever it stands
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


@pytest.mark.parametrize("package", sorted(ABOVE))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    files = sorted((PACKAGE / package).rglob("*.py"))
    assert files, package
    upward = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in files
        for line, name in _imports(path)
        if any(name == banned or name.startswith(banned + ".") for banned in ABOVE[package])
    ]
    assert upward == []


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from dcm_exporter.actions import ActionPerformer\n")
    assert (2, "dcm_exporter.actions") in _imports(module)
