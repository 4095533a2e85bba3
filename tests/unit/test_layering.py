"""Imports run one way: no cycle among the package's modules, and the models import nothing above them.

Function-level imports count (a lazy import that runs upward is still an upward import); imports under
``if TYPE_CHECKING:`` do not, as they never run. The graph is read from the source with :mod:`ast`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "dcm_exporter"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in known and m != module}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(m, p, known) for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_reader_sees_function_level_imports() -> None:
    graph = _graph()
    assert "dcm_exporter.config.ldap" in graph["dcm_exporter.config.load"]  # imported inside a function
    assert "dcm_exporter.codecs.ldap_mapping.assembly" in graph["dcm_exporter.codecs.ldif"]


def test_no_import_cycle_among_the_modules() -> None:
    assert _cycles(_graph()) == []


def test_the_models_and_the_leaves_import_nothing_above_them() -> None:
    graph = _graph()
    below_models = ("dcm_exporter.errors", "dcm_exporter.dn", "dcm_exporter._secrets", "dcm_exporter._tables",
                    "dcm_exporter._suggest", "dcm_exporter.schedule", "dcm_exporter.models")
    for module, imported in graph.items():
        if module.startswith("dcm_exporter.models") or module in below_models[:5]:
            upward = sorted(m for m in imported if not m.startswith(below_models))
            assert upward == [], f"{module} imports {upward}"


def _layers() -> list[list[str]]:
    """The layers of the import-linter contract ``layers`` in pyproject.toml, top first, names without the
    package prefix."""
    import tomllib

    config = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers"]
    return [
        [name.strip().removeprefix(f"{PACKAGE}.") for name in layer.replace(":", "|").split("|")]
        for layer in contract["layers"]
    ]


def test_every_module_of_the_package_has_a_layer() -> None:
    # a module the contract does not name may import anything: the layers would not hold for it
    children = {m.split(".")[1] for m in _modules() if m.count(".") >= 1}
    placed = {name for layer in _layers() for name in layer}
    assert sorted(children - placed) == []


def test_the_architecture_page_draws_the_contract() -> None:
    page = (SRC.parent / "docs" / "explanation" / "architecture.md").read_text(encoding="utf-8")
    diagram = page.split("```\n", 2)[1]
    drawn = [
        [name.strip() for name in re.split(r"\s{2,}", line.strip())[0].split("|")]
        for line in diagram.splitlines()
        if line.strip()
    ]
    assert drawn == _layers()


#: third-party I/O library -> the modules that import it at run time (architecture.md says why each)
IO_LIBRARIES = {
    "ldap3": {"config.ldap.connection"},
    "psycopg": {"queue.postgres._connections"},
    "psycopg_pool": {"queue.postgres._connections"},
    "httpx": {"transports._http"},
    "httpcore": {"transports._http"},
    "pynetdicom": {"_dicom.association", "testing.scp"},  # the private DICOM package; the public test SCP
    "croniter": {"schedule.cron"},
    "lxml": {"coercion.xslt"},
    "starlette": {"web.app"},
    "jinja2": {"web.app"},
    "prometheus_client": {"web.metrics"},
    "uvicorn": {"cli._serve_cmds"},
}


def _runtime_imports(path: Path) -> set[str]:
    """Top-level names of what a module imports when it runs (``TYPE_CHECKING`` blocks left out)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_each_io_library_is_imported_in_one_place() -> None:
    importers: dict[str, set[str]] = {library: set() for library in IO_LIBRARIES}
    for module, path in _modules().items():
        for library in _runtime_imports(path) & set(IO_LIBRARIES):
            importers[library].add(module.removeprefix(f"{PACKAGE}."))
    assert importers == IO_LIBRARIES
