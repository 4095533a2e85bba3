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

__all__ = ["REDO", "Conn", "Connections", "Redo", "first_line"]

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
        self._pool_timeout = psycopg_pool.PoolTimeout
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
                # the pool's own reconnection backs off exponentially for as long as this lasts (1, 2, 4 ...
                # s): after an outage of a minute the server would be back for half a minute before the pool
                # tried again. Given up soon, the next operation that needs a connection starts a new attempt
                # at once, so our own bounded retries (run()) decide how often the server is tried.
                reconnect_timeout=_POOL_RECONNECT,
                open=False,
            )
        else:
            raise QueueError(
                f"PostgresTaskStore needs a connection string or a psycopg_pool.ConnectionPool, "
                f"got {type(dsn).__name__}"
            )
        self.label = label_of(self.conninfo)
        # the outage the operations are in, reported once when it starts and once when it ends
        self._outage_lock = threading.Lock()
        self._down_since: float | None = None

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
            reason = first_line(exc)
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
            # a connection from the pool; while the server is away, no longer than what is left of the
            # operation's reconnect_timeout (the pool would wait its whole connect_timeout each time)
            wait = self._connect_timeout if deadline is None else max(0.1, deadline - time.monotonic())
            try:
                with self.pool.connection(timeout=min(self._connect_timeout, wait)) as conn:
                    if ambiguous and recover is not None:
                        found = recover(conn)
                        if not isinstance(found, Redo):
                            log.info("%s: recovered the result of the attempt cut off by the disconnect", action)
                            self._connected()
                            return found
                    ambiguous = False
                    if not transaction:
                        result = body(conn)
                    else:
                        with conn.transaction():
                            if durable and self.processing_commit == "async":
                                conn.execute("SET LOCAL synchronous_commit = on")
                            result = body(conn)
                            committing = True
                if self._down_since is not None:  # unlocked read: the common case costs nothing
                    self._connected()
                return result
            except psycopg.OperationalError as exc:
                if self.closed:
                    raise QueueError(f"task database {self.label}: the store is closed") from exc
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.reconnect_timeout
                reason = first_line(exc)
                if now >= deadline:
                    if isinstance(exc, self._pool_timeout):
                        reason = self._why_no_connection() or reason
                    raise QueueError(
                        f"task database {self.label}: {action} failed and the database did not come back "
                        f"within {self.reconnect_timeout:g} s: {reason}"
                    ) from exc
                ambiguous = ambiguous or committing
                attempt += 1
                self._lost(action, reason, attempt)
                if not isinstance(exc, self._pool_timeout):
                    self._drain()
                time.sleep(0 if attempt == 1 else min(0.05 * 2 ** (attempt - 2), _MAX_PAUSE))
            except psycopg.Error as exc:
                raise self.fail(action, exc) from exc

    def _why_no_connection(self) -> str | None:
        """Why the server cannot be reached, in libpq's words ("Connection refused", "the database system is
        starting up", a wrong password) rather than the pool's "couldn't get a connection after 10 s": one
        direct attempt of at most 2 s. ``None`` when it connects now."""
        try:
            probe = self.psycopg.connect(
                self.conninfo, connect_timeout=max(1, math.ceil(min(self._connect_timeout, 2.0))),
                **self.connect_kwargs,
            )
        except self.psycopg.Error as exc:
            return first_line(exc)
        probe.close()
        return None

    def _drain(self) -> None:
        """A connection the pool handed out had been dropped: the server went away or cut its clients
        (restart, ``pg_terminate_backend``), so the other idle connections are most likely dead too. They are
        replaced, rather than each failing one operation after the next."""
        drain = getattr(self.pool, "drain", None)  # psycopg_pool before 3.3 has none: the retries find out alone
        if self._owns_pool and drain is not None:
            with contextlib.suppress(Exception):
                drain()

    def _lost(self, action: str, reason: str, attempt: int) -> None:
        """An operation lost its connection: one WARNING when an outage starts, DEBUG while it lasts."""
        with self._outage_lock:
            starts = self._down_since is None
            if starts:
                self._down_since = time.monotonic()
        if starts:
            log.warning(
                "task database %s: connection lost (%s); operations wait and retry on fresh connections, each "
                "for up to %g s",
                self.label, reason, self.reconnect_timeout, extra={"action": action, "attempt": attempt},
            )
        else:
            log.debug("task database %s: %s: still no connection (%s)", self.label, action, reason,
                      extra={"attempt": attempt})

    def _connected(self) -> None:
        """An operation succeeded: if an outage was reported, report its end."""
        with self._outage_lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("task database %s: connected again after %.1f s", self.label, time.monotonic() - since)


#: Seconds at most between two retries of one operation whose connection dropped.
_MAX_PAUSE = 1.0
#: Seconds the pool's own background attempts to open a connection go on before they give up (see above).
_POOL_RECONNECT = 5.0


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (libpq's messages go on with hints on further lines)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _configure(conn: Any) -> None:
    """Every pooled connection works in UTC (the store's times are UTC)."""
    conn.execute("SET TIME ZONE 'UTC'")


def _configure_async(conn: Any) -> None:
    """UTC, and commits that do not wait for the WAL flush (``processing_commit="async"``)."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET synchronous_commit = off")


def label_of(conninfo: str) -> str:
    """``postgresql://user@host:port/dbname`` of a connection string, for messages: the queue URL as the user
    gave it, never with its password.

    >>> label_of("postgresql://alice:s3cret@db.example:5433/archive")
    'postgresql://alice@db.example:5433/archive'
    >>> label_of("host=127.0.0.1 user=postgres password=x dbname=queue")
    'postgresql://postgres@127.0.0.1:5432/queue'
    """
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(conninfo)
    except Exception:
        return "<PostgreSQL>"
    host = params.get("host") or "localhost"
    if ":" in str(host) and "," not in str(host):  # an IPv6 address
        host = f"[{host}]"
    port = params.get("port") or 5432
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{host}:{port}/{params.get('dbname') or params.get('user') or ''}"
