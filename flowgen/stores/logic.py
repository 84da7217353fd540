"""The store contract's semantics, written once in Python over a small transaction interface.

The memory and SQLite stores run these functions inside their own transaction (a lock, a
``BEGIN IMMEDIATE``), each implementing :class:`Tx` over its own data structures. The Redis
store implements the same semantics in Lua (``stores/lua``); the conformance suite checks
that all of them agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from ..journal import Entry, OpenEntry
from ..status import FINISHED, RunStatus
from . import flow_branches, flow_logic
from .base import (
    CANCEL_DELIVERED,
    CANCEL_REQUESTED,
    AppendEntries,
    Commit,
    CommitResult,
    ConsumeEvent,
    DeliverCancel,
    Finish,
    InboxEvent,
    NewGeneration,
    NewRun,
    Operation,
    Park,
    RunRecord,
    SendResult,
    SetOpen,
    SetStatus,
    Snapshot,
    StartAttempt,
    WriteBranch,
    ready_cutoff,
    unknown_operation,
)
from .failures import Reason, store_error


class Tx(flow_logic.FlowTx, Protocol):
    """Primitive reads and writes inside one store transaction (flow control's are in
    :class:`~flowgen.stores.flow_logic.FlowTx`)."""

    def get_meta(self, run_id: str) -> RunRecord | None: ...
    def journal_append(self, run_id: str, entries: Sequence[Entry]) -> None: ...
    def journal_read(self, run_id: str, offset: int) -> list[Entry]: ...
    def inbox_push(self, run_id: str, event_type: str, event: InboxEvent) -> None: ...
    def inbox_peek(self, run_id: str, event_type: str, count: int) -> list[InboxEvent]: ...
    def inbox_pop(self, run_id: str, event_type: str) -> None: ...
    def event_seen(self, run_id: str, event_id: str) -> bool: ...
    def mark_event_seen(self, run_id: str, event_id: str) -> None: ...
    def set_timer(self, run_id: str, due: float | None) -> None: ...
    def due_timers(self, now: float, limit: int) -> list[str]: ...
    def set_ready(self, run_id: str, score: float | None) -> None: ...
    def ready_before(self, now: float, limit: int) -> list[str]: ...
    def set_lease_check(self, run_id: str, at: float | None) -> None: ...
    def lease_checks_before(self, now: float, limit: int) -> list[str]: ...
    def clear_scratch(self, run_id: str) -> None: ...
    def notify_finished(self, run_id: str) -> None: ...
    def journal_truncate(self, run_id: str, length: int) -> None: ...
    def add_child(self, parent_id: str, child_id: str) -> None: ...
    def children(self, run_id: str) -> list[str]: ...
    def history_push(self, run_id: str, document: dict[str, Any]) -> None: ...
    def history(self, run_id: str) -> list[dict[str, Any]]: ...
    def clear_inbox(self, run_id: str) -> None: ...


def _require(tx: Tx, run_id: str, consequence: str = "") -> RunRecord:
    record = tx.get_meta(run_id)
    if record is None:
        raise store_error(Reason.MISSING, run_id, consequence=consequence)
    return record


def create_runs(tx: Tx, runs: Sequence[NewRun], now: float, grace: float) -> list[tuple[bool, RunRecord]]:
    results: list[tuple[bool, RunRecord]] = []
    for new in runs:
        existing = tx.get_meta(new.run_id)
        if existing is not None:
            results.append((False, existing))
            continue
        record = new.queued_record(now)
        tx.put_meta(record, None)
        tx.set_ready(new.run_id, now + grace)
        if new.parent:
            tx.add_child(new.parent, new.run_id)
        flow_logic.created(tx, new.run_id, json.loads(new.flow) if new.flow else None, now)
        results.append((True, record))
    return results


def _group(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for event_type, event_id in pairs:
        grouped.setdefault(event_type, []).append(event_id)
    return grouped


def snapshot(
    tx: Tx, record: RunRecord, epoch: int, event_types: Sequence[str], offset: int | None
) -> Snapshot:
    inbox: dict[str, list[InboxEvent]] = {}
    counts: dict[str, int] = {}
    for event_type in event_types:
        counts[event_type] = counts.get(event_type, 0) + 1
    for event_type, count in counts.items():
        events = tx.inbox_peek(record.run_id, event_type, count)
        if events:
            inbox[event_type] = events
    return Snapshot(
        run=record,
        epoch=epoch,
        journal=[] if offset is None else tx.journal_read(record.run_id, offset),
        open=OpenEntry.from_json(record.open) if record.open else None,
        branches=tx.branches(record.run_id),
        inbox=inbox,
    )


def acquire(tx: Tx, run_id: str, owner: str, ttl: float, now: float, offset: int) -> Snapshot | None:
    record = _require(tx, run_id)
    if record.status in FINISHED:
        return None
    if record.owner and record.owner != owner and record.lease_until > now:
        return None
    admitted, flow = flow_logic.admit(tx, record, now)
    if not admitted:
        return None  # over a concurrency limit: it waits in line, a released slot wakes it
    old_status = record.status
    interrupted = bool(record.owner)  # a holder whose lease expired without a clean end
    record.epoch += 1
    record.owner = owner
    record.lease_until = now + ttl
    if record.status in (RunStatus.QUEUED, RunStatus.WAITING):
        record.status = RunStatus.RUNNING
        record.updated = now
    tx.put_meta(record, old_status)
    tx.set_lease_check(run_id, record.lease_until)
    if old_status == RunStatus.WAITING:
        # A parked run taken by a (possibly stale) message: put it back in the ready index, so
        # that if this worker dies before parking it again, the reconciler moves it once the
        # lease expires. While it is running, an event or a child's end does not make it ready.
        tx.set_ready(run_id, record.lease_until)
    taken = snapshot(tx, record, record.epoch, record.waiting, offset)
    taken.interrupted = interrupted
    taken.flow = flow
    return taken


def load(tx: Tx, run_id: str, event_types: Sequence[str], offset: int | None) -> Snapshot:
    record = _require(tx, run_id)
    return snapshot(tx, record, 0, event_types, offset)


def commit(tx: Tx, change: Commit, now: float, grace: float) -> CommitResult:
    record = _require(tx, change.run_id)
    if record.epoch != change.epoch or not record.owner or record.status in FINISHED:
        return CommitResult(False, Reason.STALE)
    if record.journal_length != change.position:
        return CommitResult(False, Reason.CONFLICT)
    consumed = _group(
        [(op.event_type, op.event_id) for op in change.operations if isinstance(op, ConsumeEvent)]
    )
    for event_type, ids in consumed.items():
        heads = [event.id for event in tx.inbox_peek(change.run_id, event_type, len(ids))]
        if heads != ids:
            return CommitResult(False, Reason.CONFLICT)
    applying = _Applying(tx, record, now, grace)
    for operation in change.operations:
        _apply(applying, operation)
    return applying.end()


class _Applying:
    """A commit being applied: the run's record as the operations so far left it, and what to reply."""

    __slots__ = ("branches", "dropped", "grace", "held", "now", "old_status", "record", "requested", "result", "tx")

    def __init__(self, tx: Tx, record: RunRecord, now: float, grace: float) -> None:
        self.tx = tx
        self.record = record
        self.old_status = record.status
        self.now = now
        self.grace = grace
        # StartAttempt is held by a request pending when the commit began, whatever it delivers.
        self.requested = record.pause_requested or record.cancel_requested == CANCEL_REQUESTED
        self.held = False
        self.result: CommitResult | None = None
        self.branches: dict[str, dict[str, Any]] | None = None  # read once, by the first drop
        self.dropped: list[tuple[str, list[str]]] = []  # forgotten branches' step slots, to give back
        record.updated = now

    def end(self) -> CommitResult:
        if self.result is not None:  # a Finish or a Park wrote the record and made the reply
            return self.result
        self.tx.put_meta(self.record, self.old_status)
        return self.reply()

    def reply(self, parked: bool = False) -> CommitResult:
        return CommitResult(
            True,
            parked=parked,
            pause_requested=self.record.pause_requested,
            cancel_requested=self.record.cancel_requested,
            held=self.held,
            wake=tuple(self.release_dropped()),
        )

    def release_dropped(self) -> list[str]:
        """Give back the step slots of the branches this commit forgot; the runs woken for them."""
        woken: list[str] = []
        for key, names in self.dropped:
            woken += flow_branches.release_branch(self.tx, self.record.run_id, key, names, self.now, self.grace)
        self.dropped = []
        return woken


def _apply(state: _Applying, operation: Operation) -> None:
    """Apply one operation (the type checker makes sure every kind has its function)."""
    if isinstance(operation, AppendEntries):  # the most frequent first
        _append_entries(state, operation)
    elif isinstance(operation, StartAttempt):
        _start_attempt(state, operation)
    elif isinstance(operation, SetOpen):
        _set_open(state, operation)
    elif isinstance(operation, Park):
        _park(state, operation)
    elif isinstance(operation, Finish):
        _finish(state, operation)
    elif isinstance(operation, ConsumeEvent):
        _consume_event(state, operation)
    elif isinstance(operation, WriteBranch):
        _write_branch(state, operation)
    elif isinstance(operation, SetStatus):
        _set_status(state, operation)
    elif isinstance(operation, DeliverCancel):
        _deliver_cancel(state, operation)
    elif isinstance(operation, NewGeneration):
        _new_generation(state, operation)
    else:
        unknown_operation(operation)


def _append_entries(state: _Applying, op: AppendEntries) -> None:
    if op.entries:
        state.tx.journal_append(state.record.run_id, op.entries)
        state.record.journal_length += len(op.entries)


def _set_open(state: _Applying, op: SetOpen) -> None:
    state.record.open = op.entry.to_json() if op.entry is not None else None


def _start_attempt(state: _Applying, op: StartAttempt) -> None:
    if state.requested:
        state.held = True
    else:
        state.record.open = op.entry.to_json()


def _consume_event(state: _Applying, op: ConsumeEvent) -> None:
    state.tx.inbox_pop(state.record.run_id, op.event_type)  # the head, checked before any write


def _write_branch(state: _Applying, op: WriteBranch) -> None:
    run_id = state.record.run_id
    if op.record is None:  # forgotten: its step slots are free now (flow_branches.drop_branch)
        if state.branches is None:
            state.branches = state.tx.branches(run_id)
        branch = state.branches.pop(op.key, None)
        if branch is not None:
            state.dropped.append((op.key, flow_branches.drop_branch(state.tx, run_id, op.key, branch)))
    state.tx.set_branch(run_id, op.key, op.record)


def _set_status(state: _Applying, op: SetStatus) -> None:
    state.record.status = op.status


def _deliver_cancel(state: _Applying, _op: DeliverCancel) -> None:
    state.record.cancel_requested = CANCEL_DELIVERED


def _new_generation(state: _Applying, op: NewGeneration) -> None:
    record = state.record
    state.tx.journal_truncate(record.run_id, 0)
    record.journal_length = 0
    record.args = op.args
    record.generation += 1
    record.open = None


def _park(state: _Applying, op: Park) -> None:
    record, tx = state.record, state.tx
    if record.signals != op.signals:  # woken since the snapshot: re-evaluate instead
        tx.put_meta(record, state.old_status)
        state.result = state.reply(parked=False)
        return
    record.status = op.status
    record.waiting = tuple(op.waiting)
    record.owner = ""
    record.lease_until = 0.0
    tx.set_timer(record.run_id, op.timer)
    tx.set_ready(record.run_id, None)
    tx.set_lease_check(record.run_id, None)
    tx.put_meta(record, state.old_status)
    state.result = state.reply(parked=True)


def _finish(state: _Applying, op: Finish) -> None:
    record, tx = state.record, state.tx
    record.status = op.status
    record.output = op.output
    record.error = op.error
    record.finished = state.now
    record.owner = ""
    record.lease_until = 0.0
    record.open = None
    record.waiting = ()
    tx.set_timer(record.run_id, None)
    tx.set_ready(record.run_id, None)
    tx.set_lease_check(record.run_id, None)
    branches = state.branches if state.branches is not None else tx.branches(record.run_id)
    for key, branch in branches.items():  # forgotten with the run: their step slots are free now
        state.dropped.append((key, flow_branches.drop_branch(tx, record.run_id, key, branch)))
    tx.clear_scratch(record.run_id)
    tx.put_meta(record, state.old_status)
    tx.notify_finished(record.run_id)
    woken = state.release_dropped() + flow_logic.released(tx, record.run_id, state.now, state.grace)
    state.result = CommitResult(True, wake=_wake_parent(tx, record.parent, state.now, state.grace) + tuple(woken))


def _wake_parent(tx: Tx, parent_id: str | None, now: float, grace: float) -> tuple[str, ...]:
    if not parent_id:
        return ()
    parent = tx.get_meta(parent_id)
    if parent is None or parent.status in FINISHED:
        return ()
    parent.signals += 1
    tx.put_meta(parent, parent.status)
    if parent.status == RunStatus.WAITING:
        tx.set_ready(parent_id, now + grace)
        flow_logic.resumed(tx, parent_id, now)
        return (parent_id,)
    return ()


def release(tx: Tx, run_id: str, epoch: int) -> None:
    record = tx.get_meta(run_id)
    if record is None or record.epoch != epoch or not record.owner:
        return
    record.owner = ""
    record.lease_until = 0.0
    tx.put_meta(record, record.status)
    tx.set_lease_check(run_id, None)


def renew(tx: Tx, leases: Sequence[tuple[str, int]], ttl: float, now: float) -> list[str]:
    lost: list[str] = []
    for run_id, epoch in leases:
        record = tx.get_meta(run_id)
        if record is not None and record.epoch == epoch and record.status in FINISHED:
            continue  # this very lease finished the run: nothing to renew, nothing lost
        if record is None or record.epoch != epoch or not record.owner or record.status in FINISHED:
            lost.append(run_id)
            continue
        record.lease_until = now + ttl
        tx.put_meta(record, record.status)
        tx.set_lease_check(run_id, record.lease_until)
        flow_logic.renew_holds(tx, run_id, record.lease_until)
    return lost


def send_event(
    tx: Tx, run_id: str, event_type: str, payload: str, event_id: str, now: float, grace: float
) -> SendResult:
    consequence = f"the event {event_type!r} was not delivered"
    record = _require(tx, run_id, consequence)
    if record.status in FINISHED:
        raise store_error(Reason.FINISHED, run_id, status=record.status, consequence=consequence)
    if tx.event_seen(run_id, event_id):
        return SendResult(False, False)
    tx.mark_event_seen(run_id, event_id)
    tx.inbox_push(run_id, event_type, InboxEvent(event_id, payload, now))
    record.signals += 1
    tx.put_meta(record, record.status)
    wake = record.status == RunStatus.WAITING and event_type in record.waiting
    if wake:
        tx.set_ready(run_id, now + grace)
        flow_logic.resumed(tx, run_id, now)
    return SendResult(True, wake)


def claim_due_timers(tx: Tx, now: float, limit: int, grace: float) -> list[str]:
    claimed = tx.due_timers(now, limit)
    for run_id in claimed:
        tx.set_timer(run_id, None)
        tx.set_ready(run_id, now + grace)
        flow_logic.resumed(tx, run_id, now)
    return claimed


def reconcile(tx: Tx, now: float, limit: int, grace: float, backlog: float = 0.0) -> list[str]:
    stuck = _expired_leases(tx, now, limit, grace)
    for run_id in tx.ready_before(ready_cutoff(now, backlog), limit):
        record = tx.get_meta(run_id)
        if record is None or record.status in FINISHED:
            tx.set_ready(run_id, None)
            continue
        if record.owner and record.lease_until > now:
            tx.set_ready(run_id, record.lease_until)
            continue
        tx.set_ready(run_id, now + grace)
        tx.set_lease_check(run_id, None)
        stuck.append(run_id)
    return stuck


def _expired_leases(tx: Tx, now: float, limit: int, grace: float) -> list[str]:
    """Runs whose holder stopped renewing their lease (it died or froze): ready again, at once.

    Checked against ``now`` only, never the queue's backlog: the run's message was consumed
    when its lease was taken, so how far behind the queue is says nothing about it. Renewals
    move a run's check to the lease's new end, so live leases are not looked at here (one
    still live is checked again when it ends); a run that no longer holds a lease leaves the
    index (taking it out is the job of park, finish, release and reset, this is a safety net);
    a paused one is left paused.
    """
    expired: list[str] = []
    for run_id in tx.lease_checks_before(now, limit):
        record = tx.get_meta(run_id)
        if record is not None and record.owner and record.lease_until > now:
            tx.set_lease_check(run_id, record.lease_until)
            continue
        tx.set_lease_check(run_id, None)
        if (
            record is None
            or not record.owner
            or record.status in FINISHED
            or record.status == RunStatus.PAUSED
        ):
            continue
        tx.set_ready(run_id, now + grace)
        expired.append(run_id)
    return expired


def branch_begin(
    tx: Tx, run_id: str, key: str, attempt: int, ttl: float, now: float
) -> dict[str, Any] | None:
    record = tx.get_meta(run_id)
    if record is None or record.status in FINISHED:
        return None
    branch = tx.branches(run_id).get(key)
    if branch is None or branch.get("d") != attempt or branch.get("s", 0) >= attempt:
        return None
    begun = {k: v for k, v in branch.items() if k not in BRANCH_FIELDS}
    if branch.get("g") and flow_branches.take_branch(tx, record, key, begun, now, now + ttl) is not None:
        return None  # parked for a step slot or a token: the run sends it again
    tx.set_branch(run_id, key, {**begun, "s": attempt, "hb": now + ttl, "started": now})
    return {k: v for k, v in begun.items() if k != "h"}


BRANCH_FIELDS = ("s", "hb", "started", "r", "pk", "h")
"""What the store adds to a branch record the run wrote (its attempt's start, heartbeat, report,
parking for a step gate and the step slots it holds)."""


def branch_finish(
    tx: Tx, run_id: str, key: str, attempt: int, outcome: dict[str, Any], now: float, grace: float
) -> list[str]:
    record = tx.get_meta(run_id)
    if record is None or record.status in FINISHED:
        return []
    branch = tx.branches(run_id).get(key)
    if branch is None or branch.get("d") != attempt or branch.get("s") != attempt or "r" in branch:
        return []
    tx.set_branch(run_id, key, {**branch, "r": outcome})
    woken = flow_branches.release_branch(tx, run_id, key, branch.get("h", ()), now, grace)
    record = _require(tx, run_id)  # a released slot may have signalled this very run
    record.signals += 1
    tx.put_meta(record, record.status)
    if record.status == RunStatus.WAITING:
        tx.set_ready(run_id, now + grace)
        flow_logic.resumed(tx, run_id, now)
        return [run_id, *(run for run in woken if run != run_id)]
    return woken


def renew_branches(tx: Tx, branches: Sequence[tuple[str, str, int]], ttl: float, now: float) -> None:
    for run_id, key, attempt in branches:
        branch = tx.branches(run_id).get(key)
        if branch is not None and branch.get("s") == attempt and "r" not in branch:
            tx.set_branch(run_id, key, {**branch, "hb": now + ttl})
            flow_branches.renew_branch_holds(tx, run_id, key, branch.get("h", ()), now + ttl)
