"""PostgresTaskStore against the real PostgreSQL server (a throwaway database per test).

The semantics shared with the other stores are in ``tests/unit/test_task_store_contract.py`` (which runs
against PostgreSQL too); here is what only PostgreSQL has: schema versions and migrations, separate schemas,
LISTEN/NOTIFY wake-ups, competing consumers, the caller's transaction, and recovery from a connection that
dropped before, during or after a commit.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dcm_exporter.errors import QueueError, TaskNotFoundError
from dcm_exporter.queue import Claim, NewTask, TaskFilter, TaskStatus, Transition
from dcm_exporter.queue.postgres import _MIGRATIONS, SCHEMA_VERSION, PostgresTaskStore

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
DEVICE = "dcm4chee-arc"
OWNER = "runner-1"


def new(study: str = "1.2.3", series: str = "*", *, device: str = DEVICE, at: datetime = T0) -> NewTask:
    return NewTask(
        device_name=device,
        queue_name="Export1",
        exporter_id="NOOP",
        local_ae_title="DCM4CHEE",
        study_uid=study,
        series_uid=series,
        scheduled_time=at,
    )


def claim(store: PostgresTaskStore, *, device: str = DEVICE, owner: str = OWNER, now: datetime = T0) -> list[Any]:
    return store.claim(
        Claim(device_name=device, queue_name="Export1", limit=10, owner=owner, lease_until=now + timedelta(minutes=1)),
        now=now,
    )


@pytest.fixture
def dsn(pg_database: Any) -> str:
    return str(pg_database.dsn)


@pytest.fixture
def store(dsn: str) -> Iterator[PostgresTaskStore]:
    s = PostgresTaskStore(dsn)
    yield s
    s.close()


# --- schema ----------------------------------------------------------------------------------------


def test_schema_is_versioned_and_opened_by_many_processes_at_once(dsn: str) -> None:
    stores: list[PostgresTaskStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresTaskStore(dsn, min_connections=0))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    try:
        assert all(s.schema_version == SCHEMA_VERSION for s in stores)
        with psycopg.connect(dsn) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM dcm_exporter.schema_version ORDER BY 1")]
        assert versions == [n for n, _ in _MIGRATIONS]
        task = stores[0].schedule(new(), now=T0)
        assert stores[3].get(task.task_id) == task
    finally:
        for s in stores:
            s.close()


def test_an_old_schema_is_migrated_forward_keeping_its_tasks(dsn: str) -> None:
    first_number, first_sql = _MIGRATIONS[0]
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE SCHEMA dcm_exporter")
        conn.execute("CREATE TABLE dcm_exporter.schema_version (version integer PRIMARY KEY, applied_time timestamptz)")
        conn.execute(first_sql.replace("{schema}", '"dcm_exporter"'))
        conn.execute("INSERT INTO dcm_exporter.schema_version VALUES (%s, now())", (first_number,))
        conn.execute(
            "INSERT INTO dcm_exporter.export_task (created_time, updated_time, device_name, queue_name, exporter_id, "
            "study_uid, scheduled_time) VALUES (%s, %s, 'dcm4chee-arc', 'Export1', 'NOOP', '9.9', %s)",
            (T0, T0, T0),
        )
    with PostgresTaskStore(dsn) as store:
        assert store.schema_version == SCHEMA_VERSION > first_number
        (old,) = store.list(TaskFilter())
        assert old.study_uid == "9.9" and old.status is TaskStatus.SCHEDULED
        assert str(old.task_type) == "EXPORT"
        assert [t.task_id for t in claim(store)] == [old.task_id]


def test_refuses_newer_schemas_foreign_tables_bad_names_and_absent_servers(dsn: str) -> None:
    PostgresTaskStore(dsn).close()
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO dcm_exporter.schema_version VALUES (999, now())")
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.study (pk bigint)")
    with pytest.raises(QueueError, match="newer"):
        PostgresTaskStore(dsn)
    with pytest.raises(QueueError, match="other tables"):
        PostgresTaskStore(dsn, schema="archive")
    with pytest.raises(QueueError, match="plain identifier"):
        PostgresTaskStore(dsn, schema='x"; DROP TABLE study; --')
    with pytest.raises(QueueError, match="cannot connect"):
        PostgresTaskStore("host=127.0.0.1 port=1 user=postgres dbname=none", connect_timeout=1)
    with pytest.raises(QueueError, match="connection string or a psycopg_pool"):
        PostgresTaskStore(42)  # type: ignore[arg-type]


def test_schemas_are_separate_queues(dsn: str) -> None:
    with PostgresTaskStore(dsn, schema="site_a") as a, PostgresTaskStore(dsn, schema="site_b") as b:
        a.schedule(new(), now=T0)
        assert a.count(TaskFilter()) == 1 and b.count(TaskFilter()) == 0
        assert claim(b) == []


def test_closed_store_and_bad_caller_connections_raise(dsn: str) -> None:
    s = PostgresTaskStore(dsn)
    with pytest.raises(QueueError, match=r"psycopg\.Connection"):
        s.schedule(new(), now=T0, connection=object())  # type: ignore[arg-type]
    s.close()
    with pytest.raises(QueueError, match="closed"):
        s.count(TaskFilter())


def test_a_pool_of_the_application_is_used_and_left_open(dsn: str) -> None:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(dsn, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        with PostgresTaskStore(pool) as store:
            task = store.schedule(new(), now=T0)
            assert store.get(task.task_id).status is TaskStatus.SCHEDULED
        with pool.connection() as conn:  # still open after the store closed
            assert conn.execute("SELECT count(*) FROM dcm_exporter.export_task").fetchone() == (1,)


# --- the caller's transaction ---------------------------------------------------------------------


def test_schedule_export_joins_the_callers_transaction(dsn: str, store: PostgresTaskStore) -> None:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.models import Configuration, Device, ExporterDescriptor, QueueDescriptor
    from dcm_exporter.sources import FileSystemSource

    config = Configuration(
        devices=[
            Device(
                device_name=DEVICE,
                exporters=[ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1")],
                queues=[QueueDescriptor(queue_name="Export1")],
            )
        ]
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        Exporter(config, FileSystemSource(folder), store=store) as exporter,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        conn.execute("CREATE TABLE instance (sop_instance_uid text PRIMARY KEY)")

        class Crash(Exception):
            pass

        with contextlib.suppress(Crash), conn.transaction(), store.use_connection(conn):
            conn.execute("INSERT INTO instance VALUES ('1.2.3.4.5')")
            exporter.schedule_export("NOOP", "1.2.3")
            raise Crash  # the archive fails after both writes: both roll back
        assert exporter.queue.count() == 0
        assert conn.execute("SELECT count(*) FROM instance").fetchone() == (0,)

        with conn.transaction(), store.use_connection(conn):
            conn.execute("INSERT INTO instance VALUES ('1.2.3.4.5')")
            task = exporter.schedule_export("NOOP", "1.2.3")
        assert exporter.queue.task(task.task_id).status is TaskStatus.SCHEDULED
        assert exporter.run_until_idle(timeout=30) == 1
        assert exporter.queue.task(task.task_id).status is TaskStatus.COMPLETED


def test_a_caller_connection_in_autocommit_mode_still_coalesces_atomically(dsn: str, store: PostgresTaskStore) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        a = store.schedule(new(series="1.1"), now=T0, connection=conn)
        b = store.schedule(new(series="1.2"), now=T0, connection=conn)
    assert a.task_id == b.task_id and store.get(a.task_id).series_uid == "*"


def test_concurrent_schedules_of_one_study_coalesce_into_one_task(dsn: str) -> None:
    stores = [PostgresTaskStore(dsn, min_connections=0, max_connections=2) for _ in range(4)]
    try:
        barrier = threading.Barrier(8)

        def schedule(i: int) -> None:
            barrier.wait()
            stores[i % 4].schedule(new(series=f"1.{i}"), now=T0)

        threads = [threading.Thread(target=schedule, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (task,) = stores[0].list(TaskFilter())
        assert task.series_uid == "*"
    finally:
        for s in stores:
            s.close()


# --- wake-ups and modes -----------------------------------------------------------------------------


def test_notify_wakes_listeners_of_the_device_in_other_processes(dsn: str, store: PostgresTaskStore) -> None:
    calls: list[str] = []
    connected = threading.Event()
    woken = threading.Event()

    def first() -> None:
        calls.append("mine")
        if connected.is_set():
            woken.set()
        connected.set()

    with PostgresTaskStore(dsn) as listening:
        listening.add_listener(first, device_name=DEVICE, queue_names=["Export1"])
        assert connected.wait(10), "the listener never connected"
        calls.clear()
        store.schedule(new(device="other-device"), now=T0)  # delivered first, filtered out
        store.schedule(new(), now=T0)
        assert woken.wait(10), "no wake-up for a task of this device"
        assert calls == ["mine"]


def test_listener_reconnects_after_pg_terminate_backend(dsn: str, store: PostgresTaskStore) -> None:
    count = [0]
    event = threading.Event()

    def woke() -> None:
        count[0] += 1
        event.set()

    with PostgresTaskStore(dsn, application_name="listening-store") as listening:
        listening.add_listener(woke)
        assert event.wait(10)
        event.clear()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'listening-store'"
            )
        assert event.wait(10), "no wake-up after the listener's connection was terminated"  # reconnect fires
        event.clear()
        store.schedule(new(), now=T0)
        assert event.wait(10), "no wake-up for a new task after the reconnect"
        assert listening.count(TaskFilter()) == 1  # its pooled connection was terminated too: replaced


def test_competing_consumers_take_tasks_of_every_device(dsn: str, store: PostgresTaskStore) -> None:
    mine = store.schedule(new("1"), now=T0)
    theirs = store.schedule(new("2", device="dcm4chee-arc-2", at=T0 - timedelta(seconds=1)), now=T0)
    with PostgresTaskStore(dsn, competing_consumers=True) as anyone:
        assert anyone.next_due_time(device_name=DEVICE, queue_names=["Export1"]) == T0 - timedelta(seconds=1)
        assert store.next_due_time(device_name=DEVICE, queue_names=["Export1"]) == T0
        got = claim(anyone, owner="host-b")
        assert [t.task_id for t in got] == [theirs.task_id, mine.task_id]
    assert claim(store) == []


def test_bound_mode_leaves_other_devices_tasks_alone(store: PostgresTaskStore) -> None:
    store.schedule(new("2", device="dcm4chee-arc-2"), now=T0)
    assert claim(store) == []
    assert len(claim(store, device="dcm4chee-arc-2")) == 1


# --- connections that drop ---------------------------------------------------------------------------


class _Dropped:
    """Wraps the pool so that one statement matching ``needle`` runs (and commits) on the server, and then
    the client sees the connection fail, as if the reply or the COMMIT acknowledgement were lost. With
    ``before=True`` the connection fails before the statement is sent instead."""

    def __init__(self, store: PostgresTaskStore, needle: str, *, before: bool = False) -> None:
        self.needle = needle
        self.before = before
        self.armed = True
        self.fired = False
        self.pool_connection = store.pool.connection

    def _drop(self) -> None:
        self.armed = False
        self.fired = True
        raise psycopg.OperationalError("server closed the connection unexpectedly (simulated)")

    @contextlib.contextmanager
    def connection(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self.pool_connection(*args, **kwargs) as conn:
            yield _Proxy(conn, self)


class _Proxy:
    def __init__(self, conn: Any, drop: _Dropped) -> None:
        self._conn = conn
        self._drop = drop
        self._fail_after_commit = False

    def execute(self, query: Any, params: Any = None) -> Any:
        hit = self._drop.armed and self._drop.needle in str(query)
        if hit and self._drop.before:
            self._drop._drop()
        cursor = self._conn.execute(query, params)
        if hit:
            if self._conn.info.transaction_status == 0:  # autocommit: the statement is committed already
                cursor.fetchall()
                self._drop._drop()
            self._fail_after_commit = True
        return cursor

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._conn.transaction() as tx:
            yield tx
        if self._fail_after_commit:  # committed, but the acknowledgement "never arrived"
            self._drop._drop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.mark.parametrize("before", [False, True], ids=["after-commit", "before-send"])
def test_dropped_connection_neither_loses_nor_duplicates(
    store: PostgresTaskStore, monkeypatch: pytest.MonkeyPatch, before: bool
) -> None:
    def drop(needle: str) -> _Dropped:
        dropped = _Dropped(store, needle, before=before)
        monkeypatch.setattr(store.pool, "connection", dropped.connection)
        return dropped

    d = drop("INSERT INTO")
    task = store.schedule(new(), now=T0)
    assert d.fired and store.count(TaskFilter()) == 1 and store.get(task.task_id) == task

    d = drop("WITH waiting AS")
    got = claim(store)
    assert d.fired and [t.task_id for t in got] == [task.task_id]
    assert claim(store, owner="other", now=T0 + timedelta(seconds=1)) == []

    d = drop("SET status = %(status)s")
    done = store.finish(
        task.task_id,
        owner=OWNER,
        transition=Transition(status=TaskStatus.COMPLETED, processing_end_time=T0, number_of_failures=0),
        now=T0,
    )
    assert d.fired and done is not None and done.status is TaskStatus.COMPLETED and done.lease_owner is None

    second = store.schedule(new("4.5.6"), now=T0)
    claim(store)
    d = drop("SET status = 'SCHEDULED', processing_start_time = NULL")
    assert store.release(second.task_id, owner=OWNER, now=T0) is True
    assert d.fired and store.get(second.task_id).status is TaskStatus.SCHEDULED


@pytest.mark.parametrize("before", [False, True], ids=["after-commit", "before-send"])
def test_dropped_connection_during_finish_and_claim(
    store: PostgresTaskStore, monkeypatch: pytest.MonkeyPatch, before: bool
) -> None:
    a, b, c = (store.schedule(new(str(i), at=T0 + timedelta(seconds=i)), now=T0) for i in range(3))
    now = T0 + timedelta(seconds=5)
    queue: dict[str, Any] = {
        "device_name": DEVICE,
        "queue_name": "Export1",
        "limit": 1,
        "lease_until": now + timedelta(minutes=1),
    }
    mine = Claim(**queue, owner=OWNER)
    (first,) = store.claim(mine, now=now)
    assert first.task_id == a.task_id
    completed = Transition(status=TaskStatus.COMPLETED, processing_end_time=now, number_of_failures=0)

    for finishing, expected_next in ((a, b), (b, c), (c, None)):
        dropped = _Dropped(store, "WITH finished AS", before=before)
        monkeypatch.setattr(store.pool, "connection", dropped.connection)
        finished, claimed = store.finish_and_claim(finishing.task_id, transition=completed, now=now, claim=mine)
        assert dropped.fired
        assert finished is not None and finished.status is TaskStatus.COMPLETED and finished.lease_owner is None
        assert [t.task_id for t in claimed] == ([] if expected_next is None else [expected_next.task_id])
        # claimed once, by this call: nothing else IN PROCESS, nothing left behind with a stale lease
        running = store.list(TaskFilter(status=TaskStatus.IN_PROCESS))
        assert [t.task_id for t in running] == [t.task_id for t in claimed]
        now += timedelta(seconds=1)
        completed = Transition(status=TaskStatus.COMPLETED, processing_end_time=now, number_of_failures=0)
    assert store.count(TaskFilter(status=TaskStatus.COMPLETED)) == 3

    # a task this owner does not hold, nothing to claim: the statement may simply run again
    other = store.schedule(new("9"), now=now)
    store.claim(Claim(**queue, owner="other"), now=now)
    dropped = _Dropped(store, "WITH finished AS", before=before)
    monkeypatch.setattr(store.pool, "connection", dropped.connection)
    assert store.finish_and_claim(other.task_id, transition=completed, now=now, claim=mine) == (None, [])
    assert dropped.fired and store.get(other.task_id).lease_owner == "other"


def test_operations_survive_pg_terminate_backend(dsn: str, store: PostgresTaskStore) -> None:
    task = store.schedule(new(), now=T0)
    with psycopg.connect(dsn, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'dcm_exporter'"
        ).fetchone()[0]
    assert killed >= 1
    assert [t.task_id for t in claim(store)] == [task.task_id]
    with pytest.raises(TaskNotFoundError):
        store.get(task.task_id + 1)


def test_async_processing_commits(dsn: str) -> None:
    with PostgresTaskStore(dsn, processing_commit="async") as store:
        task = store.schedule(new(), now=T0)
        assert [t.task_id for t in claim(store)] == [task.task_id]
        done = store.finish(
            task.task_id,
            owner=OWNER,
            transition=Transition(status=TaskStatus.COMPLETED, processing_end_time=T0, number_of_failures=0),
            now=T0,
        )
        assert done is not None and done.status is TaskStatus.COMPLETED
        with store.pool.connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
            with conn.transaction():  # what durable operations do first
                conn.execute("SET LOCAL synchronous_commit = on")
                assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    with pytest.raises(QueueError, match="processing_commit"):
        PostgresTaskStore(dsn, processing_commit="sometimes")
    from psycopg_pool import ConnectionPool

    with ConnectionPool(dsn, min_size=0, max_size=1) as pool, pytest.raises(QueueError, match="creates"):
        PostgresTaskStore(pool, processing_commit="async")
