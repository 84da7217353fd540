"""The local transport: advance runs on threads of this process (embedded engines).

Used by the embedded engines (``sqlite://`` and ``memory://``). It is a plain work queue with
worker threads rather than Dramatiq on an in-process broker: the messages never leave the
process, so broker features (serialization, acks, dead letters, delays) would only add cost
and failure modes. What survives a crash is in the store, not in this queue: at start-up the
engine enqueues every run the store says should be moving, and the reconciler keeps doing so.
"""

from __future__ import annotations

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
        self._queue: queue.Queue[Any] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._busy = 0
        self._idle = threading.Condition()

    def bind(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def enqueue(self, run_ids: Sequence[str]) -> None:
        """Queue "advance" messages; dropped when no worker thread runs (see :meth:`start`)."""
        if self._workers:
            now = time.monotonic()
            for run_id in run_ids:
                self._queue.put((now, "advance", run_id))

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue_name: str | None) -> None:
        if self._workers:
            self._queue.put((time.monotonic(), "branch", run_id, key, attempt))

    def backlog(self) -> float:
        """Seconds the oldest queued message has waited (0 when the queue is empty)."""
        with self._queue.mutex:
            head = self._queue.queue[0] if self._queue.queue else None
        if head is None or head is _STOP:
            return 0.0
        enqueued: float = head[0]
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
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._workers:
            self._queue.put(_STOP)
        for thread in self._workers:
            thread.join(timeout)
        self._workers = []

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            with self._idle:
                self._busy += 1
            try:
                receiver = self.receiver
                assert receiver is not None, "LocalTransport.bind() was not called"
                if item[1] == "advance":
                    receiver.advance(item[2])
                else:
                    receiver.run_branch(item[2], item[3], item[4])
            except Exception:
                logger.exception("processing %r failed", item)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def idle(self) -> bool:
        """True when nothing is queued or being processed."""
        with self._idle:
            return self._busy == 0 and self._queue.empty()
