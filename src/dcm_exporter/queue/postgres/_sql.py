"""The PostgreSQL store's SQL: its statements (``postgres.sql``), schema migrations, and rows as tasks."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from dcm_exporter.errors import QueueError
from dcm_exporter.queue._sql_shared import TASK_COLUMNS, Dialect, load_sql, task_from_row
from dcm_exporter.queue._sql_shared import where as shared_where
from dcm_exporter.queue.task import ORDER_FIELDS, ExportTask, TaskFilter

__all__ = ["COLUMNS", "SCHEMA_VERSION", "migrate", "prepare_sql", "select", "task_of", "where"]

log = logging.getLogger("dcm_exporter.queue.postgres")

#: Columns of ``export_task`` in the order :func:`task_of` reads them.
COLUMNS = TASK_COLUMNS
_RAW_SQL = load_sql("postgres.sql")
_MIGRATIONS = sorted(
    (int(name.removeprefix("migration_")), sql)
    for name, sql in _RAW_SQL.items()
    if name.startswith("migration_")
)
#: Schema version this code writes; a database with a higher version was migrated by a newer dcm_exporter.
SCHEMA_VERSION = _MIGRATIONS[-1][0]

#: What a schema name may be (it goes into SQL text).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")
_TEXT_ORDER = frozenset({"exporter_id", "study_uid", "status", "batch_id"})

Conn = Any  # a psycopg.Connection; typed loosely so that psycopg stays an optional import


def task_of(row: Sequence[Any]) -> ExportTask:
    """The task a row of :data:`COLUMNS` holds."""
    return task_from_row(row, time=lambda value: value, modalities=lambda value: tuple(value or ()))


_DIALECT = Dialect(
    param="%({name})s",
    any_of="{column} = ANY({param}::{type}[])",
    true="TRUE",
    to_list=lambda values: values,
    to_time=lambda value: value,
)


def where(filter: TaskFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters of ``filter`` in PostgreSQL's spelling."""
    return shared_where(filter, _DIALECT)


def select(schema: str, filter: TaskFilter, what: str, *, lock: bool = False) -> tuple[str, dict[str, Any]]:
    """A SELECT of ``what`` from the tasks matching ``filter``, ordered and paged as it says."""
    where_sql, params = where(filter)
    column = filter.order_by.removeprefix("-")
    if column not in ORDER_FIELDS:  # TaskFilter validates; checked again because it goes into SQL text
        raise QueueError(f"cannot order tasks by {filter.order_by!r}")
    descending = filter.order_by.startswith("-")
    direction = "DESC NULLS LAST" if descending else "ASC NULLS FIRST"  # like SQLite
    collate = ' COLLATE "C"' if column in _TEXT_ORDER else ""
    params["f_limit"] = filter.limit
    params["f_offset"] = filter.offset
    sql = (
        f'SELECT {what} FROM "{schema}".export_task WHERE {where_sql} '
        f"ORDER BY {column}{collate} {direction}, task_id {'DESC' if descending else 'ASC'} "
        f"LIMIT %(f_limit)s OFFSET %(f_offset)s"
    )
    if lock:
        sql += " FOR UPDATE"
    return sql, params


def prepare_sql(schema_name: str, competing_consumers: bool) -> dict[str, str]:
    """The store's statements for its schema and mode: ``{schema}`` and ``{device}`` filled in, and the
    ``*_notify`` forms of the inserts."""
    schema = f'"{schema_name}"'
    device = "" if competing_consumers else "device_name = %(device_name)s AND"
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


def migrate(conn: Conn, schema_name: str, label: str) -> None:
    """Create the schema's tables or migrate them forward (several processes may do it at once: the
    advisory lock serialises them).

    Raises:
        QueueError: the schema holds foreign tables, or was migrated by a newer dcm_exporter.
    """
    schema = f'"{schema_name}"'
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (f"dcm_exporter:{schema_name}",))
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.schema_version",)).fetchone()[0]
    if exists is None:
        foreign = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p')",
            (schema_name,),
        ).fetchone()[0]
        if foreign:
            raise QueueError(
                f"schema {schema_name!r} of {label} holds other tables and is not a dcm_exporter "
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
            f"task schema {schema_name!r} of {label} has version {version}, newer than this "
            f"dcm_exporter understands ({SCHEMA_VERSION}): upgrade dcm_exporter"
        )
    for number, sql in _MIGRATIONS:
        if number > version:
            conn.execute(sql.replace("{schema}", schema))
            conn.execute(f"INSERT INTO {schema}.schema_version (version) VALUES (%s)", (number,))
            log.info("task schema %s of %s migrated to version %d", schema_name, label, number)
