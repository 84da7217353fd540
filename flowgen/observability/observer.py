"""The facts the runtime reports about runs, and the fan-out that hands them to observers.

The runtime reports a fact once the store has accepted the write that makes it true (after the
commit, never before): a crash or a lost lease before the commit reports nothing, and a replay
reports nothing again, because replaying journaled outcomes commits nothing new. So every fact
is reported **at most once**, in the process that committed it (see docs/observability.md).

Metrics (:mod:`.metrics`), tracing (:mod:`.tracing`) and hooks (:mod:`.hooks`) are observers.
An engine holds one :class:`Observers`; with none added, reporting a fact costs one truth test.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import attrs

logger = logging.getLogger("flowgen.observability")

SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
CONTINUED = "continued_as_new"
"""The status of the :class:`RunEnded` of a generation that ended with ``continue_as_new``."""
ATTEMPT_OUTCOMES = (SUCCEEDED, FAILED, TIMED_OUT)
"""The outcomes of a step attempt (the ``outcome`` label of ``flowgen_step_attempts_total``)."""


@attrs.frozen
class RunStarted:
    """A run left the queue: the first advance that journaled something for it began at ``started``.

    ``scheduled`` is when the run was due to start (its ``start_at``/``delay``, else its
    creation): ``started - scheduled`` is its schedule-to-start latency.
    """

    run_id: str
    workflow: str
    created: float
    started: float
    trace: str | None = None
    scheduled: float | None = None


@attrs.frozen
class AttemptEnded:
    """A step attempt ended and its outcome is journaled.

    Attributes:
        position: the journal position, ``"3"``, or the branch key ``"3/1"`` of a step branch.
        opened: when the step's journal entry (or branch record) was opened: with ``position``
            and ``attempt`` it names the attempt for good (a retried run reopens the entry).
        outcome: one of :data:`ATTEMPT_OUTCOMES`.
        error_type / error_message: the error of a failed attempt.
    """

    run_id: str
    workflow: str
    step: str
    position: str
    attempt: int
    generation: int
    opened: float
    started: float
    finished: float
    outcome: str
    error_type: str | None = None
    error_message: str | None = None
    trace: str | None = None


@attrs.frozen
class WaitEnded:
    """A sleep, an event wait or a wait for a child run ended and its outcome is journaled.

    Attributes:
        kind: ``"sleep"``, ``"event"`` or ``"child"``.
        name: the event type, the sleep's name, or the child's workflow.
        branch: the branch path of a wait inside ``all_of``/``any_of`` (``""`` for a command of
            its own).
        started: when the run reached it (for a branch, when its ``all_of``/``any_of`` opened).
        due: when the sleep was due (the event wait's deadline), ``None`` without one.
        ended: when the run went on (``ended - due`` is a sleep's timer lateness); for a branch,
            when the branch itself ended as journaled (a sleep's due time, an event's sending,
            a child's end).
        ok: false for an event wait that timed out or a child run that did not complete.
        error_type / error_message: why it was not ``ok``.
    """

    run_id: str
    workflow: str
    kind: str
    name: str
    position: int
    generation: int
    started: float
    due: float | None
    ended: float
    ok: bool
    trace: str | None = None
    branch: str = ""
    error_type: str | None = None
    error_message: str | None = None


@attrs.frozen
class RunEnded:
    """A run finished: ``status`` is ``completed``, ``failed`` or ``cancelled``."""

    run_id: str
    workflow: str
    status: str
    created: float
    finished: float
    generation: int
    journal_length: int
    error_type: str | None = None
    error_message: str | None = None
    trace: str | None = None


@attrs.frozen
class RunParked:
    """A run parked (``waiting`` or ``paused``) after an advance."""

    run_id: str
    workflow: str
    status: str


TRACING_ENV = "FLOWGEN_TRACING"
"""``1`` or ``0``: the default of ``Engine(tracing=None)`` in this process (``flowgen worker`` too)."""

_SWITCH = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False, "": None}


def tracing_from_environment() -> bool | None:
    """What ``$FLOWGEN_TRACING`` says (``None`` when unset).

    Raises:
        ConfigurationError: a value other than 1/0, true/false, on/off.
    """
    from ..errors import ConfigurationError

    text = os.environ.get(TRACING_ENV, "").strip().lower()
    if text not in _SWITCH:
        raise ConfigurationError(
            f"${TRACING_ENV} must be 1 or 0 (on or off), got {os.environ[TRACING_ENV]!r}"
        )
    return _SWITCH[text]


class Observer:
    """What observers may be told; each method does nothing unless overridden."""

    def enabled(self) -> bool:
        """Whether the observer wants facts now (tracing does not while no tracer provider is set)."""
        return True

    def run_started(self, fact: RunStarted) -> None:
        """A run left the queue (its first advance)."""

    def attempt_ended(self, fact: AttemptEnded) -> None:
        """A step attempt ended and its outcome is journaled."""

    def wait_ended(self, fact: WaitEnded) -> None:
        """A sleep or event wait ended and its outcome is journaled."""

    def run_parked(self, fact: RunParked) -> None:
        """A run parked until a timer, an event, a branch or a child."""

    def run_ended(self, fact: RunEnded) -> None:
        """A run finished."""

    def generation_ended(self, fact: RunEnded) -> None:
        """A generation of a run ended with ``continue_as_new`` (``fact.status`` is
        :data:`CONTINUED`): the run goes on with a new journal, so it did not finish."""

    def lease_lost(self, run_id: str, workflow: str) -> None:
        """This process lost the lease of a run it was advancing (another worker took it over)."""

    def reenqueued(self, count: int) -> None:
        """The reconciler enqueued ``count`` runs again (their lease ended without renewal)."""

    def event_sent(self, run_id: str, event_type: str, delivered: bool) -> None:
        """``send_event`` was called in this process; ``delivered`` is false for a duplicate id."""

    def close(self) -> None:
        """The engine closes: release what the observer holds for it."""


def error_fields(error: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The type (``module.Qualname``, as ``RunInfo.error.type``) and message of an error record."""
    if not error:
        return None, None
    return str(error.get("type", "")).replace(":", ".") or None, str(error.get("message", "")) or None


class Observers(Observer):
    """The observers of one engine; a fact goes to each, and an observer's failure is only logged.

    ``trace_context`` is set by tracing: it returns the caller's trace context to store with a
    run that :meth:`flowgen.Engine.start` creates (``None`` outside a trace).
    """

    def __init__(self) -> None:
        self.items: list[Observer] = []
        self.trace_context: Callable[[], str | None] | None = None

    def __bool__(self) -> bool:
        """True when some observer wants facts: the runtime builds none otherwise."""
        return any(observer.enabled() for observer in self.items)

    def add(self, observer: Observer) -> None:
        if observer not in self.items:
            self.items.append(observer)

    def remove(self, observer: Observer) -> None:
        if observer in self.items:
            self.items.remove(observer)

    def _tell(self, method: str, *args: Any) -> None:
        for observer in self.items:
            if not observer.enabled():
                continue
            try:
                getattr(observer, method)(*args)
            except Exception:
                logger.exception("observer %r failed on %s", observer, method)

    def run_started(self, fact: RunStarted) -> None:
        self._tell("run_started", fact)

    def attempt_ended(self, fact: AttemptEnded) -> None:
        self._tell("attempt_ended", fact)

    def wait_ended(self, fact: WaitEnded) -> None:
        self._tell("wait_ended", fact)

    def run_parked(self, fact: RunParked) -> None:
        self._tell("run_parked", fact)

    def run_ended(self, fact: RunEnded) -> None:
        self._tell("run_ended", fact)

    def generation_ended(self, fact: RunEnded) -> None:
        self._tell("generation_ended", fact)

    def lease_lost(self, run_id: str, workflow: str) -> None:
        self._tell("lease_lost", run_id, workflow)

    def reenqueued(self, count: int) -> None:
        self._tell("reenqueued", count)

    def event_sent(self, run_id: str, event_type: str, delivered: bool) -> None:
        self._tell("event_sent", run_id, event_type, delivered)

    def close(self) -> None:
        self._tell("close")
