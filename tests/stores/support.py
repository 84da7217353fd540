"""Builders and probes shared by the store conformance tests.

Times are fixed (``T``) so every score, deadline and timestamp can be asserted exactly; the
stores take ``now`` as an argument and never read the clock for the contract's semantics.
"""

from __future__ import annotations

from typing import Any

from flowgen.journal import Entry, LeafState, OpenEntry
from flowgen.stores.base import AppendEntries, Commit, NewRun, Operation, RunRecord, Snapshot, Store

T = 1_700_000_000.0
TTL = 30.0
GRACE = 15.0
FAR = T + 10**7
ARGS = '{"args":[1],"kwargs":{}}'


def new_run(
    run_id: str = "r1",
    workflow: str = "wf",
    *,
    fingerprint: str = "fp",
    args: str = ARGS,
    created: float = T,
    parent: str | None = None,
) -> NewRun:
    """A run to create with recognizable values."""
    return NewRun(run_id, workflow, args, fingerprint, created, parent)


def entry(position: int, name: str = "step", value: str = '"v"') -> Entry:
    """A closed journal entry of a successful step."""
    return Entry(position, "step", name, True, value=value, started=T, finished=T + 1)


def open_entry(position: int, name: str = "step", due: float | None = None) -> OpenEntry:
    """An open entry with one leaf."""
    return OpenEntry(position, "step", name, T, {"": LeafState(kind="step", name=name, due=due)})


def created(store: Store, run_id: str = "r1", **options: Any) -> RunRecord:
    """Create a run at ``T`` and return its record."""
    was_created, record = store.create_run(new_run(run_id, **options), T, GRACE)
    assert was_created
    return record


def started(store: Store, run_id: str = "r1", owner: str = "w1", now: float = T, **options: Any) -> Snapshot:
    """Create a run and take its lease; return the snapshot."""
    created(store, run_id, **options)
    snapshot = store.acquire(run_id, owner, TTL, now)
    assert snapshot is not None
    return snapshot


def append(*entries: Entry) -> AppendEntries:
    """The operation appending ``entries``."""
    return AppendEntries(entries)


def change(
    snapshot: Snapshot, *operations: Operation, epoch: int | None = None, position: int | None = None
) -> Commit:
    """A commit of ``operations`` at the snapshot's epoch and journal position (or those given)."""
    return Commit(
        snapshot.run.run_id,
        snapshot.epoch if epoch is None else epoch,
        snapshot.run.journal_length if position is None else position,
        operations,
    )


def ready_due(store: Store, at: float, limit: int = 1000) -> list[str]:
    """Ask the reconciler which ready runs are due at ``at`` (re-scores those it returns)."""
    return store.reconcile(at, limit, GRACE)


def assert_ready_at(store: Store, run_id: str, score: float) -> None:
    """Assert the run sits in the ready index with exactly ``score`` (re-scores it)."""
    assert run_id not in ready_due(store, score - 0.001), f"{run_id} is ready before {score}"
    assert run_id in ready_due(store, score), f"{run_id} is not ready at {score}"


def assert_not_ready(store: Store, run_id: str) -> None:
    """Assert the run is not in the ready index at all."""
    assert run_id not in ready_due(store, FAR)


def state(store: Store, run_id: str) -> tuple[Any, ...]:
    """Everything the store holds about one run (for "nothing was written" assertions)."""
    snapshot = store.load(run_id, (), 0)
    return (
        store.get_run(run_id),
        store.read_journal(run_id),
        store.inbox(run_id),
        snapshot.branches,
        snapshot.open,
        store.next_timer(),
    )
