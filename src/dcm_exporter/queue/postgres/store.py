"""``PostgresTaskStore``: the operations of the PostgreSQL task store (see :mod:`dcm_exporter.queue.postgres`)."""

from __future__ import annotations

import builtins
import contextlib
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter.errors import QueueError, TaskNotFoundError
from dcm_exporter.queue._sql_shared import batch_summary, new_task_row
from dcm_exporter.queue.postgres._connections import REDO, Conn, Connections, Redo
from dcm_exporter.queue.postgres._sql import COLUMNS, NAME, migrate, prepare_sql, select, task_of, where
from dcm_exporter.queue.postgres._wakeups import Wakeups
from dcm_exporter.queue.store import Claim, ExporterTarget, Transition, coalesce_or_insert, coalesces_unchanged
from dcm_exporter.queue.task import BatchSummary, ExportTask, NewTask, TaskFilter, TaskStatus, TaskType, utc

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresTaskStore"]


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
        create: bool = True,
    ) -> None:
        if not isinstance(schema, str) or not NAME.fullmatch(schema):
            raise QueueError(
                f"schema must be a plain identifier (letters, digits, _; at most 48 characters), got {schema!r}"
            )
        self._db = Connections(
            dsn, schema=schema, min_connections=min_connections, max_connections=max_connections,
            application_name=application_name, reconnect_timeout=reconnect_timeout,
            processing_commit=processing_commit, connect_timeout=connect_timeout,
        )
        self.schema = schema
        self.competing_consumers = competing_consumers
        self.reconnect_timeout = reconnect_timeout
        self.processing_commit = processing_commit
        self.application_name = application_name
        self._label = self._db.label
        self._sql = prepare_sql(schema, competing_consumers)
        self._wakeups = Wakeups(
            self._db.psycopg, conninfo=self._db.conninfo, connect_kwargs=self._db.connect_kwargs,
            channel=f"{schema}.export_task", label=self._label, competing_consumers=competing_consumers,
        )
        self.channel = self._wakeups.channel
        self._run = self._db.run
        try:
            self._db.open()
            if not create:
                self._run("look for the task tables", lambda conn: self._require_tables(conn))
            self._run("migrate schema", lambda conn: migrate(conn, schema, self._label), durable=True)
        except BaseException:
            self._db.close()
            raise

    def _require_tables(self, conn: Any) -> None:
        """For ``create=False``: the store's tables exist already (a reader creates no schema)."""
        found = conn.execute("SELECT to_regclass(%s)", (f'"{self.schema}".schema_version',)).fetchone()[0]
        if found is None:
            raise QueueError(
                f"no task tables in schema {self.schema!r} of {self._label}: nothing has been queued there "
                "(check --queue)"
            )

    def __repr__(self) -> str:
        mode = ", competing_consumers=True" if self.competing_consumers else ""
        return f"PostgresTaskStore({self._label!r}, schema={self.schema!r}{mode})"

    def __enter__(self) -> PostgresTaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connections ------------------------------------------------------------------------------

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The connection pool the store uses."""
        return self._db.pool

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
        with self._db.bind(connection):
            yield self

    @contextlib.contextmanager
    def study_lock(self, *, device_name: str, exporter_id: str, study_uid: str) -> Iterator[None]:
        """Serialise a read-decide-write on one device, exporter and study across every process and host.

        Holds the same advisory lock that :meth:`schedule` takes to coalesce, for the block, and runs this
        thread's store operations in the block's transaction: committed when the block ends, rolled back
        when it raises. The task manager uses it to schedule one Series or Instance task per scope even when
        several processes receive instances of that series at once. Inside :meth:`use_connection` the lock
        is taken in the caller's transaction instead.

        Raises:
            QueueError: the database refused or could not be reached.
        """
        key = {"device_name": device_name, "exporter_id": exporter_id, "study_uid": study_uid}
        bound = self._db.bound()
        psycopg = self._db.psycopg
        if bound is not None:
            try:
                bound.execute(self._sql["lock_study"], key)
            except psycopg.Error as exc:
                raise self._db.fail("lock study", exc) from exc
            yield
            return
        if self._db.closed:
            raise QueueError(f"{self!r} is closed")
        try:
            with self._db.pool.connection() as conn, conn.transaction():
                conn.execute(self._sql["lock_study"], key)
                with self.use_connection(conn):
                    yield
        except psycopg.Error as exc:
            raise self._db.fail("lock study", exc) from exc

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
        self._wakeups.close()
        self._db.close()

    # --- wake-ups (LISTEN / NOTIFY) ----------------------------------------------------------------

    def add_listener(
        self, callback: Callable[[], None], *, device_name: str | None = None,
        queue_names: Collection[str] | None = None,
    ) -> None:
        """Call ``callback()`` whenever a task may have become due in any process (schedule, reschedule,
        release, reset), and once after each (re)connection of the listener.

        ``device_name`` / ``queue_names`` limit the callbacks to tasks of that device (ignored with
        competing consumers) and those queues. The callback runs in the listener thread: keep it short
        (wake a condition). The listener connection is opened on the first call.
        """
        self._wakeups.add_listener(callback, device_name=device_name, queue_names=queue_names)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback``."""
        self._wakeups.remove_listener(callback)

    def _notify(self, conn: Conn, pairs: Collection[tuple[str, str]]) -> None:
        self._wakeups.notify(conn, self._sql["notify"], pairs)

    # --- scheduling ---------------------------------------------------------------------------------

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
        if coalescing:
            # A plain read first (no lock, no transaction): when the waiting task already covers the new
            # one and runs no earlier, coalescing changes nothing, and nothing is written or notified.
            def waiting_task(conn: Conn) -> ExportTask | None:
                row = conn.execute(sql["find_coalescable_task"], {**key, "batch_id": new.batch_id}).fetchone()
                return None if row is None else task_of(row)

            waiting = self._run("schedule", waiting_task, transaction=False)
            if waiting is not None and coalesces_unchanged(waiting, new):
                return waiting

        def body(conn: Conn) -> ExportTask:
            writes = _PostgresCoalescing(conn, sql, new, now, token, self.channel)
            if coalescing:
                conn.execute(sql["lock_study"], key)
                return coalesce_or_insert(writes, new, new.scheduled_time)
            return writes.insert()

        def recover(conn: Conn) -> ExportTask | Redo:
            row = conn.execute(sql["find_by_request_token"], {"token": token}).fetchone()
            return REDO if row is None else task_of(row)

        return self._run("schedule", body, recover=recover, durable=True)

    def schedule_many(
        self, news: Sequence[NewTask], *, now: datetime, coalesce: bool = True
    ) -> builtins.list[ExportTask]:
        # one by one: each schedule recovers its own commit after a lost connection (by its request token),
        # which one transaction for all would not
        return [self.schedule(new, now=now, coalesce=coalesce) for new in news]

    # --- queries ------------------------------------------------------------------------------------

    def get(self, task_id: int) -> ExportTask:
        row = self._run(
            "get",
            lambda conn: conn.execute(self._sql["get"], {"task_id": task_id}).fetchone(),
            transaction=False,
        )
        if row is None:
            raise TaskNotFoundError(task_id)
        return task_of(row)

    def list(self, filter: TaskFilter) -> builtins.list[ExportTask]:
        sql, params = select(self.schema, filter, ", ".join(COLUMNS))
        rows = self._run("list", lambda conn: conn.execute(sql, params).fetchall(), transaction=False)
        return [task_of(row) for row in rows]

    def count(self, filter: TaskFilter) -> int:
        where_sql, params = where(filter)
        sql = f'SELECT count(*) FROM "{self.schema}".export_task WHERE {where_sql}'
        return int(self._run("count", lambda conn: conn.execute(sql, params).fetchone()[0], transaction=False))

    def batch_summaries(self, filter: TaskFilter) -> builtins.list[BatchSummary]:
        where_sql, params = where(filter)

        def body(conn: Conn) -> tuple[builtins.list[Any], builtins.list[Any]]:
            counts = conn.execute(self._sql["batch_counts"].replace("{where}", where_sql), params).fetchall()
            ranges = conn.execute(self._sql["batch_ranges"].replace("{where}", where_sql), params).fetchall()
            return counts, ranges

        count_rows, range_rows = self._run("batch summary", body)
        counts: dict[str, dict[TaskStatus, int]] = {}
        for batch_id, status, n in count_rows:
            counts.setdefault(batch_id, {})[TaskStatus(status)] = int(n)

        return [batch_summary(r, counts, names=lambda names: names, time=utc) for r in range_rows]

    def next_due_time(self, *, device_name: str, queue_names: Collection[str]) -> datetime | None:
        params = {"device_name": device_name, "queues": builtins.list(queue_names)}
        value = self._run(
            "next due time",
            lambda conn: conn.execute(self._sql["next_due_time"], params).fetchone()[0],
            transaction=False,
        )
        return None if value is None else utc(value)

    # --- processing ---------------------------------------------------------------------------------

    def claim(self, claim: Claim, *, now: datetime) -> builtins.list[ExportTask]:
        """Take up to ``claim.limit`` due tasks (see :meth:`~dcm_exporter.queue.store.TaskStore.claim`).

        With ``competing_consumers`` the tasks of every device are taken, not only ``claim.device_name``'s.
        """
        if claim.limit <= 0:
            return []
        token = uuid.uuid4()
        params = _claim_params(claim, utc(now), token)
        owner = claim.owner

        def body(conn: Conn) -> builtins.list[Any]:
            rows: builtins.list[Any] = conn.execute(self._sql["claim"], params).fetchall()
            return rows

        def recover(conn: Conn) -> builtins.list[Any] | Redo:
            rows = conn.execute(self._sql["find_by_claim_token"], {"token": token, "owner": owner}).fetchall()
            return rows if rows else REDO

        rows = self._run("claim", body, recover=recover, transaction=False)
        tasks = [task_of(row) for row in rows]
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
        params = _finish_params(task_id, owner, transition, now)
        canceled_keys = ("task_id", "owner", "now", "processing_end_time", "outcome_message", "number_of_instances",
                         "modalities")

        followups = transition.followups if transition.status is TaskStatus.COMPLETED else ()

        def body(conn: Conn) -> ExportTask | None:
            row = conn.execute(self._sql["finish"], params).fetchone()
            if row is not None and followups:
                token = uuid.uuid4()
                for followup in followups:  # in this transaction: committed with the end, or not at all
                    conn.execute(self._sql["insert_notify"], _insert_params(followup, now, token, self.channel))
            if row is None:
                row = conn.execute(self._sql["finish_canceled"], {k: params[k] for k in canceled_keys}).fetchone()
            return None if row is None else task_of(row)

        def recover(conn: Conn) -> ExportTask | Redo | None:
            row = conn.execute(self._sql["get"], {"task_id": task_id}).fetchone()
            if row is None:
                return REDO
            task = task_of(row)
            return task if _finished_by(task, transition, now) else REDO

        return self._run("finish", body, recover=recover, transaction=bool(followups))

    def finish_and_claim(
        self, task_id: int, *, transition: Transition, now: datetime, claim: Claim
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
        owner = claim.owner
        retry_at = transition.scheduled_time
        if (
            claim.limit <= 0
            or (transition.status is TaskStatus.SCHEDULED_FOR_RETRY and retry_at is not None and retry_at <= now)
            or (transition.followups and transition.status is TaskStatus.COMPLETED)
        ):
            return self.finish(task_id, owner=owner, transition=transition, now=now), self.claim(claim, now=now)
        token = uuid.uuid4()
        params = {**_finish_params(task_id, owner, transition, now), **_claim_params(claim, now, token)}
        sql = self._sql

        def body(conn: Conn) -> tuple[ExportTask | None, builtins.list[ExportTask]]:
            finished: ExportTask | None = None
            claimed: builtins.list[ExportTask] = []
            for row in conn.execute(sql["finish_and_claim"], params).fetchall():
                if row[0]:
                    finished = task_of(row[1:])
                else:
                    claimed.append(task_of(row[1:]))
            return finished, claimed

        def recover(conn: Conn) -> tuple[ExportTask | None, builtins.list[ExportTask]] | Redo:
            claimed = [task_of(r) for r in conn.execute(sql["find_by_claim_token"], {"token": token, "owner": owner})]
            row = conn.execute(sql["get"], {"task_id": task_id}).fetchone()
            task = None if row is None else task_of(row)
            # the statement committed (the claimed tasks, if any, carry its token)
            if task is not None and _finished_by(task, transition, now):
                return task, claimed
            if claimed:  # committed, but the task was not this owner's to finish (or changed since)
                return None, claimed
            return REDO

        finished, claimed = self._run("finish and claim", body, recover=recover, transaction=False)
        if len(claimed) > 1:
            claimed.sort(key=lambda t: (t.scheduled_time, t.task_id))
        return finished, claimed

    def finish_many_and_claim(
        self, finishes: Sequence[tuple[int, Transition]], *, now: datetime, claim: Claim
    ) -> tuple[builtins.list[ExportTask | None], builtins.list[ExportTask]]:
        """See :meth:`TaskStore.finish_many_and_claim
        <dcm_exporter.queue.store.TaskStore.finish_many_and_claim>`: here each finish commits on its own
        (each is recovered as :meth:`finish` is) and the last one is combined with the claim."""
        if not finishes:
            return [], self.claim(claim, now=now)
        finished = [self.finish(task_id, owner=claim.owner, transition=t, now=now) for task_id, t in finishes[:-1]]
        last, claimed = self.finish_and_claim(finishes[-1][0], transition=finishes[-1][1], now=now, claim=claim)
        return [*finished, last], claimed

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

        def recover(conn: Conn) -> bool | Redo:
            row = conn.execute(self._sql["get"], {"task_id": task_id}).fetchone()
            if row is not None:
                task = task_of(row)
                if task.status is TaskStatus.SCHEDULED and task.lease_owner is None and task.updated_time == now:
                    return True
            return REDO

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
        sql, params = select(self.schema, filter, "task_id", lock=True)
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
        self, filter: TaskFilter, *, now: datetime, scheduled_time: datetime, target: ExporterTarget | None = None
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


def _insert_params(new: NewTask, now: datetime, token: uuid.UUID, channel: str) -> dict[str, Any]:
    """The parameters of ``insert_notify`` for a new task (it wakes the runners of its queue)."""
    row = new_task_row(new)
    row.update(
        now=now,
        modalities=list(new.modalities),
        token=token,
        channel=channel,
        payload=Wakeups.payload(new.device_name, new.queue_name),
    )
    return row


@attrs.define
class _PostgresCoalescing:
    """:class:`~dcm_exporter.queue.store.CoalescingWrites` in the transaction of ``schedule``: the study's
    advisory lock is held, the waiting row is read ``FOR UPDATE``, and every write carries the request token
    (by which a commit whose answer was lost is found) and wakes the runners of the task's queue."""

    _conn: Conn
    _sql: dict[str, str]
    _new: NewTask
    _now: datetime
    _token: uuid.UUID
    _channel: str

    def waiting(self) -> tuple[int, str, str, datetime] | None:
        new = self._new
        row = self._conn.execute(
            self._sql["find_coalescable"],
            {"device_name": new.device_name, "exporter_id": new.exporter_id, "study_uid": new.study_uid,
             "batch_id": new.batch_id},
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def unchanged(self, task_id: int) -> ExportTask:
        return task_of(self._conn.execute(self._sql["get"], {"task_id": task_id}).fetchone())

    def widen(self, task_id: int, series_uid: str, sop_instance_uid: str, scheduled: datetime) -> ExportTask:
        updated = self._conn.execute(
            self._sql["update_coalesced_notify"],
            {
                "task_id": task_id,
                "series_uid": series_uid,
                "sop_instance_uid": sop_instance_uid,
                "scheduled_time": scheduled,
                "now": self._now,
                "token": self._token,
                "channel": self._channel,
                "payload": Wakeups.payload(self._new.device_name, self._new.queue_name),
            },
        ).fetchone()
        return task_of(updated)

    def insert(self) -> ExportTask:
        inserted = self._conn.execute(
            self._sql["insert_notify"], _insert_params(self._new, self._now, self._token, self._channel)
        )
        return task_of(inserted.fetchone())


def _claim_params(claim: Claim, now: datetime, token: uuid.UUID) -> dict[str, Any]:
    """The parameters of ``claim`` (and of the claiming half of ``finish_and_claim``)."""
    return {
        "device_name": claim.device_name,
        "queue_name": claim.queue_name,
        "now": now,
        "limit": claim.limit,
        "owner": claim.owner,
        "lease_until": utc(claim.lease_until),
        "exclude": builtins.list(claim.exclude_exporters),
        "token": token,
    }


def _finish_params(task_id: int, owner: str, transition: Transition, now: datetime) -> dict[str, Any]:
    """The parameters of ``finish`` (and of the finishing half of ``finish_and_claim``)."""
    return {
        "task_id": task_id,
        "owner": owner,
        "now": now,
        "status": transition.status.value,
        "processing_end_time": utc(transition.processing_end_time),
        "number_of_failures": transition.number_of_failures,
        "processing_start_time": transition.processing_start_time,
        "scheduled_time": transition.scheduled_time,
        "error_message": transition.error_message,
        "outcome_message": transition.outcome_message,
        "number_of_instances": transition.number_of_instances,
        "result_json": transition.result_json,
        "modalities": None if transition.modalities is None else builtins.list(transition.modalities),
    }


def _finished_by(task: ExportTask, transition: Transition, now: datetime) -> bool:
    """Whether ``task`` shows the end that a finish at ``now`` with ``transition`` wrote (the recovery of a
    finish whose commit may have been cut off)."""
    return (
        task.lease_owner is None
        and task.updated_time == now
        and task.processing_end_time == utc(transition.processing_end_time)
        and task.status in (transition.status, TaskStatus.CANCELED)
    )
