"""``SqliteTaskStore``: the embedded, durable default task store (one SQLite file, WAL mode).

Several threads and processes may share one file: each thread uses its own connection; writes take the
database lock (``BEGIN IMMEDIATE`` or one atomic statement) and wait up to ``busy_timeout`` for it. The
schema is versioned with ``PRAGMA user_version`` and migrated forward on open. All SQL lives in
``sqlite.sql`` next to this module, in named blocks.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from dcm_exporter.errors import QueueError, TaskNotFoundError
from dcm_exporter.queue._sql_shared import (
    TASK_COLUMNS,
    Dialect,
    UnreadableTaskError,
    batch_summary,
    load_sql,
    new_task_row,
    task_from_row,
    where,
)
from dcm_exporter.queue.store import (
    Claim,
    ExporterTarget,
    LocalNotifications,
    Transition,
    coalesce_or_insert,
    coalesces_unchanged,
    ended,
)
from dcm_exporter.queue.task import (
    ORDER_FIELDS,
    BatchSummary,
    ExportTask,
    NewTask,
    TaskFilter,
    TaskStatus,
    TaskType,
)

__all__ = ["SCHEMA_VERSION", "SqliteTaskStore"]

log = logging.getLogger("dcm_exporter.queue.sqlite")
_STATUS_VALUES = frozenset(s.value for s in TaskStatus)
_FINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.WARNING, TaskStatus.FAILED, TaskStatus.CANCELED})

COLUMNS = TASK_COLUMNS
_COLUMN_LIST = ", ".join(COLUMNS)
_MODALITY_SEPARATOR = "\\"


def _joined(modalities: tuple[str, ...] | None) -> str | None:
    """A Transition's modalities as the column holds them; ``None`` keeps the stored value."""
    return None if modalities is None else _MODALITY_SEPARATOR.join(modalities)


_SQL = load_sql("sqlite.sql")
_MIGRATIONS = sorted(
    (int(name.removeprefix("migration_")), sql) for name, sql in _SQL.items() if name.startswith("migration_")
)
#: Schema version this code writes; a file with a higher version was written by a newer dcm_exporter.
SCHEMA_VERSION = _MIGRATIONS[-1][0]


def _statements(sql: str) -> list[str]:
    """The statements of a migration, one by one (a trigger's body holds semicolons of its own)."""
    statements: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \n;"):
        raise RuntimeError(f"sqlite.sql: an incomplete statement in a migration: {current.strip()[:80]!r}")
    return statements


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _opt_ts(value: datetime | None) -> str | None:
    return None if value is None else _ts(value)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _safe_dt(value: object) -> datetime | None:
    """A stored time for a summary: ``None`` when it is not one (a corrupted row)."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _summary_time(value: object) -> datetime:
    # a corrupted time in a batch's range: the epoch rather than no summary at all
    return _safe_dt(value) or datetime.fromtimestamp(0, UTC)


def _text(data: bytes) -> str | bytes:
    # sqlite3's own decoding fails the whole query on one bit-flipped row; the bytes are handed over
    # instead and task_from_row turns them into an error naming that task alone
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _modalities(value: str | None) -> tuple[str, ...]:
    return tuple(value.split(_MODALITY_SEPARATOR)) if value else ()


def _task(row: Sequence[Any]) -> ExportTask:
    return task_from_row(row, time=datetime.fromisoformat, modalities=_modalities)


_DIALECT = Dialect(
    param=":{name}",
    any_of="{column} IN (SELECT value FROM json_each({param}))",
    true="1",
    to_list=json.dumps,
    to_time=_ts,
)


def _where(filter: TaskFilter) -> tuple[str, dict[str, Any]]:
    return where(filter, _DIALECT)


def _select(filter: TaskFilter, what: str) -> tuple[str, dict[str, Any]]:
    where, params = _where(filter)
    column = filter.order_by.removeprefix("-")
    if column not in ORDER_FIELDS:  # TaskFilter validates; checked again because it goes into SQL text
        raise QueueError(f"cannot order tasks by {filter.order_by!r}")
    direction = "DESC" if filter.order_by.startswith("-") else "ASC"
    params["f_limit"] = -1 if filter.limit is None else filter.limit
    params["f_offset"] = filter.offset
    sql = (
        f"SELECT {what} FROM export_task WHERE {where} "
        f"ORDER BY {column} {direction}, task_id {direction} LIMIT :f_limit OFFSET :f_offset"
    )
    return sql, params



#: How many recently scheduled studies a store remembers to look for a waiting task first.
_RECENT_STUDIES = 4096

#: The parameters of the insert statements in the order the numbered statements bind them: a tuple binds
#: without looking each name up in the statement and in a dict (a measurable share of a one-row insert).
_INSERT_ORDER = (
    "now", "device_name", "queue_name", "exporter_id", "local_ae_title", "study_uid", "series_uid",
    "sop_instance_uid", "scheduled_time", "batch_id", "number_of_instances", "modalities", "requester",
    "task_type", "destination_aet",
)
_MODALITIES = _INSERT_ORDER.index("modalities")


def _numbered(sql: str) -> str:
    """``sql`` with its named parameters as numbered ones (``?1`` ...) in :data:`_INSERT_ORDER`."""

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in _INSERT_ORDER:  # the statement was edited: say so at import, not with a wrong row
            raise RuntimeError(f"sqlite.sql: insert parameter :{name} is not in _INSERT_ORDER")
        return f"?{_INSERT_ORDER.index(name) + 1}"

    return re.sub(r":(\w+)", number, sql)


def _without_returning(name: str) -> str:
    """Statement ``name`` without its RETURNING clause: the store builds the new task from the values it
    inserted and takes the id from ``lastrowid`` (SQLite then writes no result rows aside)."""
    return _numbered(_SQL[name].rsplit("RETURNING", 1)[0])


#: ``finish`` without reading the row back (run for each task of a group).
_FINISH_NO_ROW = _SQL["finish"].rsplit("RETURNING", 1)[0]
_INSERT_NUMBERED = _without_returning("insert")
_INSERT_UNLESS_COALESCABLE_NUMBERED = _without_returning("insert_unless_coalescable")


def _without_exclusions(claim_sql: str) -> str:
    """``claim`` when no exporter is excluded (every exporter's schedule is open): no exclusion list to scan."""
    exclusion = "\n              AND exporter_id NOT IN (SELECT value FROM json_each(:exclude))"
    if claim_sql.count(exclusion) != 2:  # the statement was edited: say so at import, not with a wrong claim
        raise RuntimeError("sqlite.sql: claim no longer has its two exporter exclusions")
    return claim_sql.replace(exclusion, "")


_CLAIM_OPEN = _without_exclusions(_SQL["claim"])


def _finish_values(
    task_id: int, transition: Transition, owner: str, now: str, now_time: datetime | None = None
) -> dict[str, Any]:
    """The parameters of ``finish`` for one task. ``now_time``: ``now`` as a datetime, when the caller has it
    (an attempt ends at the time it is recorded: that text is then not formatted again for each task)."""
    end = transition.processing_end_time
    return {
        "task_id": task_id,
        "owner": owner,
        "now": now,
        "status": transition.status.value,
        "processing_end_time": now if end == now_time else _ts(end),
        "number_of_failures": transition.number_of_failures,
        "processing_start_time": _opt_ts(transition.processing_start_time),
        "scheduled_time": _opt_ts(transition.scheduled_time),
        "error_message": transition.error_message,
        "outcome_message": transition.outcome_message,
        "number_of_instances": transition.number_of_instances,
        "modalities": _joined(transition.modalities),
        "result_json": transition.result_json,
    }


#: At most this many claimed tasks are kept for group finishes (a runner holds a few dozen).
_MAX_HELD = 4096


def _finished_task(held: ExportTask, transition: Transition, updated: datetime) -> ExportTask:
    """What ``finish_many`` writes over a task held IN PROCESS, as the stored task (modalities through the
    column's text form)."""
    modalities = held.modalities if transition.modalities is None else _modalities(_joined(transition.modalities))
    return ended(held, transition, updated, modalities=modalities)


def _insert_params(new: NewTask, now_ts: str) -> dict[str, Any]:
    """The parameters of the ``insert`` statements for a new task."""
    row = new_task_row(new)
    row["now"] = now_ts
    row["scheduled_time"] = _ts(new.scheduled_time)
    row["modalities"] = _MODALITY_SEPARATOR.join(new.modalities)
    return row


def _insert_values(new: NewTask, now: datetime, now_ts: str) -> tuple[Any, ...]:
    """The parameters of the numbered insert statements for a new task, in :data:`_INSERT_ORDER`."""
    # most tasks are due at once (scheduled now): the time is formatted once
    scheduled_ts = now_ts if new.scheduled_time == now else _ts(new.scheduled_time)
    return (
        now_ts, new.device_name, new.queue_name, new.exporter_id, new.local_ae_title, new.study_uid,
        new.series_uid, new.sop_instance_uid, scheduled_ts, new.batch_id, new.number_of_instances,
        _MODALITY_SEPARATOR.join(new.modalities), new.requester, new.task_type.value, new.destination_aet,
    )


def _study_key(new: NewTask) -> dict[str, Any]:
    """The parameters of the look-ups of a waiting task to coalesce with."""
    return {
        "device_name": new.device_name,
        "exporter_id": new.exporter_id,
        "study_uid": new.study_uid,
        "batch_id": new.batch_id,
    }


def _new_task(task_id: int, new: NewTask, now: datetime, modalities: str) -> ExportTask:
    """The task an insert wrote, built from the values written instead of read back: what ``get`` returns
    (times in UTC to the microsecond, as the text columns hold them; modalities through their column's text
    form; the columns the insert leaves to their defaults)."""
    return new.inserted(task_id, now, modalities=_modalities(modalities))


@attrs.define
class _SqliteCoalescing:
    """:class:`~dcm_exporter.queue.store.CoalescingWrites` in the transaction of a connection that holds the
    write lock (times as the text columns keep them)."""

    _conn: sqlite3.Connection
    _new: NewTask
    _insert: dict[str, Any]
    _now_ts: str

    def waiting(self) -> tuple[int, str, str, str] | None:
        row = self._conn.execute(_SQL["find_coalescable"], _study_key(self._new)).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def unchanged(self, task_id: int) -> ExportTask:
        return _task(self._conn.execute(_SQL["get"], {"task_id": task_id}).fetchone())

    def widen(self, task_id: int, series_uid: str, sop_instance_uid: str, scheduled: str) -> ExportTask:
        updated = self._conn.execute(
            _SQL["update_coalesced"],
            {
                "task_id": task_id,
                "series_uid": series_uid,
                "sop_instance_uid": sop_instance_uid,
                "scheduled_time": scheduled,
                "now": self._now_ts,
            },
        ).fetchone()
        return _task(updated)

    def insert(self) -> ExportTask:
        return _task(self._conn.execute(_SQL["insert"], self._insert).fetchone())


class SqliteTaskStore(LocalNotifications):
    """A :class:`~dcm_exporter.queue.store.TaskStore` in one SQLite file (created if missing).

    Args:
        path: The database file. Several processes may open the same file.
        busy_timeout: Seconds a write waits for another writer before failing with :class:`QueueError`.
        synchronous: SQLite ``synchronous`` setting; ``NORMAL`` (the default) is durable across process
            crashes in WAL mode, ``FULL`` also across power loss.
        create: create the file and its tables when missing (the default); ``False`` for a reader that must
            leave no file behind: a missing file is then a :class:`QueueError`.

    Raises:
        QueueError: the file cannot be opened, is not a task database, or was written by a newer version.

    Example:
        >>> import tempfile, os
        >>> from datetime import datetime, timezone
        >>> from dcm_exporter.queue import NewTask, SqliteTaskStore
        >>> folder = tempfile.mkdtemp()
        >>> store = SqliteTaskStore(os.path.join(folder, "tasks.db"))
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> store.schedule(NewTask(device_name="dcm4chee-arc", queue_name="Export1",
        ...     exporter_id="STORESCP", study_uid="1.2.3", scheduled_time=now), now=now).task_id
        1
        >>> store.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise QueueError(f"no task database at {self.path}: nothing has been queued there (check --queue)")
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise QueueError(
                f"SqliteTaskStore needs a file path, got {str(path)!r}: "
                "use InMemoryTaskStore for a store in memory"
            )
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise QueueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._study_guard = threading.RLock()
        # the threads of this process take turns for the database's write lock here, where a waiting thread
        # wakes as soon as the lock is free, instead of in SQLite's busy handler, which sleeps and retries
        # (other processes still meet the busy handler)
        self._writer = threading.RLock()
        self._recent: dict[tuple[str, str, str, str | None], None] = {}
        # tasks as claimed through this store and not finished yet: a group finish builds the finished task
        # from them instead of reading every row back
        self._held: dict[int, ExportTask] = {}
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        try:
            with self._errors("open"):
                self._migrate(self._conn())
        except BaseException:
            self.close()  # no file handle kept until garbage collection
            raise

    def __repr__(self) -> str:
        return f"SqliteTaskStore({str(self.path)!r})"

    def __enter__(self) -> SqliteTaskStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connections, transactions, errors ----------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise QueueError(f"{self!r} is closed")
        if not self.path.parent.is_dir():
            raise QueueError(
                f"cannot create task database {self.path}: folder {self.path.parent} does not exist"
            )
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.text_factory = _text
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise QueueError(
                    f"cannot put task database {self.path} in WAL mode (journal mode stays {mode})"
                )
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()  # not a database, locked, read-only: the connection is not kept
            raise
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise QueueError(f"task database {self.path}: {action} failed: {exc}") from exc

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._errors(action), self._writer:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueError(
                    f"task database {self.path} has schema version {version}, newer than this dcm_exporter "
                    f"understands ({SCHEMA_VERSION}): upgrade dcm_exporter"
                )
            if version == 0:
                tables = conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                ).fetchone()[0]
                if tables:
                    raise QueueError(
                        f"{self.path} is an SQLite database with other tables, "
                        "not a dcm_exporter task database"
                    )
            for number, sql in _MIGRATIONS:
                if number > version:
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._errors("read schema version"):
            return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # --- scheduling ---------------------------------------------------------------------------------

    def schedule(self, new: NewTask, *, now: datetime, coalesce: bool = True) -> ExportTask:
        now = now.astimezone(UTC)
        now_ts = now.isoformat(timespec="microseconds")
        coalescing = coalesce and new.task_type is TaskType.EXPORT
        recent = (new.device_name, new.exporter_id, new.study_uid, new.batch_id)
        if coalescing and recent in self._recent:
            # A study this store scheduled lately is likely still waiting: a read first, without the write
            # lock; when the waiting task already covers the new one and runs no earlier, coalescing changes
            # nothing, and nothing is written (its updated_time stays). Other studies skip this read.
            with self._errors("schedule"):
                row = self._conn().execute(_SQL["find_coalescable_task"], _study_key(new)).fetchone()
            if row is not None:
                waiting = _task(row)
                if coalesces_unchanged(waiting, new):
                    return waiting
                return self._coalesce(new, now_ts)
        values = _insert_values(new, now, now_ts)
        # the hot path of scheduling, without a context manager per call: one atomic statement (a write
        # statement takes the write lock before it reads), committed before execute returns; it inserts
        # unless a task to coalesce with is waiting (by now)
        try:
            with self._writer:
                cursor = self._conn().execute(
                    _INSERT_UNLESS_COALESCABLE_NUMBERED if coalescing else _INSERT_NUMBERED, values
                )
                inserted = cursor.rowcount == 1
                task_id = cursor.lastrowid
        except sqlite3.Error as exc:
            raise QueueError(f"task database {self.path}: schedule failed: {exc}") from exc
        if coalescing:
            self._remember(recent)
        if inserted and task_id is not None:
            return _new_task(task_id, new, now, values[_MODALITIES])
        return self._coalesce(new, now_ts)

    def _coalesce(self, new: NewTask, now_ts: str) -> ExportTask:
        """Schedule ``new`` where a waiting task to coalesce with was seen: widen it, in a transaction."""
        with self._write("schedule") as conn:
            return self._coalesce_in(conn, new, now_ts)

    @staticmethod
    def _coalesce_in(conn: sqlite3.Connection, new: NewTask, now_ts: str) -> ExportTask:
        """Widen the waiting task ``new`` coalesces with, in the caller's transaction; insert ``new`` when
        there is none any more."""
        insert = _insert_params(new, now_ts)
        return coalesce_or_insert(_SqliteCoalescing(conn, new, insert, now_ts), new, insert["scheduled_time"])

    def schedule_many(
        self, news: Sequence[NewTask], *, now: datetime, coalesce: bool = True
    ) -> builtins.list[ExportTask]:
        if not news:
            return []
        now = now.astimezone(UTC)
        now_ts = now.isoformat(timespec="microseconds")
        tasks: builtins.list[ExportTask] = []
        with self._write("schedule") as conn:  # one transaction, one commit for them all
            for new in news:
                coalescing = coalesce and new.task_type is TaskType.EXPORT
                values = _insert_values(new, now, now_ts)
                cursor = conn.execute(
                    _INSERT_UNLESS_COALESCABLE_NUMBERED if coalescing else _INSERT_NUMBERED, values
                )
                if cursor.rowcount == 1 and cursor.lastrowid is not None:
                    tasks.append(_new_task(cursor.lastrowid, new, now, values[_MODALITIES]))
                else:  # a task of this call or an earlier one is waiting: it widens
                    tasks.append(self._coalesce_in(conn, new, now_ts))
        for new in news:
            if coalesce and new.task_type is TaskType.EXPORT:
                self._remember((new.device_name, new.exporter_id, new.study_uid, new.batch_id))
        return tasks

    def _remember(self, key: tuple[str, str, str, str | None]) -> None:
        """Note a study just scheduled (a bounded, approximate memory: it only picks the order of look-ups)."""
        recent = self._recent
        recent[key] = None
        if len(recent) > _RECENT_STUDIES:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del recent[next(iter(recent))]

    # --- queries ------------------------------------------------------------------------------------

    def get(self, task_id: int) -> ExportTask:
        with self._errors("get"):
            row = self._conn().execute(_SQL["get"], {"task_id": task_id}).fetchone()
        if row is None:
            raise TaskNotFoundError(task_id)
        return _task(row)

    def list(self, filter: TaskFilter) -> builtins.list[ExportTask]:
        sql, params = _select(filter, _COLUMN_LIST)
        with self._errors("list"):
            rows = self._conn().execute(sql, params).fetchall()
        tasks: builtins.list[ExportTask] = []
        for row in rows:
            try:
                tasks.append(_task(row))
            except UnreadableTaskError as exc:
                # one corrupted row must not hide every other task from an operator; it is named here and
                # can be deleted by its id
                log.error("task database %s: %s; left out of the task list", self.path, exc)
        return tasks

    def count(self, filter: TaskFilter) -> int:
        where, params = _where(filter)
        with self._errors("count"):
            return int(
                self._conn().execute(f"SELECT count(*) FROM export_task WHERE {where}", params).fetchone()[0]
            )

    def batch_summaries(self, filter: TaskFilter) -> builtins.list[BatchSummary]:
        where, params = _where(filter)
        with self._errors("batch summary"):
            conn = self._conn()
            counts: dict[str, dict[TaskStatus, int]] = {}
            for batch_id, status, n in conn.execute(_SQL["batch_counts"].replace("{where}", where), params):
                if status in _STATUS_VALUES:  # a corrupted status is no status to count
                    counts.setdefault(batch_id, {})[TaskStatus(status)] = n
            rows = conn.execute(_SQL["batch_ranges"].replace("{where}", where), params).fetchall()

        return [batch_summary(r, counts, names=json.loads, time=_summary_time) for r in rows]

    def next_due_time(self, *, device_name: str, queue_names: Collection[str]) -> datetime | None:
        with self._errors("next due time"):
            row = (
                self._conn()
                .execute(
                    _SQL["next_due_time"],
                    {"device_name": device_name, "queues": json.dumps(list(queue_names))},
                )
                .fetchone()
            )
        if row[0] is None:
            return None
        # a corrupted time that sorts first: due now, so that a claim finds that row and fails it
        return _safe_dt(row[0]) or datetime.fromtimestamp(0, UTC)

    # --- processing ---------------------------------------------------------------------------------

    def claim(self, claim: Claim, *, now: datetime) -> builtins.list[ExportTask]:
        if claim.limit <= 0:
            return []
        with self._errors("claim"), self._writer:
            return self._claim_held(self._conn(), claim, _ts(now))

    @staticmethod
    def _claim(conn: sqlite3.Connection, claim: Claim, now: str) -> builtins.list[ExportTask]:
        params = {
            "device_name": claim.device_name,
            "queue_name": claim.queue_name,
            "now": now,
            "limit": claim.limit,
            "owner": claim.owner,
            "lease_until": _ts(claim.lease_until),
        }
        if claim.exclude_exporters:
            params["exclude"] = json.dumps(list(claim.exclude_exporters))
        # the common case: every exporter's schedule is open; no exclusion list to evaluate
        sql = _SQL["claim"] if claim.exclude_exporters else _CLAIM_OPEN
        tasks: builtins.list[ExportTask] = []
        # each round fails the unreadable rows it claimed for good, so the rounds end; claiming again
        # keeps a corrupted row from taking the place of a due task (a drain would stop, "idle")
        while len(tasks) < claim.limit:
            params["limit"] = claim.limit - len(tasks)
            rows = conn.execute(sql, params).fetchall()
            unreadable = 0
            for row in rows:
                try:
                    tasks.append(_task(row))
                except UnreadableTaskError as exc:
                    unreadable += 1
                    log.error("task database: %s; marked FAILED", exc)
                    conn.execute(
                        _SQL["fail_unreadable"], {"task_id": row[0], "reason": str(exc), "now": now}
                    )
            if not unreadable:
                break
        if len(tasks) > 1:
            tasks.sort(key=lambda t: (t.scheduled_time, t.task_id))
        return tasks

    def _claim_held(self, conn: sqlite3.Connection, claim: Claim, now: str) -> builtins.list[ExportTask]:
        tasks = self._claim(conn, claim, now)
        held = self._held
        if len(held) > _MAX_HELD:  # tasks claimed and never finished here (released, taken over): forgotten
            held.clear()
        for task in tasks:
            held[task.task_id] = task
        return tasks

    def heartbeat(
        self, task_ids: Sequence[int], *, owner: str, lease_until: datetime, now: datetime
    ) -> set[int]:
        if not task_ids:
            return set()
        with self._errors("heartbeat"):
            conn = self._conn()
            rows = (
                conn.execute(
                    _SQL["heartbeat"],
                    {"ids": json.dumps(list(task_ids)), "owner": owner, "lease_until": _ts(lease_until)},
                )
                .fetchall()
            )
        return {row[0] for row in rows}

    def finish(self, task_id: int, *, owner: str, transition: Transition, now: datetime) -> ExportTask | None:
        if transition.followups and transition.status is TaskStatus.COMPLETED:
            with self._write("finish") as conn:  # the end and its follow-ups in one transaction
                return self._finish(conn, task_id, owner, transition, _ts(now))
        with self._errors("finish"):
            conn = self._conn()
            return self._finish(conn, task_id, owner, transition, _ts(now))

    @staticmethod
    def _finish(
        conn: sqlite3.Connection, task_id: int, owner: str, transition: Transition, now: str
    ) -> ExportTask | None:
        values = _finish_values(task_id, transition, owner, now)
        row = conn.execute(_SQL["finish"], values).fetchone()
        if row is not None and transition.followups and transition.status is TaskStatus.COMPLETED:
            for followup in transition.followups:  # the caller holds the transaction
                conn.execute(_SQL["insert"], _insert_params(followup, now)).fetchone()
        if row is None:
            # sqlite3 ignores the named parameters the statement does not use
            row = conn.execute(_SQL["finish_canceled"], values).fetchone()
        return None if row is None else _task(row)

    def finish_and_claim(
        self, task_id: int, *, transition: Transition, now: datetime, claim: Claim
    ) -> tuple[ExportTask | None, builtins.list[ExportTask]]:
        now_ts = _ts(now)
        with self._write("finish and claim") as conn:
            finished = self._finish(conn, task_id, claim.owner, transition, now_ts)
            return finished, (self._claim(conn, claim, now_ts) if claim.limit > 0 else [])

    def finish_many_and_claim(
        self, finishes: Sequence[tuple[int, Transition]], *, now: datetime, claim: Claim
    ) -> tuple[builtins.list[ExportTask | None], builtins.list[ExportTask]]:
        now_ts = _ts(now)
        with self._write("finish and claim") as conn:  # one commit for the whole group
            finished = self._finish_many(conn, finishes, claim.owner, now_ts)
            return finished, (self._claim_held(conn, claim, now_ts) if claim.limit > 0 else [])

    def _finish_many(
        self, conn: sqlite3.Connection, finishes: Sequence[tuple[int, Transition]], owner: str, now: str
    ) -> builtins.list[ExportTask | None]:
        """Finish a group of tasks in the caller's transaction: the plain ends in one statement, the rest (a
        task cancelled while it ran, a task with follow-ups, one no longer held) one by one, as finish does."""
        plain = [
            (task_id, t) for task_id, t in finishes if not (t.followups and t.status is TaskStatus.COMPLETED)
        ]
        done: dict[int, ExportTask] = {}
        if len(plain) > 1 and len({task_id for task_id, _ in plain}) == len(plain):
            # one prepared statement run for each task, without reading rows back; when a task is not held
            # any more (cancelled, deleted, taken over while it ran) the group is undone and each task is
            # finished on its own
            conn.execute("SAVEPOINT finish_many")
            updated = datetime.fromisoformat(now)
            values = [_finish_values(task_id, t, owner, now, updated) for task_id, t in plain]
            if conn.executemany(_FINISH_NO_ROW, values).rowcount == len(plain):
                for task_id, transition in plain:
                    held = self._held.pop(task_id, None)
                    if held is not None:
                        # the row as the statement wrote it: while the lease was held only this runner (or
                        # a cancel, which the statement leaves alone) could change it
                        done[task_id] = _finished_task(held, transition, updated)
                    else:
                        done[task_id] = _task(conn.execute(_SQL["get"], {"task_id": task_id}).fetchone())
            else:
                conn.execute("ROLLBACK TO finish_many")
            conn.execute("RELEASE finish_many")
        return [
            done[task_id] if task_id in done else self._finish(conn, task_id, owner, t, now)
            for task_id, t in finishes
        ]

    def release(self, task_id: int, *, owner: str, now: datetime) -> bool:
        with self._errors("release"):
            conn = self._conn()
            released = conn.execute(
                _SQL["release"], {"task_id": task_id, "owner": owner, "now": _ts(now)}
            ).rowcount
            if not released:
                conn.execute(_SQL["release_other"], {"task_id": task_id, "owner": owner})
        return bool(released)

    def reset_in_process(self, *, device_name: str, now: datetime) -> int:
        with self._errors("reset IN PROCESS tasks"):
            conn = self._conn()
            return int(
                conn.execute(_SQL["reset_in_process"], {"device_name": device_name, "now": _ts(now)})
                .rowcount
            )

    # --- operations ---------------------------------------------------------------------------------

    def _ids(self, conn: sqlite3.Connection, filter: TaskFilter) -> builtins.list[int]:
        sql, params = _select(filter, "task_id")
        return [row[0] for row in conn.execute(sql, params)]

    def cancel(self, filter: TaskFilter, *, now: datetime) -> tuple[builtins.list[int], builtins.list[int]]:
        with self._write("cancel") as conn:
            ids = json.dumps(self._ids(conn, filter))
            running = [r[0] for r in conn.execute(_SQL["cancel_running"], {"ids": ids, "now": _ts(now)})]
            waiting = [r[0] for r in conn.execute(_SQL["cancel_waiting"], {"ids": ids, "now": _ts(now)})]
        return sorted(running + waiting), sorted(running)

    def reschedule(
        self, filter: TaskFilter, *, now: datetime, scheduled_time: datetime, target: ExporterTarget | None = None
    ) -> builtins.list[int]:
        with self._write("reschedule") as conn:
            ids = json.dumps(self._ids(conn, filter))
            rows = conn.execute(
                _SQL["reschedule"],
                {
                    "ids": ids,
                    "now": _ts(now),
                    "scheduled_time": _ts(scheduled_time),
                    "exporter_id": None if target is None else target.exporter_id,
                    "queue_name": None if target is None else target.queue_name,
                    "local_ae_title": None if target is None else target.local_ae_title,
                },
            ).fetchall()
        return sorted(r[0] for r in rows)

    def delete(self, filter: TaskFilter) -> builtins.list[int]:
        with self._write("delete") as conn:
            ids = json.dumps(self._ids(conn, filter))
            rows = conn.execute(_SQL["delete"], {"ids": ids}).fetchall()
        return sorted(r[0] for r in rows)

    def purge(
        self, *, device_name: str, queue_name: str, status: TaskStatus, updated_before: datetime
    ) -> int:
        with self._errors("purge"):
            conn = self._conn()
            return int(
                conn.execute(
                    _SQL["purge" if status in _FINAL else "purge_any"],
                    {
                        "device_name": device_name,
                        "queue_name": queue_name,
                        "status": status.value,
                        "updated_before": _ts(updated_before),
                    },
                )
                .rowcount
            )
