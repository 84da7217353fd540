"""The facts of one advance: what the advance loop knows of the run, as the evaluators see it.

:class:`AdvanceState` holds what one advance has read of its run (the snapshot it started from,
what it re-read since) and what it has decided but not committed yet; it implements the
:class:`~.view.RunView` the evaluators read, and reads more facts when they ask
(:class:`~.actions.Load`, :class:`~.actions.StartChildren`). :class:`~.advance.Advance` adds the
loop, the applying of actions and the commits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..clock import WallClock
from ..commands import AllOf, AnyOf, Command, StepCall, branches_of
from ..decorators import Step, Workflow
from ..errors import NonDeterminismError, RunPlacementError
from ..flow_start import final_deadline
from ..interpreter import Replayer
from ..journal import Entry, LeafState, OpenEntry
from ..observability.ids import child_traceparent
from ..serialization import Serializer
from ..status import RunStatus
from ..stores.base import CANCEL_DELIVERED, RunRecord, Snapshot
from .actions import Load, RunAttempt, StartChildren
from .cache import Cached
from .replay import read_child
from .settings import Settings
from .view import ChildHistory, FinishedAttempt, InboxView, StartedChild, StepProgress, count, expand

if TYPE_CHECKING:
    from .runtime import Runtime


class AdvanceState:
    """What one advance knows and has decided; see the module docstring."""

    def __init__(self, runtime: Runtime, snapshot: Snapshot, cached: Cached | None) -> None:
        self.rt = runtime
        self.run_record = snapshot.run
        self.run_id = snapshot.run.run_id
        self.epoch = snapshot.epoch
        self.position = snapshot.run.journal_length
        self.signals = snapshot.run.signals
        self.open = snapshot.open
        self.inbox = InboxView()
        self.inbox.loaded(count(snapshot.run.waiting), snapshot.inbox, ())
        self.branches = snapshot.branches
        self.snapshot = snapshot
        self.cached = cached
        self.pending: list[Entry] = []
        self.consume: list[tuple[str, str]] = []
        self.branch_writes: dict[str, dict[str, Any] | None] = {}
        self.after_commit: list[Callable[[], None]] = []
        self.replayer: Replayer | None = None
        self.warned = False
        self.status_change: RunStatus | None = None
        self.pause_requested = snapshot.run.pause_requested
        self.cancel_state = snapshot.run.cancel_requested
        self.deliver_cancel = False
        self.progress = StepProgress(interrupted=snapshot.interrupted)
        self.children: dict[str, RunRecord | None] = {}
        self.started: dict[str, StartedChild] = {}
        self.child_histories: dict[str, ChildHistory] = {}
        self.journal: list[Entry] | None = None
        self.ran: FinishedAttempt | None = None
        # A step attempt ran whose start is not journaled (the first of the advance, see
        # .steps) and whose result is not committed yet: if the advance fails now, only an
        # expiring lease tells the next holder to record it as crashed (Runtime.advance).
        self.unrecorded_attempt = False
        self.held: RunAttempt | None = None
        # Once RunTimeoutError was raised into the run: when it is failed without more cleanup.
        self.timed_out_until: float | None = final_deadline(snapshot.flow)
        # Read on every evaluation: plain attributes rather than properties.
        self.settings: Settings = runtime.settings
        self.serializer: Serializer = runtime.serializer
        self.rng: random.Random = runtime.rng
        self.step_for: Callable[[StepCall], Step] = runtime.step_for
        # Whether observers want facts, asked once per advance rather than at every step.
        self.observing = bool(runtime.observers)
        self.workflow_for: Callable[[str], Workflow | None] = runtime.registry.workflows.get
        # Read at every decision: the wall clock's time.time() directly, without a method call
        # (looked up per advance, so freezegun started before the advance still applies).
        self._clock_now = time.time if type(runtime.clock) is WallClock else runtime.clock.now

    # -- the view the evaluators read (see view.RunView) ------------------------------------

    @property
    def now(self) -> float:
        return self._clock_now()

    @property
    def next_position(self) -> int:
        return self.position + len(self.pending)

    @property
    def status(self) -> str:
        return self.status_change if self.status_change is not None else self.run_record.status

    @property
    def history(self) -> Sequence[Any]:
        return self.replayer.history if self.replayer is not None else ()

    def open_entry(self, position: int, command: Command) -> OpenEntry:
        if self.open is not None and self.open.position == position:
            if self.open.kind != command.kind or self.open.name != command.name:
                raise NonDeterminismError(
                    position, f"{self.open.kind} {self.open.name!r}", f"{command.kind} {command.name!r}"
                )
            return self.open
        if isinstance(command, (AllOf, AnyOf)):
            branches = {
                path: LeafState(kind=branch.kind, name=branch.name) for path, branch in branches_of(command)
            }
        else:  # a plain command is its own branch "" (what branches_of says, without the walk)
            branches = {"": LeafState(kind=command.kind, name=command.name)}
        self.open = OpenEntry(position, command.kind, command.name, self.now, branches)
        return self.open

    # -- reading more facts -----------------------------------------------------------------

    def _load(self, load: Load) -> None:
        if load.event_types:
            self._refresh(load.event_types)
        for child in load.children:
            self.children[child] = self.rt.store.get_run(child)
        if load.journal:
            self.journal = [*self.rt.store.read_journal(self.run_id), *self.pending]
        for child in load.child_histories:
            self.child_histories[child] = read_child(self.rt, child)

    def _start_children(self, action: StartChildren) -> None:
        """Create child runs (enqueueing the new ones) and read back those the parent waits for."""
        store = self.rt.store
        for start in action.runs:
            new = start.new
            if self.rt.observers.trace_context is not None and new.trace is None:
                # Tracing is on: the child joins its parent's trace, under the parent's run span.
                record = self.run_record
                new = attrs.evolve(new, trace=child_traceparent(self.run_id, record.generation, record.trace))
            try:
                created, record = store.create_run(new, self.now, self.rt.settings.grace)
            except RunPlacementError as error:  # the branch fails with it (children.evaluate)
                self.started[new.run_id] = StartedChild(new, False, new.queued_record(self.now), str(error))
                continue
            if created:
                self.rt.enqueue([new.run_id])
            started = StartedChild(new, created, record)
            self.started[new.run_id] = started
            if start.read_back and not started.conflicts:
                self.children[new.run_id] = store.get_run(new.run_id)

    def _refresh(self, event_types: Sequence[str]) -> None:
        """Re-read signals, inboxes and branches; events this advance already took are skipped."""
        wanted = count(event_types)
        for event_type, _event_id in self.consume:
            if event_type in wanted:
                wanted[event_type] += 1
        snapshot = self.rt.store.load(self.run_id, expand(wanted), None)
        self.signals = snapshot.run.signals
        self.inbox = InboxView()
        self.inbox.loaded(wanted, snapshot.inbox, {event_id for _, event_id in self.consume})
        self.branches = snapshot.branches
        self.run_record = snapshot.run
        self.children, self.started = {}, {}
        self.pause_requested = snapshot.run.pause_requested
        if self.cancel_state != CANCEL_DELIVERED:
            self.cancel_state = snapshot.run.cancel_requested
