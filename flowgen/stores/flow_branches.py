"""Step limits and rate limits on step branches (``all_of``/``any_of`` members, ``queue=`` steps).

A branch attempt is a message a worker takes with ``branch_begin``; its gates (what
:func:`flowgen.flow_start.step_gates` says for its arguments) travel in its branch record
(``g``), written by the run when it dispatched the attempt. ``branch_begin`` takes them in the
same transaction (Lua script) that starts the attempt, as :func:`flow_logic.take_gates` for the
member ``<run id>#<key>``; the slots are held until the branch's **heartbeat** ends and move
with it, so a worker killed with -9 frees them when its heartbeat expires (the lease TTL).

Refused, the attempt does not start and spends nothing: the branch record is marked parked
until ``pk`` (when a token is expected or the earliest holder's heartbeat ends), the run is
made to wake by then (its timer, or a signal if it is being advanced), and no worker thread
waits. The run's evaluator sends the same attempt again at ``pk``; a released slot makes
``pk`` due at once (:func:`flow_logic._wake`). The worker gives the slots back in
``branch_finish`` (:func:`release_branch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..status import RunStatus
from . import flow_logic
from .base import RunRecord
from .flow_logic import FlowTx


def take_branch(
    tx: FlowTx, record: RunRecord, key: str, branch: dict[str, Any], now: float, until: float
) -> float | None:
    """Take the gates of the branch ``key`` for its attempt: ``None`` when taken (the names of
    its step slots are then in ``branch["h"]``), else when the run sends it again."""
    run_id = record.run_id
    gates = branch["g"]
    retry, refused = flow_logic.take_gates(tx, flow_logic.branch_member(run_id, key), gates, now, until)
    flow = tx.flow_get(run_id) or {}
    if retry is None:
        flow_logic.note_parked(tx, run_id, flow, key, None)
        held = [gate[1] for gate in gates if gate[0] == "limit"]
        if held:
            branch["h"] = held
        return None
    flow_logic.note_parked(tx, run_id, flow, key, refused)
    tx.set_branch(run_id, key, {**branch, "pk": retry})
    if record.status == RunStatus.WAITING and not record.owner:
        timer = tx.timer_of(run_id)
        if timer is None or timer > retry:
            tx.set_timer(run_id, retry)
    else:  # being advanced: its park is refused, so it sees the parked branch
        record.signals += 1
        tx.put_meta(record, record.status)
    return retry


def release_branch(
    tx: FlowTx, run_id: str, key: str, names: Sequence[str], now: float, grace: float
) -> list[str]:
    """The branch attempt ended: give back its step slots; return the runs woken to take them."""
    member = flow_logic.branch_member(run_id, key)
    woken: list[str] = []
    for name in names:
        tx.zrem(f"shold:{name}", member)
        woken += flow_logic.wake_step_waiters(tx, name, now, grace)
    return woken


def renew_branch_holds(tx: FlowTx, run_id: str, key: str, names: Sequence[str], until: float) -> None:
    """Move the branch's step slots to its heartbeat's new end."""
    member = flow_logic.branch_member(run_id, key)
    for name in names:
        if tx.zscore(f"shold:{name}", member) is not None:
            tx.zadd(f"shold:{name}", member, until)


def drop_branch(tx: FlowTx, run_id: str, key: str, branch: dict[str, Any]) -> list[str]:
    """The run forgets the branch ``key`` (cancelled, abandoned by its ``all_of``, or the run
    ended): it leaves the lines of its gates now; returns the step slots its attempt holds, to
    give back with :func:`release_branch` once every branch the operation forgets has left its
    lines (so a slot goes to a waiter that is still there). The slots are free at once, not when
    the attempt's heartbeat would have ended; an attempt still running then is no longer counted
    by its limits (its outcome is moot)."""
    gates = branch.get("g")
    if not gates:
        return []
    member = flow_logic.branch_member(run_id, key)
    for kind, name, _count, _period in gates:
        if kind in ("limit", "rate"):
            tx.zrem(f"{'swait' if kind == 'limit' else 'rwait'}:{name}", member)
    return [] if "r" in branch else list(branch.get("h", ()))  # reported: given back then
