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

from dcm_exporter.queue.postgres._sql import _MIGRATIONS, COLUMNS, SCHEMA_VERSION
from dcm_exporter.queue.postgres.store import PostgresTaskStore

__all__ = ["COLUMNS", "SCHEMA_VERSION", "PostgresTaskStore", "_MIGRATIONS"]
