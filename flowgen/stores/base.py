"""The store contract: what the engine needs from persistence, as a handful of atomic operations.

A store keeps, per run: its metadata and status, the journal (closed entries plus the open
entry at the tail), per-leaf records of steps running as their own messages ("branches"), an
event inbox per event type with the ids already delivered, and a notification when the run
finishes. Globally it keeps a timer index (runs to wake at a time), a ready index (runs that
should be advancing, for the reconciler), a lease index (runs a worker holds, by when their
lease ends) and listings by status and workflow.

Every method is atomic. Writes that advance a run (:meth:`Store.commit`) are fenced twice: by
the lease **epoch** (a worker that lost its lease cannot write) and by the expected journal
**position** (a duplicate or stale message cannot append twice); what a commit writes is a list
of typed operations (:data:`Operation`). A refused operation names a :class:`Reason`, and
:func:`store_error` is the one place that turns a reason into an exception and its message. The
same contract is implemented for Redis (Lua scripts), SQLite (transactions) and memory (a lock);
the conformance suite in ``tests/stores`` runs against all of them, and
``tests/stores/test_lockstep.py`` drives all three with the same random operations.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from typing import Any

from ..journal import Entry
from ..status import RunStatus
from .commits import (
    AppendEntries,
    Commit,
    CommitResult,
    ConsumeEvent,
    DeliverCancel,
    Finish,
    NewGeneration,
    Operation,
    Park,
    SetOpen,
    SetStatus,
    StartAttempt,
    WriteBranch,
    unknown_operation,
)
from .failures import Reason, store_error
from .records import (
    CANCEL_DELIVERED,
    CANCEL_REQUESTED,
    CONTROL_ACTIONS,
    LOST_QUEUE,
    ControlResult,
    InboxEvent,
    NewRun,
    RunRecord,
    SendResult,
    Snapshot,
    StateCounts,
    ready_cutoff,
)
from .search import RunSearch

# The commit names and the records are part of the store contract: re-exported for the stores
# and the runtime.
__all__ = [
    "CANCEL_DELIVERED",
    "CANCEL_REQUESTED",
    "CONTROL_ACTIONS",
    "LOST_QUEUE",
    "AppendEntries",
    "Commit",
    "CommitResult",
    "ConsumeEvent",
    "ControlResult",
    "DeliverCancel",
    "Finish",
    "InboxEvent",
    "NewGeneration",
    "NewRun",
    "Operation",
    "Park",
    "RunRecord",
    "SendResult",
    "SetOpen",
    "SetStatus",
    "Snapshot",
    "StartAttempt",
    "StateCounts",
    "WriteBranch",
    "ready_cutoff",
    "unknown_operation",
]


class Store(RunSearch):
    """The persistence contract every store implements; see the module docstring."""

    @abc.abstractmethod
    def create_runs(self, runs: Sequence[NewRun], now: float, grace: float) -> list[tuple[bool, RunRecord]]:
        """Create each run unless its id exists; return ``(created, record)`` per run, in order.

        A created run is ``queued`` and in the ready index (score ``now + grace``).
        """

    def new_run_id(self, workflow: str, flow: str | None) -> str:
        """A fresh id for a run of ``workflow`` started with no ``run_id`` (``uuid4`` hex). A store
        may pick one that fits the run's flow document (a Redis Cluster: in its limits' shard)."""
        return uuid.uuid4().hex

    def create_run(self, run: NewRun, now: float, grace: float) -> tuple[bool, RunRecord]:
        """Create one run (see :meth:`create_runs`)."""
        return self.create_runs([run], now, grace)[0]

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None:
        """Return the run's record, or ``None``."""

    def get_run_or_raise(self, run_id: str) -> RunRecord:
        """Return the run's record.

        Raises:
            RunNotFoundError: no such run (the message of :func:`store_error`).
        """
        record = self.get_run(run_id)
        if record is None:
            raise store_error(Reason.MISSING, run_id)
        return record

    def state_counts(self, now: float) -> StateCounts:
        """Count runs by status and timers (all, and due at ``now``), cheaply: the metrics read it
        at every scrape (a few index reads, never a scan of the runs)."""
        raise NotImplementedError(f"{type(self).__name__} does not count runs for metrics")

    @abc.abstractmethod
    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """List runs, newest first, filtered by status and workflow (``limit=None``: all of them).

        The engine checks the page (:func:`flowgen.validation.check_page`): ``limit`` is ``None``
        or at least 1, ``offset`` at least 0.
        """

    @abc.abstractmethod
    def read_journal(self, run_id: str, offset: int = 0) -> list[Entry]:
        """Return the closed entries from ``offset``."""

    @abc.abstractmethod
    def acquire(self, run_id: str, owner: str, ttl: float, now: float, offset: int = 0) -> Snapshot | None:
        """Take the run's lease (bumping its epoch) and return a snapshot.

        Returns ``None`` if another owner holds a live lease or the run has finished. A
        ``queued`` or ``waiting`` run becomes ``running``. The run enters the lease index,
        scored by the lease's end (see :meth:`reconcile`); parking, finishing, releasing,
        terminating or resetting it takes it out.

        Raises:
            RunNotFoundError: no such run.
        """

    @abc.abstractmethod
    def load(self, run_id: str, event_types: Sequence[str] = (), offset: int | None = None) -> Snapshot:
        """Read a snapshot without touching the lease (``epoch`` 0).

        ``offset=None`` skips the journal (the caller has it already).
        """

    @abc.abstractmethod
    def commit(self, commit: Commit, now: float, grace: float) -> CommitResult:
        """Apply a :class:`Commit` atomically (see its docstring)."""

    @abc.abstractmethod
    def release(self, run_id: str, epoch: int) -> None:
        """Give up the lease if ``epoch`` still holds it; the run stays in the ready index."""

    @abc.abstractmethod
    def renew(self, leases: Sequence[tuple[str, int]], ttl: float, now: float) -> list[str]:
        """Extend each ``(run_id, epoch)`` lease (and its place in the lease index); return the
        run ids whose lease was lost.

        A run that finished under that same epoch is neither renewed nor reported lost.
        """

    @abc.abstractmethod
    def send_event(
        self, run_id: str, event_type: str, payload: str, event_id: str, now: float, grace: float
    ) -> SendResult:
        """Buffer an event in the run's inbox, once per ``event_id``.

        ``wake`` is true when the run is parked waiting for this type; it is then put in the
        ready index and the caller enqueues it.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
        """

    @abc.abstractmethod
    def claim_due_timers(self, now: float, limit: int, grace: float) -> list[str]:
        """Remove up to ``limit`` due timers, move their runs to the ready index, return them."""

    @abc.abstractmethod
    def next_timer(self) -> float | None:
        """Return the earliest timer's due time, or ``None``."""

    def next_lease_check(self) -> float | None:
        """Return when the earliest lease in the lease index ends (``None``: no lease held).

        The reconciler sleeps until then rather than a whole ``reconcile_interval``, so a dead
        worker's run moves again right after its lease ends. A store without a lease index
        returns ``None`` (the default) and is reconciled every interval.
        """
        return None

    @abc.abstractmethod
    def reconcile(self, now: float, limit: int, grace: float, backlog: float = 0.0) -> list[str]:
        """Return the runs to enqueue again: leases that ended, and ready runs not started in time.

        First the **lease index**: a run whose lease ended at or before ``now`` without being
        renewed, parked, finished or released (its worker died or froze) is returned and made
        ready (score ``now + grace``), at most ``limit`` of them. Its message was consumed when
        the lease was taken, so neither its ready score nor ``backlog`` delays it: it moves
        again within ``lease_ttl`` plus the reconcile interval. :meth:`renew` moves a run's
        check to the lease's new end; a paused run is left paused.

        Then the **ready index**: ready runs with no live lease whose last enqueue is older
        than ``grace``. Their ready score moves to ``now + grace``; runs with a live lease are
        checked again when it expires; finished runs leave the index.

        ``backlog`` is how long the oldest message still waiting in the transport's queue has
        waited. A run enqueued less than ``grace`` before that message is behind it in the
        queue, not lost, so only runs whose ready score is at most ``now - backlog`` are
        looked at: without this, a queue longer than ``grace`` would have every run in it
        enqueued again (and again), multiplying the work exactly when workers are behind.
        :data:`LOST_QUEUE` as ``backlog`` looks at every ready run (an embedded engine starting).
        """

    @abc.abstractmethod
    def branch_begin(
        self, run_id: str, key: str, attempt: int, ttl: float, now: float
    ) -> dict[str, Any] | None:
        """Mark attempt ``attempt`` of the branch ``key`` started and return its dispatch record.

        Returns ``None`` (run nothing) unless ``attempt`` is the attempt dispatched for a branch
        that is still open and no worker has started it yet. A record with gates (``g``: the
        step limits and rate limits of the attempt) takes them in the same operation, holding
        the step slots under the branch's heartbeat; refused, the attempt is not started, the
        record is marked parked until ``pk`` and the run made to wake by then (``None``).
        """

    @abc.abstractmethod
    def branch_finish(
        self, run_id: str, key: str, attempt: int, outcome: dict[str, Any], now: float, grace: float
    ) -> list[str]:
        """Record a branch attempt's outcome and give back its step slots; return the runs to
        enqueue (this run when it waits, and runs woken for the slots).

        Ignored (returns ``[]``) unless ``attempt`` is the started attempt of a branch that is
        still open.
        """

    @abc.abstractmethod
    def renew_branches(self, branches: Sequence[tuple[str, str, int]], ttl: float, now: float) -> None:
        """Extend the heartbeat of running branch attempts ``(run_id, key, attempt)`` (and the
        step slots they hold)."""

    @abc.abstractmethod
    def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        """Block until the run has finished (notification, not polling); ``None`` on timeout."""

    @abc.abstractmethod
    def control(self, run_id: str, action: str, now: float, grace: float) -> ControlResult:
        """Apply a control request atomically.

        * ``pause``: flag the run; a run not being advanced right now is ``paused`` at once
          (its timer and ready entry are dropped: on resume it re-evaluates what it waited
          for); a run being advanced parks as paused at its next step boundary.
        * ``resume``: clear the pause; a paused run becomes ``queued`` and ready.
        * ``cancel``: flag the run for cancellation (overrides a pause) and make it ready so
          ``CancelledError`` is raised into the workflow at its current ``yield``.
        * ``terminate``: finish the run ``cancelled`` at once, without cleanup; its epoch is
          bumped so a worker still running one of its steps can no longer write.

        ``cancel`` or ``terminate`` of a run that is already ``cancelled`` changes nothing
        (``before`` and ``after`` are both ``cancelled``). A cancellation still pending when
        the run finishes otherwise stays recorded (``cancel_requested == "requested"`` on a
        completed or failed run): it was ignored.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished (for ``cancel``/``terminate``: other than
                ``cancelled``).
            RunStateError: ``resume`` of a run that is not paused.
        """

    @abc.abstractmethod
    def reset(
        self, run_id: str, mode: str, now: float, grace: float, truncate_to: int | None = None
    ) -> RunRecord:
        """Start a run again, archiving its journal in its history.

        * ``restart``: empty the journal, start a new generation from the beginning with the
          same arguments (any status; a worker still advancing the old generation is fenced
          off by the epoch bump). Buffered events are dropped.
        * ``retry``: a ``failed`` run continues from its journal cut to ``truncate_to``
          entries (the failed step's entry removed), same generation.

        Raises:
            RunNotFoundError: no such run.
            RunStateError: ``retry`` of a run that is not failed.
        """

    @abc.abstractmethod
    def children(self, run_id: str) -> list[str]:
        """Return the ids of the child runs this run started."""

    @abc.abstractmethod
    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Return the archived generations of a run (oldest first), see :meth:`reset`."""

    @abc.abstractmethod
    def inbox(self, run_id: str) -> dict[str, list[InboxEvent]]:
        """Return the buffered events of a run by type (for inspection and tests)."""

    # -- flow control (docs/flow-control.md; semantics in stores/flow_logic.py) ---------------

    @abc.abstractmethod
    def take_step(
        self, run_id: str, epoch: int, gates: Sequence[Sequence[Any]], now: float, lease_until: float
    ) -> float | None:
        """Take the step slots and rate-limit starts of an attempt, under the lease ``epoch``.

        Returns ``None`` when taken (all or nothing), else when to try again.

        Raises:
            LeaseLostError: ``epoch`` no longer holds the run's lease.
        """

    @abc.abstractmethod
    def release_step(self, run_id: str, names: Sequence[str], now: float, grace: float) -> list[str]:
        """Give back the step slots ``names`` of the run; return the runs to enqueue (woken)."""

    @abc.abstractmethod
    def give_back_start(self, run_id: str, name: str, sent: float, period: float) -> None:
        """The start of the rate limit ``name`` granted to the run on a request sent at ``sent``
        runs no body (it would have started too late): remove it from the window
        (:func:`flowgen.stores.flow_rates.give_back`)."""

    @abc.abstractmethod
    def block_key(self, key: str, until: float) -> None:
        """``RateLimited(key=...)``: attempts rate-limited under ``key`` wait until ``until``."""

    @abc.abstractmethod
    def timed_out(self, run_id: str, now: float) -> float:
        """Record that ``RunTimeoutError`` was raised into the run; return its final deadline."""

    @abc.abstractmethod
    def take_lane(self, now: float) -> str | None:
        """Take the first run of the priority lane that still needs a worker (``None``: none)."""

    @abc.abstractmethod
    def flow_status(self, run_id: str) -> dict[str, Any] | None:
        """The run's flow document plus ``blocked_by`` (limit, key, place in line) when queued."""

    def branch_parked_until(self, run_id: str, key: str) -> float | None:
        """When the branch ``key``, refused by a step limit or rate limit, is due again (its
        ``pk``; ``None``: not parked). Read by the worker whose ``branch_begin`` was refused, to
        wake the run precisely then (``runtime/wakeups.py``)."""
        branch = self.load(run_id).branches.get(key) or {}
        parked = branch.get("pk")
        return float(parked) if parked is not None else None

    def close(self) -> None:
        """Release connections and files."""
