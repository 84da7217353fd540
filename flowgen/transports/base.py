"""The transport contract: how "advance run X" and "run attempt N of branch K" reach a worker.

A transport carries ids only; everything durable is in the store, so a lost message is repaired
by the reconciler and a duplicate one is a no-op (every write is fenced). Three implement it:

* :mod:`.dramatiq` — Dramatiq on Redis, for ``flowgen worker`` processes (the advance actor and
  the branch actor), or on an app's own broker for its ``dramatiq`` workers (:mod:`.app_broker`);
* :mod:`.local` — a work queue and threads in this process, for embedded engines;
* :mod:`.inline` — a queue the test runner drains in the calling thread.

The engine holds a :class:`Transport`; the runtime only ever calls :meth:`Transport.enqueue` and
:meth:`Transport.enqueue_branch`, and receives messages through :meth:`Transport.bind`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol


class Receiver(Protocol):
    """What a transport delivers messages to (a :class:`flowgen.runtime.Runtime`)."""

    def advance(self, run_id: str) -> None:
        """Advance the run as far as it can go now."""
        ...

    def run_branch(self, run_id: str, key: str, attempt: int) -> None:
        """Run attempt ``attempt`` of the step branch ``key`` (``"<position>/<path>"``) of the run."""
        ...


Stop = Callable[[], None]
"""Stops what :meth:`Transport.consume` started (gracefully: messages being processed finish)."""


class Transport(Protocol):
    """What the engine and the runtime need from a transport; see the module docstring."""

    def bind(self, receiver: Receiver) -> None:
        """Deliver the messages this process receives to ``receiver``."""
        ...

    def enqueue(self, run_ids: Sequence[str]) -> None:
        """Send one "advance" message per run id (several in one round trip where possible)."""
        ...

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue: str | None) -> None:
        """Send "run attempt ``attempt`` of branch ``key``" on ``queue`` (``None``: the transport's own)."""
        ...

    def backlog(self) -> float:
        """Seconds the oldest message still waiting for a worker has waited (0 when it cannot tell).

        The reconciler leaves alone runs enqueued after that message: they are behind it in
        the queue, not lost.
        """
        ...

    def consume(
        self, threads: int, queues: Sequence[str] | None = None, declare: Collection[str] = ()
    ) -> Stop:
        """Start receiving messages in this process on ``threads`` threads; return how to stop.

        Args:
            queues: the queues to consume; ``None``: every queue this process declares (the
                transport's own, those in ``declare``, and any it sends to later).
            declare: the queues steps are routed to (``@step(queue=...)``), declared up front.
        """
        ...

    def unconsumed(self, queues: Collection[str]) -> list[str]:
        """The queues among ``queues`` that no live worker consumes (``[]`` when it cannot tell).

        A branch routed to such a queue waits until a worker consuming it starts.
        """
        ...
