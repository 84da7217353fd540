"""The inline transport: messages wait in a deque until the caller processes them, in its own thread.

This is the transport of :class:`flowgen.testing.Runner`: "advance run X" and "run attempt N of
branch K" messages are not handed to worker threads, they are queued, and
:meth:`InlineTransport.run_until_idle` processes them (and those they queue) in the calling
thread until none is left. Everything else is the production runtime, so what passes under the
runner is what runs on a worker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence

from ..errors import ConfigurationError, FlowgenError
from .base import Receiver, Stop

MAX_MESSAGES = 1_000_000
"""Default bound of one :meth:`InlineTransport.run_until_idle` call."""


class MessageLimitError(FlowgenError):
    """:meth:`InlineTransport.run_until_idle` processed its limit of messages and runs still had work."""


class InlineTransport:
    """A transport that queues messages in memory for :meth:`run_until_idle` to process.

    An advance message for a run already waiting in the queue is not queued twice: processing
    it once advances the run as far as it can go. Queues do not matter (everything runs here).
    """

    def __init__(self) -> None:
        self.receiver: Receiver | None = None
        self.messages: deque[tuple[str, str, str, int] | tuple[str, str]] = deque()
        self._queued_runs: set[str] = set()
        self._running = False

    def bind(self, receiver: Receiver) -> None:
        """Deliver messages to ``receiver`` (the runtime) from now on."""
        self.receiver = receiver

    def enqueue(self, run_ids: Sequence[str]) -> None:
        """Queue "advance run X" messages (a run already queued is not queued twice)."""
        for run_id in run_ids:
            if run_id not in self._queued_runs:
                self._queued_runs.add(run_id)
                self.messages.append(("advance", run_id))

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue: str | None) -> None:
        """Queue "run attempt N of branch K" (the queue name is ignored: one process runs all)."""
        self.messages.append(("branch", run_id, key, attempt))

    def backlog(self) -> float:
        """Always 0: messages wait only until the caller processes them."""
        return 0.0

    def unconsumed(self, queues: Collection[str]) -> list[str]:
        """Always ``[]``: every queue is processed here."""
        return []

    def consume(
        self, threads: int, queues: Sequence[str] | None = None, declare: Collection[str] = ()
    ) -> Stop:
        """Not supported: the inline transport's messages are processed by :meth:`run_until_idle`."""
        raise ConfigurationError(
            "the inline transport has no worker threads; its messages are processed by run_until_idle() "
            "(flowgen.testing.Runner does that after every call)"
        )

    def run_until_idle(self, limit: int = MAX_MESSAGES) -> int:
        """Process queued messages, and those they queue, until none is left; return how many.

        Re-entrant calls (a step body that sends an event to a run of the same runner) return
        at once: the outer call processes what they queued.

        Raises:
            MessageLimitError: more than ``limit`` messages in one go (runs that never block).
        """
        if self._running:
            return 0
        receiver = self.receiver
        if receiver is None:
            raise ConfigurationError("InlineTransport.bind() was not called before run_until_idle()")
        self._running = True
        processed = 0
        try:
            while self.messages:
                if processed >= limit:
                    raise MessageLimitError(
                        f"the runner processed {limit} messages without the runs blocking; a workflow "
                        "probably loops without ever waiting (check loops around steps and events)"
                    )
                message = self.messages.popleft()
                processed += 1
                if len(message) == 2:
                    self._queued_runs.discard(message[1])
                    receiver.advance(message[1])
                else:
                    receiver.run_branch(message[1], message[2], message[3])
        finally:
            self._running = False
        return processed
