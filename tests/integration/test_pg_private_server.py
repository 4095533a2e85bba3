"""The private PostgreSQL fixture itself: killed and started again, the data survives."""

from __future__ import annotations

from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")


def test_a_killed_server_starts_again_on_its_data(pg_server: Any) -> None:
    pg_server.execute("CREATE TABLE t (n int)")
    pg_server.execute("INSERT INTO t VALUES (1), (2)")
    conn = psycopg.connect(pg_server.dsn(), autocommit=True)
    pid = pg_server.pid
    pg_server.kill()
    assert not pg_server.alive()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_server.dsn(), connect_timeout=2)
    pg_server.start()
    assert pg_server.pid != pid
    assert pg_server.execute("SELECT sum(n) FROM t") == [(3,)]
    pg_server.stop()
    assert not pg_server.alive()
    pg_server.start()
    assert pg_server.execute("SELECT count(*) FROM t") == [(2,)]
