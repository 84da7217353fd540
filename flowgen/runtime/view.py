"""What an evaluator sees of a run: the :class:`RunView` protocol, and the facts it is made of.

Evaluators are pure in the sense that matters here: they do no I/O. They never call the store,
the transport or a step body, and never commit anything. They read the run through a
:class:`RunView` (what is known *now*: the run's record, its inbox heads, branch records, child
records, its journal, the time) and they update the one thing that is theirs, the **working
record** of the command they evaluate (its open entry, reached through
:meth:`RunView.open_entry`, and, for inline steps, the advance's :class:`StepProgress`). What
they decide comes back as an action (:mod:`.actions`); the advance loop applies it, which is
when the working record gets committed.

The advance loop (:class:`flowgen.runtime.advance.Advance`) implements this protocol; a test
can implement it with plain data and call an evaluator with no store at all.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..commands import Command, StepCall
from ..decorators import Step, Workflow
from ..journal import Entry, OpenEntry
from ..serialization import Serializer
from ..steps import AttemptResult
from ..stores.base import InboxEvent, NewRun, RunRecord
from .settings import Settings

if TYPE_CHECKING:
    from .actions import RunAttempt


@attrs.define
class StepProgress:
    """How far this advance got with inline steps (the steps family's own working record).

    Attributes:
        interrupted: the previous lease holder stopped without parking, finishing or releasing
            the run (it died during the first step of its advance, which records its start
            only with its result); the first step this advance runs is charged that crash.
        recovering: a crash was charged in this advance: every later attempt records its
            start before its body runs, so crashes keep counting.
        ran_a_step: a step attempt has run in this advance (the first one need not record
            its start first, see :mod:`flowgen.runtime.steps`).
    """

    interrupted: bool = False
    recovering: bool = False
    ran_a_step: bool = False


@attrs.define
class FinishedAttempt:
    """A fact the loop reports back: the step attempt it ran for ``action``, and when it ended."""

    action: RunAttempt
    result: AttemptResult
    finished: float


@attrs.define
class StartedChild:
    """A fact the loop reports back: it created (or found) the child run ``new`` asked for."""

    new: NewRun
    created: bool
    record: RunRecord
    refused: str = ""
    """Why the store refused to create it (:class:`~flowgen.errors.RunPlacementError`), if it did."""

    @property
    def conflicts(self) -> bool:
        """The run id was already used by a run of another workflow or with other arguments."""
        return not self.created and self.record.fingerprint != self.new.fingerprint


@attrs.define
class ChildHistory:
    """A fact the loop reports back: a child run read and replayed for its parent's saga.

    ``record`` is ``None`` when there is no such run. For a completed child, ``history`` is
    every command its workflow yielded and ``journal`` its entries; ``problem`` says why it
    could not be replayed (its code changed, a value does not verify), if so.
    """

    record: RunRecord | None
    journal: Sequence[Entry] = ()
    history: Sequence[Any] = ()
    problem: str | None = None


class InboxView:
    """What this advance knows of the run's inboxes: the first events of some types.

    ``knows(type, n)`` is true when ``n`` events of ``type`` are in view or the last read
    returned everything the store had. Events taken by this advance (to be consumed by its
    next commit) leave the view, so two waits on one type never get the same event.
    """

    def __init__(self) -> None:
        self.events: dict[str, list[InboxEvent]] = {}
        self.complete: set[str] = set()

    def loaded(
        self, asked: Mapping[str, int], events: Mapping[str, list[InboxEvent]], taken: Iterable[str]
    ) -> None:
        skip = set(taken)
        for event_type, count in asked.items():
            found = events.get(event_type, [])
            if len(found) < count:
                self.complete.add(event_type)
            self.events[event_type] = [event for event in found if event.id not in skip]

    def knows(self, event_type: str, count: int) -> bool:
        return len(self.events.get(event_type, ())) >= count or event_type in self.complete

    def take(self, event_type: str, event_id: str) -> None:
        self.events[event_type] = [e for e in self.events.get(event_type, []) if e.id != event_id]


def count(items: Iterable[str]) -> dict[str, int]:
    """How many times each item occurs (event types a command waits on, say)."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def expand(counts: Mapping[str, int]) -> list[str]:
    """The inverse of :func:`count`: each item repeated as many times as counted."""
    return [name for name, number in counts.items() for _ in range(number)]


class RunView(Protocol):
    """The run as an evaluator sees it (see the module docstring). Read-only but for the working record."""

    @property
    def run_id(self) -> str: ...

    @property
    def epoch(self) -> int:
        """The lease epoch this advance holds (attempts record it)."""
        ...

    @property
    def run_record(self) -> RunRecord:
        """The run's record as last read (workflow name, generation, arguments)."""
        ...

    @property
    def status(self) -> str:
        """The run's status once the next commit is written."""
        ...

    @property
    def now(self) -> float: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def serializer(self) -> Serializer: ...

    @property
    def rng(self) -> random.Random:
        """The random source of retry jitter and ``flowgen.random()``."""
        ...

    def step_for(self, call: StepCall) -> Step:
        """The declared step a call names."""
        ...

    def workflow_for(self, name: str) -> Workflow | None:
        """The workflow registered as ``name`` in this process, if any (a child's code)."""
        ...

    @property
    def history(self) -> Sequence[Any]:
        """The command the workflow yielded at each position so far."""
        ...

    @property
    def journal(self) -> Sequence[Entry] | None:
        """Every closed entry so far, decided ones included; ``None`` until an evaluator asks
        for it with ``Load(journal=True)``."""
        ...

    @property
    def open(self) -> OpenEntry | None:
        """The open entry (the command in progress), if any."""
        ...

    def open_entry(self, position: int, command: Command) -> OpenEntry:
        """The working record of ``command`` at ``position``: the open entry, opened if needed.

        Raises:
            NonDeterminismError: the open entry at ``position`` records another command.
        """
        ...

    @property
    def inbox(self) -> InboxView: ...

    @property
    def branches(self) -> Mapping[str, Mapping[str, Any]]:
        """The run's branch records by branch key ``"<position>/<path>"``."""
        ...

    @property
    def children(self) -> Mapping[str, RunRecord | None]:
        """Child runs read for the command at the current position (``None``: no such run)."""
        ...

    @property
    def child_histories(self) -> Mapping[str, ChildHistory]:
        """Child runs replayed for the saga being planned, by run id (see :mod:`.child_sagas`)."""
        ...

    @property
    def started(self) -> Mapping[str, StartedChild]:
        """Child runs created for the command at the current position, by run id."""
        ...

    @property
    def cancel_state(self) -> str:
        """``""``, ``"requested"`` or ``"delivered"`` (see ``stores.base.CANCEL_*``)."""
        ...

    @property
    def pause_requested(self) -> bool: ...

    @property
    def warned(self) -> bool:
        """The journal-size warning was logged in this advance."""
        ...

    @property
    def progress(self) -> StepProgress: ...

    @property
    def ran(self) -> FinishedAttempt | None:
        """The step attempt the loop just ran (only during the evaluation that follows it)."""
        ...

    @property
    def held(self) -> RunAttempt | None:
        """The step attempt the loop just declined to start: a pause or cancellation is pending."""
        ...
