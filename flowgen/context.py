"""``flowgen.step_context()``: what a running step knows about itself.

The idempotency key is ``"<run id>:<generation>:<position>"``: the same for every attempt of a
step (retries, and re-runs after a worker crashed), different for every other step call, and
renewed when a run restarts or continues as new. Pass it to payment APIs and the like so a
step that runs twice has its effect once.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from .errors import FlowgenError


@attrs.frozen
class StepContext:
    """The identity of the step attempt running in this thread.

    Attributes:
        run_id: the run the step belongs to.
        workflow: the run's workflow name.
        step: the step's name.
        position: the journal position, ``"3"``, or ``"3/1"`` for member 1 of an ``all_of``.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        generation: how many times the run restarted or continued as new.
    """

    run_id: str
    workflow: str
    step: str
    position: str
    attempt: int
    generation: int = 0

    @property
    def idempotency_key(self) -> str:
        """A key stable across retries and crashes of this step, unique to this step call."""
        return f"{self.run_id}:{self.generation}:{self.position}"


_current: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar("flowgen_step", default=None)


def step_context() -> StepContext:
    """Return the context of the step running in this thread.

    Raises:
        FlowgenError: when called outside a step (in a workflow body, or in plain code).
    """
    context = _current.get()
    if context is None:
        raise FlowgenError(
            "flowgen.step_context() was called outside a running step; call it from the body of a "
            "@flowgen.step function while flowgen executes it"
        )
    return context


def enter_step(context: StepContext) -> contextvars.Token[StepContext | None]:
    """Make ``context`` the current step context until :func:`leave_step` (while
    the step body runs; a pair of calls rather than a context manager: it is on the hot path)."""
    return _current.set(context)


def leave_step(token: contextvars.Token[StepContext | None]) -> None:
    _current.reset(token)


def current_step() -> StepContext | None:
    """The context of the step running in this thread, or ``None`` (for logging)."""
    return _current.get()


@contextmanager
def running_step(context: StepContext) -> Iterator[StepContext]:
    """Make ``context`` the current step context for the duration of the block."""
    token = enter_step(context)
    try:
        yield context
    finally:
        leave_step(token)
