"""The public surface of ``dcm_exporter`` is curated: one sorted ``__all__`` and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import dcm_exporter


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in dcm_exporter.__all__ if n != "__version__"]
    assert names == sorted(names)
    assert len(set(dcm_exporter.__all__)) == len(dcm_exporter.__all__)


def test_all_is_exactly_the_public_names() -> None:
    lazy = set(dcm_exporter._LAZY)
    errors = {n for n in dir(dcm_exporter.errors) if n.endswith("Error")}
    assert set(dcm_exporter.__all__) == lazy | errors | {"__version__"}


def test_every_public_name_resolves() -> None:
    for name in dcm_exporter.__all__:
        assert getattr(dcm_exporter, name) is not None, name


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, dcm_exporter\n"
        "heavy = {'ldap3', 'psycopg', 'httpx', 'pynetdicom', 'croniter', 'psycopg_pool', 'starlette', 'uvicorn',"
        " 'prometheus_client', 'jinja2', 'selenium'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(__import__('pathlib').Path(dcm_exporter.__file__).parents[1])})
    assert out.stdout.strip() == "[]"


def test_the_web_package_loads_its_libraries_only_when_used() -> None:
    """``dcm_exporter.web`` and its reloader (used by ``dcm-exporter run``) load no web library; ``create_app``
    does."""
    code = (
        "import sys, dcm_exporter.web, dcm_exporter.web.reload\n"
        "web = {'starlette', 'uvicorn', 'prometheus_client', 'jinja2'}\n"
        "print(sorted(web & set(sys.modules)))\n"
        "dcm_exporter.web.create_app\n"
        "print(sorted(web & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(__import__('pathlib').Path(dcm_exporter.__file__).parents[1])})
    assert out.stdout.splitlines() == ["[]", "['jinja2', 'starlette']"]


def test_package_logger_has_null_handler() -> None:
    import logging

    handlers = logging.getLogger("dcm_exporter").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
