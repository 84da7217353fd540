"""The local transport: advance runs on threads of this process (embedded engines).

Used by the embedded engines (``sqlite://`` and ``memory://``). It is a plain work queue with
worker threads rather than Dramatiq on an in-process broker: the messages never leave the
process, so broker features (serialization, acks, dead letters, delays) would only add cost
and failure modes. What survives a crash is in the store, not in this queue: at start-up the
engine enqueues every run the store says should be moving, and the reconciler keeps doing so.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Collection, Sequence
from typing import Any

from .base import Receiver, Stop

logger = logging.getLogger("flowgen.transports.local")

_STOP = object()


class LocalTransport:
    """A thread pool fed by ``enqueue`` / ``enqueue_branch`` (a :class:`~.base.Transport`).

    Queues are ignored: every message is processed by this process's threads.

    Args:
        threads: how many runs (or branches) advance at once.
    """

    def __init__(self, threads: int = 8) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self.receiver: Receiver | None = None
        # A SimpleQueue (put and get in C, no Python-level condition per message) and, beside
        # it, when each queued message was sent: appended before its put, popped after its get,
        # so ``_sent[0]`` is the oldest queued message's time.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sent: collections.deque[float] = collections.deque()
        self._workers: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()

    def bind(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def enqueue(self, run_ids: Sequence[str]) -> None:
        """Queue "advance" messages; dropped when no worker thread runs (see :meth:`start`)."""
        if self._workers:
            now = time.monotonic()
            sent, put = self._sent, self._queue.put
            for run_id in run_ids:
                sent.append(now)
                put(("advance", run_id))

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue_name: str | None) -> None:
        if self._workers:
            self._sent.append(time.monotonic())
            self._queue.put(("branch", run_id, key, attempt))

    def backlog(self) -> float:
        """Seconds the oldest queued message has waited (0 when the queue is empty)."""
        try:
            enqueued = self._sent[0]
        except IndexError:
            return 0.0
        return max(0.0, time.monotonic() - enqueued)

    def unconsumed(self, queues: Collection[str]) -> list[str]:
        """Always ``[]``: this process's threads process every queue."""
        return []

    def consume(
        self, threads: int, queues: Sequence[str] | None = None, declare: Collection[str] = ()
    ) -> Stop:
        """Start ``threads`` worker threads (see :meth:`start`); ``queues`` and ``declare`` do not matter here."""
        self.threads = threads
        self.start()
        return self.stop

    def start(self) -> None:
        """Start the worker threads. Until then messages are dropped: an engine that does not
        advance runs itself leaves them to the reconciler of the process that does (the store
        records every run that should be moving)."""
        if self._workers:
            return
        for index in range(self.threads):
            thread = threading.Thread(target=self._work, name=f"flowgen-worker-{index}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the messages being processed, drop the queued ones (the store keeps them)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                self._sent.popleft()
        for _ in self._workers:
            self._queue.put(_STOP)
        for thread in self._workers:
            thread.join(timeout)
        self._workers = []

    def _work(self) -> None:
        get, sent = self._queue.get, self._sent
        while True:
            item = get()
            if item is _STOP:
                return
            sent.popleft()
            with self._busy_lock:
                self._busy += 1
            try:
                receiver = self.receiver
                assert receiver is not None, "LocalTransport.bind() was not called"
                if item[0] == "advance":
                    receiver.advance(item[1])
                else:
                    receiver.run_branch(item[1], item[2], item[3])
            except Exception:
                logger.exception("processing %r failed", item)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def idle(self) -> bool:
        """True when nothing is queued or being processed."""
        return self._busy == 0 and self._queue.empty()
