"""What an evaluator decides, as data: the vocabulary between the evaluators and the advance loop.

An evaluator (one module per command family, chosen by :mod:`.dispatch`) looks at the run
through a :class:`~.view.RunView` and returns one :data:`Action`. The advance loop
(:mod:`.advance`) applies it: it commits, parks the run, runs a step attempt, reads more facts or
creates child runs. Actions that do not end the command (:class:`RunAttempt`, :class:`Load`,
:class:`StartChildren`, :class:`Begin`, :class:`SetStatus`, :class:`DeliverCancel`,
:class:`Warn`) are followed by another evaluation of the same command with the new facts.

They are plain values (mutable attrs classes only because those are cheaper to build on the
hot path; nothing mutates them).
"""

from __future__ import annotations

from typing import Any

import attrs

from ..context import StepContext
from ..decorators import Step
from ..interpreter import Outcome
from ..journal import Attempt, Entry, LeafOutcome, LeafState, OpenEntry
from ..status import RunStatus
from ..stores.base import NewRun


@attrs.define
class Dispatch:
    """Send attempt ``attempt`` of the step branch ``key`` as its own message, after the next commit.

    ``record`` is the branch record written with that commit (what the worker that runs the
    attempt reads: the step, its encoded arguments, the run's workflow and generation).
    """

    key: str
    attempt: int
    record: dict[str, Any]
    queue: str | None


@attrs.define
class StartChild:
    """Create the child run ``new`` (idempotent on its run id), and read it back if the parent waits."""

    new: NewRun
    read_back: bool


@attrs.define
class Resolve:
    """The command is decided: journal ``entry`` and send ``outcome`` into the workflow.

    Attributes:
        consume: inbox events ``(type, id)`` the outcome used (popped by the same commit).
        dispatch: branch messages decided in the same evaluation.
        drop_branches: branch records of this position to delete (their outcomes are moot).
        cancel_children: child runs to cancel after the commit (losers of an ``any_of``).
        deliver_cancel: the outcome is the requested cancellation (the run will end cancelled).
        status: the run's status from the next commit (``running`` after ``compensate()``).
    """

    entry: Entry
    outcome: Outcome
    consume: tuple[tuple[str, str], ...] = ()
    dispatch: tuple[Dispatch, ...] = ()
    drop_branches: tuple[str, ...] = ()
    cancel_children: tuple[str, ...] = ()
    deliver_cancel: bool = False
    status: RunStatus | None = None


@attrs.define
class Wait:
    """Park the run until an event of ``types``, the ``timer``, or (``internal``) a branch or child.

    ``status`` is the status it parks in (``paused`` for a pause); ``dispatch`` the branch
    messages to send once parked; ``wake_at``: when the first branch refused by a limit is due
    again (a precise wake-up in this process then, :func:`~.gates.wake_precisely`).
    """

    types: tuple[str, ...] = ()
    timer: float | None = None
    internal: bool = False
    status: RunStatus = RunStatus.WAITING
    dispatch: tuple[Dispatch, ...] = ()
    wake_at: float | None = None


@attrs.define
class RunAttempt:
    """Run one attempt of a step body in this thread, now.

    ``attempt`` is already in ``state`` (the step's branch state in the open entry). With
    ``records_start`` the open entry is committed first (holding if a pause or a cancellation
    is pending: the loop then reports the attempt as held). ``backoff`` is the retry time the
    attempt replaced, restored if it is held.
    """

    step: Step
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    context: StepContext
    state: LeafState
    attempt: Attempt
    backoff: float | None
    records_start: bool


@attrs.define
class Held:
    """A step attempt did not start because a pause or cancellation is pending: look at them again."""


HELD = Held()


@attrs.define
class Load:
    """Read more facts, then evaluate again: events of these types (counted: ``["a", "a"]`` is two
    events of ``a``), the records of these child runs, the journal, and these completed child
    runs replayed for a saga (:attr:`~.view.RunView.child_histories`)."""

    event_types: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    journal: bool = False
    child_histories: tuple[str, ...] = ()


@attrs.define
class StartChildren:
    """Create these child runs (with the branch messages decided meanwhile), then evaluate again."""

    runs: tuple[StartChild, ...]
    dispatch: tuple[Dispatch, ...] = ()


@attrs.define
class Begin:
    """Make ``entry`` the open entry and commit it now, setting the run's ``status``."""

    entry: OpenEntry
    status: RunStatus


@attrs.define
class SetStatus:
    """Set the run's status with the next commit."""

    status: RunStatus


@attrs.define
class DeliverCancel:
    """The requested cancellation is delivered now: the run will end cancelled."""


@attrs.define
class Warn:
    """The journal passed the warning threshold: log it (once per advance)."""

    position: int


@attrs.define
class FailRun:
    """End the run failed with ``error``.

    ``discard_pending`` drops what this advance decided but has not committed (the advance
    itself failed: a value that cannot be encoded, non-determinism); ``append`` is an entry to
    journal first (the compensation entry of a failed saga).
    """

    error: BaseException
    discard_pending: bool = False
    append: Entry | None = None


@attrs.define
class Restart:
    """Continue as new: empty the journal and start the workflow over with these arguments."""

    args_text: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


Action = (
    Resolve
    | Wait
    | RunAttempt
    | Held
    | Load
    | StartChildren
    | Begin
    | SetStatus
    | DeliverCancel
    | Warn
    | FailRun
    | Restart
)
"""Everything an evaluator may return."""

BranchOutcome = LeafOutcome | FailRun | None
"""What evaluating one branch of a tree gives: its outcome, a failed run, or ``None`` (pending)."""
