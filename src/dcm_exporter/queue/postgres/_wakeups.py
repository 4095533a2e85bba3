"""The PostgreSQL store's wake-ups: ``NOTIFY`` in the writing transaction, ``LISTEN`` in a thread of its own."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from dcm_exporter.errors import QueueError
from dcm_exporter.queue.postgres._connections import first_line

__all__ = ["Wakeups"]

log = logging.getLogger("dcm_exporter.queue.postgres")

_SEPARATOR = "\x1f"
#: Seconds at most between two attempts of the listener to connect.
_MAX_DELAY = 2.0

Conn = Any  # a psycopg.Connection


class Wakeups:
    """Who to call when a task may have become due in any process, and the connection that listens.

    Args:
        psycopg: the psycopg module (imported by the store).
        conninfo: Connection string of the listener's own connection.
        connect_kwargs: Further keyword arguments for ``psycopg.connect``.
        channel: The ``NOTIFY`` channel.
        label: The database, for log messages.
        competing_consumers: Listeners hear every device's tasks (the store's mode).
    """

    def __init__(
        self,
        psycopg: Any,
        *,
        conninfo: str,
        connect_kwargs: dict[str, Any],
        channel: str,
        label: str,
        competing_consumers: bool,
    ) -> None:
        self._psycopg = psycopg
        self._conninfo = conninfo
        self._connect_kwargs = connect_kwargs
        self.channel = channel
        self._label = label
        self.competing_consumers = competing_consumers
        self._closed = False
        self._listeners: list[tuple[Callable[[], None], str | None, frozenset[str] | None]] = []
        self._listen_lock = threading.Lock()
        self._listen_thread: threading.Thread | None = None
        self._listen_stop = threading.Event()

    @staticmethod
    def payload(device_name: str, queue_name: str) -> str:
        """The notification payload of a task of this device and queue."""
        return f"{device_name}{_SEPARATOR}{queue_name}"

    def close(self) -> None:
        """Stop the listener thread (waits up to 5 s for it)."""
        self._closed = True
        self._listen_stop.set()
        thread = self._listen_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def add_listener(
        self, callback: Callable[[], None], *, device_name: str | None, queue_names: Collection[str] | None
    ) -> None:
        """See :meth:`PostgresTaskStore.add_listener <dcm_exporter.queue.postgres.PostgresTaskStore.add_listener>`;
        the listener thread starts on the first call."""
        queues = None if queue_names is None else frozenset(queue_names)
        with self._listen_lock:
            if self._closed:
                raise QueueError(f"task database {self._label}: the store is closed")
            self._listeners.append((callback, device_name, queues))
            if self._listen_thread is None:
                self._listen_thread = threading.Thread(
                    target=self._listen, name=f"dcm-exporter-listen-{self.channel}", daemon=True
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
        warned = False  # reported that the listener cannot connect (once, until it can again)
        while not self._listen_stop.is_set():
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True, **self._connect_kwargs)
            except psycopg.Error as exc:
                if not warned:
                    log.warning("task database %s: wake-up listener cannot connect (%s); retrying every %g s at "
                                "most", self._label, first_line(exc), _MAX_DELAY)
                    warned = True
                else:
                    log.debug("task database %s: wake-up listener still cannot connect (%s)", self._label,
                              first_line(exc))
                self._listen_stop.wait(delay)
                delay = min(delay * 2, _MAX_DELAY)
                continue
            try:
                conn.execute(f'LISTEN "{self.channel}"')
                delay = 0.1
                if warned:
                    log.info("task database %s: wake-up listener connected again", self._label)
                    warned = False
                self._fire(None)  # whatever was notified while we were away
                while not self._listen_stop.is_set():
                    for notify in conn.notifies(timeout=0.5):
                        self._fire(notify.payload)
            except psycopg.Error as exc:
                # a connection cut (server restart, pg_terminate_backend): reconnecting at once is the
                # normal case and worth no warning; a server that stays away is reported above
                if not self._listen_stop.is_set():
                    log.info("task database %s: wake-up listener lost its connection (%s); reconnecting",
                             self._label, first_line(exc))
            finally:
                with contextlib.suppress(Exception):
                    conn.close()

    def notify(self, conn: Conn, statement: str, pairs: Collection[tuple[str, str]]) -> None:
        """Notify, in ``conn``'s transaction, the listeners of each ``(device, queue)``."""
        for device, queue in pairs:
            conn.execute(statement, {"channel": self.channel, "payload": self.payload(device, queue)})

