"""Precise wake-ups of runs parked for a moment on a rate limit or a step limit.

A run whose step attempt may not start yet parks on its durable timer, and the timer poller
(``timer_interval``, 100 ms by default) enqueues it when the timer is due: on average half an
interval late, plus the message and the advance. For a rate limit that lateness is paid on
every token: a token's next start is one period after its last *actual* start, so a waiter
woken L late makes that token's cycle ``per + L`` long and the achieved rate
``count / (per + L)`` (188/s for ``RateLimit(200, per="1s")`` under load).

So a worker process that parks a run for at most :data:`HORIZON` seconds also asks this
process's :class:`Wakeups` to wake it at the very moment its token or slot is expected (one
thread per process, a heap of due times; no worker thread waits), and moves the durable timer
:data:`FALLBACK` seconds later: it fires only if this process died before the wake-up (the run
is then late by that much, never lost). A run woken too early is told the new time and parks
again.

**Ahead of the queue.** Enqueued, a woken run's message goes to the *back* of the transport's
queue: behind a backlog (2,000 runs started at once, most of them refused by their rate limit
at their first advance) it was advanced only once the messages ahead were, up to seconds after
its token. So when every worker thread of the process is busy (:meth:`Wakeups.working` counts
them), a due run is **handed over** instead: the next worker thread to take a message advances
the due runs first (:meth:`Wakeups.take`, no store call). A run no thread took within
:data:`HANDOFF` seconds (the threads are all in long step bodies) is enqueued after all; with a
thread free, a due run is enqueued at once (a free thread takes its message at once).
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import threading
import time
from collections.abc import Callable, Iterator, Sequence

HORIZON = 10.0
"""Parks of at most this many seconds get a precise wake-up."""

FALLBACK = 1.0
"""How much later than the precise wake-up the durable timer is set."""

LIMIT = 100_000
"""Wake-ups a process keeps at most (beyond it, the durable timer alone wakes the run,
:data:`FALLBACK` late)."""

HANDOFF = 0.05
"""Seconds a due run handed over to the busy worker threads waits for one before it is enqueued."""


class Wakeups:
    """A heap of ``(due, run id)`` and the thread that wakes each run when it is due.

    ``threads``: the worker threads of this process (0: never hand over, always enqueue).
    """

    def __init__(
        self, enqueue: Callable[[Sequence[str]], None], now: Callable[[], float] = time.time, threads: int = 0
    ) -> None:
        self._enqueue = enqueue
        self._now = now
        self._threads = threads
        self._heap: list[tuple[float, str]] = []
        self._handed: collections.deque[tuple[float, str]] = collections.deque()
        self._busy = 0
        self.fired = 0
        """Runs woken so far (handed over or enqueued): what tests and diagnostics read."""
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="flowgen-wakeups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop waking runs (their durable timers still will; handed-over runs are enqueued)."""
        with self._ready:
            self._stopped = True
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def at(self, run_id: str, due: float) -> None:
        """Wake ``run_id`` at ``due`` (ignored when stopped or full: its durable timer wakes it)."""
        with self._ready:
            if self._stopped or len(self._heap) >= LIMIT:
                return
            heapq.heappush(self._heap, (due, run_id))
            if self._heap[0][1] == run_id:
                self._ready.notify()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Count a worker thread as busy for the block (an advance of a message)."""
        with self._ready:
            self._busy += 1
        try:
            yield
        finally:
            with self._ready:
                self._busy -= 1

    def take(self) -> str | None:
        """A due run handed over to this process's worker threads, first due first (``None``: none)."""
        with self._ready:
            return self._handed.popleft()[1] if self._handed else None

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._stopped and not self._something_due():
                    self._ready.wait(self._next_moment())
                now = self._now()
                due: list[str] = []
                while self._handed and (self._stopped or self._handed[0][0] <= now - HANDOFF):
                    due.append(self._handed.popleft()[1])  # no thread took it: its message then
                busy = self._threads > 0 and self._busy >= self._threads
                while not self._stopped and self._heap and self._heap[0][0] <= now:
                    run_id = heapq.heappop(self._heap)[1]
                    self.fired += 1
                    if busy:
                        self._handed.append((now, run_id))
                    else:
                        due.append(run_id)
                stopped = self._stopped
            if due:
                with contextlib.suppress(Exception):  # their durable timers wake them
                    self._enqueue(due)
            if stopped:
                return

    def _something_due(self) -> bool:
        now = self._now()
        return bool(
            (self._heap and self._heap[0][0] <= now) or (self._handed and self._handed[0][0] <= now - HANDOFF)
        )

    def _next_moment(self) -> float | None:
        """Seconds until the next due run or hand-over timeout (``None``: nothing to wait for)."""
        moments = [self._heap[0][0]] if self._heap else []
        if self._handed:
            moments.append(self._handed[0][0] + HANDOFF)
        return max(0.0, min(moments) - self._now()) if moments else None
