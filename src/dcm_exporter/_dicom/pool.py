"""A pool of idle associations, reused across export tasks and released after an idle timeout.

Associations are keyed by destination (host, port, TLS, called AE) and calling AE title; one is reused
only when it proposed every presentation context the next task needs. A reaper thread (one per pool,
started when the first association goes idle, ending when the pool is empty) releases associations idle
longer than the timeout: some peers (DCMTK storescp without ``--fork``) serve one association at a time,
so an idle association must not be held forever. For the same reason, when no idle association fits the
next task, the idle ones of that key are released (:meth:`AssociationPool.discard`) before a new one is opened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

import attrs

from dcm_exporter._dicom.association import Association

__all__ = ["AssociationPool", "PoolKey"]

LOG = logging.getLogger("dcm_exporter.transports.dicom")


@attrs.frozen
class PoolKey:
    """What an association is bound to: the peer's address and AE title, TLS, and the calling AE."""

    host: str
    port: int
    tls: Hashable
    called_ae_title: str
    calling_ae_title: str


@attrs.define
class _Idle:
    association: Association
    proposed: frozenset[tuple[str, tuple[str, ...]]]
    since: float


class AssociationPool:
    """Idle associations by :class:`PoolKey`. Thread-safe."""

    def __init__(self, idle_timeout: Callable[[PoolKey], float]) -> None:
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._idle: dict[PoolKey, list[_Idle]] = {}
        self._reaper: threading.Thread | None = None
        self._wake = threading.Condition(self._lock)
        self._closed = False

    def acquire(
        self, key: PoolKey, needed: frozenset[tuple[str, tuple[str, ...]]]
    ) -> tuple[Association, frozenset[tuple[str, tuple[str, ...]]]] | None:
        """An idle, live association for ``key`` that proposed at least ``needed``, or ``None``."""
        stale: list[Association] = []
        found: _Idle | None = None
        with self._lock:
            entries = self._idle.get(key, [])
            for entry in list(entries):
                if not entry.association.is_alive():
                    entries.remove(entry)
                    stale.append(entry.association)
                    continue
                if needed <= entry.proposed:
                    entries.remove(entry)
                    found = entry
                    break
        for assoc in stale:
            LOG.debug("dropping dead pooled association %r", assoc)
            assoc.abort()
        return (found.association, found.proposed) if found else None

    def discard(self, key: PoolKey) -> int:
        """Release every idle association of ``key``; return how many.

        Called before a new association to the same peer is opened because none of the idle ones
        proposed the contexts needed: they would only hold a slot the peer may not have (DCMTK
        storescp without ``--fork`` answers the next association only when the current one ends).
        """
        with self._lock:
            entries = self._idle.pop(key, [])
        for entry in entries:
            LOG.debug("releasing idle association %r: the next export needs other contexts", entry.association)
            entry.association.release()
        return len(entries)

    def put(
        self,
        key: PoolKey,
        association: Association,
        proposed: frozenset[tuple[str, tuple[str, ...]]],
        *,
        limit: int,
    ) -> None:
        """Return a still usable association to the pool (at most ``limit`` idle per key are kept)."""
        if association.closed or association.broken:
            association.abort()
            return
        evicted: list[Association] = []
        with self._lock:
            if self._closed:
                evicted.append(association)
            else:
                entries = self._idle.setdefault(key, [])
                entries.append(_Idle(association, proposed, time.monotonic()))
                while len(entries) > limit:
                    evicted.append(entries.pop(0).association)
                if self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="dcm_exporter-dicom-pool", daemon=True
                    )
                    self._reaper.start()
                self._wake.notify()
        for assoc in evicted:
            assoc.release()

    def _reap(self) -> None:
        while True:
            expired: list[Association] = []
            with self._lock:
                now = time.monotonic()
                wait = 3600.0
                for key, entries in list(self._idle.items()):
                    timeout = self._idle_timeout(key)
                    for entry in list(entries):
                        left = entry.since + timeout - now
                        if left <= 0 or self._closed:
                            entries.remove(entry)
                            expired.append(entry.association)
                        else:
                            wait = min(wait, left)
                    if not entries:
                        del self._idle[key]
                if not self._idle and not expired:
                    self._reaper = None
                    return
                if not expired:
                    self._wake.wait(wait)
                    continue
            for assoc in expired:
                LOG.debug("releasing idle association %r", assoc)
                assoc.release()

    def close(self) -> None:
        """Release every idle association and stop the reaper."""
        with self._lock:
            self._closed = True
            entries = [e.association for v in self._idle.values() for e in v]
            self._idle.clear()
            reaper = self._reaper
            self._wake.notify_all()
        _release_all(entries)
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join(timeout=10)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())


def _release_all(associations: list[Association]) -> None:
    """Release ``associations`` side by side: each release is bounded (its destination's ``release_timeout``:
    ``dcmARRPTimeout``, else 5 s), and closing the pool then takes the longest of them at most, however many
    peers answer slowly or not at all."""
    if len(associations) <= 1:
        for assoc in associations:
            assoc.release()
        return
    threads = [
        threading.Thread(target=assoc.release, name="dcm_exporter-dicom-release", daemon=True)
        for assoc in associations
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
