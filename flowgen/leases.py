"""Keep the leases of the runs (and step branch attempts) this process is working on alive.

A run's lease expires ``lease_ttl`` seconds after it was last renewed; a background thread
renews every lease held by this process every ``lease_ttl / 3`` seconds in one store call, so a
step that runs for an hour keeps its run. If the process freezes (SIGSTOP, a long GC pause, a
network stall) past the TTL, another worker may take the run over with a higher epoch, and the
frozen worker's next write is rejected by the epoch fence.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .stores.base import Store

logger = logging.getLogger("flowgen.leases")


class LeaseKeeper:
    """Renews held run leases and branch heartbeats from one daemon thread."""

    def __init__(self, store: Store, ttl: float, now: Callable[[], float]) -> None:
        self.store = store
        self.ttl = ttl
        self.now = now
        self._lock = threading.Lock()
        self._runs: dict[str, int] = {}
        self._branches: dict[tuple[str, str], int] = {}
        self._lost: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start renewing (again, after :meth:`stop`: a Dramatiq worker restarted in this process)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="flowgen-leases", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def hold(self, run_id: str, epoch: int) -> None:
        with self._lock:
            self._runs[run_id] = epoch

    def drop(self, run_id: str, epoch: int) -> None:
        with self._lock:
            if self._runs.get(run_id) == epoch:
                del self._runs[run_id]
            self._lost.discard((run_id, epoch))

    def is_lost(self, run_id: str, epoch: int) -> bool:
        """Whether renewing found the lease taken over; asked after every step attempt, so read
        without the lock: a set membership test is atomic, and the set is only changed under it."""
        return (run_id, epoch) in self._lost

    def hold_branch(self, run_id: str, key: str, attempt: int) -> None:
        with self._lock:
            self._branches[(run_id, key)] = attempt

    def drop_branch(self, run_id: str, key: str) -> None:
        with self._lock:
            self._branches.pop((run_id, key), None)

    def renew_now(self) -> None:
        """Renew every held lease once (the thread calls this; tests may too)."""
        with self._lock:
            runs = list(self._runs.items())
            branches = [(run_id, key, attempt) for (run_id, key), attempt in self._branches.items()]
        now = self.now()
        if runs:
            lost = set(self.store.renew(runs, self.ttl, now))
            if lost:
                with self._lock:
                    for run_id, epoch in runs:
                        if run_id in lost:
                            self._lost.add((run_id, epoch))
                logger.warning(
                    "lost the lease of %d run(s) to another worker: %s", len(lost), sorted(lost)[:10]
                )
        if branches:
            self.store.renew_branches(branches, self.ttl, now)

    def _loop(self) -> None:
        interval = max(self.ttl / 3.0, 0.05)
        while not self._stop.wait(interval):
            try:
                self.renew_now()
            except Exception:
                logger.exception("renewing leases failed; retrying in %.1fs", interval)
