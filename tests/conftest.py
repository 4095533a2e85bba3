"""Shared fixtures: real servers on free 127.0.0.1 ports, the in-process Store SCP, sample data.

Server fixtures (implementations in ``tests/servers/``); each skips with the Debian package to install
when its binary is missing, and fails instead when ``CI=true``. Tests that use one are marked
automatically with the matching marker (``slapd``, ``dcmtk``, ``orthanc``, ``postgres``, ``upstream``).

=====================  ========  ===================================================================
fixture                scope     gives
=====================  ========  ===================================================================
``storescp``           function  DCMTK storescp (AE ``STORESCP``, ``+xa``): ``.host .port .ae_title
                                 .output_dir .files() .log_path``
``storescp_factory``   function  ``storescp_factory(ae_title=..., options=("+xa", "--fork"))``
``orthanc``            function  Orthanc + DICOMweb: ``.url .dicomweb_url .http_port .dicom_port
                                 .ae_title .get_json(path) .instances()``
``orthanc_factory``    function  ``orthanc_factory(ae_title=..., extra_config={...})``
``pg_database``        function  a fresh database: ``.dsn .url .name``; dropped afterwards
``pg_database_factory``function  ``pg_database_factory(template=None)`` for more
``pg_server``          function  a private PostgreSQL server of its own (trust, fsync off) that the test
                                 may ``.kill()`` (SIGKILL of the postmaster), ``.stop()``, ``.start()``:
                                 ``.port .dsn() .url(password=...) .pid .execute(sql) .log_path``
``pg_server_factory``  function  ``pg_server_factory()`` for more
``store_scp``          function  :class:`dcm_exporter.testing.StoreSCP` (AE ``STORESCP``) writing into
                                 ``tmp_path / "store_scp"``, started
``store_scp_factory``  function  ``store_scp_factory(ae_title=..., **StoreSCP kwargs)``, started
``slapd``              function  slapd with the compact schema and the init tree (see below)
``slapd_upstream``     function  slapd with the upstream dcm4che schema + init-config + default-config
``slapd_ldaps``        function  compact slapd also listening on ldaps:// with a throwaway CA
``slapd_factory``      function  ``slapd_factory(schema="compact"|"upstream", ldaps=False, content=...)``
``upstream_dir``       session   ``Path`` of ``../shared/dcm4che`` (skips when absent)
``browser``            function  headless Chromium (Selenium WebDriver, Debian's chromedriver)
``small_study``        session   a generated 2 x 3 "small" study (:class:`dcm_exporter.sample.StudyInfo`);
                                 read-only, shared
=====================  ========  ===================================================================
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _helpers import started_and_stopped
from servers.dcmtk import StorescpServer, start_storescp
from servers.orthanc import OrthancServer, start_orthanc
from servers.pg_private import PgServer, PgTemplate, start_pg_server
from servers.postgres import PgDatabase, create_database, drop_database
from servers.slapd import SlapdFactory, SlapdServer
from servers.tinyproxy import ProxyServer, start_tinyproxy

REPO_ROOT = Path(__file__).resolve().parents[1]
# a git worktree sits elsewhere: DCM_EXPORTER_UPSTREAM_DIR names the folder then
UPSTREAM_DIR = Path(os.environ.get("DCM_EXPORTER_UPSTREAM_DIR") or REPO_ROOT.parent / "shared" / "dcm4che")

_AUTO_MARKERS = {
    "storescp": "dcmtk",
    "storescp_factory": "dcmtk",
    "orthanc": "orthanc",
    "orthanc_factory": "orthanc",
    "pg_database": "postgres",
    "pg_database_factory": "postgres",
    "pg_server": "postgres",
    "pg_server_factory": "postgres",
    "slapd": "slapd",
    "slapd_upstream": "slapd",
    "slapd_ldaps": "slapd",
    "slapd_factory": "slapd",
    "upstream_dir": "upstream",
    "http_proxy_factory": "proxy",
    "browser": "chromium",
}
_UPSTREAM_FIXTURES = {"slapd_upstream", "upstream_dir"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the server fixtures they use, so ``-m "not slapd"`` etc. work without hand-marking."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _AUTO_MARKERS.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))
        if names & _UPSTREAM_FIXTURES and item.get_closest_marker("upstream") is None:
            item.add_marker(pytest.mark.upstream)


# --- upstream files ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """``../shared/dcm4che`` (upstream LDIF, schema and JSON files); skips when absent (never in the repo)."""
    if not UPSTREAM_DIR.is_dir():
        pytest.skip(f"upstream dcm4che files not found at {UPSTREAM_DIR}")
    return UPSTREAM_DIR


# --- DCMTK storescp ----------------------------------------------------------------------------


@pytest.fixture
def storescp_factory(tmp_path: Path) -> Iterator[Callable[..., StorescpServer]]:
    """Start DCMTK storescp receivers: ``storescp_factory(ae_title="STORESCP", options=("+xa",))``."""

    def start(ae_title: str = "STORESCP", options: tuple[str, ...] | list[str] = ("+xa",)) -> StorescpServer:
        return start_storescp(tmp_path, ae_title=ae_title, options=options)

    yield from started_and_stopped(start, StorescpServer.stop)


@pytest.fixture
def storescp(storescp_factory: Callable[..., StorescpServer]) -> StorescpServer:
    """A DCMTK storescp, AE ``STORESCP``, accepting all transfer syntaxes, writing to ``.output_dir``."""
    return storescp_factory()


# --- Orthanc -----------------------------------------------------------------------------------


@pytest.fixture
def orthanc_factory(tmp_path: Path) -> Iterator[Callable[..., OrthancServer]]:
    """Start Orthanc servers: ``orthanc_factory(ae_title="ORTHANC", extra_config={...})``."""

    def start(ae_title: str = "ORTHANC", extra_config: dict[str, Any] | None = None) -> OrthancServer:
        return start_orthanc(tmp_path, ae_title=ae_title, extra_config=extra_config)

    yield from started_and_stopped(start, OrthancServer.stop)


@pytest.fixture
def orthanc(orthanc_factory: Callable[..., OrthancServer]) -> OrthancServer:
    """A fresh Orthanc with DICOMweb (AE ``ORTHANC``)."""
    return orthanc_factory()


# --- HTTP proxy --------------------------------------------------------------------------------


@pytest.fixture
def http_proxy_factory(tmp_path: Path) -> Iterator[Callable[..., ProxyServer]]:
    """Start tinyproxy forward proxies: ``http_proxy_factory(user="alice", password="s3cret")``."""

    def start(user: str | None = None, password: str | None = None) -> ProxyServer:
        return start_tinyproxy(tmp_path, user=user, password=password)

    yield from started_and_stopped(start, ProxyServer.stop)


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def pg_database_factory() -> Iterator[Callable[..., PgDatabase]]:
    """Create databases on the PG* server: ``pg_database_factory(template=None)``; all dropped afterwards."""

    def create(template: str | None = None) -> PgDatabase:
        return create_database(template=template)

    yield from started_and_stopped(create, lambda db: drop_database(db.name))


@pytest.fixture
def pg_database(pg_database_factory: Callable[..., PgDatabase]) -> PgDatabase:
    """A fresh, empty PostgreSQL database for this test (``.dsn``, ``.url``, ``.name``)."""
    return pg_database_factory()


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[list[PgTemplate]]:
    # made on first use (a session that needs no private server runs no initdb)
    made: list[PgTemplate] = []
    yield made
    for template in made:
        template.remove()


@pytest.fixture
def pg_server_factory(_pg_template: list[PgTemplate], tmp_path: Path) -> Iterator[Callable[[], PgServer]]:
    """Start private PostgreSQL servers (the shared one on 5432 is never touched); stopped afterwards."""

    def start() -> PgServer:
        if not _pg_template:
            _pg_template.append(PgTemplate())
        return start_pg_server(_pg_template[0], tmp_path)

    yield from started_and_stopped(start, PgServer.stop)


@pytest.fixture
def pg_server(pg_server_factory: Callable[[], PgServer]) -> PgServer:
    """A private PostgreSQL server, started, that this test may kill, stop and start again (same port and
    data): what a runner sees when the database goes away and comes back."""
    return pg_server_factory()


# --- in-process Store SCP ----------------------------------------------------------------------


@pytest.fixture
def store_scp_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start :class:`dcm_exporter.testing.StoreSCP` instances; keyword arguments go to StoreSCP.

    ``output_dir`` defaults to ``tmp_path / "store_scp-<n>"``; pass ``output_dir=None`` to only count.
    """
    from dcm_exporter.testing import StoreSCP

    numbers = itertools.count(1)

    def start(ae_title: str = "STORESCP", **kwargs: Any) -> StoreSCP:
        kwargs.setdefault("output_dir", tmp_path / f"store_scp-{next(numbers)}")
        return StoreSCP(ae_title, **kwargs).start()

    yield from started_and_stopped(start, StoreSCP.stop)


@pytest.fixture
def store_scp(store_scp_factory: Callable[..., Any]) -> Any:
    """A started in-process Store SCP, AE ``STORESCP``, writing Part 10 files (``.port``, ``.received``)."""
    return store_scp_factory()


# --- OpenLDAP slapd ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _slapd_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdFactory]:
    factory = SlapdFactory(tmp_path_factory.mktemp("slapd"))
    yield factory
    factory.stop_all()


@pytest.fixture
def slapd_factory(_slapd_templates: SlapdFactory) -> Iterator[Callable[..., SlapdServer]]:
    """Start fresh slapd servers.

    ``slapd_factory(schema="compact"|"upstream", content="init"|"base"|"default", ldifs=(), ldaps=False)``;
    ``ldifs`` are LDIF texts or paths added on top (built once into a template, then copied per server).
    """

    def start(**kwargs: Any) -> SlapdServer:
        return _slapd_templates.start(**kwargs)

    yield from started_and_stopped(start, SlapdServer.stop)


@pytest.fixture
def slapd(slapd_factory: Callable[..., SlapdServer]) -> SlapdServer:
    """A fresh slapd with the compact schema and the empty DICOM configuration tree.

    ``.url``, ``.port``, ``.base_dn`` (``dc=dcm4che,dc=org``), ``.bind_dn``, ``.password``,
    ``.config_root_dn``, ``.devices_dn``, ``.ldapsearch(filter, *attrs, base=..., scope=...)``,
    ``.ldapadd(ldif)``, ``.count(filter)``, ``.operations(kind, since=mark)`` / ``.log_mark()``.
    """
    return slapd_factory(schema="compact", content="init")


@pytest.fixture
def slapd_upstream(slapd_factory: Callable[..., SlapdServer]) -> SlapdServer:
    """A fresh slapd with the upstream dcm4che schema, init-config.ldif and default-config.ldif loaded."""
    return slapd_factory(schema="upstream", content="default")


@pytest.fixture
def slapd_ldaps(slapd_factory: Callable[..., SlapdServer]) -> SlapdServer:
    """Like ``slapd``, also listening on ``.ldaps_url``; the throwaway CA is ``.ca_file``."""
    return slapd_factory(schema="compact", content="init", ldaps=True)


# --- Chromium --------------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium (Selenium WebDriver over Debian's chromedriver); quit afterwards."""
    from servers.chromium import start_browser

    driver = start_browser(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


# --- sample data -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A generated study of 2 series x 3 "small" instances, shared read-only by the whole session."""
    from dcm_exporter.sample import generate_study

    return generate_study(
        tmp_path_factory.mktemp("small_study"), series=2, instances_per_series=3, kind="small"
    )
