"""Background services every worker process runs: timers, the reconciler, requeues, retention sweeps.

* The **timer poller** claims due timers from the store (atomically, so many processes can
  poll) and enqueues the runs. Claimed runs enter the ready index first, so a crash between the
  claim and the enqueue is repaired by the reconciler. It polls every ``timer_interval``, and
  also wakes at the due time of each timer this process writes (:meth:`Services.timer_set`),
  so a wait shorter than the interval is not rounded up to the next poll.
* The **reconciler** enqueues again the runs whose lease ended without being renewed (a dead
  or frozen worker's): it wakes when the earliest lease ends (and every ``reconcile_interval``),
  so they move again right after ``lease_ttl``, without Dramatiq's maintenance, whatever the
  queue's backlog (their messages were consumed).
  It also finds runs that should be moving (in the ready index) but have no live lease and no
  recent enqueue. "Recent" is measured against the transport's backlog: a run still behind the
  oldest waiting message is not lost, and enqueueing it again would only lengthen the queue.
* The **requeuer** (a transport that can tell, flowgen's own Redis broker) puts back in their
  queue the messages a dead worker had fetched and not processed: those runs hold no lease, and
  would otherwise wait for their ``grace``.
* The **sweeper** removes runs whose retention ended, on every store that has a ``sweep``: on
  Redis it drops them from the indexes (their keys expire by themselves), on SQLite it deletes
  their rows. The memory store keeps nothing beyond the process and has none.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Sequence

from .clock import Clock
from .stores.base import Store

logger = logging.getLogger("flowgen.services")

BATCH = 1000
ALARM_HORIZON = 60.0
"""Seconds ahead within which a timer this process writes gets a precise wake-up."""
ALARM_LIMIT = 100_000
"""Most precise wake-ups pending at once in one process (about 1 MB); the poll serves the rest."""
ALARM_SLACK = 0.0
"""Seconds a precise wake-up waits past its due time: none is needed, since the tick claims with a
time at or past the alarm and the alarm is the timer's stored due time exactly (every store keeps
the float). It waited 1 ms, a millisecond of every short timer's lateness."""


class _Periodic(threading.Thread):
    """Call ``tick`` every ``interval`` seconds (again at once when it reports more work).

    ``next_due`` (optional) says when the next tick is needed sooner than ``interval`` (a
    store time, ``None`` for no sooner); :meth:`wake_at` asks for an earlier tick from another
    thread. The interval stays the safety net: a missed or lost wake-up costs one interval.
    """

    def __init__(
        self,
        name: str,
        interval: float,
        tick: Callable[[], bool],
        stop: threading.Event,
        *,
        now: Callable[[], float] | None = None,
        next_due: Callable[[], float | None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.tick = tick
        self.stop_event = stop
        self.now = now
        self.next_due = next_due
        self._wake = threading.Condition()
        self._alarms: list[float] = []
        """Store times to tick at (a heap), each dropped once a tick after it has run."""

    def wake_at(self, when: float, limit: int | None = None) -> None:
        """Tick at store time ``when`` (at the latest at the next interval), from any thread.

        With ``limit``, an alarm is dropped when that many are pending (the interval serves it).
        """
        with self._wake:
            if limit is not None and len(self._alarms) >= limit:
                return
            earliest = self._alarms[0] if self._alarms else None
            heapq.heappush(self._alarms, when)
            if earliest is None or when < earliest:
                self._wake.notify()

    def stop(self) -> None:
        """Wake the thread so that it sees the stop event at once."""
        with self._wake:
            self._wake.notify()

    def _sleep(self, failed: bool = False) -> None:
        """Wait ``interval``, or less when an alarm or ``next_due`` falls sooner.

        After a failed tick only the interval counts: what was due is still due, and waking
        for it at once would repeat the failure in a loop.
        """
        deadline = time.monotonic() + self.interval
        if failed:
            with self._wake:
                self._alarms.clear()
                self._wake.wait(self.interval)
            return
        if self.next_due is not None:
            try:
                due = self.next_due()
            except Exception:
                logger.exception("%s: reading when to wake failed", self.name)
            else:
                if due is not None:
                    self.wake_at(due)
        with self._wake:
            while not self.stop_event.is_set():
                wait = deadline - time.monotonic()
                if self._alarms and self.now is not None:
                    wait = min(wait, self._alarms[0] - self.now() + ALARM_SLACK)
                if wait <= 0:
                    break
                self._wake.wait(wait)
            # The tick about to run serves every alarm due by now (it sees what is due then).
            if self.now is not None:
                now = self.now()
                while self._alarms and self._alarms[0] <= now:
                    heapq.heappop(self._alarms)

    def run(self) -> None:
        while not self.stop_event.is_set():
            failed = False
            try:
                more = self.tick()
            except Exception:
                logger.exception("%s failed; retrying in %.1fs", self.name, self.interval)
                more, failed = False, True
            if not more:
                self._sleep(failed)


class Services:
    """The timer poller, reconciler and sweeper of one process.

    Args:
        store: the store to poll.
        enqueue: sends "advance run" messages.
        clock: the time source.
        grace: passed to the store (see ``Settings.grace``).
        backlog: how long the oldest message waiting in the transport's queue has waited
            (seconds); the reconciler leaves alone runs enqueued after it.
        timer_interval: how often to poll for due timers (bounds timer lateness).
        reconcile_interval: how often to look for stuck runs.
        sweep_interval: how often to sweep expired runs from indexes (default: a minute, or
            half the store's retention when that is shorter, so short retentions free the
            index entries of expired runs promptly).
        reenqueued: told how many runs each reconciler pass enqueued again (the metrics).
        requeue_lost: puts back in their queue the messages a dead worker had fetched and not
            processed (the transport's; their runs hold no lease, so without it they would wait
            for their ``grace``); called every ``requeue_interval`` seconds.
        fire: sends the runs whose timer fell due (default ``enqueue``); a worker's transport
            hands them to this process's free threads first (:mod:`flowgen.transports.here`).
    """

    def __init__(
        self,
        store: Store,
        enqueue: Callable[[Sequence[str]], None],
        clock: Clock,
        *,
        grace: float,
        backlog: Callable[[], float] = lambda: 0.0,
        timer_interval: float = 0.1,
        reconcile_interval: float = 2.0,
        sweep_interval: float | None = None,
        reenqueued: Callable[[int], None] | None = None,
        requeue_lost: Callable[[], int] | None = None,
        requeue_interval: float = 0.5,
        fire: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self.store = store
        self.reenqueued = reenqueued
        self.enqueue = enqueue
        self.fire = fire or enqueue
        self.clock = clock
        self.grace = grace
        self.backlog = backlog
        self._stop = threading.Event()
        self._timers = _Periodic(
            "flowgen-timers", timer_interval, self.fire_timers, self._stop, now=clock.now
        )
        self._reconciler = _Periodic(
            "flowgen-reconciler",
            reconcile_interval,
            self.reconcile,
            self._stop,
            now=clock.now,
            next_due=store.next_lease_check,
        )
        self._threads = [self._timers, self._reconciler]
        if requeue_lost is not None:

            def requeue() -> bool:
                requeue_lost()
                return False

            self._threads.append(_Periodic("flowgen-requeuer", requeue_interval, requeue, self._stop))
        if sweep_interval is None:
            retention = getattr(store, "retention", None)
            sweep_interval = 60.0 if retention is None else min(60.0, max(0.5, retention / 2))
        if hasattr(store, "sweep"):
            self._threads.append(_Periodic("flowgen-sweeper", sweep_interval, self.sweep, self._stop))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.stop()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def timer_set(self, due: float) -> None:
        """A timer due at ``due`` was just written: fire it then, not at the next poll.

        Called by this process's runtime when it parks a run on a timer. Timers due more
        than :data:`ALARM_HORIZON` ahead, or beyond :data:`ALARM_LIMIT` pending ones, are left
        to the poll (a million sleeping runs still cost no memory here), and so are other
        processes' timers when their writer died: at most ``timer_interval`` late.
        """
        if due - self.clock.now() <= ALARM_HORIZON:
            self._timers.wake_at(due, ALARM_LIMIT)

    def fire_timers(self) -> bool:
        """Enqueue the runs whose timer is due; true if there may be more."""
        due = self.store.claim_due_timers(self.clock.now(), BATCH, self.grace)
        if due:
            self.fire(due)
        return len(due) == BATCH

    def reconcile(self) -> bool:
        """Enqueue runs that should be moving but are not; true if there may be more."""
        ready = self.store.reconcile(self.clock.now(), BATCH, self.grace, self.backlog())
        if ready:
            # Routine: runs a client process created (its engine does not advance them), runs a
            # worker handed back, and runs whose lease ended. Not a fault by itself (a worker
            # that died shows in its own log and in the runs' crashed attempts), so it is said
            # as such; at most one line per pass. benchmarks/measure.py counts these lines.
            logger.info(
                "reconciler: enqueued %d ready run(s) that no worker had taken: %s", len(ready), ready[:10]
            )
            self.enqueue(ready)
            if self.reenqueued is not None:
                self.reenqueued(len(ready))
        return len(ready) >= BATCH

    def sweep(self) -> bool:
        swept = int(self.store.sweep(self.clock.now(), BATCH))  # type: ignore[attr-defined]
        return swept == BATCH
