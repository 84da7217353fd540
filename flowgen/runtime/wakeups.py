"""Precise wake-ups of runs parked for a moment on a rate limit or a step limit.

A run whose step attempt may not start yet parks on its durable timer, and the timer poller
(``timer_interval``, 100 ms by default) enqueues it when the timer is due: on average half an
interval late, plus the message and the advance. For a rate limit that lateness is paid on
every token: a token's next start is one period after its last *actual* start, so a waiter
woken L late makes that token's cycle ``per + L`` long and the achieved rate
``count / (per + L)`` (188/s for ``RateLimit(200, per="1s")`` under load).

So a worker process that parks a run for at most :data:`HORIZON` seconds also asks this
process's :class:`Wakeups` to enqueue it at the very moment its token or slot is expected
(one thread per process, a heap of due times; no worker thread waits), and moves the durable
timer :data:`FALLBACK` seconds later: it fires only if this process died before the wake-up
(the run is then late by that much, never lost). A run woken too early is told the new time
and parks again.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence

HORIZON = 10.0
"""Parks of at most this many seconds get a precise wake-up."""

FALLBACK = 1.0
"""How much later than the precise wake-up the durable timer is set."""

LIMIT = 100_000
"""Wake-ups a process keeps at most (beyond it, the durable timer alone wakes the run,
:data:`FALLBACK` late)."""


class Wakeups:
    """A heap of ``(due, run id)`` and the thread that enqueues each run when it is due."""

    def __init__(self, enqueue: Callable[[Sequence[str]], None], now: Callable[[], float] = time.time) -> None:
        self._enqueue = enqueue
        self._now = now
        self._heap: list[tuple[float, str]] = []
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="flowgen-wakeups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop waking runs (their durable timers still will)."""
        with self._ready:
            self._stopped = True
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def at(self, run_id: str, due: float) -> None:
        """Enqueue ``run_id`` at ``due`` (ignored when stopped or full: its durable timer wakes it)."""
        with self._ready:
            if self._stopped or len(self._heap) >= LIMIT:
                return
            heapq.heappush(self._heap, (due, run_id))
            if self._heap[0][1] == run_id:
                self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._stopped and (not self._heap or self._heap[0][0] > self._now()):
                    self._ready.wait(None if not self._heap else self._heap[0][0] - self._now())
                if self._stopped:
                    return
                now = self._now()
                due: list[str] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[1])
            try:
                self._enqueue(due)
            except Exception:
                continue
