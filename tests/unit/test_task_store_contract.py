"""The contract every TaskStore must keep: run against each store factory in STORE_FACTORIES.

A new store (e.g. ``PostgresTaskStore``) joins the suite by adding one entry to ``STORE_FACTORIES``
(or a ``pytest.param`` with its marker) — every test below then runs against it too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from dcm_exporter.errors import QueueError, TaskNotFoundError
from dcm_exporter.queue import (
    Claim,
    ExporterTarget,
    InMemoryTaskStore,
    NewTask,
    SqliteTaskStore,
    TaskFilter,
    TaskStatus,
    TaskStore,
    TaskType,
    Transition,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
DEVICE = "dcm4chee-arc"
OWNER = "runner-1"


def _memory(tmp_path: Path) -> TaskStore:
    return InMemoryTaskStore()


def _sqlite(tmp_path: Path) -> TaskStore:
    return SqliteTaskStore(tmp_path / "tasks.db")


def _postgres(tmp_path: Path, request: pytest.FixtureRequest) -> TaskStore:
    # a throwaway database per test (tests/conftest.py); skips without a server, fails when CI=true
    from dcm_exporter.queue.postgres import PostgresTaskStore

    return PostgresTaskStore(request.getfixturevalue("pg_database").dsn)


STORE_FACTORIES: list[object] = [
    pytest.param(_memory, id="memory"),
    pytest.param(_sqlite, id="sqlite"),
    pytest.param(_postgres, id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORE_FACTORIES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    factory: Callable[..., TaskStore] = request.param
    s = factory(tmp_path, request) if factory is _postgres else factory(tmp_path)
    yield s
    s.close()


def new(
    study: str = "1.2.3",
    series: str = "*",
    instance: str = "*",
    *,
    exporter: str = "STORESCP",
    queue: str = "Export1",
    at: datetime = T0,
    batch: str | None = None,
    device: str = DEVICE,
) -> NewTask:
    return NewTask(
        device_name=device,
        queue_name=queue,
        exporter_id=exporter,
        local_ae_title="DCM4CHEE",
        study_uid=study,
        series_uid=series,
        sop_instance_uid=instance,
        scheduled_time=at,
        batch_id=batch,
    )


def claim(store: TaskStore, *, now: datetime = T0, limit: int = 10, owner: str = OWNER, **kw: object) -> list:
    return store.claim(_claim(now=now, limit=limit, owner=owner, **kw), now=now)


def _claim(*, now: datetime, limit: int, owner: str, **kw: object) -> Claim:
    return Claim(
        device_name=kw.pop("device", DEVICE),  # type: ignore[arg-type]
        queue_name=kw.pop("queue", "Export1"),  # type: ignore[arg-type]
        limit=limit,
        owner=owner,
        lease_until=now + timedelta(seconds=60),
        **kw,  # type: ignore[arg-type]
    )


def done(
    status: TaskStatus, *, failures: int = 0, at: datetime = T0, retry_at: datetime | None = None
) -> Transition:
    return Transition(
        status=status,
        processing_end_time=at,
        number_of_failures=failures,
        scheduled_time=retry_at,
        outcome_message=f"outcome {status.value}",
        number_of_instances=3,
    )


# --- scheduling and coalescing ---------------------------------------------------------------------


def test_schedule_inserts_a_scheduled_task_with_every_field(store: TaskStore) -> None:
    task = store.schedule(
        NewTask(
            device_name=DEVICE,
            queue_name="Export1",
            exporter_id="STORESCP",
            local_ae_title="DCM4CHEE",
            study_uid="1.2.3",
            series_uid="1.2.3.4",
            sop_instance_uid="1.2.3.4.5",
            scheduled_time=T0 + timedelta(minutes=5),
            batch_id="b1",
            number_of_instances=1,
            modalities=("CT", "SR"),
            requester="alice",
        ),
        now=T0,
    )
    assert task.status is TaskStatus.SCHEDULED
    assert (task.created_time, task.updated_time) == (T0, T0)
    assert task.scheduled_time == T0 + timedelta(minutes=5)
    assert task.scheduled_time.tzinfo is not None
    assert (task.series_uid, task.sop_instance_uid) == ("1.2.3.4", "1.2.3.4.5")
    assert task.modalities == ("CT", "SR")
    assert (task.batch_id, task.requester, task.number_of_instances) == ("b1", "alice", 1)
    assert task.number_of_failures == 0 and task.processing_start_time is None
    assert store.get(task.task_id) == task


def test_ids_are_unique_and_get_unknown_raises(store: TaskStore) -> None:
    a = store.schedule(new("1"), now=T0)
    b = store.schedule(new("2"), now=T0)
    assert a.task_id != b.task_id
    with pytest.raises(TaskNotFoundError):
        store.get(999_999)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (("1.1", "1.1.1"), ("1.1", "1.1.2"), ("1.1", "*")),  # other instance of same series -> series
        (("1.1", "1.1.1"), ("1.2", "1.2.1"), ("*", "*")),  # other series -> study
        (("1.1", "*"), ("1.1", "1.1.7"), ("1.1", "*")),  # covered
        (("*", "*"), ("1.1", "1.1.7"), ("*", "*")),  # covered by the study
        (("1.1", "1.1.1"), ("*", "*"), ("*", "*")),  # study wins
        (("1.1", "1.1.1"), ("1.1", "1.1.1"), ("1.1", "1.1.1")),  # same
    ],
)
def test_coalescing_widens_scope(
    store: TaskStore, first: tuple[str, str], second: tuple[str, str], expected: tuple[str, str]
) -> None:
    a = store.schedule(new("9", *first), now=T0)
    b = store.schedule(new("9", *second), now=T0 + timedelta(seconds=1))
    assert b.task_id == a.task_id
    assert (b.series_uid, b.sop_instance_uid) == expected
    assert store.count(TaskFilter()) == 1


def test_coalescing_moves_time_only_later(store: TaskStore) -> None:
    a = store.schedule(new(at=T0 + timedelta(minutes=10)), now=T0)
    b = store.schedule(new(at=T0 + timedelta(minutes=5)), now=T0)
    assert b.task_id == a.task_id and b.scheduled_time == T0 + timedelta(minutes=10)
    c = store.schedule(new(at=T0 + timedelta(minutes=20)), now=T0 + timedelta(seconds=2))
    assert c.scheduled_time == T0 + timedelta(minutes=20)
    assert c.updated_time == T0 + timedelta(seconds=2) and c.created_time == T0


def test_coalescing_the_same_instance_later_keeps_its_scope(store: TaskStore) -> None:
    # only the time changes, so every store takes its write path: the waiting task's own scope is what it keeps
    a = store.schedule(new("9", "1.1", "1.1.1"), now=T0)
    later = T0 + timedelta(minutes=1)
    b = store.schedule(new("9", "1.1", "1.1.1", at=later), now=T0 + timedelta(seconds=1))
    assert b.task_id == a.task_id
    assert (b.series_uid, b.sop_instance_uid, b.scheduled_time) == ("1.1", "1.1.1", later)
    assert store.get(a.task_id) == b


def test_coalescing_that_changes_nothing_writes_nothing(store: TaskStore) -> None:
    later = T0 + timedelta(minutes=10)
    a = store.schedule(new("1.2.3", "1.1", at=later), now=T0)
    for n, (series, instance, at) in enumerate(
        [("1.1", "*", later), ("1.1", "*", T0), ("1.1", "*", later - timedelta(microseconds=1))], start=1
    ):
        same = store.schedule(new("1.2.3", series, instance, at=at), now=T0 + timedelta(seconds=n))
        assert same == a == store.get(a.task_id)  # updated_time stays T0: nothing was written
    widened = store.schedule(new("1.2.3", "1.2", at=later), now=T0 + timedelta(seconds=5))
    assert widened.task_id == a.task_id and widened.series_uid == "*"
    assert widened.updated_time == T0 + timedelta(seconds=5)
    covered = store.schedule(new("1.2.3", "1.3", "1.3.1", at=later), now=T0 + timedelta(seconds=6))
    assert covered == widened == store.get(a.task_id)
    moved = store.schedule(new("1.2.3", at=later + timedelta(seconds=1)), now=T0 + timedelta(seconds=7))
    assert moved.scheduled_time == later + timedelta(seconds=1) and moved.updated_time == T0 + timedelta(seconds=7)
    assert store.count(TaskFilter()) == 1


def test_coalescing_only_with_waiting_tasks_of_same_exporter_study_batch(store: TaskStore) -> None:
    a = store.schedule(new(), now=T0)
    assert store.schedule(new(exporter="OTHER"), now=T0).task_id != a.task_id
    assert store.schedule(new("other.study"), now=T0).task_id != a.task_id
    assert store.schedule(new(batch="b"), now=T0).task_id != a.task_id
    assert store.schedule(new(device="other-device"), now=T0).task_id != a.task_id
    assert store.schedule(new(), now=T0, coalesce=False).task_id != a.task_id
    # a started task is not reused, nor is a retry
    store.delete(TaskFilter(exporter_id="STORESCP", study_uid="1.2.3", batch_id=None))
    running = store.schedule(new(), now=T0)
    claim(store)
    assert store.schedule(new(), now=T0).task_id != running.task_id


def test_coalescing_with_two_waiting_tasks_widens_the_older_one_on_every_path(store: TaskStore) -> None:
    # two waiting tasks of one study and exporter (scheduled without coalescing): whatever the store does
    # to find a task to reuse (a read that changes nothing, or the write that widens), it picks the older
    older = store.schedule(new("9", "1.1"), now=T0, coalesce=False)
    younger = store.schedule(new("9", "*"), now=T0, coalesce=False)
    assert older.task_id < younger.task_id
    # covered by the younger (whole study) but not by the older (series 1.1): the older widens
    widened = store.schedule(new("9", "1.2"), now=T0 + timedelta(seconds=1))
    assert widened.task_id == older.task_id and widened.series_uid == "*"
    assert store.get(younger.task_id) == younger
    # covered by both and later than both: only the older task's time moves
    later = T0 + timedelta(minutes=5)
    moved = store.schedule(new("9", "1.3", "1.3.1", at=later), now=T0 + timedelta(seconds=2))
    assert moved.task_id == older.task_id and moved.scheduled_time == later
    assert store.get(younger.task_id) == younger
    # nothing changes for the older one: it is returned as it is, the younger stays untouched
    same = store.schedule(new("9", "1.4"), now=T0 + timedelta(seconds=3))
    assert same == store.get(older.task_id) == moved
    assert store.get(younger.task_id) == younger
    assert store.count(TaskFilter()) == 2


def test_coalescing_with_two_waiting_tasks_when_only_the_younger_covers(store: TaskStore) -> None:
    older = store.schedule(new("9", "*"), now=T0, coalesce=False)
    younger = store.schedule(new("9", "1.1", "1.1.1"), now=T0, coalesce=False)
    # the older covers it already: nothing is written, the younger is not widened
    same = store.schedule(new("9", "1.1", "1.1.2"), now=T0 + timedelta(seconds=1))
    assert same == older == store.get(older.task_id)
    assert store.get(younger.task_id) == younger


def test_schedule_many_stores_each_as_schedule_would_one_after_the_other(store: TaskStore) -> None:
    waiting = store.schedule(new("1"), now=T0)
    later = T0 + timedelta(minutes=5)
    followup = NewTask(
        device_name=DEVICE, queue_name="StgCmtSCU", exporter_id="STORESCP", study_uid="2", scheduled_time=T0,
        task_type=TaskType.STGCMT, destination_aet="STGCMTSCP",
    )
    tasks = store.schedule_many(
        [
            new("2", "2.1"),
            attrs.evolve(new("3"), number_of_instances=4, modalities=("CT", "SR"), batch_id="b"),
            new("1", at=later),  # coalesces into the task waiting before the call: its time moves later
            new("2", "2.2"),  # coalesces into the first of this call: it widens to the whole study
            followup,  # a follow-up never coalesces
        ],
        now=T0 + timedelta(seconds=1),
    )
    assert [t.study_uid for t in tasks] == ["2", "3", "1", "2", "2"]
    assert tasks[2].task_id == waiting.task_id and tasks[2].scheduled_time == later
    assert tasks[3].task_id == tasks[0].task_id and (tasks[0].series_uid, tasks[3].series_uid) == ("2.1", "*")
    assert tasks[4].task_type is TaskType.STGCMT and tasks[4].task_id not in {t.task_id for t in tasks[:4]}
    # each returned task is the row as stored after its own step (the first of study 2 widened after it)
    for task in (tasks[1], tasks[2], tasks[3], tasks[4]):
        assert store.get(task.task_id) == task
    assert (tasks[1].number_of_instances, tasks[1].modalities, tasks[1].batch_id) == (4, ("CT", "SR"), "b")
    assert tasks[1].created_time == tasks[1].updated_time == T0 + timedelta(seconds=1)
    assert store.count(TaskFilter()) == 4
    assert store.schedule_many([], now=T0) == []
    again = store.schedule_many([new("9"), new("9")], now=T0, coalesce=False)
    assert again[0].task_id != again[1].task_id


def test_coalescing_skips_scheduled_for_retry(store: TaskStore) -> None:
    a = store.schedule(new(), now=T0)
    claim(store)
    store.finish(
        a.task_id,
        owner=OWNER,
        transition=done(TaskStatus.SCHEDULED_FOR_RETRY, failures=1, retry_at=T0 + timedelta(seconds=30)),
        now=T0,
    )
    assert store.get(a.task_id).status is TaskStatus.SCHEDULED_FOR_RETRY
    assert store.schedule(new(), now=T0).task_id != a.task_id


# --- claiming, leases, finishing ---------------------------------------------------------------------


def test_claim_takes_due_tasks_oldest_scheduled_first(store: TaskStore) -> None:
    late = store.schedule(new("1", at=T0 - timedelta(seconds=1)), now=T0)
    early = store.schedule(new("2", at=T0 - timedelta(seconds=5)), now=T0)
    store.schedule(new("3", at=T0 + timedelta(seconds=1)), now=T0)  # not due
    store.schedule(new("4", queue="Other"), now=T0)  # other queue
    store.schedule(new("5", device="other"), now=T0)  # other device
    claimed = claim(store, limit=10)
    assert [t.task_id for t in claimed] == [early.task_id, late.task_id]
    for t in claimed:
        assert t.status is TaskStatus.IN_PROCESS
        assert t.processing_start_time == T0 and t.lease_owner == OWNER
        assert t.lease_expires == T0 + timedelta(seconds=60)
    assert claim(store) == []


def test_claim_limit_and_excluded_exporters(store: TaskStore) -> None:
    for i in range(5):
        store.schedule(new(str(i)), now=T0)
    store.schedule(new("x", exporter="CLOSED"), now=T0)
    assert len(claim(store, limit=2)) == 2
    rest = claim(store, limit=10, exclude_exporters=["CLOSED"])
    assert len(rest) == 3 and all(t.exporter_id == "STORESCP" for t in rest)
    assert [t.exporter_id for t in claim(store)] == ["CLOSED"]
    assert claim(store, limit=0) == []


def test_concurrent_claimers_never_share_a_task(store: TaskStore) -> None:
    for i in range(200):
        store.schedule(new(str(i)), now=T0)
    got: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while True:
            tasks = claim(store, limit=3, owner=f"w{n}")
            if not tasks:
                return
            with lock:
                got.extend(t.task_id for t in tasks)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 200 and len(set(got)) == 200


def test_expired_lease_makes_task_claimable_again(store: TaskStore) -> None:
    task = store.schedule(new(), now=T0)
    claim(store, owner="dead")
    assert claim(store, now=T0 + timedelta(seconds=59), owner="alive") == []
    again = claim(store, now=T0 + timedelta(seconds=60), owner="alive")
    assert [t.task_id for t in again] == [task.task_id] and again[0].lease_owner == "alive"
    # the dead owner can no longer finish it
    assert store.finish(task.task_id, owner="dead", transition=done(TaskStatus.COMPLETED), now=T0) is None
    assert store.get(task.task_id).status is TaskStatus.IN_PROCESS


def test_heartbeat_extends_only_held_leases(store: TaskStore) -> None:
    a = store.schedule(new("1"), now=T0)
    b = store.schedule(new("2"), now=T0)
    claim(store)
    later = T0 + timedelta(seconds=50)
    held = store.heartbeat(
        [a.task_id, b.task_id, 12345], owner=OWNER, lease_until=later + timedelta(seconds=60), now=later
    )
    assert held == {a.task_id, b.task_id}
    assert claim(store, now=T0 + timedelta(seconds=61), owner="other") == []
    assert store.heartbeat([a.task_id], owner="other", lease_until=later, now=later) == set()
    assert store.heartbeat([], owner=OWNER, lease_until=later, now=later) == set()


@pytest.mark.parametrize(
    "status", [TaskStatus.COMPLETED, TaskStatus.WARNING, TaskStatus.FAILED, TaskStatus.CANCELED]
)
def test_finish_to_final_status(store: TaskStore, status: TaskStatus) -> None:
    task = store.schedule(new(), now=T0)
    claim(store)
    end = T0 + timedelta(seconds=3)
    stored = store.finish(task.task_id, owner=OWNER, transition=done(status, failures=1, at=end), now=end)
    assert stored is not None and stored.status is status
    assert stored.processing_end_time == end and stored.updated_time == end
    assert stored.number_of_failures == 1 and stored.number_of_instances == 3
    assert stored.outcome_message == f"outcome {status.value}"
    assert stored.lease_owner is None and stored.lease_expires is None
    assert store.get(task.task_id) == stored
    assert claim(store, now=end + timedelta(hours=1)) == []


def test_finish_to_retry_sets_time_and_is_claimed_when_due(store: TaskStore) -> None:
    task = store.schedule(new(), now=T0)
    claim(store)
    retry_at = T0 + timedelta(seconds=30)
    stored = store.finish(
        task.task_id,
        owner=OWNER,
        transition=Transition(
            status=TaskStatus.SCHEDULED_FOR_RETRY,
            processing_end_time=T0,
            number_of_failures=1,
            scheduled_time=retry_at,
            error_message="Connection refused",
        ),
        now=T0,
    )
    assert stored is not None and stored.status is TaskStatus.SCHEDULED_FOR_RETRY
    assert stored.scheduled_time == retry_at and stored.error_message == "Connection refused"
    assert claim(store, now=retry_at - timedelta(seconds=1)) == []
    again = claim(store, now=retry_at)
    assert [t.task_id for t in again] == [task.task_id]
    assert again[0].processing_end_time is None and again[0].number_of_failures == 1


def test_finish_of_cancelled_running_task_keeps_canceled(store: TaskStore) -> None:
    task = store.schedule(new(), now=T0)
    claim(store)
    cancelled, running = store.cancel(TaskFilter(task_ids=[task.task_id]), now=T0)
    assert cancelled == [task.task_id] and running == [task.task_id]
    assert store.get(task.task_id).status is TaskStatus.CANCELED
    stored = store.finish(task.task_id, owner=OWNER, transition=done(TaskStatus.FAILED, failures=1), now=T0)
    assert stored is not None and stored.status is TaskStatus.CANCELED
    assert stored.outcome_message == "outcome FAILED" and stored.number_of_failures == 0
    assert stored.lease_owner is None


def test_release_puts_task_back(store: TaskStore) -> None:
    task = store.schedule(new(), now=T0)
    claim(store)
    assert not store.release(task.task_id, owner="someone-else", now=T0)
    assert store.release(task.task_id, owner=OWNER, now=T0)
    back = store.get(task.task_id)
    assert back.status is TaskStatus.SCHEDULED and back.lease_owner is None
    assert not store.release(task.task_id, owner=OWNER, now=T0)
    assert [t.task_id for t in claim(store)] == [task.task_id]


def finish_and_claim(
    store: TaskStore,
    task_id: int,
    transition: Transition,
    *,
    now: datetime = T0,
    limit: int = 1,
    owner: str = OWNER,
    **kw: object,
) -> tuple[object, list]:
    result: tuple[object, list] = store.finish_and_claim(
        task_id, transition=transition, now=now, claim=_claim(now=now, limit=limit, owner=owner, **kw)
    )
    return result


def test_finish_and_claim_finishes_then_claims_the_next_due_tasks(store: TaskStore) -> None:
    first = store.schedule(new("1", at=T0 - timedelta(seconds=9)), now=T0)
    late = store.schedule(new("2", at=T0 - timedelta(seconds=1)), now=T0)
    early = store.schedule(new("3", at=T0 - timedelta(seconds=5)), now=T0)
    store.schedule(new("4", at=T0 + timedelta(seconds=5)), now=T0)  # not due yet
    store.schedule(new("5", queue="Other"), now=T0)
    store.schedule(new("6", device="other"), now=T0)
    store.schedule(new("7", exporter="CLOSED"), now=T0)
    assert [t.task_id for t in claim(store, limit=1)] == [first.task_id]
    end = T0 + timedelta(seconds=2)
    finished, claimed = finish_and_claim(
        store, first.task_id, done(TaskStatus.COMPLETED, at=end), now=end, limit=5, exclude_exporters=["CLOSED"]
    )
    assert finished is not None and finished == store.get(first.task_id)
    assert finished.status is TaskStatus.COMPLETED and finished.updated_time == end
    assert finished.lease_owner is None and finished.outcome_message == "outcome COMPLETED"
    assert [t.task_id for t in claimed] == [early.task_id, late.task_id]
    for t in claimed:
        assert t == store.get(t.task_id)
        assert t.status is TaskStatus.IN_PROCESS and t.processing_start_time == end
        assert t.lease_owner == OWNER and t.lease_expires == end + timedelta(seconds=60)
    # nothing else was due for this device, queue and open exporters
    assert claim(store, now=end, exclude_exporters=["CLOSED"]) == []


def test_finish_and_claim_with_limit_zero_or_nothing_due_only_finishes(store: TaskStore) -> None:
    a = store.schedule(new("1"), now=T0)
    b = store.schedule(new("2"), now=T0)
    claim(store, limit=1)
    finished, claimed = finish_and_claim(store, a.task_id, done(TaskStatus.WARNING), limit=0)
    assert finished is not None and finished.status is TaskStatus.WARNING and claimed == []
    assert store.get(b.task_id).status is TaskStatus.SCHEDULED
    (got,) = claim(store)
    finished, claimed = finish_and_claim(store, got.task_id, done(TaskStatus.FAILED, failures=1), limit=3)
    assert finished is not None and finished.status is TaskStatus.FAILED and claimed == []


def test_finish_and_claim_of_a_task_not_held_still_claims(store: TaskStore) -> None:
    a = store.schedule(new("1"), now=T0)
    b = store.schedule(new("2"), now=T0)
    claim(store, limit=1, owner="other")
    finished, claimed = finish_and_claim(store, a.task_id, done(TaskStatus.COMPLETED))
    assert finished is None and [t.task_id for t in claimed] == [b.task_id]
    assert store.get(a.task_id).status is TaskStatus.IN_PROCESS and store.get(a.task_id).lease_owner == "other"
    finished, claimed = finish_and_claim(store, 98765, done(TaskStatus.COMPLETED))
    assert finished is None and claimed == []


def test_finish_many_and_claim_records_each_end_as_finish_does(store: TaskStore) -> None:
    tasks = [store.schedule(new(str(n)), now=T0) for n in range(6)]
    claimed = claim(store, limit=5)
    assert [t.task_id for t in claimed] == [t.task_id for t in tasks[:5]]
    a, b, c, d, e = (t.task_id for t in claimed)
    store.cancel(TaskFilter(task_ids=[c]), now=T0)  # cancelled while it ran
    store.delete(TaskFilter(task_ids=[d]))  # deleted while it ran
    end = T0 + timedelta(seconds=3)
    started = T0 + timedelta(seconds=1)
    ends = [
        (a, attrs.evolve(done(TaskStatus.COMPLETED, at=end), processing_start_time=started, modalities=("CT", "MR"))),
        (b, done(TaskStatus.SCHEDULED_FOR_RETRY, failures=1, at=end, retry_at=end + timedelta(minutes=1))),
        (c, done(TaskStatus.COMPLETED, at=end)),
        (d, done(TaskStatus.COMPLETED, at=end)),
        (e, attrs.evolve(done(TaskStatus.FAILED, failures=1, at=end), error_message="refused")),
    ]
    finished, next_claimed = store.finish_many_and_claim(ends, now=end, claim=_claim(now=end, limit=5, owner=OWNER))
    assert len(finished) == 5 and finished[3] is None
    for task in (finished[0], finished[1], finished[2], finished[4]):
        assert task is not None and task == store.get(task.task_id)
        assert task.lease_owner is None and task.updated_time == end and task.processing_end_time == end
    assert finished[0] is not None and finished[0].status is TaskStatus.COMPLETED
    assert finished[0].processing_start_time == started and finished[0].modalities == ("CT", "MR")
    assert finished[1] is not None and finished[1].status is TaskStatus.SCHEDULED_FOR_RETRY
    assert finished[2] is not None and finished[2].status is TaskStatus.CANCELED
    assert finished[4] is not None and finished[4].error_message == "refused"
    assert finished[4].processing_start_time == T0  # no start given: the claim's
    assert [t.task_id for t in next_claimed] == [tasks[5].task_id]
    assert store.finish_many_and_claim([], now=end, claim=_claim(now=end, limit=5, owner=OWNER)) == ([], [])


def test_finish_and_claim_keeps_a_task_cancelled_while_it_ran(store: TaskStore) -> None:
    a = store.schedule(new("1"), now=T0)
    b = store.schedule(new("2"), now=T0)
    claim(store, limit=1)
    store.cancel(TaskFilter(task_ids=[a.task_id]), now=T0)
    finished, claimed = finish_and_claim(store, a.task_id, done(TaskStatus.FAILED, failures=1))
    assert finished is not None and finished.status is TaskStatus.CANCELED
    assert finished.number_of_failures == 0 and finished.outcome_message == "outcome FAILED"
    assert finished.lease_owner is None and finished == store.get(a.task_id)
    assert [t.task_id for t in claimed] == [b.task_id]


@pytest.mark.parametrize("delay", [0, 30], ids=["due-at-once", "later"])
def test_finish_and_claim_of_a_retry(store: TaskStore, delay: int) -> None:
    a = store.schedule(new("1", at=T0 - timedelta(seconds=1)), now=T0)
    b = store.schedule(new("2"), now=T0)
    claim(store, limit=1)
    retry_at = T0 + timedelta(seconds=delay)
    finished, claimed = finish_and_claim(
        store, a.task_id, done(TaskStatus.SCHEDULED_FOR_RETRY, failures=1, retry_at=retry_at), limit=2
    )
    assert finished is not None and finished.status is TaskStatus.SCHEDULED_FOR_RETRY
    assert finished.scheduled_time == retry_at and finished.number_of_failures == 1
    if delay:
        assert [t.task_id for t in claimed] == [b.task_id]
    else:  # due at once: claimed again with the others, in scheduled order (same time: lower id first)
        assert [t.task_id for t in claimed] == [a.task_id, b.task_id]
        assert store.get(a.task_id).status is TaskStatus.IN_PROCESS


def test_finish_and_claim_takes_over_expired_leases_but_not_the_finished_task(store: TaskStore) -> None:
    mine = store.schedule(new("1", at=T0 - timedelta(seconds=2)), now=T0)
    dead = store.schedule(new("2", at=T0 - timedelta(seconds=1)), now=T0)
    claim(store, limit=1)
    claim(store, limit=1, owner="dead")
    later = T0 + timedelta(seconds=61)  # both leases expired; nobody took mine over
    finished, claimed = finish_and_claim(store, mine.task_id, done(TaskStatus.COMPLETED, at=later), now=later)
    assert finished is not None and finished.status is TaskStatus.COMPLETED
    assert [t.task_id for t in claimed] == [dead.task_id] and claimed[0].lease_owner == OWNER
    assert store.get(mine.task_id).status is TaskStatus.COMPLETED


def test_concurrent_finish_and_claim_never_share_a_task(store: TaskStore) -> None:
    for i in range(120):
        store.schedule(new(str(i)), now=T0)
    got: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        owner = f"w{n}"
        tasks = claim(store, limit=1, owner=owner)
        while tasks:
            with lock:
                got.extend(t.task_id for t in tasks)
            _, tasks = finish_and_claim(store, tasks[0].task_id, done(TaskStatus.COMPLETED), owner=owner)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 120 and len(set(got)) == 120
    assert store.count(TaskFilter(status=TaskStatus.COMPLETED)) == 120


def test_reset_in_process_of_one_device(store: TaskStore) -> None:
    a = store.schedule(new("1"), now=T0)
    b = store.schedule(new("2", device="other"), now=T0)
    claim(store)
    claim(store, device="other")
    assert store.reset_in_process(device_name=DEVICE, now=T0) == 1
    assert store.get(a.task_id).status is TaskStatus.SCHEDULED
    assert store.get(b.task_id).status is TaskStatus.IN_PROCESS


def test_next_due_time(store: TaskStore) -> None:
    assert store.next_due_time(device_name=DEVICE, queue_names=["Export1"]) is None
    store.schedule(new("1", at=T0 + timedelta(minutes=3)), now=T0)
    store.schedule(new("2", at=T0 + timedelta(minutes=1), queue="Other"), now=T0)
    assert store.next_due_time(device_name=DEVICE, queue_names=["Export1"]) == T0 + timedelta(minutes=3)
    assert store.next_due_time(device_name=DEVICE, queue_names=["Export1", "Other"]) == T0 + timedelta(
        minutes=1
    )
    assert store.next_due_time(device_name="x", queue_names=["Export1"]) is None


# --- operations --------------------------------------------------------------------------------------


def _populate(store: TaskStore) -> dict[str, int]:
    ids = {}
    ids["waiting"] = store.schedule(new("1", batch="b1"), now=T0).task_id
    ids["running"] = store.schedule(new("2", batch="b1", at=T0 - timedelta(seconds=1)), now=T0).task_id
    claim(store, limit=1)
    ids["done"] = store.schedule(new("3", batch="b2", exporter="OTHER", queue="Q2"), now=T0).task_id
    claim(store, queue="Q2")
    store.finish(
        ids["done"],
        owner=OWNER,
        transition=done(TaskStatus.COMPLETED, at=T0 + timedelta(hours=1)),
        now=T0 + timedelta(hours=1),
    )
    return ids


def test_list_and_count_with_filters(store: TaskStore) -> None:
    ids = _populate(store)
    assert store.count(TaskFilter()) == 3
    assert [t.task_id for t in store.list(TaskFilter(status="IN PROCESS"))] == [ids["running"]]
    assert store.count(TaskFilter(status=[TaskStatus.SCHEDULED, TaskStatus.COMPLETED])) == 2
    assert store.count(TaskFilter(exporter_id="OTHER")) == 1
    assert store.count(TaskFilter(batch_id="b1")) == 2
    assert store.count(TaskFilter(study_uid="2")) == 1
    assert store.count(TaskFilter(device_name="nope")) == 0
    assert store.count(TaskFilter(queue_name="Q2")) == 1
    assert store.count(TaskFilter(updated_after=T0 + timedelta(minutes=1))) == 1
    assert store.count(TaskFilter(updated_before=T0 + timedelta(minutes=1))) == 2
    assert store.count(TaskFilter(created_after=T0, created_before=T0 + timedelta(seconds=1))) == 3
    assert store.count(TaskFilter(created_before=T0)) == 0
    ordered = [t.task_id for t in store.list(TaskFilter(order_by="-task_id"))]
    assert ordered == sorted(ids.values(), reverse=True)
    assert [t.task_id for t in store.list(TaskFilter(order_by="task_id", offset=1, limit=1))] == [
        ids["running"]
    ]
    assert store.count(TaskFilter(limit=1)) == 3
    by_update = [t.task_id for t in store.list(TaskFilter(order_by="-updated_time"))]
    assert by_update[0] == ids["done"]


def test_list_orders_none_like_sql(store: TaskStore) -> None:
    ids = _populate(store)
    asc = [t.task_id for t in store.list(TaskFilter(order_by="processing_end_time"))]
    assert asc[-1] == ids["done"]
    desc = [t.task_id for t in store.list(TaskFilter(order_by="-processing_end_time"))]
    assert desc[0] == ids["done"]


def test_cancel_many_leaves_final_tasks_alone(store: TaskStore) -> None:
    ids = _populate(store)
    cancelled, running = store.cancel(TaskFilter(), now=T0 + timedelta(hours=2))
    assert cancelled == sorted([ids["waiting"], ids["running"]]) and running == [ids["running"]]
    assert store.get(ids["done"]).status is TaskStatus.COMPLETED
    assert store.get(ids["waiting"]).status is TaskStatus.CANCELED
    assert store.get(ids["waiting"]).updated_time == T0 + timedelta(hours=2)
    assert store.cancel(TaskFilter(), now=T0) == ([], [])


def test_reschedule_resets_and_skips_running(store: TaskStore) -> None:
    ids = _populate(store)
    when = T0 + timedelta(hours=3)
    got = store.reschedule(TaskFilter(), now=T0 + timedelta(hours=2), scheduled_time=when)
    assert got == sorted([ids["waiting"], ids["done"]])
    again = store.get(ids["done"])
    assert again.status is TaskStatus.SCHEDULED and again.scheduled_time == when
    assert again.number_of_failures == 0 and again.outcome_message is None
    assert again.processing_start_time is None and again.processing_end_time is None
    assert again.exporter_id == "OTHER" and again.queue_name == "Q2"
    assert store.get(ids["running"]).status is TaskStatus.IN_PROCESS


def test_reschedule_to_another_exporter(store: TaskStore) -> None:
    ids = _populate(store)
    target = ExporterTarget(exporter_id="NEW", queue_name="Q9", local_ae_title="ARCHIVE2")
    got = store.reschedule(TaskFilter(task_ids=[ids["done"]]), now=T0, scheduled_time=T0, target=target)
    assert got == [ids["done"]]
    moved = store.get(ids["done"])
    assert (moved.exporter_id, moved.queue_name, moved.local_ae_title) == ("NEW", "Q9", "ARCHIVE2")
    assert [t.task_id for t in claim(store, queue="Q9")] == [ids["done"]]


def test_coalescing_and_study_lookups_follow_moves_and_deletes(store: TaskStore) -> None:
    a = store.schedule(new("7.7"), now=T0)
    b = store.schedule(new("7.7", exporter="OTHER"), now=T0)
    by_study = TaskFilter(device_name=DEVICE, exporter_id="STORESCP", study_uid="7.7")
    assert [t.task_id for t in store.list(by_study)] == [a.task_id]
    target = ExporterTarget(exporter_id="OTHER", queue_name="Export1", local_ae_title="DCM4CHEE")
    store.reschedule(TaskFilter(task_ids=[a.task_id]), now=T0, scheduled_time=T0, target=target)
    assert store.list(by_study) == [] and store.count(by_study) == 0
    moved = TaskFilter(device_name=DEVICE, exporter_id="OTHER", study_uid="7.7")
    assert [t.task_id for t in store.list(moved)] == [a.task_id, b.task_id]
    assert store.schedule(new("7.7", exporter="OTHER"), now=T0).task_id == a.task_id  # the lower id
    fresh = store.schedule(new("7.7"), now=T0)
    assert fresh.task_id not in (a.task_id, b.task_id)
    assert store.delete(TaskFilter(task_ids=[a.task_id, 424242])) == [a.task_id]
    assert [t.task_id for t in store.list(moved)] == [b.task_id]
    assert store.schedule(new("7.7", exporter="OTHER"), now=T0).task_id == b.task_id
    assert store.count(TaskFilter(task_ids=[b.task_id, fresh.task_id, b.task_id])) == 2


def test_delete(store: TaskStore) -> None:
    ids = _populate(store)
    assert store.delete(TaskFilter(batch_id="b1")) == sorted([ids["waiting"], ids["running"]])
    assert store.count(TaskFilter()) == 1
    assert store.delete(TaskFilter(batch_id="b1")) == []


def test_purge_by_status_and_age(store: TaskStore) -> None:
    ids = _populate(store)
    kw = {"device_name": DEVICE, "queue_name": "Q2", "status": TaskStatus.COMPLETED}
    assert store.purge(updated_before=T0 + timedelta(hours=1), **kw) == 0  # type: ignore[arg-type]
    assert store.purge(updated_before=T0 + timedelta(hours=1, seconds=1), **kw) == 1  # type: ignore[arg-type]
    with pytest.raises(TaskNotFoundError):
        store.get(ids["done"])
    assert store.count(TaskFilter()) == 2


def test_batch_summaries(store: TaskStore) -> None:
    _populate(store)
    store.schedule(new("4"), now=T0)  # no batch: left out
    summaries = store.batch_summaries(TaskFilter())
    assert [s.batch_id for s in summaries] == ["b1", "b2"]
    b1, b2 = summaries
    assert dict(b1.counts) == {TaskStatus.SCHEDULED: 1, TaskStatus.IN_PROCESS: 1}
    assert b1.total == 2 and b1.count("IN PROCESS") == 1 and b1.count(TaskStatus.FAILED) == 0
    assert b1.device_names == (DEVICE,) and b1.exporter_ids == ("STORESCP",)
    assert b1.scheduled_time_range == (T0 - timedelta(seconds=1), T0)
    assert b1.processing_end_time_range is None
    assert dict(b2.counts) == {TaskStatus.COMPLETED: 1}
    assert b2.processing_end_time_range == (T0 + timedelta(hours=1), T0 + timedelta(hours=1))
    assert [s.batch_id for s in store.batch_summaries(TaskFilter(exporter_id="OTHER"))] == ["b2"]


def test_naive_datetimes_are_refused(store: TaskStore) -> None:
    with pytest.raises(ValueError, match="timezone"):
        new(at=datetime(2024, 1, 1))


# --- SQLite specifics ----------------------------------------------------------------------------------


def test_sqlite_is_durable_across_instances_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with SqliteTaskStore(path) as first:
        task = first.schedule(new(), now=T0)
        assert first.schema_version >= 1
    second = SqliteTaskStore(path)
    try:
        assert second.get(task.task_id) == task
        import sqlite3

        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        second.close()


def test_sqlite_refuses_foreign_and_newer_databases(tmp_path: Path) -> None:
    import sqlite3

    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE patients (x)")
    conn.commit()
    conn.close()
    with pytest.raises(QueueError, match="not a dcm_exporter task database"):
        SqliteTaskStore(foreign)
    newer = tmp_path / "newer.db"
    SqliteTaskStore(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    with pytest.raises(QueueError, match="newer"):
        SqliteTaskStore(newer)
    with pytest.raises(QueueError, match="InMemoryTaskStore"):
        SqliteTaskStore(":memory:")
    with pytest.raises(QueueError, match="does not exist"):
        SqliteTaskStore(tmp_path / "missing" / "tasks.db")


def test_sqlite_closed_store_raises(tmp_path: Path) -> None:
    s = SqliteTaskStore(tmp_path / "t.db")
    s.close()
    with pytest.raises(QueueError, match="closed"):
        s.count(TaskFilter())


# --- follow-up tasks (storage commitment, IAN): task_type, destination_aet, result_json --------------


def followup(task_type: TaskType, aet: str, *, queue: str = "StgCmtSCU", batch: str | None = None) -> NewTask:
    return NewTask(
        device_name=DEVICE,
        queue_name=queue,
        exporter_id="STORESCP",
        local_ae_title="DCM4CHEE",
        study_uid="1.2.3",
        scheduled_time=T0,
        batch_id=batch,
        task_type=task_type,
        destination_aet=aet,
    )


def test_task_type_and_destination_are_stored(store: TaskStore) -> None:
    export = store.schedule(new(), now=T0)
    assert (export.task_type, export.destination_aet, export.result_json) == (TaskType.EXPORT, None, None)
    stgcmt = store.schedule(followup(TaskType.STGCMT, "ORTHANC"), now=T0, coalesce=False)
    assert (stgcmt.task_type, stgcmt.destination_aet) == (TaskType.STGCMT, "ORTHANC")
    assert store.get(stgcmt.task_id) == stgcmt
    assert [t.task_id for t in store.list(TaskFilter(task_type=TaskType.STGCMT))] == [stgcmt.task_id]
    assert store.count(TaskFilter(task_type="EXPORT")) == 1


def test_follow_up_tasks_never_coalesce_with_exports(store: TaskStore) -> None:
    stgcmt = store.schedule(followup(TaskType.STGCMT, "ORTHANC", queue="Export1"), now=T0)
    ian = store.schedule(followup(TaskType.IAN, "RIS", queue="Export1"), now=T0)
    ian2 = store.schedule(followup(TaskType.IAN, "RIS", queue="Export1"), now=T0)
    export = store.schedule(new(), now=T0)  # same device, exporter, study and (no) batch
    assert len({stgcmt.task_id, ian.task_id, ian2.task_id, export.task_id}) == 4
    assert store.get(stgcmt.task_id).task_type is TaskType.STGCMT
    assert store.get(export.task_id).task_type is TaskType.EXPORT


def test_finish_records_and_clears_the_result(store: TaskStore) -> None:
    task = store.schedule(followup(TaskType.STGCMT, "ORTHANC"), now=T0, coalesce=False)
    claim(store, queue="StgCmtSCU")
    result = '{"type":"StorageCommitment","committed":[],"failed":[]}'
    stored = store.finish(
        task.task_id,
        owner=OWNER,
        transition=Transition(
            status=TaskStatus.SCHEDULED_FOR_RETRY,
            processing_end_time=T0,
            number_of_failures=1,
            scheduled_time=T0,
            result_json=result,
        ),
        now=T0,
    )
    assert stored is not None and stored.result_json == result and stored.result == json.loads(result)
    assert store.get(task.task_id).result_json == result
    claim(store, queue="StgCmtSCU", now=T0 + timedelta(seconds=1))
    stored = store.finish(
        task.task_id, owner=OWNER, transition=done(TaskStatus.FAILED, failures=2), now=T0 + timedelta(seconds=2)
    )
    assert stored is not None and stored.result_json is None  # the last attempt had no result


def test_a_follow_up_task_needs_its_destination() -> None:
    with pytest.raises(ValueError, match="STGCMT task needs its destination AE title"):
        NewTask(
            device_name=DEVICE,
            queue_name="Export1",
            exporter_id="X",
            study_uid="1.2.3",
            scheduled_time=T0,
            task_type="STGCMT",
        )


def test_sqlite_migrates_a_version_2_database(tmp_path: Path) -> None:
    import sqlite3

    from dcm_exporter.queue._sql_shared import load_sql

    sql = load_sql("sqlite.sql")
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for name in ("migration_1", "migration_2"):
        conn.executescript(sql[name])
    conn.execute(
        "INSERT INTO export_task (created_time, updated_time, device_name, queue_name, exporter_id, study_uid,"
        " scheduled_time) VALUES (?, ?, ?, 'Export1', 'STORESCP', '1.2.3', ?)",
        (T0.isoformat(timespec="microseconds"),) * 2 + (DEVICE, T0.isoformat(timespec="microseconds")),
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = SqliteTaskStore(path)
    try:
        assert store.schema_version >= 3
        (old,) = store.list(TaskFilter())
        assert (old.task_type, old.destination_aet, old.result_json) == (TaskType.EXPORT, None, None)
    finally:
        store.close()


# --- follow-ups (storage commitment, IAN) stored with the export's end --------------------------------


FOLLOWUPS = (
    attrs.evolve(followup(TaskType.STGCMT, "STGCMTSCP", batch="b1"), number_of_instances=3, modalities=("CT",)),
    followup(TaskType.IAN, "IANSCP", queue="IANSCU", batch="b1"),
)


def _followups_of(store: TaskStore) -> list[tuple[str, str | None, str, TaskStatus]]:
    tasks = store.list(TaskFilter(status=[TaskStatus.SCHEDULED]))
    return sorted(
        (t.task_type.value, t.destination_aet, t.queue_name, t.status)
        for t in tasks
        if t.task_type is not TaskType.EXPORT
    )


@pytest.mark.parametrize("combined", [False, True], ids=["finish", "finish_and_claim"])
def test_a_completed_export_stores_its_followups_with_its_end(store: TaskStore, combined: bool) -> None:
    task = store.schedule(new(), now=T0)
    claim(store)
    transition = attrs.evolve(done(TaskStatus.COMPLETED), followups=FOLLOWUPS)
    if combined:
        finish_and_claim(store, task.task_id, transition, queue="Other")
    else:
        store.finish(task.task_id, owner=OWNER, transition=transition, now=T0)
    assert store.get(task.task_id).status is TaskStatus.COMPLETED
    assert _followups_of(store) == [
        ("IAN", "IANSCP", "IANSCU", TaskStatus.SCHEDULED),
        ("STGCMT", "STGCMTSCP", "StgCmtSCU", TaskStatus.SCHEDULED),
    ]
    stgcmt = next(t for t in store.list(TaskFilter()) if t.task_type is TaskType.STGCMT)
    assert (stgcmt.batch_id, stgcmt.number_of_instances, stgcmt.modalities) == ("b1", 3, ("CT",))


@pytest.mark.parametrize("status", [TaskStatus.FAILED, TaskStatus.WARNING, TaskStatus.SCHEDULED_FOR_RETRY])
def test_followups_only_with_a_completed_end(store: TaskStore, status: TaskStatus) -> None:
    task = store.schedule(new(), now=T0)
    claim(store)
    retry_at = T0 + timedelta(minutes=1) if status is TaskStatus.SCHEDULED_FOR_RETRY else None
    transition = attrs.evolve(done(status, failures=1, retry_at=retry_at), followups=FOLLOWUPS)
    store.finish(task.task_id, owner=OWNER, transition=transition, now=T0)
    assert _followups_of(store) == []


def test_no_followups_for_a_task_cancelled_meanwhile_or_no_longer_held(store: TaskStore) -> None:
    cancelled = store.schedule(new("1"), now=T0)
    lost = store.schedule(new("2"), now=T0)
    claim(store)
    store.cancel(TaskFilter(task_ids=[cancelled.task_id]), now=T0)
    transition = attrs.evolve(done(TaskStatus.COMPLETED), followups=FOLLOWUPS)
    kept = store.finish(cancelled.task_id, owner=OWNER, transition=transition, now=T0)
    assert kept is not None and kept.status is TaskStatus.CANCELED
    assert store.finish(lost.task_id, owner="someone-else", transition=transition, now=T0) is None
    assert _followups_of(store) == []


@pytest.fixture(params=[p for p in STORE_FACTORIES if p.id != "memory"])  # type: ignore[attr-defined]
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TaskStore, str | None]]:
    """A store on a database (SQLite, PostgreSQL) and the PostgreSQL DSN (``None`` for SQLite)."""
    if request.param is _postgres:
        dsn = request.getfixturevalue("pg_database").dsn
        s = _postgres(tmp_path, request)
    else:
        dsn, s = None, request.param(tmp_path)
    yield s, dsn
    s.close()


def _refuse_stgcmt_inserts(store: TaskStore, dsn: str | None) -> Callable[[], None]:
    """A real trigger in the store's database that refuses STGCMT rows; returns how to drop it."""
    if isinstance(store, SqliteTaskStore):
        import sqlite3

        def run(sql: str) -> None:
            conn = sqlite3.connect(store.path)
            try:
                conn.execute(sql)
                conn.commit()
            finally:
                conn.close()

        run(
            "CREATE TRIGGER refuse_stgcmt BEFORE INSERT ON export_task WHEN NEW.task_type = 'STGCMT' "
            "BEGIN SELECT RAISE(ABORT, 'no storage commitment today'); END"
        )
        return lambda: run("DROP TRIGGER refuse_stgcmt")
    import psycopg

    assert dsn is not None
    schema = store.schema  # type: ignore[attr-defined]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"""CREATE FUNCTION "{schema}".refuse_stgcmt() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.task_type = 'STGCMT' THEN RAISE EXCEPTION 'no storage commitment today'; END IF;
            RETURN NEW; END $$"""
        )
        conn.execute(
            f'CREATE TRIGGER refuse_stgcmt BEFORE INSERT ON "{schema}".export_task '
            f'FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse_stgcmt()'
        )

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP TRIGGER refuse_stgcmt ON "{schema}".export_task')

    return drop


@pytest.mark.parametrize("combined", [False, True], ids=["finish", "finish_and_claim"])
def test_an_export_end_whose_followups_cannot_be_stored_is_not_stored_either(
    sql_store: tuple[TaskStore, str | None], combined: bool
) -> None:
    """Atomic: when a follow-up cannot be inserted, the export stays IN PROCESS (its lease will hand it to a
    runner again) rather than COMPLETED without its storage commitment."""
    store, dsn = sql_store
    task = store.schedule(new(), now=T0)
    claim(store)
    drop = _refuse_stgcmt_inserts(store, dsn)
    # the IAN comes first, so a store that commits as it goes would keep it
    transition = attrs.evolve(done(TaskStatus.COMPLETED), followups=FOLLOWUPS[::-1])
    with pytest.raises(QueueError, match="no storage commitment today"):
        if combined:
            finish_and_claim(store, task.task_id, transition, queue="Other")
        else:
            store.finish(task.task_id, owner=OWNER, transition=transition, now=T0)
    held = store.get(task.task_id)
    assert (held.status, held.lease_owner) == (TaskStatus.IN_PROCESS, OWNER)
    assert store.list(TaskFilter(task_type=TaskType.IAN)) == []
    drop()
    store.finish(task.task_id, owner=OWNER, transition=transition, now=T0)
    assert store.get(task.task_id).status is TaskStatus.COMPLETED
    assert len(_followups_of(store)) == 2


def test_sqlite_coalescing_write_path_writes_nothing_when_another_writer_already_widened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write path re-reads the waiting task under the write lock; when a concurrent writer has widened it in
    # between (simulated: the lock-free first read is made to report "changes something"), it must not write.
    import dcm_exporter.queue.sqlite as sqlite_module

    store = SqliteTaskStore(tmp_path / "tasks.db")
    try:
        waiting = store.schedule(new("9", "*", at=T0 + timedelta(minutes=5)), now=T0)
        monkeypatch.setattr(sqlite_module, "coalesces_unchanged", lambda task, request: False)
        same = store.schedule(new("9", "1.1", "1.1.1", at=T0), now=T0 + timedelta(seconds=9))
        assert same == waiting == store.get(waiting.task_id)  # updated_time stays: nothing was written
        later = store.schedule(new("9", "1.1", at=T0 + timedelta(minutes=6)), now=T0 + timedelta(seconds=10))
        assert later.task_id == waiting.task_id and later.scheduled_time == T0 + timedelta(minutes=6)
        assert later.updated_time == T0 + timedelta(seconds=10)
        one = store.schedule(new("8", "1.1", "1.1.1"), now=T0)
        again = store.schedule(new("8", "1.1", "1.1.1", at=T0 + timedelta(minutes=1)), now=T0 + timedelta(seconds=11))
        assert again.task_id == one.task_id and (again.series_uid, again.sop_instance_uid) == ("1.1", "1.1.1")
        assert again.scheduled_time == T0 + timedelta(minutes=1)
        assert store.count(TaskFilter()) == 2
    finally:
        store.close()


def test_sqlite_schedule_many_stores_all_or_none(tmp_path: Path) -> None:
    store = SqliteTaskStore(tmp_path / "t.db")
    try:
        conn = sqlite3.connect(tmp_path / "t.db")
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON export_task WHEN NEW.study_uid = 'refused' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        conn.commit()
        conn.close()
        with pytest.raises(QueueError, match="refused by the test"):
            store.schedule_many([new("1"), new("2"), new("refused")], now=T0)
        assert store.count(TaskFilter()) == 0
        assert [t.study_uid for t in store.schedule_many([new("1"), new("2")], now=T0)] == ["1", "2"]
    finally:
        store.close()


@pytest.mark.parametrize("first", ["schedule", "schedule_many"])
def test_sqlite_coalescing_a_request_the_waiting_task_covers_needs_no_write_lock(tmp_path: Path, first: str) -> None:
    # Repeated requests for one study (one per instance received) are the common case: for a study this store
    # scheduled lately (by schedule or schedule_many), a waiting task that already covers the request is read and
    # returned without taking the database's write lock, so such requests do not queue behind another process's
    # write transaction.
    store = SqliteTaskStore(tmp_path / "tasks.db", busy_timeout=0.05)
    other = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)
    try:
        request = new("9", at=T0 + timedelta(minutes=5))
        if first == "schedule":
            waiting = store.schedule(request, now=T0)
        else:
            [waiting] = store.schedule_many([request], now=T0)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock from here on
        same = store.schedule(new("9", "1.1", "1.1.1", at=T0), now=T0 + timedelta(seconds=1))
        assert same == waiting
        # the lock is really held: a request that changes the task must write, and cannot
        with pytest.raises(QueueError, match="database is locked"):
            store.schedule(new("9", at=T0 + timedelta(minutes=6)), now=T0 + timedelta(seconds=2))
        other.execute("ROLLBACK")
        assert store.get(waiting.task_id) == waiting
    finally:
        other.close()
        store.close()


def test_a_task_id_is_never_used_twice(store: TaskStore) -> None:
    first, second, third = (store.schedule(new(study), now=T0) for study in ("1", "2", "3"))
    assert first.task_id < second.task_id < third.task_id
    assert store.delete(TaskFilter(task_ids=[third.task_id])) == [third.task_id]  # the newest one
    fourth = store.schedule(new("4"), now=T0)
    assert fourth.task_id > third.task_id
    store.delete(TaskFilter(task_ids=[first.task_id, second.task_id, fourth.task_id]))  # all of them
    assert store.schedule_many([new("5"), new("6")], now=T0)[0].task_id > fourth.task_id


def test_sqlite_migrates_a_version_4_database_keeping_its_ids(tmp_path: Path) -> None:
    from dcm_exporter.queue._sql_shared import load_sql

    sql = load_sql("sqlite.sql")
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    for number in range(1, 5):
        conn.executescript(sql[f"migration_{number}"])
    for study in ("1.2.3", "1.2.4", "1.2.5"):
        conn.execute(
            "INSERT INTO export_task (created_time, updated_time, device_name, queue_name, exporter_id, study_uid,"
            " scheduled_time, batch_id) VALUES (?, ?, ?, 'Export1', 'STORESCP', ?, ?, 'b1')",
            (T0.isoformat(timespec="microseconds"),) * 2 + (DEVICE, study, T0.isoformat(timespec="microseconds")),
        )
    conn.execute("DELETE FROM export_task WHERE study_uid = '1.2.5'")  # the newest: its id 3 stays used
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    store = SqliteTaskStore(path)
    try:
        assert store.schema_version == 5
        assert [(t.task_id, t.study_uid, t.batch_id) for t in store.list(TaskFilter(order_by="task_id"))] == [
            (1, "1.2.3", "b1"), (2, "1.2.4", "b1")
        ]
        assert store.schedule(new("1.2.6"), now=T0).task_id == 4
        assert store.schedule(new("1.2.3", batch="b1"), now=T0).task_id == 1  # coalesced, by the study index
        assert [t.task_id for t in store.claim(_claim(now=T0, limit=10, owner=OWNER), now=T0)] == [1, 2, 4]
    finally:
        store.close()
