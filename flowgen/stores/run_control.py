"""Run control in one store transaction: pause, resume, cancel, terminate and reset, for the
memory and SQLite stores (the Lua scripts ``control.lua`` and ``reset.lua`` do the same on Redis).

Split from :mod:`.logic` (advancing runs) along its job: these are the operator's actions.
"""

from __future__ import annotations

from ..errors import CancelledError
from ..observability.ids import retried
from ..serialization import error_record
from ..status import FINISHED, RunStatus
from . import flow_branches, flow_logic
from .base import (
    CANCEL_REQUESTED,
    ControlResult,
    RunRecord,
)
from .failures import Reason, store_error
from .logic import Tx, _require, _wake_parent


def control(tx: Tx, run_id: str, action: str, now: float, grace: float) -> ControlResult:
    consequence = f"it cannot {action}"
    record = _require(tx, run_id, consequence)
    before = record.status
    if record.status == RunStatus.CANCELLED and action in ("cancel", "terminate"):
        return ControlResult(before, before)  # cancelling again is a no-op (docs/control.md)
    if record.status in FINISHED:
        raise store_error(Reason.FINISHED, run_id, status=record.status, consequence=consequence)
    leased = bool(record.owner) and record.lease_until > now
    wake = False
    parent = None
    if action == "pause":
        if record.status == RunStatus.PAUSED or record.pause_requested:
            return ControlResult(before, record.status)
        record.pause_requested = True
        if not leased:
            _park_paused(tx, record)
    elif action == "resume":
        if record.status != RunStatus.PAUSED and not record.pause_requested:
            raise store_error(Reason.NOT_PAUSED, run_id, status=record.status)
        record.pause_requested = False
        if record.status == RunStatus.PAUSED:
            record.status = RunStatus.QUEUED
            tx.set_ready(run_id, now + grace)
            wake = True
    elif action == "cancel":
        if record.cancel_requested:
            return ControlResult(before, record.status)
        record.cancel_requested = CANCEL_REQUESTED
        record.pause_requested = False
        if record.status == RunStatus.PAUSED:
            record.status = RunStatus.QUEUED
        if not leased:
            tx.set_ready(run_id, now + grace)
            wake = True
    elif action == "terminate":
        error = CancelledError(
            f"run {run_id!r} was terminated (cancel(force=True)): it ended without cleanup"
        )
        record.status = RunStatus.CANCELLED
        record.error = error_record(error, "")
        record.finished = now
        record.epoch += 1
        record.owner = ""
        record.lease_until = 0.0
        record.open = None
        record.waiting = ()
        tx.set_timer(run_id, None)
        tx.set_ready(run_id, None)
        tx.set_lease_check(run_id, None)
        dropped = [(key, flow_branches.drop_branch(tx, run_id, key, branch)) for key, branch in tx.branches(run_id).items()]
        tx.clear_scratch(run_id)
    else:
        raise ValueError(f"unknown control action {action!r}")
    record.signals += 1
    record.updated = now
    tx.put_meta(record, before)
    released: tuple[str, ...] = ()
    if action == "terminate":
        tx.notify_finished(run_id)
        woken = _wake_parent(tx, record.parent, now, grace)
        parent = woken[0] if woken else None
        freed = [run for key, names in dropped for run in flow_branches.release_branch(tx, run_id, key, names, now, grace)]
        released = (*freed, *flow_logic.released(tx, run_id, now, grace))
    return ControlResult(before, record.status, wake, parent, released)


def _park_paused(tx: Tx, record: RunRecord) -> None:
    """Pause a run nobody is advancing: no lease, no timer, not ready, waits for nothing."""
    record.status = RunStatus.PAUSED
    record.waiting = ()
    record.owner = ""
    record.lease_until = 0.0
    tx.set_timer(record.run_id, None)
    tx.set_ready(record.run_id, None)
    tx.set_lease_check(record.run_id, None)


def reset(tx: Tx, run_id: str, mode: str, now: float, grace: float, truncate_to: int | None) -> RunRecord:
    record = _require(tx, run_id)
    if mode not in ("restart", "retry"):
        raise ValueError(f"unknown reset mode {mode!r}")
    if mode == "retry" and record.status != RunStatus.FAILED:
        raise store_error(Reason.NOT_FAILED, run_id, status=record.status)
    entries = tx.journal_read(run_id, 0)
    tx.history_push(
        run_id,
        {
            "mode": mode,
            "generation": record.generation,
            "status": record.status,
            "output": record.output,
            "error": record.error,
            "finished": record.finished,
            "archived": now,
            "entries": [entry.to_dict() for entry in entries],
        },
    )
    old_status = record.status
    length = (
        0
        if mode == "restart"
        else max(0, min(len(entries), truncate_to if truncate_to is not None else len(entries)))
    )
    tx.journal_truncate(run_id, length)
    if mode == "restart":
        record.generation += 1
        tx.clear_inbox(run_id)
    for key in tx.branches(run_id):
        tx.set_branch(run_id, key, None)
    record.journal_length = length
    record.status = RunStatus.QUEUED
    record.output = None
    record.error = None
    record.finished = None
    record.open = None
    record.waiting = ()
    record.pause_requested = False
    record.cancel_requested = ""
    record.trace = retried(record.trace, restart=mode == "restart")
    record.epoch += 1
    record.owner = ""
    record.lease_until = 0.0
    record.signals += 1
    record.updated = now
    tx.set_timer(run_id, None)
    tx.set_ready(run_id, now + grace)
    tx.set_lease_check(run_id, None)
    tx.put_meta(record, old_status)
    return record
