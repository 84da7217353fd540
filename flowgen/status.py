"""The vocabulary of run statuses, shared by the stores, the runtime, the client and the CLI.

A run's status is one :class:`RunStatus`. Its values are the strings stored in Redis hashes
and SQLite rows and printed in JSON output, so a member compares equal to its string
(``RunStatus.COMPLETED == "completed"``) and formats as it (``f"{RunStatus.COMPLETED}"`` is
``completed``). The Lua scripts of the Redis store spell the same strings; a test checks that
their notion of "finished" is :data:`FINISHED`.
"""

from __future__ import annotations

from enum import Enum


class TextEnum(str, Enum):
    """A ``str`` enum whose members print and format as their value (the stored string).

    A plain ``str`` mix-in enum formats as ``RunStatus.COMPLETED`` on Python >= 3.11; messages,
    logs and JSON must show ``completed``.
    """

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)


class RunStatus(TextEnum):
    """Where a run is in its life (see docs/architecture.md, "Run statuses").

    * ``queued``: created or made ready again, waiting for a worker to take it.
    * ``running``: a worker holds its lease and is advancing it.
    * ``waiting``: parked until an event, a timer, a branch outcome or a child run wakes it.
    * ``paused``: parked by ``pause()`` until ``resume()``.
    * ``compensating``: failed and running the compensations of its completed steps.
    * ``completed`` / ``failed`` / ``cancelled``: finished (see :data:`FINISHED`).
    """

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        """Whether the run has ended, so nothing advances it any more (``restart()`` starts it again)."""
        return self in FINISHED

    @classmethod
    def parse(cls, text: str) -> RunStatus:
        """The status named ``text``; ``ValueError`` naming the value and the valid ones if none is."""
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"unknown status {text!r}; use one of {', '.join(status.value for status in cls)}"
            ) from None


FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
"""The statuses of a run that has ended (the Lua scripts' ``is_finished`` says the same)."""

STORED: dict[str, RunStatus] = {status.value: status for status in RunStatus}
"""The status of each stored string: what stores use to read a record (``RunStatus(text)``
costs a call into the enum machinery, and stores read a status at every step)."""
