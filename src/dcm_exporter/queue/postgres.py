"""``PostgresTaskStore``: one export queue in PostgreSQL, shared by runner processes on several hosts.

The archive's own database can hold the queue: the tables live in their own schema (``dcm_exporter`` by
default), created and migrated forward on open (versioned, under an advisory lock, so several processes may
open the store at once). Semantics are exactly those of :class:`~dcm_exporter.queue.sqlite.SqliteTaskStore`
(one contract test suite runs against both); what PostgreSQL adds:

- **Claiming** with ``FOR UPDATE SKIP LOCKED``: claimers in any number of processes never wait for each
  other and never get the same task.
- **Leases**: a runner that dies (SIGKILL, lost host) stops sending heartbeats; once its lease has expired
  its tasks are claimed by the other runners.
- **Wake-ups** through ``LISTEN``/``NOTIFY``: every schedule, reschedule and release notifies the
  channel in the same transaction; :meth:`PostgresTaskStore.add_listener` calls back on each notification,
  so runners in other processes start at once instead of at their next poll.
- **A connection pool** (``psycopg_pool``) and **reconnection**: an operation whose connection dropped
  (server restart, ``pg_terminate_backend``) is retried on a fresh connection. An operation whose commit may
  or may not have happened is first looked up by a token it wrote (claims, schedules) or by the state it
  left (finish, release), so no task is lost or claimed twice.
- **The caller's transaction**: ``schedule(..., connection=conn)`` or ``with store.use_connection(conn):``
  runs store operations inside a transaction of the embedding application (an archive commits "object
  stored" and "export scheduled" together, or neither).
- **Two modes** of dcm4chee: tasks bound to the device that scheduled them (the default; only runners of
  that device take them) or ``competing_consumers=True`` (any runner of the queue takes any device's tasks,
  like the JMS queues of older dcm4chee-arc releases).

psycopg is imported only here, and only when a store is created (``pip install 'dcm-exporter[postgres]'``).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dcm_exporter.errors import QueueError, TaskNotFoundError
from dcm_exporter.queue.sqlite import load_sql
from dcm_exporter.queue.store import (
    TASK_COLUMNS,
    ExporterTarget,
    Transition,
    coalesces_unchanged,
    merge_scope,
    new_task_row,
)
from dcm_exporter.queue.task import (
    ORDER_FIELDS,
    BatchSummary,
    ExportTask,
    NewTask,
    TaskFilter,
    TaskStatus,
    TaskType,
    utc,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["COLUMNS", "SCHEMA_VERSION", "PostgresTaskStore"]

log = logging.getLogger("dcm_exporter.queue.postgres")

#: Columns of ``export_task`` in the order :func:`_task` reads them.
COLUMNS = TASK_COLUMNS
_RAW_SQL = load_sql("postgres.sql")
_MIGRATIONS = sorted(
    (int(name.removeprefix("migration_")), sql)
    for name, sql in _RAW_SQL.items()
    if name.startswith("migration_")
)
#: Schema version this code writes; a database with a higher version was migrated by a newer dcm_exporter.
SCHEMA_VERSION = _MIGRATIONS[-1][0]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")
_SEPARATOR = "\x1f"
_TEXT_ORDER = frozenset({"exporter_id", "study_uid", "status", "batch_id"})

T = TypeVar("T")


class _Redo:
    """Marker returned by a recovery lookup: the operation did not happen, run it again."""


_REDO = _Redo()

Conn = Any  # a psycopg.Connection; typed loosely so that psycopg stays an optional import


def _task(row: Sequence[Any]) -> ExportTask:
    return ExportTask(
        task_id=row[0],
        created_time=row[1],
        updated_time=row[2],
        device_name=row[3],
        queue_name=row[4],
        exporter_id=row[5],
        local_ae_title=row[6],
        study_uid=row[7],
        series_uid=row[8],
        sop_instance_uid=row[9],
        scheduled_time=row[10],
        status=TaskStatus(row[11]),
        processing_start_time=row[12],
        processing_end_time=row[13],
        number_of_failures=row[14],
        batch_id=row[15],
        error_message=row[16],
        outcome_message=row[17],
        number_of_instances=row[18],
        modalities=tuple(row[19] or ()),
        requester=row[20],
        lease_owner=row[21],
        lease_expires=row[22],
        task_type=TaskType(row[23]),
        destination_aet=row[24],
        result_json=row[25],
    )


def _where(filter: TaskFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filter.task_ids is not None:
        clauses.append("task_id = ANY(%(f_ids)s::bigint[])")
        params["f_ids"] = list(filter.task_ids)
    if filter.status is not None:
        clauses.append("status = ANY(%(f_status)s::text[])")
        params["f_status"] = [s.value for s in filter.status]
    for name in ("exporter_id", "study_uid", "batch_id", "device_name", "queue_name", "task_type"):
        value = getattr(filter, name, None)
        if value is not None:
            clauses.append(f"{name} = %(f_{name})s")
            params[f"f_{name}"] = str(value)
    for column, name, op in (
        ("created_time", "created_after", ">="),
        ("created_time", "created_before", "<"),
        ("updated_time", "updated_after", ">="),
        ("updated_time", "updated_before", "<"),
    ):
        value = getattr(filter, name)
        if value is not None:
            clauses.append(f"{column} {op} %(f_{name})s")
            params[f"f_{name}"] = value
    return (" AND ".join(clauses) or "TRUE"), params


class PostgresTaskStore:
    """A :class:`~dcm_exporter.queue.store.TaskStore` in a PostgreSQL database, for many processes and hosts.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL, or a ``psycopg_pool.ConnectionPool`` the
            application already has (the store then uses it as it is and does not close it).
        schema: Schema of the store's tables (created if missing), so they never meet the archive's own.
        competing_consumers: ``False`` (default): a runner claims only tasks of its own device (dcm4chee's
            device-bound tasks). ``True``: any runner claims any task of the queue, whichever device scheduled
            it (competing consumers); ``next_due_time`` then also ignores the device.
        min_connections: Connections the pool keeps open.
        max_connections: Most connections the pool opens (each runner worker thread uses at most one at a
            time; the wake-up listener has one of its own).
        application_name: ``application_name`` of the store's connections (visible in ``pg_stat_activity``).
        reconnect_timeout: Seconds an operation keeps retrying on fresh connections after its connection
            dropped, before it fails with :class:`QueueError`.
        connect_timeout: Seconds to wait for the first connection when the store opens.
        processing_commit: ``"sync"`` (default): every operation waits for its commit to be flushed to disk.
            ``"async"``: claims, heartbeats, finishes and releases commit with ``synchronous_commit = off``
            (about ten times cheaper on a disk with slow flushes); schedules, reschedules, cancels and deletes
            still wait. A crash of the PostgreSQL server (not of a runner) may then forget the last
            fraction of a second of claims and finishes: those tasks are performed again; none is lost.
            Only for a pool the store creates itself.

    Raises:
        QueueError: psycopg is not installed, the server cannot be reached, the schema holds foreign tables,
            or it was migrated by a newer dcm_exporter.

    Example:
        >>> store = PostgresTaskStore("host=127.0.0.1 user=postgres dbname=archive")  # doctest: +SKIP
        >>> with store.use_connection(archive_connection):  # doctest: +SKIP
        ...     exporter.schedule_export("STORESCP", study_uid)  # commits with the archive's transaction
    """

    def __init__(
        self,
        dsn: str | ConnectionPool[Any],
        *,
        schema: str = "dcm_exporter",
        competing_consumers: bool = False,
        min_connections: int = 1,
        max_connections: int = 4,
        application_name: str = "dcm_exporter",
        reconnect_timeout: float = 30.0,
        processing_commit: str = "sync",
        connect_timeout: float = 10.0,
    ) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise QueueError(
                "PostgresTaskStore needs psycopg 3 and psycopg_pool: pip install 'dcm-exporter[postgres]'"
            ) from exc
        if not isinstance(schema, str) or not _NAME.fullmatch(schema):
            raise QueueError(
                f"schema must be a plain identifier (letters, digits, _; at most 48 characters), got {schema!r}"
            )
        if min_connections < 0 or max_connections < max(1, min_connections):
            raise QueueError(
                f"need 0 <= min_connections <= max_connections and max_connections >= 1, "
                f"got {min_connections} and {max_connections}"
            )
        self._psycopg = psycopg
        self.schema = schema
        self.competing_consumers = competing_consumers
        self.reconnect_timeout = reconnect_timeout
        if processing_commit not in ("sync", "async"):
            raise QueueError(f'processing_commit must be "sync" or "async", got {processing_commit!r}')
        self.processing_commit = processing_commit
        self.application_name = application_name
        self.channel = f"{schema}.export_task"
        self._closed = False
        self._local = threading.local()
        self._listeners: list[tuple[Callable[[], None], str | None, frozenset[str] | None]] = []
        self._listen_lock = threading.Lock()
        self._listen_thread: threading.Thread | None = None
        self._listen_stop = threading.Event()
        self._sql = self._prepare_sql()

        if isinstance(dsn, psycopg_pool.ConnectionPool) and processing_commit != "sync":
            raise QueueError('processing_commit="async" needs a pool the store creates: pass a connection string')
        if isinstance(dsn, psycopg_pool.ConnectionPool):
            self._pool: ConnectionPool[Any] = dsn
            self._owns_pool = False
            self._conninfo = str(dsn.conninfo)
            kwargs = dsn.kwargs
            self._connect_kwargs: dict[str, Any] = dict(kwargs) if isinstance(kwargs, dict) else {}
            self._connect_kwargs.pop("autocommit", None)
        elif isinstance(dsn, str):
            self._conninfo = dsn
            self._connect_kwargs = {"application_name": application_name}
            self._owns_pool = True
            self._pool = psycopg_pool.ConnectionPool(
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
        self._label = _label(self._conninfo)
        try:
            if self._owns_pool:
                self._pool.open(wait=min_connections > 0, timeout=connect_timeout)
            self._migrate()
        except psycopg_pool.PoolTimeout as exc:
            self._close_pool()
            raise QueueError(
                f"cannot connect to the task database {self._label} within {connect_timeout} s: "
                "is PostgreSQL running there, and are host, port, user and database right?"
            ) from exc
        except BaseException:
            self._close_pool()
            raise

    def __repr__(self) -> str:
        mode = ", competing_consumers=True" if self.competing_consumers else ""
        return f"PostgresTaskStore({self._label!r}, schema={self.schema!r}{mode})"

    def __enter__(self) -> PostgresTaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- SQL, connections, retries ------------------------------------------------------------------

    def _prepare_sql(self) -> dict[str, str]:
        schema = f'"{self.schema}"'
        device = "" if self.competing_consumers else "device_name = %(device_name)s AND"
        columns = ", ".join(COLUMNS)
        columns_t = ", ".join(f"t.{c}" for c in COLUMNS)
        prepared = {
            name: sql.replace("{schema}", schema)
            .replace("{device}", device)
            .replace("{columns_t}", columns_t)
            .replace("{pg_columns}", columns)
            for name, sql in _RAW_SQL.items()
        }
        # schedule(): the insert or coalescing update and its wake-up notification in one round trip
        for name in ("insert", "update_coalesced"):
            statement = prepared[name].strip().rstrip(";")
            prepared[f"{name}_notify"] = (
                f"WITH t AS (\n{statement}\n) SELECT t.*, pg_notify(%(channel)s, %(payload)s) FROM t"
            )
        return prepared

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The connection pool the store uses."""
        return self._pool

    def _close_pool(self) -> None:
        if self._owns_pool:
            with contextlib.suppress(Exception):
                self._pool.close()

    def _fail(self, action: str, exc: BaseException) -> QueueError:
        return QueueError(f"task database {self._label}: {action} failed: {exc}")

    def _run(
        self,
        action: str,
        body: Callable[[Conn], T],
        *,
        recover: Callable[[Conn], T | _Redo] | None = None,
        transaction: bool = True,
        durable: bool = False,
    ) -> T:
        """Run ``body(conn)`` atomically on a pooled connection (or the caller's, see :meth:`use_connection`).

        A dropped connection is replaced and the operation retried for up to ``reconnect_timeout`` s. When
        the connection dropped while the operation may have committed (during COMMIT, or any time for a
        single autocommitted statement), ``recover(conn)`` looks for its traces first and returns the
        result, or ``_REDO`` when it did not happen.
        """
        psycopg = self._psycopg
        bound: Conn | None = getattr(self._local, "conn", None)
        if bound is not None:
            try:
                if bound.autocommit and bound.info.transaction_status == 0:  # IDLE: make it atomic
                    with bound.transaction():
                        return body(bound)
                return body(bound)
            except psycopg.Error as exc:
                raise self._fail(action, exc) from exc
        if self._closed:
            raise QueueError(f"{self!r} is closed")
        deadline: float | None = None
        ambiguous = False
        attempt = 0
        while True:
            committing = not transaction
            try:
                with self._pool.connection() as conn:
                    if ambiguous and recover is not None:
                        found = recover(conn)
                        if not isinstance(found, _Redo):
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
                if self._closed:
                    raise QueueError(f"{self!r} is closed") from exc
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.reconnect_timeout
                if now >= deadline:
                    raise QueueError(
                        f"task database {self._label}: {action} failed and the database did not come back "
                        f"within {self.reconnect_timeout} s: {exc}"
                    ) from exc
                ambiguous = ambiguous or committing
                attempt += 1
                log.warning(
                    "task database %s: %s: connection problem (%s); retrying on a fresh connection",
                    self._label,
                    action,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    extra={"attempt": attempt},
                )
                time.sleep(0 if attempt == 1 else min(0.05 * 2 ** (attempt - 2), 1.0))
            except psycopg.Error as exc:
                raise self._fail(action, exc) from exc

    @contextlib.contextmanager
    def use_connection(self, connection: psycopg.Connection[Any]) -> Iterator[PostgresTaskStore]:
        """Run this thread's store operations inside the caller's connection and transaction.

        Nothing is committed by the store: the caller commits (the tasks appear, and their wake-up
        notifications are delivered) or rolls back (no task was ever scheduled). Retries on a dropped
        connection do not apply inside; the caller's transaction fails as a whole.

        Example::

            with archive_db.transaction():
                archive_db.execute("INSERT INTO instance ...")
                with store.use_connection(archive_db):
                    exporter.schedule_export("STORESCP", study_uid)

        Raises:
            QueueError: ``connection`` is not a psycopg connection or is closed.
        """
        if not isinstance(connection, self._psycopg.Connection):
            raise QueueError(
                f"use_connection needs a psycopg.Connection (sync), got {type(connection).__name__}"
            )
        if connection.closed:
            raise QueueError("use_connection got a closed connection")
        previous = getattr(self._local, "conn", None)
        self._local.conn = connection
        try:
            yield self
        finally:
            self._local.conn = previous

    @contextlib.contextmanager
    def study_lock(self, *, device_name: str, exporter_id: str, study_uid: str) -> Iterator[None]:
        """Serialise a read-decide-write on one device, exporter and study across every process and host.

        Holds the same advisory lock that :meth:`schedule` takes to coalesce, for the block, and runs this
        thread's store operations in the block's transaction: committed when the block ends, rolled back
        when it raises. The export rules use it to schedule one Series or Instance task per scope even when
        several processes receive instances of that series at once. Inside :meth:`use_connection` the lock
        is taken in the caller's transaction instead.

        Raises:
            QueueError: the database refused or could not be reached.
        """
        key = {"device_name": device_name, "exporter_id": exporter_id, "study_uid": study_uid}
        bound = getattr(self._local, "conn", None)
        psycopg = self._psycopg
        if bound is not None:
            try:
                bound.execute(self._sql["lock_study"], key)
            except psycopg.Error as exc:
                raise self._fail("lock study", exc) from exc
            yield
            return
        if self._closed:
            raise QueueError(f"{self!r} is closed")
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(self._sql["lock_study"], key)
                with self.use_connection(conn):
                    yield
        except psycopg.Error as exc:
            raise self._fail("lock study", exc) from exc

    def _migrate(self) -> None:
        schema = f'"{self.schema}"'

        def body(conn: Conn) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (f"dcm_exporter:{self.schema}",))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.schema_version",)).fetchone()[0]
            if exists is None:
                foreign = conn.execute(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p')",
                    (self.schema,),
                ).fetchone()[0]
                if foreign:
                    raise QueueError(
                        f"schema {self.schema!r} of {self._label} holds other tables and is not a dcm_exporter "
                        "task store: pass another schema=..."
                    )
                conn.execute(
                    f"CREATE TABLE {schema}.schema_version (version integer PRIMARY KEY, "
                    "applied_time timestamptz NOT NULL DEFAULT now())"
                )
                version = 0
            else:
                version = conn.execute(f"SELECT coalesce(max(version), 0) FROM {schema}.schema_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueError(
                    f"task schema {self.schema!r} of {self._label} has version {version}, newer than this "
                    f"dcm_exporter understands ({SCHEMA_VERSION}): upgrade dcm_exporter"
                )
            for number, sql in _MIGRATIONS:
                if number > version:
                    conn.execute(sql.replace("{schema}", schema))
                    conn.execute(f"INSERT INTO {schema}.schema_version (version) VALUES (%s)", (number,))
                    log.info("task schema %s of %s migrated to version %d", self.schema, self._label, number)

        self._run("migrate schema", body, durable=True)

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return int(
            self._run(
                "read schema version",
                lambda conn: conn.execute(f'SELECT max(version) FROM "{self.schema}".schema_version').fetchone()[0],
                transaction=False,
            )
        )

    def close(self) -> None:
        """Stop the wake-up listener and close the pool (unless the application passed its own)."""
        self._closed = True
        self._listen_stop.set()
        thread = self._listen_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self._close_pool()

    # --- wake-ups (LISTEN / NOTIFY) ----------------------------------------------------------------

    def add_listener(
        self,
        callback: Callable[[], None],
        *,
        device_name: str | None = None,
        queue_names: Collection[str] | None = None,
    ) -> None:
        """Call ``callback()`` whenever a task may have become due in any process (schedule, reschedule,
        release, reset), and once after each (re)connection of the listener.

        ``device_name`` / ``queue_names`` limit the callbacks to tasks of that device (ignored with
        competing consumers) and those queues. The callback runs in the listener thread: keep it short
        (wake a condition). The listener connection is opened on the first call.
        """
        queues = None if queue_names is None else frozenset(queue_names)
        with self._listen_lock:
            if self._closed:
                raise QueueError(f"{self!r} is closed")
            self._listeners.append((callback, device_name, queues))
            if self._listen_thread is None:
                self._listen_thread = threading.Thread(
                    target=self._listen, name=f"dcm-exporter-listen-{self.schema}", daemon=True
                )
                self._listen_thread.start()

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback``."""
        with self._listen_lock:
            self._listeners = [entry for entry in self._listeners if entry[0] != callback]

    def _fire(self, payload: str | None) -> None:
        device = queue = None
        if payload is not None and _SEPARATOR in payload:
            device, queue = payload.split(_SEPARATOR, 1)
        with self._listen_lock:
            listeners = list(self._listeners)
        for callback, want_device, want_queues in listeners:
            if (
                device is not None
                and want_device is not None
                and not self.competing_consumers
                and device != want_device
            ):
                continue
            if queue is not None and want_queues is not None and queue not in want_queues:
                continue
            try:
                callback()
            except Exception:
                log.exception("task wake-up listener %r failed", callback)

    def _listen(self) -> None:
        psycopg = self._psycopg
        delay = 0.1
        while not self._listen_stop.is_set():
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True, **self._connect_kwargs)
            except psycopg.Error as exc:
                log.warning("task database %s: wake-up listener cannot connect (%s)", self._label, exc)
                self._listen_stop.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            try:
                conn.execute(f'LISTEN "{self.channel}"')
                delay = 0.1
                self._fire(None)  # whatever was notified while we were away
                while not self._listen_stop.is_set():
                    for notify in conn.notifies(timeout=0.5):
                        self._fire(notify.payload)
            except psycopg.Error as exc:
                if not self._listen_stop.is_set():
                    log.warning("task database %s: wake-up listener lost its connection (%s)", self._label, exc)
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def _notify(self, conn: Conn, pairs: Collection[tuple[str, str]]) -> None:
        for device, queue in pairs:
            conn.execute(self._sql["notify"], {"channel": self.channel, "payload": f"{device}{_SEPARATOR}{queue}"})

    # --- scheduling ---------------------------------------------------------------------------------

    def _insert_params(self, new: NewTask, now: datetime, token: uuid.UUID) -> dict[str, Any]:
        """The parameters of ``insert_notify`` for a new task (it wakes the runners of its queue)."""
        row = new_task_row(new)
        row.update(
            now=now,
            modalities=list(new.modalities),
            token=token,
            channel=self.channel,
            payload=f"{new.device_name}{_SEPARATOR}{new.queue_name}",
        )
        return row

    def schedule(
        self,
        new: NewTask,
        *,
        now: datetime,
        coalesce: bool = True,
        connection: psycopg.Connection[Any] | None = None,
    ) -> ExportTask:
        """Insert a SCHEDULED task or coalesce it into a waiting one (see
        :meth:`~dcm_exporter.queue.store.TaskStore.schedule`).

        With ``connection`` the task is written in that connection's transaction (see
        :meth:`use_connection`): it exists only if the caller commits.
        """
        if connection is not None:
            with self.use_connection(connection):
                return self.schedule(new, now=now, coalesce=coalesce)
        now = utc(now)
        token = uuid.uuid4()
        sql = self._sql
        coalescing = coalesce and new.task_type is TaskType.EXPORT
        key = {"device_name": new.device_name, "exporter_id": new.exporter_id, "study_uid": new.study_uid}
        wake = {"channel": self.channel, "payload": f"{new.device_name}{_SEPARATOR}{new.queue_name}"}
        if coalescing:
            # A plain read first (no lock, no transaction): when the waiting task already covers the new
            # one and runs no earlier, coalescing changes nothing, and nothing is written or notified.
            def waiting_task(conn: Conn) -> ExportTask | None:
                row = conn.execute(sql["find_coalescable_task"], {**key, "batch_id": new.batch_id}).fetchone()
                return None if row is None else _task(row)

            waiting = self._run("schedule", waiting_task, transaction=False)
            if waiting is not None and coalesces_unchanged(waiting, new):
                return waiting

        def body(conn: Conn) -> ExportTask:
            if coalescing:
                conn.execute(sql["lock_study"], key)
                row = conn.execute(sql["find_coalescable"], {**key, "batch_id": new.batch_id}).fetchone()
                if row is not None:
                    series, instance = merge_scope(row[1], row[2], new.series_uid, new.sop_instance_uid)
                    if series == row[1] and instance == row[2] and new.scheduled_time <= row[3]:
                        return _task(conn.execute(sql["get"], {"task_id": row[0]}).fetchone())
                    updated = conn.execute(
                        sql["update_coalesced_notify"],
                        {
                            "task_id": row[0],
                            "series_uid": series,
                            "sop_instance_uid": instance,
                            "scheduled_time": max(row[3], new.scheduled_time),
                            "now": now,
                            "token": token,
                            **wake,
                        },
                    ).fetchone()
                    return _task(updated)
            inserted = conn.execute(sql["insert_notify"], self._insert_params(new, now, token))
            return _task(inserted.fetchone())

        def recover(conn: Conn) -> ExportTask | _Redo:
            row = conn.execute(sql["find_by_request_token"], {"token": token}).fetchone()
            return _REDO if row is None else _task(row)

        return self._run("schedule", body, recover=recover, durable=True)

    # --- queries ------------------------------------------------------------------------------------

    def get(self, task_id: int) -> ExportTask:
        row = self._run(
            "get",
            lambda conn: conn.execute(self._sql["get"], {"task_id": task_id}).fetchone(),
            transaction=False,
        )
        if row is None:
            raise TaskNotFoundError(task_id)
        return _task(row)

    def _select(self, filter: TaskFilter, what: str, *, lock: bool = False) -> tuple[str, dict[str, Any]]:
        where, params = _where(filter)
        column = filter.order_by.removeprefix("-")
        if column not in ORDER_FIELDS:  # TaskFilter validates; checked again because it goes into SQL text
            raise QueueError(f"cannot order tasks by {filter.order_by!r}")
        descending = filter.order_by.startswith("-")
        direction = "DESC NULLS LAST" if descending else "ASC NULLS FIRST"  # like SQLite
        collate = ' COLLATE "C"' if column in _TEXT_ORDER else ""
        params["f_limit"] = filter.limit
        params["f_offset"] = filter.offset
        sql = (
            f'SELECT {what} FROM "{self.schema}".export_task WHERE {where} '
            f"ORDER BY {column}{collate} {direction}, task_id {'DESC' if descending else 'ASC'} "
            f"LIMIT %(f_limit)s OFFSET %(f_offset)s"
        )
        if lock:
            sql += " FOR UPDATE"
        return sql, params

    def list(self, filter: TaskFilter) -> builtins.list[ExportTask]:
        sql, params = self._select(filter, ", ".join(COLUMNS))
        rows = self._run("list", lambda conn: conn.execute(sql, params).fetchall(), transaction=False)
        return [_task(row) for row in rows]

    def count(self, filter: TaskFilter) -> int:
        where, params = _where(filter)
        sql = f'SELECT count(*) FROM "{self.schema}".export_task WHERE {where}'
        return int(self._run("count", lambda conn: conn.execute(sql, params).fetchone()[0], transaction=False))

    def batch_summaries(self, filter: TaskFilter) -> builtins.list[BatchSummary]:
        where, params = _where(filter)

        def body(conn: Conn) -> tuple[builtins.list[Any], builtins.list[Any]]:
            counts = conn.execute(self._sql["batch_counts"].replace("{where}", where), params).fetchall()
            ranges = conn.execute(self._sql["batch_ranges"].replace("{where}", where), params).fetchall()
            return counts, ranges

        count_rows, range_rows = self._run("batch summary", body)
        counts: dict[str, dict[TaskStatus, int]] = {}
        for batch_id, status, n in count_rows:
            counts.setdefault(batch_id, {})[TaskStatus(status)] = int(n)

        def rng(a: datetime | None, b: datetime | None) -> tuple[datetime, datetime] | None:
            return None if a is None or b is None else (utc(a), utc(b))

        return [
            BatchSummary(
                batch_id=r[0],
                counts=counts.get(r[0], {}),
                device_names=tuple(sorted(r[1])),
                exporter_ids=tuple(sorted(r[2])),
                created_time_range=rng(r[3], r[4]),
                updated_time_range=rng(r[5], r[6]),
                scheduled_time_range=rng(r[7], r[8]),
                processing_start_time_range=rng(r[9], r[10]),
                processing_end_time_range=rng(r[11], r[12]),
            )
            for r in range_rows
        ]

    def next_due_time(self, *, device_name: str, queue_names: Collection[str]) -> datetime | None:
        params = {"device_name": device_name, "queues": builtins.list(queue_names)}
        value = self._run(
            "next due time",
            lambda conn: conn.execute(self._sql["next_due_time"], params).fetchone()[0],
            transaction=False,
        )
        return None if value is None else utc(value)

    # --- processing ---------------------------------------------------------------------------------

    def claim(
        self,
        *,
        device_name: str,
        queue_name: str,
        now: datetime,
        limit: int,
        owner: str,
        lease_until: datetime,
        exclude_exporters: Collection[str] = (),
    ) -> builtins.list[ExportTask]:
        """Take up to ``limit`` due tasks (see :meth:`~dcm_exporter.queue.store.TaskStore.claim`).

        With ``competing_consumers`` the tasks of every device are taken, not only ``device_name``'s.
        """
        if limit <= 0:
            return []
        token = uuid.uuid4()
        params = {
            "device_name": device_name,
            "queue_name": queue_name,
            "now": utc(now),
            "limit": limit,
            "owner": owner,
            "lease_until": utc(lease_until),
            "exclude": builtins.list(exclude_exporters),
            "token": token,
        }

        def body(conn: Conn) -> builtins.list[Any]:
            rows: builtins.list[Any] = conn.execute(self._sql["claim"], params).fetchall()
            return rows

        def recover(conn: Conn) -> builtins.list[Any] | _Redo:
            rows = conn.execute(self._sql["find_by_claim_token"], {"token": token, "owner": owner}).fetchall()
            return rows if rows else _REDO

        rows = self._run("claim", body, recover=recover, transaction=False)
        tasks = [_task(row) for row in rows]
        tasks.sort(key=lambda t: (t.scheduled_time, t.task_id))
        return tasks

    def heartbeat(
        self, task_ids: Sequence[int], *, owner: str, lease_until: datetime, now: datetime
    ) -> set[int]:
        if not task_ids:
            return set()
        params = {"ids": builtins.list(task_ids), "owner": owner, "lease_until": utc(lease_until)}
        rows = self._run(
            "heartbeat",
            lambda conn: conn.execute(self._sql["heartbeat"], params).fetchall(),
            transaction=False,
        )
        return {row[0] for row in rows}

    def finish(self, task_id: int, *, owner: str, transition: Transition, now: datetime) -> ExportTask | None:
        now = utc(now)
        params = {
            "task_id": task_id,
            "owner": owner,
            "now": now,
            "status": transition.status.value,
            "processing_end_time": utc(transition.processing_end_time),
            "number_of_failures": transition.number_of_failures,
            "scheduled_time": transition.scheduled_time,
            "error_message": transition.error_message,
            "outcome_message": transition.outcome_message,
            "number_of_instances": transition.number_of_instances,
            "result_json": transition.result_json,
            "modalities": None if transition.modalities is None else builtins.list(transition.modalities),
        }
        canceled_keys = ("task_id", "owner", "now", "processing_end_time", "outcome_message", "number_of_instances",
                         "modalities")

        followups = transition.followups if transition.status is TaskStatus.COMPLETED else ()

        def body(conn: Conn) -> ExportTask | None:
            row = conn.execute(self._sql["finish"], params).fetchone()
            if row is not None and followups:
                token = uuid.uuid4()
                for followup in followups:  # in this transaction: committed with the end, or not at all
                    conn.execute(self._sql["insert_notify"], self._insert_params(followup, now, token))
            if row is None:
                row = conn.execute(self._sql["finish_canceled"], {k: params[k] for k in canceled_keys}).fetchone()
            return None if row is None else _task(row)

        def recover(conn: Conn) -> ExportTask | _Redo | None:
            row = conn.execute(self._sql["get"], {"task_id": task_id}).fetchone()
            if row is None:
                return _REDO
            task = _task(row)
            finished = (
                task.lease_owner is None
                and task.updated_time == now
                and task.processing_end_time == params["processing_end_time"]
                and task.status in (transition.status, TaskStatus.CANCELED)
            )
            return task if finished else _REDO

        return self._run("finish", body, recover=recover, transaction=bool(followups))

    def finish_and_claim(
        self,
        task_id: int,
        *,
        owner: str,
        transition: Transition,
        now: datetime,
        device_name: str,
        queue_name: str,
        limit: int,
        lease_until: datetime,
        exclude_exporters: Collection[str] = (),
    ) -> tuple[ExportTask | None, builtins.list[ExportTask]]:
        """See :meth:`TaskStore.finish_and_claim <dcm_exporter.queue.store.TaskStore.finish_and_claim>`: here
        one statement, one round trip and one commit. A retry that is due at once (a zero retry delay)
        is finished and claimed by two statements, so that it may be claimed again at once, as by
        :meth:`finish` followed by :meth:`claim`.

        A connection that drops while the statement may have committed is recovered like :meth:`claim`
        (the claimed tasks carry this call's token) and :meth:`finish` (the task shows the state this call
        wrote); when neither trace is found the statement is run again on a fresh connection.

        Returns:
            ``(finished task or None, claimed tasks)`` as :meth:`finish` and :meth:`claim` return them.
        """
        now = utc(now)
        claim_args: dict[str, Any] = {
            "device_name": device_name,
            "queue_name": queue_name,
            "limit": limit,
            "owner": owner,
            "lease_until": lease_until,
            "exclude_exporters": exclude_exporters,
        }
        retry_at = transition.scheduled_time
        if (
            limit <= 0
            or (transition.status is TaskStatus.SCHEDULED_FOR_RETRY and retry_at is not None and retry_at <= now)
            or (transition.followups and transition.status is TaskStatus.COMPLETED)
        ):
            finished = self.finish(task_id, owner=owner, transition=transition, now=now)
            return finished, self.claim(now=now, **claim_args)
        token = uuid.uuid4()
        params = {
            "task_id": task_id,
            "owner": owner,
            "now": now,
            "status": transition.status.value,
            "processing_end_time": utc(transition.processing_end_time),
            "number_of_failures": transition.number_of_failures,
            "scheduled_time": retry_at,
            "error_message": transition.error_message,
            "outcome_message": transition.outcome_message,
            "number_of_instances": transition.number_of_instances,
            "result_json": transition.result_json,
            "modalities": None if transition.modalities is None else builtins.list(transition.modalities),
            "device_name": device_name,
            "queue_name": queue_name,
            "limit": limit,
            "lease_until": utc(lease_until),
            "exclude": builtins.list(exclude_exporters),
            "token": token,
        }
        sql = self._sql

        def body(conn: Conn) -> tuple[ExportTask | None, builtins.list[ExportTask]]:
            finished: ExportTask | None = None
            claimed: builtins.list[ExportTask] = []
            for row in conn.execute(sql["finish_and_claim"], params).fetchall():
                if row[0]:
                    finished = _task(row[1:])
                else:
                    claimed.append(_task(row[1:]))
            return finished, claimed

        def recover(conn: Conn) -> tuple[ExportTask | None, builtins.list[ExportTask]] | _Redo:
            claimed = [_task(r) for r in conn.execute(sql["find_by_claim_token"], {"token": token, "owner": owner})]
            row = conn.execute(sql["get"], {"task_id": task_id}).fetchone()
            task = None if row is None else _task(row)
            finished = (
                task is not None
                and task.lease_owner is None
                and task.updated_time == now
                and task.processing_end_time == params["processing_end_time"]
                and task.status in (transition.status, TaskStatus.CANCELED)
            )
            if finished:  # the statement committed (the claimed tasks, if any, carry its token)
                return task, claimed
            if claimed:  # committed, but the task was not this owner's to finish (or changed since)
                return None, claimed
            return _REDO

        finished, claimed = self._run("finish and claim", body, recover=recover, transaction=False)
        if len(claimed) > 1:
            claimed.sort(key=lambda t: (t.scheduled_time, t.task_id))
        return finished, claimed

    def release(self, task_id: int, *, owner: str, now: datetime) -> bool:
        now = utc(now)
        params = {"task_id": task_id, "owner": owner, "now": now}

        def body(conn: Conn) -> bool:
            row = conn.execute(self._sql["release"], params).fetchone()
            if row is None:
                conn.execute(self._sql["release_other"], {"task_id": task_id, "owner": owner})
                return False
            self._notify(conn, [(row[0], row[1])])
            return True

        def recover(conn: Conn) -> bool | _Redo:
            row = conn.execute(self._sql["get"], {"task_id": task_id}).fetchone()
            if row is not None:
                task = _task(row)
                if task.status is TaskStatus.SCHEDULED and task.lease_owner is None and task.updated_time == now:
                    return True
            return _REDO

        return self._run("release", body, recover=recover)

    def reset_in_process(self, *, device_name: str, now: datetime) -> int:
        params = {"device_name": device_name, "now": utc(now)}

        def body(conn: Conn) -> int:
            rows = conn.execute(self._sql["reset_in_process"], params).fetchall()
            self._notify(conn, sorted({(device_name, row[0]) for row in rows}))
            return len(rows)

        return self._run("reset IN PROCESS tasks", body)

    # --- operations ---------------------------------------------------------------------------------

    def _ids(self, conn: Conn, filter: TaskFilter) -> builtins.list[int]:
        sql, params = self._select(filter, "task_id", lock=True)
        return [row[0] for row in conn.execute(sql, params)]

    def cancel(self, filter: TaskFilter, *, now: datetime) -> tuple[builtins.list[int], builtins.list[int]]:
        params: dict[str, Any] = {"now": utc(now)}

        def body(conn: Conn) -> tuple[builtins.list[int], builtins.list[int]]:
            params["ids"] = self._ids(conn, filter)
            running = [r[0] for r in conn.execute(self._sql["cancel_running"], params)]
            waiting = [r[0] for r in conn.execute(self._sql["cancel_waiting"], params)]
            return sorted(running + waiting), sorted(running)

        return self._run("cancel", body, durable=True)

    def reschedule(
        self,
        filter: TaskFilter,
        *,
        now: datetime,
        scheduled_time: datetime,
        target: ExporterTarget | None = None,
    ) -> builtins.list[int]:
        params: dict[str, Any] = {
            "now": utc(now),
            "scheduled_time": utc(scheduled_time),
            "exporter_id": None if target is None else target.exporter_id,
            "queue_name": None if target is None else target.queue_name,
            "local_ae_title": None if target is None else target.local_ae_title,
        }

        def body(conn: Conn) -> builtins.list[int]:
            params["ids"] = self._ids(conn, filter)
            rows = conn.execute(self._sql["reschedule"], params).fetchall()
            self._notify(conn, sorted({(r[1], r[2]) for r in rows}))
            return sorted(r[0] for r in rows)

        return self._run("reschedule", body, durable=True)

    def delete(self, filter: TaskFilter) -> builtins.list[int]:
        def body(conn: Conn) -> builtins.list[int]:
            ids = self._ids(conn, filter)
            return sorted(r[0] for r in conn.execute(self._sql["delete"], {"ids": ids}))

        return self._run("delete", body, durable=True)

    def purge(
        self, *, device_name: str, queue_name: str, status: TaskStatus, updated_before: datetime
    ) -> int:
        params = {
            "device_name": device_name,
            "queue_name": queue_name,
            "status": status.value,
            "updated_before": utc(updated_before),
        }
        return int(
            self._run("purge", lambda conn: conn.execute(self._sql["purge"], params).rowcount, transaction=False)
        )


def _configure(conn: Any) -> None:
    """Every pooled connection works in UTC (the store's times are UTC)."""
    conn.execute("SET TIME ZONE 'UTC'")


def _configure_async(conn: Any) -> None:
    """UTC, and commits that do not wait for the WAL flush (``processing_commit="async"``)."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET synchronous_commit = off")


def _label(conninfo: str) -> str:
    """``host:port/dbname`` of a connection string, for messages (never the password)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(conninfo)
    except Exception:
        return "<PostgreSQL>"
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"
