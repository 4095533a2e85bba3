"""A throwaway database on the PostgreSQL server named by the ``PG*`` environment variables."""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass

from .ports import unavailable

_counter = itertools.count(1)


@dataclass(frozen=True)
class PgDatabase:
    """A database created for one test (or session) and dropped afterwards.

    Attributes:
        dsn: libpq connection string for the new database (``psycopg.connect(db.dsn)``).
        url: the same as a ``postgresql://`` URL.
        name: database name; host, port, user as used.
    """

    dsn: str
    url: str
    name: str
    host: str
    port: int
    user: str


def server_settings() -> tuple[str, int, str, str | None]:
    """``(host, port, user, password)`` from PG* variables; default 127.0.0.1:5432, user postgres."""
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = int(os.environ.get("PGPORT", "5432"))
    user = os.environ.get("PGUSER", "postgres")
    return host, port, user, os.environ.get("PGPASSWORD")


def _dsn(host: str, port: int, user: str, password: str | None, dbname: str) -> str:
    parts = [f"host={host}", f"port={port}", f"user={user}", f"dbname={dbname}"]
    if password:
        parts.append(f"password={password}")
    return " ".join(parts)


def _admin_connect():  # type: ignore[no-untyped-def]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in the test dependencies
        unavailable("psycopg is not installed: pip install 'dcm-exporter[postgres]'")
    host, port, user, password = server_settings()
    admin_db = os.environ.get("PGDATABASE", "postgres")
    try:
        return psycopg.connect(_dsn(host, port, user, password, admin_db), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(
            f"no PostgreSQL server at {host}:{port} as {user} ({exc}); set PG* or install Debian package "
            "postgresql"
        )


def create_database(template: str | None = None, prefix: str = "dcmexp_test") -> PgDatabase:
    """Create a fresh database (optionally from ``template``); skip (fail in CI) without a server."""
    from psycopg import sql

    host, port, user, password = server_settings()
    name = f"{prefix}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    with _admin_connect() as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)
    pw = f":{password}" if password else ""
    return PgDatabase(
        dsn=_dsn(host, port, user, password, name),
        url=f"postgresql://{user}{pw}@{host}:{port}/{name}",
        name=name,
        host=host,
        port=port,
        user=user,
    )


def drop_database(name: str) -> None:
    """Drop the database, disconnecting whoever is still connected."""
    from psycopg import sql

    with _admin_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
