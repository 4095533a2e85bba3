"""``TaskRunner``: threads that take due export tasks from the store and perform them.

Per configured queue the runner keeps ``dcmMaxTasksParallel`` worker threads; each takes one due task at a
time (the manager applies the gates: queue installed, queue schedule, exporter schedule), performs it
through the ``perform`` callable and hands the result to the manager. A supervisor thread extends the
leases of running tasks (heartbeats), follows configuration reloads (new queues, changed parallelism) and
purges finished tasks.

Scheduling in the same process wakes the workers at once; changes made by other processes are seen after
at most ``poll_interval`` seconds. No signal handlers are installed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dcm_exporter.errors import QueueError
from dcm_exporter.queue.manager import Attempt, TaskManager, TaskResult
from dcm_exporter.queue.task import ExportTask

if TYPE_CHECKING:
    from dcm_exporter.export import CancelToken, Outcome

__all__ = ["Perform", "TaskHooks", "TaskRunner"]

log = logging.getLogger("dcm_exporter.queue")

#: The claim batch doubles while tasks take less than this (seconds) each, up to ``_MAX_BATCH``; a slower task
#: sets it back to one. Short tasks (``noop:``, a local copy) are then claimed and recorded in group commits;
#: a real export takes longer and is claimed and recorded alone, as before.
_FAST = 0.002
_MAX_BATCH = 64
#: Seconds at most that the end of an attempt waits for the group commit that records it.
_MAX_DELAY = 0.05

#: Performs one export task: ``perform(task, cancel_token) -> Outcome`` (raises on failure).
Perform = Callable[[ExportTask, "CancelToken"], "Outcome"]


class TaskHooks:
    """Callbacks for an embedding application: a task started, a task finished (with its outcome).

    Hooks run in the worker thread that performs the task; an exception in a hook is logged and ignored.
    """

    def __init__(self) -> None:
        self.started: list[Callable[[ExportTask], None]] = []
        self.finished: list[Callable[[TaskResult], None]] = []

    def on_started(self, hook: Callable[[ExportTask], None]) -> Callable[[ExportTask], None]:
        """Register ``hook(task)``, called when a task goes IN PROCESS. Usable as a decorator."""
        self.started.append(hook)
        return hook

    def on_finished(self, hook: Callable[[TaskResult], None]) -> Callable[[TaskResult], None]:
        """Register ``hook(result)``, called after each attempt with a :class:`TaskResult`. Usable as a
        decorator."""
        self.finished.append(hook)
        return hook

    def _fire_started(self, task: ExportTask) -> None:
        for hook in list(self.started):
            try:
                hook(task)
            except Exception:
                log.exception("task-started hook %r failed", hook)

    def _fire_finished(self, result: TaskResult) -> None:
        for hook in list(self.finished):
            try:
                hook(result)
            except Exception:
                log.exception("task-finished hook %r failed", hook)


class _StoreFailure:
    """A store failure of one party (a worker, the heartbeats, the purges) that stands until that party's own
    next store operation succeeds."""

    __slots__ = ("error", "seq", "since")

    def __init__(self, error: QueueError, since: float, seq: int) -> None:
        self.error = error
        self.since = since
        self.seq = seq


class _Worker:
    __slots__ = ("done", "drain", "idle_since", "queue_name", "retired", "task", "thread")

    def __init__(self, queue_name: str, drain: bool) -> None:
        self.queue_name = queue_name
        self.drain = drain
        self.retired = False
        self.task: ExportTask | None = None
        self.idle_since = 0.0
        self.thread: threading.Thread | None = None
        # set when the worker's loop has ended; waited on after a Ctrl-C, because a Thread.join() that a
        # KeyboardInterrupt interrupted can make the thread look finished (CPython before 3.13)
        self.done = threading.Event()


class TaskRunner:
    """Runs the export tasks of one device from a task store.

    Args:
        manager: The :class:`TaskManager` (store, configuration, clock, device).
        perform: ``perform(task, cancel_token) -> Outcome``; raises ``TransportError`` (or anything)
            on failure.
        poll_interval: Seconds between looks at the store when idle (for tasks written by other
            processes, and for tasks whose time arrives). Tasks scheduled in this process wake it at once.
        heartbeat_interval: Seconds between lease extensions of running tasks (default: lease / 3).
        purge_interval: Seconds between purges of finished tasks by the queues' purge delays
            (``None``: never).
        reset_on_start: Reset this device's IN PROCESS tasks to SCHEDULED on start (dcm4chee's
            behaviour). Turn it off when several runner processes serve one device: leases then hand
            over the tasks of a dead runner.
        hooks: Callbacks for started / finished tasks.
    """

    def __init__(
        self,
        manager: TaskManager,
        perform: Perform,
        *,
        poll_interval: float = 1.0,
        heartbeat_interval: float | None = None,
        purge_interval: float | None = 60.0,
        reset_on_start: bool = True,
        hooks: TaskHooks | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise QueueError(f"poll_interval must be positive, got {poll_interval}")
        self.manager = manager
        self.perform = perform
        self.poll_interval = poll_interval
        self.heartbeat_interval = (
            heartbeat_interval if heartbeat_interval is not None else manager.lease.total_seconds() / 3
        )
        self.purge_interval = purge_interval
        self.reset_on_start = reset_on_start
        self.hooks = hooks if hooks is not None else TaskHooks()
        self._cond = threading.Condition()
        self._generation = 0
        self._stop = threading.Event()
        self._reconcile = threading.Event()
        self._workers: dict[str, list[_Worker]] = {}
        self._supervisor: threading.Thread | None = None
        self._started = False
        self._reset_done = False
        self._attempts = 0
        # the task store's health, per party (a worker, "heartbeat", "purge"): a failure stands until that
        # party's own next store operation succeeds. Another party's success says nothing about it: the
        # worker of an empty queue claims nothing, which succeeds on a full disk too. Workers back off while
        # their failure stands.
        self._store_lock = threading.Lock()
        self._store_failures: dict[object, _StoreFailure] = {}
        self._store_failed_since: float | None = None  # since when any failure stands
        self._store_errors_seen = 0
        manager.add_listener(self._wake)

    # --- life cycle ---------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether :meth:`start` was called and :meth:`stop` not yet."""
        return self._started

    def __enter__(self) -> TaskRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the worker threads and the supervisor (resetting this device's IN PROCESS tasks first)."""
        if self._started:
            return
        self._maybe_reset()
        self._stop.clear()
        self._started = True
        self._reconcile_workers()
        self._supervisor = threading.Thread(
            target=self._supervise, name="dcm-exporter-supervisor", daemon=True
        )
        self._supervisor.start()
        log.info("export queue runner of device %s started", self.manager.device_name)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully: running tasks get ``timeout`` seconds to finish; then they are cancelled and go
        back to the queue (SCHEDULED) for the next runner. Waiting tasks stay where they are."""
        if not self._started:
            return
        self._stop.set()
        self._wake()
        deadline = time.monotonic() + max(timeout, 0.0)
        workers = self._all_workers()
        self._join(workers, deadline)
        busy = [w for w in workers if w.thread is not None and not w.done.is_set()]
        if busy:
            self.manager.interrupt([w.task.task_id for w in busy if w.task is not None])
            self._join(busy, time.monotonic() + min(5.0, max(timeout, 0.5)))
            for worker in busy:
                task = worker.task
                alive = worker.thread is not None and not worker.done.is_set()
                if task is not None and alive and self.manager.release(task):
                    log.warning("export task %s did not stop in time; released to the queue", task.task_id)
        if self._supervisor is not None:
            self._supervisor.join(timeout=max(1.0, self.heartbeat_interval))
            self._supervisor = None
        with self._cond:
            self._workers = {}
        self._started = False
        self._stop.clear()  # run_until_idle() and a later start() work again
        log.info("export queue runner of device %s stopped", self.manager.device_name)

    def close(self) -> None:
        """Stop (if running) and stop listening to the manager."""
        self.stop()
        self.manager.remove_listener(self._wake)

    @property
    def store_error(self) -> QueueError | None:
        """The task store's last error while it fails (a full disk, a database that went away), ``None``
        while it works: what a health check reports. A worker's failure stands until that worker's own next
        store operation succeeds (the heartbeats' and purges' likewise); this is the latest error of those
        that stand."""
        with self._store_lock:
            latest = max(self._store_failures.values(), key=lambda f: f.seq, default=None)
            return None if latest is None else latest.error

    def _store_failed(self, action: str, exc: QueueError, who: object, *, report: bool = True) -> None:
        """Record a failing store operation of ``who`` (a worker, ``"heartbeat"``, ``"purge"``). Logged at
        ERROR once when a failure starts (one line, no traceback), not again while the same error stands for
        another party; its retries only at DEBUG. ``report=False``: not logged, the caller raises it
        (:meth:`run_until_idle`)."""
        with self._store_lock:
            previous = self._store_failures.get(who)
            message = str(exc)
            new = (previous is None or str(previous.error) != message) and not any(
                str(f.error) == message for party, f in self._store_failures.items() if party is not who
            )
            now = time.monotonic()
            self._store_errors_seen += 1
            self._store_failures[who] = _StoreFailure(
                exc, previous.since if previous is not None else now, self._store_errors_seen
            )
            if self._store_failed_since is None:
                self._store_failed_since = now
        if new and report:
            log.error("export queue: %s failed: %s (retrying with back-off)", action, exc)
        else:
            log.debug("export queue: %s failed again: %s", action, exc)

    def _store_ok(self, who: object) -> None:
        """``who``'s store operation succeeded: its failure, if one stood, ends. Logged at WARNING when no
        other failure stands any more (the store works again), else at DEBUG."""
        if who not in self._store_failures:  # unlocked read: the common case costs nothing
            return
        with self._store_lock:
            failure = self._store_failures.pop(who, None)
            if failure is None:
                return
            left = len(self._store_failures)
            since = self._store_failed_since
            if not left:
                self._store_failed_since = None
        if left:
            log.debug("export queue: a store operation works again after %.0f s (%d failure(s) still stand; "
                      "last error: %s)", time.monotonic() - failure.since, left, failure.error)
            return
        down = time.monotonic() - since if since is not None else 0.0
        log.warning("export queue: the task store works again after %.0f s (last error: %s)", down, failure.error)

    def _forget_ended_workers(self) -> None:
        """Drop the failures of workers that ended (a stop, a drain, a queue removed): no success of
        theirs can end them. Called before new workers start."""
        with self._store_lock:
            for party in [p for p in self._store_failures if isinstance(p, _Worker) and p.done.is_set()]:
                del self._store_failures[party]
            if not self._store_failures:
                self._store_failed_since = None

    def _backoff(self, failures: int) -> float:
        """Seconds a worker waits after ``failures`` store errors in a row: doubling from the poll interval,
        at most a minute."""
        return float(min(self.poll_interval * (2 ** min(failures - 1, 10)), max(60.0, self.poll_interval)))

    # --- scripts and notebooks ----------------------------------------------------------------------

    def run_until_idle(self, *, timeout: float | None = None, wait_for_scheduled: bool = False) -> int:
        """Process every task that is due now, then return the number of attempts made.

        Without a started runner the work is done by temporary worker threads (``dcmMaxTasksParallel`` per
        queue) that end when nothing is due. With ``wait_for_scheduled`` it also waits (on the real clock) for
        tasks scheduled later, retries included, until none is left waiting.

        Raises:
            QueueError: ``timeout`` seconds passed before the queue became idle, or the task store failed
                (full disk, lost database) and still failed when the work stopped: the store's error.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        before = self._attempts
        while True:
            with self._store_lock:
                errors_before = self._store_errors_seen
            drained: QueueError | None = None
            if self._started:
                self._wait_idle(deadline)
            else:
                # a draining worker stops at its first store error: that error stands, whatever the
                # workers of other queues managed meanwhile
                drained = self._drain(deadline)
            error = self.store_error
            with self._store_lock:
                failed = self._store_errors_seen != errors_before
            if drained is not None:
                raise drained
            if failed and error is not None:
                raise error
            if not wait_for_scheduled:
                return self._attempts - before
            due = self.manager.next_due_time()
            if due is None:
                return self._attempts - before
            wait = (due - self.manager.now()).total_seconds()
            wait = min(max(wait, 0.0), self.poll_interval) if wait > 0 else self.poll_interval
            if deadline is not None and time.monotonic() + wait > deadline:
                raise QueueError(f"export queue not idle after {timeout} s (tasks still waiting)")
            with self._cond:
                self._cond.wait(wait)

    def _drain(self, deadline: float | None) -> QueueError | None:
        """Drain with temporary workers; returns the store error a worker stopped on (the latest), if any."""
        self._maybe_reset()
        self._forget_ended_workers()
        workers = []
        for queue_name in self.manager.queue_names:
            queue = self.manager.queue(queue_name)
            for _ in range(queue.max_tasks_parallel if queue is not None else 0):
                workers.append(self._spawn(queue_name, drain=True))
        beat = time.monotonic()
        try:
            while any(w.thread is not None and not w.done.is_set() for w in workers):
                if deadline is not None and time.monotonic() > deadline:
                    self.manager.interrupt([w.task.task_id for w in workers if w.task is not None])
                    raise QueueError("export queue not idle in time (tasks still running were interrupted)")
                for w in workers:
                    if w.thread is not None and not w.done.is_set():
                        w.done.wait(timeout=0.05)
                        break
                if time.monotonic() - beat >= self.heartbeat_interval:
                    beat = time.monotonic()
                    self._heartbeat()
        except BaseException:  # Ctrl-C (a notebook's interrupt, SIGTERM in the CLI): stop the workers too
            self._interrupt_drain(workers)
            raise
        with self._store_lock:
            failures = [self._store_failures[w] for w in workers if w in self._store_failures]
        return max(failures, key=lambda f: f.seq).error if failures else None

    def _interrupt_drain(self, workers: list[_Worker]) -> None:
        """Stop draining workers: no new claims; running tasks are cancelled and go back to the queue."""
        for w in workers:
            w.retired = True
        running = [w.task.task_id for w in workers if w.task is not None]
        if running:
            log.warning("interrupted: %d running export task(s) go back to the queue", len(running))
            self.manager.interrupt(running)
        deadline = time.monotonic() + 5.0
        for w in workers:
            w.done.wait(max(0.0, deadline - time.monotonic()))
        for w in workers:
            task = w.task
            if task is not None and not w.done.is_set() and self.manager.release(task):
                log.warning("export task %s did not stop in time; released to the queue", task.task_id)

    def _wait_idle(self, deadline: float | None) -> None:
        since = time.monotonic()
        self._wake()
        while True:
            workers = self._all_workers()
            if workers and all(w.task is None and w.idle_since > since for w in workers):
                return
            if not workers and not self.manager.running():
                return
            if deadline is not None and time.monotonic() > deadline:
                raise QueueError("export queue not idle in time")
            time.sleep(0.01)

    # --- internals ----------------------------------------------------------------------------------

    def _maybe_reset(self) -> None:
        if self.reset_on_start and not self._reset_done:
            self.manager.reset_in_process()
        self._reset_done = True

    def _wake(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        self._reconcile.set()

    def _all_workers(self) -> list[_Worker]:
        with self._cond:
            return [w for group in self._workers.values() for w in group]

    @staticmethod
    def _join(workers: list[_Worker], deadline: float) -> None:
        for worker in workers:
            if worker.thread is not None:
                worker.done.wait(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self, queue_name: str, *, drain: bool) -> _Worker:
        worker = _Worker(queue_name, drain)
        worker.thread = threading.Thread(
            target=self._work_until_done, args=(worker,), name=f"dcm-exporter-{queue_name}", daemon=True
        )
        worker.thread.start()
        return worker

    def _reconcile_workers(self) -> None:
        self._forget_ended_workers()
        with self._cond:
            for queue_name in set(self._workers) | set(self.manager.queue_names):
                queue = self.manager.queue(queue_name)
                want = 0 if queue is None else queue.max_tasks_parallel
                group = [
                    w
                    for w in self._workers.get(queue_name, [])
                    if w.thread is not None and not w.done.is_set()
                ]
                active = [w for w in group if not w.retired]
                for worker in active[want:]:
                    worker.retired = True
                while len(active) < want and not self._stop.is_set():
                    worker = self._spawn(queue_name, drain=False)
                    active.append(worker)
                    group.append(worker)
                self._workers[queue_name] = group
            self._cond.notify_all()

    def _heartbeat(self) -> None:
        try:
            self.manager.heartbeat()
        except QueueError as exc:
            self._store_failed("extending the leases of running tasks", exc, "heartbeat")
            return
        self._store_ok("heartbeat")

    def _supervise(self) -> None:
        last_beat = last_purge = time.monotonic()
        if self.purge_interval is not None:
            self._purge()
        while not self._stop.is_set():
            self._reconcile.wait(timeout=min(self.heartbeat_interval, self.poll_interval * 5))
            if self._stop.is_set():
                break
            if self._reconcile.is_set():
                self._reconcile.clear()
                self._reconcile_workers()
            now = time.monotonic()
            if now - last_beat >= self.heartbeat_interval:
                last_beat = now
                self._heartbeat()
            if self.purge_interval is not None and now - last_purge >= self.purge_interval:
                last_purge = now
                self._purge()
        self._heartbeat()

    def _purge(self) -> None:
        try:
            self.manager.purge()
        except QueueError as exc:
            self._store_failed("purging finished tasks", exc, "purge")
            return
        self._store_ok("purge")

    def _work_until_done(self, worker: _Worker) -> None:
        try:
            self._work(worker)
        finally:
            worker.done.set()

    def _work(self, worker: _Worker) -> None:
        # ``claimed``: tasks claimed and not yet performed, in order. ``ends``: attempts performed and not yet
        # recorded. Both stay under this runner's lease (heartbeats extend it) until the group commit that
        # records the ends and claims the next batch; after a crash they run again, none is lost.
        claimed: list[tuple[ExportTask, CancelToken]] = []
        ends: list[Attempt] = []
        ends_since = 0.0
        batch = 1
        generation = 0
        failures = 0
        try:
            while claimed or ends or (not self._stop.is_set() and not worker.retired):
                going_on = not self._stop.is_set() and not worker.retired
                if claimed and not going_on:
                    # a stop: what was claimed ahead goes back to the queue at once, not after the lease
                    for task, _ in claimed:
                        self._release(task)
                    claimed = []
                if ends and (not claimed or time.monotonic() - ends_since > _MAX_DELAY):
                    with self._cond:
                        generation = self._generation
                    recorded = self._record(ends, worker, batch if going_on and not claimed else 0)
                    if recorded is None:
                        # the store failed: the ends stay here, under this runner's lease, and are recorded
                        # when it works again (a study of many instances is not sent again). A stop, or a
                        # drain (run_until_idle reports the error), gives them up: their leases expire, then
                        # they run again; none is lost
                        failures += 1
                        if worker.drain or not going_on:
                            self._abandon(ends, quiet=worker.drain)
                            ends = []
                        else:
                            self._pause(self._backoff(failures))
                        continue
                    failures = 0
                    claimed += recorded
                    ends = []
                elif not claimed and going_on:
                    with self._cond:
                        generation = self._generation
                    try:
                        claimed = self.manager.claim(worker.queue_name, batch)
                    except QueueError as exc:
                        if getattr(exc, "task_id", None) is not None:
                            # one task's row is unreadable: reported by the store; the others go on
                            log.error("export queue %s: %s", worker.queue_name, exc)
                            self._stop.wait(self.poll_interval)
                            continue
                        failures += 1
                        self._store_failed(
                            f"taking tasks of queue {worker.queue_name}", exc, worker, report=not worker.drain
                        )
                        if worker.drain:
                            return
                        self._pause(self._backoff(failures))
                        continue
                    failures = 0
                    self._store_ok(worker)
                if not claimed:
                    if ends:
                        continue
                    worker.idle_since = time.monotonic()
                    if worker.drain or not going_on:
                        return
                    with self._cond:
                        if self._generation == generation and not self._stop.is_set() and not worker.retired:
                            self._cond.wait(self.poll_interval)
                    continue
                task, token = claimed.pop(0)
                worker.task = task
                try:
                    attempt, elapsed = self._perform(task, token)
                finally:
                    worker.task = None
                if not ends:
                    ends_since = time.monotonic()
                ends.append(attempt)
                if elapsed < _FAST:
                    batch = min(batch * 2, _MAX_BATCH)
                else:
                    # a task that takes time: its end is recorded now, and tasks are claimed one at a time,
                    # so that no task waits behind a slow one while another worker is free
                    batch = 1
                    ends_since = 0.0
        finally:
            for task, _ in claimed:  # an error left claimed tasks behind
                self._release(task)
            if ends and self._record(ends, worker, 0) is None:
                self._abandon(ends, quiet=worker.drain)

    def _abandon(self, ends: list[Attempt], *, quiet: bool) -> None:
        """Give up recording ``ends`` (a stop while the store fails). ``quiet``: the caller reports the
        store's error (run_until_idle raises it), so this is only INFO."""
        ids = [a.task.task_id for a in ends]
        self.manager.abandon(ids)
        log.log(logging.INFO if quiet else logging.WARNING,
                "export task(s) %s: their end could not be recorded; they run again once their leases expire",
                ", ".join(map(str, ids)))

    def _pause(self, seconds: float) -> None:
        """A worker's back-off after store errors: ``seconds``, or less when a stop or a wake-up comes (the
        task database's listener connected again, a task was scheduled here): the store may work again."""
        deadline = time.monotonic() + seconds
        with self._cond:
            generation = self._generation
            while not self._stop.is_set() and self._generation == generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def _release(self, task: ExportTask) -> None:
        try:
            self.manager.release(task)
        except QueueError:
            log.exception("releasing export task %s failed; its lease will expire", task.task_id)

    def _perform(self, task: ExportTask, token: CancelToken) -> tuple[Attempt, float]:
        """Perform one task; returns the attempt and the seconds it took."""
        if self.hooks.started:  # most runners have no hooks: no call and no list copy per task
            self.hooks._fire_started(task)
        started = self.manager.now()
        clock = time.monotonic()
        outcome: Outcome | None = None
        error: BaseException | None = None
        try:
            outcome = self.perform(task, token)
        except Exception as exc:
            error = exc
        elapsed = time.monotonic() - clock
        with self._cond:
            self._attempts += 1
        return Attempt(task, outcome, error, started), elapsed

    def _record(
        self, ends: list[Attempt], worker: _Worker, limit: int
    ) -> list[tuple[ExportTask, CancelToken]] | None:
        """Record the ends of attempts in one transaction, claiming up to ``limit`` tasks with them; returns
        the tasks claimed, or ``None`` when the store failed (nothing was recorded)."""
        try:
            results, claimed = self.manager.finish_many_and_claim(
                ends, queue_name=worker.queue_name, limit=limit
            )
        except QueueError as exc:
            ids = ", ".join(str(a.task.task_id) for a in ends)
            self._store_failed(
                f"recording the end of export task(s) {ids} of queue {worker.queue_name}", exc, worker,
                report=not worker.drain,
            )
            if worker.drain:
                worker.retired = True  # run_until_idle reports the store's error instead of going on
            return None
        self._store_ok(worker)
        finished = self.hooks.finished  # the list itself: a hook registered meanwhile is called too
        for result, attempt in zip(results, ends, strict=True):
            if attempt.error is not None and result.task is not None and not result.released:
                log.debug("export task %s raised", attempt.task.task_id, exc_info=attempt.error)
            if finished:
                self.hooks._fire_finished(result)
        return claimed
