"""Automation: ``nox -s tests`` runs the whole suite; see ``nox -l`` for the rest."""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

PYTHON = os.environ.get("DCM_EXPORTER_NOX_PYTHON", "3.11")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, integration against real servers, acceptance)."""
    session.install("-e", ".[all,test]")
    session.install("./tests/plugin_pkg")
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the source, tests and benchmarks; the import-linter layer contracts of pyproject.toml."""
    session.install("ruff>=0.6", "import-linter>=2.13")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    # the contracts read the source tree itself (function-level imports included): no install needed
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": "src"})


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".[all]", "mypy>=1.11")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx site with warnings as errors, check the built pages, then execute every code example.

    The notebooks (docs/notebooks/*.ipynb) are pages of the site: MyST-NB executes them during the build, in a
    kernel of this session's interpreter, so their tables and pictures are today's; the page checks then look at
    them in headless Chromium too (Debian's chromium and chromium-driver, installed with the inventories).

    The cross-reference inventories of Python, pydicom and attrs come from Debian's documentation packages
    (``scripts/install-system-deps.sh``); nothing is downloaded (docs/_ext/offline_inventories.py).
    """
    session.install("-e", ".[all,docs,test,notebook]")
    session.run("sphinx-build", "-W", "--keep-going", "-E", "-b", "html", "-d", "build/doctrees", "docs", "build/site")
    # the built pages: no raw reST roles, doctests as code, links to pydicom's docs, the notebooks' pictures
    session.run("pytest", "-q", "tests/unit/test_docs_site.py", env={"DCM_EXPORTER_DOCS_SITE": "build/site"})
    # the examples of every page that needs no server (server-backed pages run in the tests session)
    session.run("pytest", "-q", "tests/unit/test_docs_examples.py", *sorted(glob.glob("tests/unit/test_*_docs.py")))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks in benchmarks/, each against its named peer in the same run; prints ratios."""
    session.install("-e", ".[all,bench,test]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHON)
def mutation(session: nox.Session) -> None:
    """Mutation testing of the core rules: plant bugs one at a time, report the score per piece (not run by default).

    ``nox -s mutation`` tries every piece of ``scripts/mutation_pieces.toml`` within a 30-minute budget (mutants
    left when it runs out are reported as "not run" and the session fails; ``-- --budget 4000`` gives more);
    ``nox -s mutation -- retry conditions -v`` runs some pieces and prints every mutant; ``-- --recheck FILE``
    tries only the survivors an earlier output lists. Needs the test servers the pieces' tests use (PostgreSQL
    for coalescing, the in-process SCP for the DIMSE status).
    """
    session.install("-e", ".[all,test]")
    session.run("python", "scripts/mutation.py", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The embedded default: a real export to a built-in Store SCP, no set-up."""
    session.install("-e", ".[all]")
    session.run("dcm-exporter", "demo", *session.posargs)
