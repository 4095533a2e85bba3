"""The PostgreSQL store's connections: the pool, the caller's transaction, and retries on a dropped connection."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from dcm_exporter.errors import QueueError

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = ["REDO", "Conn", "Connections", "Redo"]

log = logging.getLogger("dcm_exporter.queue.postgres")

T = TypeVar("T")

Conn = Any  # a psycopg.Connection; typed loosely so that psycopg stays an optional import


class Redo:
    """Marker returned by a recovery lookup: the operation did not happen, run it again."""


REDO = Redo()


class Connections:
    """A connection pool (the store's own, or one the application passes) and how operations use it.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL, or a ``psycopg_pool.ConnectionPool``.
        schema: The store's schema (names the pool).
        min_connections, max_connections, application_name, reconnect_timeout, processing_commit,
            connect_timeout: see :class:`~dcm_exporter.queue.postgres.PostgresTaskStore`.

    Raises:
        QueueError: psycopg is not installed, or the arguments do not fit together.
    """

    def __init__(
        self,
        dsn: str | ConnectionPool[Any],
        *,
        schema: str,
        min_connections: int,
        max_connections: int,
        application_name: str,
        reconnect_timeout: float,
        processing_commit: str,
        connect_timeout: float,
    ) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise QueueError(
                "PostgresTaskStore needs psycopg 3 and psycopg_pool: pip install 'dcm-exporter[postgres]'"
            ) from exc
        if min_connections < 0 or max_connections < max(1, min_connections):
            raise QueueError(
                f"need 0 <= min_connections <= max_connections and max_connections >= 1, "
                f"got {min_connections} and {max_connections}"
            )
        if processing_commit not in ("sync", "async"):
            raise QueueError(f'processing_commit must be "sync" or "async", got {processing_commit!r}')
        self.psycopg = psycopg
        self.reconnect_timeout = reconnect_timeout
        self.processing_commit = processing_commit
        self.closed = False
        self._local = threading.local()
        self._min_connections = min_connections
        self._connect_timeout = connect_timeout
        if isinstance(dsn, psycopg_pool.ConnectionPool) and processing_commit != "sync":
            raise QueueError('processing_commit="async" needs a pool the store creates: pass a connection string')
        if isinstance(dsn, psycopg_pool.ConnectionPool):
            self.pool: ConnectionPool[Any] = dsn
            self._owns_pool = False
            self.conninfo = str(dsn.conninfo)
            kwargs = dsn.kwargs
            self.connect_kwargs: dict[str, Any] = dict(kwargs) if isinstance(kwargs, dict) else {}
            self.connect_kwargs.pop("autocommit", None)
        elif isinstance(dsn, str):
            self.conninfo = dsn
            self.connect_kwargs = {"application_name": application_name}
            self._owns_pool = True
            self.pool = psycopg_pool.ConnectionPool(
                dsn,
                min_size=min_connections,
                max_size=max_connections,
                kwargs={"autocommit": True, "application_name": application_name},
                configure=_configure_async if processing_commit == "async" else _configure,
                name=f"dcm_exporter.{schema}",
                timeout=connect_timeout,
                open=False,
            )
        else:
            raise QueueError(
                f"PostgresTaskStore needs a connection string or a psycopg_pool.ConnectionPool, "
                f"got {type(dsn).__name__}"
            )
        self.label = label_of(self.conninfo)

    def open(self) -> None:
        """Open the pool the store created (waiting for its first connections).

        Raises:
            QueueError: no connection within ``connect_timeout``.
        """
        if not self._owns_pool:
            return
        import psycopg_pool

        # one direct connection first: a server that is down or refuses us is one clear error at once,
        # not connect_timeout seconds of the pool's retries and warnings
        try:
            probe = self.psycopg.connect(
                self.conninfo, connect_timeout=max(1, math.ceil(self._connect_timeout)), **self.connect_kwargs
            )
        except self.psycopg.Error as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise QueueError(f"cannot connect to the task database {self.label}: {reason}") from exc
        probe.close()
        try:
            self.pool.open(wait=self._min_connections > 0, timeout=self._connect_timeout)
        except psycopg_pool.PoolTimeout as exc:
            raise QueueError(
                f"cannot connect to the task database {self.label} within {self._connect_timeout} s: "
                "is PostgreSQL running there, and are host, port, user and database right?"
            ) from exc

    def close(self) -> None:
        """Close the pool (unless the application passed its own)."""
        self.closed = True
        if self._owns_pool:
            with contextlib.suppress(Exception):
                self.pool.close()

    def fail(self, action: str, exc: BaseException) -> QueueError:
        """The error for a failed operation (names the database, never the password)."""
        return QueueError(f"task database {self.label}: {action} failed: {exc}")

    def bound(self) -> Conn | None:
        """The caller's connection this thread's operations run in (:meth:`bind`), if any."""
        return getattr(self._local, "conn", None)

    @contextlib.contextmanager
    def bind(self, connection: Any) -> Iterator[None]:
        """Run this thread's operations in ``connection`` (the caller's transaction) for the block.

        Raises:
            QueueError: ``connection`` is not a psycopg connection or is closed.
        """
        if not isinstance(connection, self.psycopg.Connection):
            raise QueueError(
                f"use_connection needs a psycopg.Connection (sync), got {type(connection).__name__}"
            )
        if connection.closed:
            raise QueueError("use_connection got a closed connection")
        previous = self.bound()
        self._local.conn = connection
        try:
            yield
        finally:
            self._local.conn = previous

    def run(
        self,
        action: str,
        body: Callable[[Conn], T],
        *,
        recover: Callable[[Conn], T | Redo] | None = None,
        transaction: bool = True,
        durable: bool = False,
    ) -> T:
        """Run ``body(conn)`` atomically on a pooled connection (or the caller's, see :meth:`bind`).

        A dropped connection is replaced and the operation retried for up to ``reconnect_timeout`` s. When
        the connection dropped while the operation may have committed (during COMMIT, or any time for a
        single autocommitted statement), ``recover(conn)`` looks for its traces first and returns the
        result, or ``REDO`` when it did not happen.
        """
        psycopg = self.psycopg
        bound = self.bound()
        if bound is not None:
            try:
                if bound.autocommit and bound.info.transaction_status == 0:  # IDLE: make it atomic
                    with bound.transaction():
                        return body(bound)
                return body(bound)
            except psycopg.Error as exc:
                raise self.fail(action, exc) from exc
        if self.closed:
            raise QueueError(f"task database {self.label}: the store is closed")
        deadline: float | None = None
        ambiguous = False
        attempt = 0
        while True:
            committing = not transaction
            try:
                with self.pool.connection() as conn:
                    if ambiguous and recover is not None:
                        found = recover(conn)
                        if not isinstance(found, Redo):
                            log.info("%s: recovered the result of the attempt cut off by the disconnect", action)
                            return found
                    ambiguous = False
                    if not transaction:
                        return body(conn)
                    with conn.transaction():
                        if durable and self.processing_commit == "async":
                            conn.execute("SET LOCAL synchronous_commit = on")
                        result = body(conn)
                        committing = True
                    return result
            except psycopg.OperationalError as exc:
                if self.closed:
                    raise QueueError(f"task database {self.label}: the store is closed") from exc
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.reconnect_timeout
                if now >= deadline:
                    raise QueueError(
                        f"task database {self.label}: {action} failed and the database did not come back "
                        f"within {self.reconnect_timeout} s: {exc}"
                    ) from exc
                ambiguous = ambiguous or committing
                attempt += 1
                log.warning(
                    "task database %s: %s: connection problem (%s); retrying on a fresh connection",
                    self.label,
                    action,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    extra={"attempt": attempt},
                )
                time.sleep(0 if attempt == 1 else min(0.05 * 2 ** (attempt - 2), 1.0))
            except psycopg.Error as exc:
                raise self.fail(action, exc) from exc


def _configure(conn: Any) -> None:
    """Every pooled connection works in UTC (the store's times are UTC)."""
    conn.execute("SET TIME ZONE 'UTC'")


def _configure_async(conn: Any) -> None:
    """UTC, and commits that do not wait for the WAL flush (``processing_commit="async"``)."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET synchronous_commit = off")


def label_of(conninfo: str) -> str:
    """``host:port/dbname`` of a connection string, for messages (never the password)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(conninfo)
    except Exception:
        return "<PostgreSQL>"
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"
