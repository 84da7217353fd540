"""Flow control in the store: run slots, step slots, rate windows, delayed starts and deadlines.

Written once in Python over :class:`FlowTx` for the memory and SQLite stores (run inside their
transactions by :mod:`~flowgen.stores.logic`); the Redis store implements the same semantics
in ``stores/lua/_flow.lua`` with the same key names. Everything is a **scored set** (a Redis
sorted set, a SQLite table ``flow_sets``, a dict in memory) plus one JSON document per run
(its **flow**, see :func:`flow_document`).

Sets, by name:

* ``hold:<gate>``: runs holding a slot of a run limit (score: when they took it). A run slot is
  held from admission to the run's end: a run that sleeps keeps it.
* ``wait:<gate>``: runs waiting for a slot, in start order (see :func:`_wait_score` for the
  round-robin across keys of a gate shared by keys).
* ``shold:<gate>``: runs executing an attempt of a step limit, scored by **their lease's end**:
  a slot whose holder stopped renewing (killed with -9) is free as soon as the lease expires.
* ``swait:<gate>``: runs parked for a step slot, woken in order when one is released.
* ``rate:<gate>``: the start times of the attempts in the current window of a rate limit.
* ``rwait:<gate>``: attempts parked for a token, scored by when their token is expected.
* ``rblock``: keys blocked by ``RateLimited(key=...)`` until their score.
* ``lane``: the **priority lane**, prioritized runs that are ready, lowest score first
  (:func:`_lane_score`); workers take from it ahead of their queue (``runtime/lane.py``).

A gate names a limit and its key: ``run:<workflow>`` or ``run:<workflow>|<key>``,
``step:<step>[|<key>]``, ``rate:<step>[|<key>]``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from ..limits import PRIORITY_SECONDS, RESUME_AHEAD, TIMEOUT_GRACE
from ..status import RunStatus
from . import flow_rates
from .base import RunRecord

FLOW_WORDS = frozenset(
    {
        "blocked",
        "block",
        "limit",
        "rate",
        "retry",
        "rblock",
        "round",
        "in",
        "timed_out",
        "seq",
        "lane",
        "rnow",
        "unstart",
    }
)
"""The words of flow control the Lua scripts spell (gate kinds, replies, flow fields, set names)."""

LEVEL = 1e10
"""Wait scores of a shared gate are ``level * LEVEL + created``: the round first, then arrival."""


class FlowTx(Protocol):
    """The primitives flow control needs inside one store transaction."""

    def get_meta(self, run_id: str) -> RunRecord | None: ...
    def set_timer(self, run_id: str, due: float | None) -> None: ...
    def set_ready(self, run_id: str, score: float | None) -> None: ...
    def flow_get(self, run_id: str) -> dict[str, Any] | None: ...
    def flow_put(self, run_id: str, document: dict[str, Any]) -> None: ...
    def zadd(self, name: str, member: str, score: float) -> None: ...
    def zrem(self, name: str, member: str) -> None: ...
    def zscore(self, name: str, member: str) -> float | None: ...
    def zhead(self, name: str, count: int) -> list[tuple[str, float]]: ...
    def zcard(self, name: str) -> int: ...
    def zprune(self, name: str, upto: float) -> None: ...
    def zrank(self, name: str, member: str) -> int | None: ...
    def zcount(self, name: str, upto: float) -> int: ...
    def put_meta(self, record: RunRecord, old_status: str | None) -> None: ...
    def branches(self, run_id: str) -> dict[str, dict[str, Any]]: ...
    def set_branch(self, run_id: str, key: str, record: dict[str, Any] | None) -> None: ...
    def timer_of(self, run_id: str) -> float | None: ...


def flow_document(
    gates: Sequence[tuple[str, int, str]],
    *,
    start_at: float | None = None,
    timeout: float | None = None,
    created: float = 0.0,
    priority: int = 0,
) -> dict[str, Any] | None:
    """The flow of a new run, or ``None`` when it has none (no limits, start now, no deadline).

    ``gates`` are ``(gate, max, fairness key)``: the fairness key orders the waiters of a gate
    shared by keys round-robin (``""``: arrival order).
    """
    document: dict[str, Any] = {}
    if priority:
        document["pri"] = priority
    if gates:
        document["gates"] = [list(gate) for gate in gates]
    if start_at is not None:
        document["start_at"] = start_at
    if timeout is not None:
        document["timeout"] = timeout
        document["deadline"] = (start_at if start_at is not None else created) + timeout
    return document or None


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


# -- runs ----------------------------------------------------------------------------------


def created(tx: FlowTx, run_id: str, document: dict[str, Any] | None, now: float) -> None:
    """Store a new run's flow; a delayed run waits on its timer instead of the ready index, a
    prioritized one also joins the priority lane."""
    if document is None:
        return
    tx.flow_put(run_id, document)
    start_at = document.get("start_at")
    if start_at is not None:
        tx.set_ready(run_id, None)
        tx.set_timer(run_id, float(start_at))
    elif document.get("pri"):
        tx.zadd("lane", run_id, _lane_score(document, now, 0.0))


def _lane_score(flow: dict[str, Any], at: float, ahead: float) -> float:
    """Where a prioritized run goes in the priority lane (lowest first): see ``PRIORITY_SECONDS``."""
    return at - PRIORITY_SECONDS * float(flow["pri"]) - ahead


def resumed(tx: FlowTx, run_id: str, now: float) -> None:
    """The run resumes (a timer fell due; an event, a child's end or a branch's outcome woke it):
    a prioritized run goes back into the lane, ahead of new starts."""
    flow = tx.flow_get(run_id)
    if flow is not None and flow.get("pri"):
        tx.zadd("lane", run_id, _lane_score(flow, now, RESUME_AHEAD))


def take_lane(tx: FlowTx, now: float) -> str | None:
    """The first run of the priority lane that still needs a worker (``None``: none)."""
    for _ in range(LANE_SCAN):
        head = tx.zhead("lane", 1)
        if not head:
            return None
        run_id = head[0][0]
        tx.zrem("lane", run_id)
        record = tx.get_meta(run_id)
        if record is None or record.is_finished or record.status == RunStatus.PAUSED:
            continue
        if record.owner and record.lease_until > now:
            continue
        return run_id
    return None


LANE_SCAN = 10
"""Lane entries looked at per take (runs that moved on by themselves are dropped)."""


def _wait_score(tx: FlowTx, gate: str, fairness: str, created_at: float) -> float:
    """Where a run joins the waiters of ``gate``.

    Round-robin across keys: on a gate shared by keys, the n-th waiting run of a key is in
    round n (counted from the round being served when it joined), so one run of every key is
    served before the second of any: one key with 10,000 queued runs does not starve another.
    """
    if not fairness:
        return created_at
    served = tx.zscore("round", gate) or 0.0
    last = tx.zscore(f"level:{gate}", fairness)
    level = served if last is None else max(last + 1, served)
    tx.zadd(f"level:{gate}", fairness, level)
    return level * LEVEL + created_at


def admit(tx: FlowTx, record: RunRecord, now: float) -> tuple[bool, dict[str, Any] | None]:
    """Take the run's slots if it has limits and none yet: ``(admitted, its flow)``.

    Called by ``acquire`` in the transaction that takes the lease. A run not admitted joins the
    waiters of its gates (once) and leaves the ready index: a released slot wakes it, or its
    timer at its deadline. A run whose cancellation was requested, or whose deadline passed
    while it waited, passes without a slot (it is only going to end).
    """
    flow = tx.flow_get(record.run_id)
    if flow is not None and flow.get("pri"):
        tx.zrem("lane", record.run_id)  # taken: by its message or from the lane, it needs no other
    if flow is None or not flow.get("gates") or flow.get("in"):
        return True, flow
    if record.cancel_requested:
        flow["in"] = 2
        tx.flow_put(record.run_id, flow)
        return True, flow
    run_id = record.run_id
    free = True
    for gate, maximum, fairness in flow["gates"]:
        waiters = f"wait:{gate}"
        if tx.zscore(waiters, run_id) is None:
            tx.zadd(waiters, run_id, _wait_score(tx, gate, fairness, record.created))
        room = int(maximum) - tx.zcard(f"hold:{gate}")
        if room <= 0 or run_id not in {member for member, _ in tx.zhead(waiters, room)}:
            free = False
    if not free:
        deadline = flow.get("deadline")
        if deadline is not None and now >= float(deadline):
            # its deadline passed in line: it leaves the line and passes, only to be failed with
            # RunTimeoutError before any of its code runs (runtime/gates.not_started)
            for gate, _maximum, _fairness in flow["gates"]:
                tx.zrem(f"wait:{gate}", run_id)
            flow["in"] = 2
            tx.flow_put(run_id, flow)
            return True, flow
        tx.set_ready(run_id, None)
        if deadline is not None:
            tx.set_timer(run_id, float(deadline))  # wakes at its deadline if still in line
        return False, flow
    for gate, _maximum, fairness in flow["gates"]:
        score = tx.zscore(f"wait:{gate}", run_id) or 0.0
        tx.zrem(f"wait:{gate}", run_id)
        tx.zadd(f"hold:{gate}", run_id, now)
        if fairness:
            tx.zadd("round", gate, max(tx.zscore("round", gate) or 0.0, math.floor(score / LEVEL)))
    flow["in"] = 1
    tx.flow_put(run_id, flow)
    return True, flow


def released(tx: FlowTx, run_id: str, now: float, grace: float) -> list[str]:
    """The run ended (or starts over): give back its slots; return the runs woken to take them."""
    flow = tx.flow_get(run_id)
    if flow is None:
        return []
    woken: list[str] = []
    for name in flow.pop("holds", []):
        tx.zrem(f"shold:{name}", run_id)
        woken += wake_step_waiters(tx, name, now, grace)
    for gate, maximum, _fairness in flow.get("gates", []):
        tx.zrem(f"hold:{gate}", run_id)
        tx.zrem(f"wait:{gate}", run_id)
        woken += _wake(
            tx, f"wait:{gate}", int(maximum) - tx.zcard(f"hold:{gate}"), now, grace, RunStatus.QUEUED
        )
    flow.pop("in", None)
    tx.flow_put(run_id, flow)
    return woken


def _wake(tx: FlowTx, waiters: str, count: int, now: float, grace: float, status: RunStatus) -> list[str]:
    """Wake the first ``count`` waiters (they stay in line until they take the slot).

    A run parked as ``status`` is made ready; a step branch parked for a slot
    (:func:`branch_member`) is marked due (its ``pk``) and its run signalled, so the run sends
    the branch again at once. Waiters whose run ended, or whose branch is gone, leave the line
    and do not count.
    """
    if count <= 0:
        return []
    woken: list[str] = []
    for member, _score in tx.zhead(waiters, count + WAKE_SCAN):
        if count <= 0:
            break
        run_id, is_branch, key = member.partition("#")
        record = tx.get_meta(run_id)
        branch = tx.branches(run_id).get(key) if is_branch and record is not None else None
        if record is None or record.is_finished or (is_branch and branch is None):
            tx.zrem(waiters, member)
            continue
        count -= 1
        if branch is not None:
            if "pk" in branch:  # parked: due now (a branch in flight takes the slot by itself)
                tx.set_branch(run_id, key, {**branch, "pk": 0.0})
                record.signals += 1
                tx.put_meta(record, record.status)
                if record.status == RunStatus.WAITING:
                    tx.set_ready(run_id, now + grace)
                    woken.append(run_id)
        elif record.status == status and not record.owner:
            tx.set_ready(member, now + grace)
            woken.append(member)
    return woken


def wake_step_waiters(tx: FlowTx, name: str, now: float, grace: float) -> list[str]:
    """A slot of the step limit ``name`` was given back: wake the first run or branch in line."""
    return _wake(tx, f"swait:{name}", 1, now, grace, RunStatus.WAITING)


WAKE_SCAN = 10
"""Waiters looked at beyond ``count`` when some of them are gone (their run or branch ended)."""


# -- steps ---------------------------------------------------------------------------------


def take_step(
    tx: FlowTx, run_id: str, gates: Sequence[Sequence[Any]], now: float, lease_until: float
) -> float | None:
    """Take a slot of every step limit and a start of every rate limit of an inline attempt.

    ``gates`` are ``["limit", gate, max, 0]`` or ``["rate", gate, count, period]`` (and
    ``["block", key, 0, 0]`` for a ``RateLimited`` key). Returns ``None`` (taken, all or
    nothing) or when to try again: the end of the block or of the window, or, for a limit,
    when the earliest holder's lease ends (a release wakes the run sooner). A refused run
    notes the gate it waits for in its flow (``sw``), for :func:`blocked_by`.
    """
    retry, refused = take_gates(tx, run_id, gates, now, lease_until)
    flow = tx.flow_get(run_id) or {}
    if retry is not None:
        note_parked(tx, run_id, flow, "", refused)
        return retry
    holds = list(flow.get("holds", []))
    for kind, name, _count, _period in gates:
        if kind == "limit" and name not in holds:
            holds.append(name)
    changed = note_parked(tx, run_id, flow, "", None, write=False)
    if holds != flow.get("holds", []):
        flow["holds"] = holds
        changed = True
    if changed:
        tx.flow_put(run_id, flow)
    return None


def take_gates(
    tx: FlowTx, member: str, gates: Sequence[Sequence[Any]], now: float, until: float
) -> tuple[float | None, list[Any] | None]:
    """Take the slots and starts of ``gates`` for ``member`` (a run id, or a step branch's
    :func:`branch_member`): ``(None, None)`` when taken (all or nothing), else when to try
    again and the first gate that refused (``[kind, gate, max]``).

    A slot is held until ``until`` (the holder's lease, or the branch's heartbeat): a holder
    that stops renewing loses it then. A refused member joins the gate's line.
    """
    retry: float | None = None
    refused: list[Any] | None = None
    for kind, name, count, period in gates:
        at: float | None = None
        if kind == "block":
            until_block = tx.zscore("rblock", name)
            if until_block is not None and until_block > now:
                at = until_block
        elif kind == "limit":
            holders = f"shold:{name}"
            tx.zprune(holders, now)
            if tx.zscore(holders, member) is None and tx.zcard(holders) >= int(count):
                head = tx.zhead(holders, 1)
                at = head[0][1] if head else now
                tx.zadd(f"swait:{name}", member, tx.zscore(f"swait:{name}", member) or now)
        else:
            at = flow_rates.wait(tx, member, name, int(count), float(period), now)
        if at is not None:
            retry = max(retry or 0.0, at)
            if refused is None and kind != "block":
                refused = [kind, name, int(count)]
    if retry is not None:
        return max(retry, now), refused
    for kind, name, _count, _period in gates:
        if kind == "limit":
            tx.zadd(f"shold:{name}", member, until)
            tx.zrem(f"swait:{name}", member)
        elif kind == "rate":
            start = flow_rates.start(tx, member, name, int(count), float(period), now)
            tx.zadd(f"rate:{name}", f"{member}@{uuid.uuid4().hex}", start)  # one member per start
            tx.zadd("rnow", name, start)
            tx.zrem(f"rwait:{name}", member)
    return None, None


def note_parked(
    tx: FlowTx, run_id: str, flow: dict[str, Any], slot: str, gate: list[Any] | None, *, write: bool = True
) -> bool:
    """Note in the run's flow (``sw``) the step gate ``slot`` waits for (``""``: the inline
    attempt, else a branch key), or forget it (``gate=None``); returns whether it changed."""
    parked = dict(flow.get("sw") or {})
    if gate is None:
        if slot not in parked:
            return False
        del parked[slot]
    elif parked.get(slot) == gate:
        return False
    else:
        parked[slot] = gate
    if parked:
        flow["sw"] = parked
    else:
        flow.pop("sw", None)
    if write:
        tx.flow_put(run_id, flow)
    return True


def branch_member(run_id: str, key: str) -> str:
    """How a step branch (``<position>/<path>`` of a run) holds and waits for step gates.

    ``#`` is in no run id, so the run is what comes before it."""
    return f"{run_id}#{key}"


def release_step(tx: FlowTx, run_id: str, names: Sequence[str], now: float, grace: float) -> list[str]:
    """The attempt ended: give back its step slots; return the parked runs woken to take them."""
    flow = tx.flow_get(run_id)
    if flow is None:
        return []
    holds = [name for name in flow.get("holds", []) if name not in names]
    woken: list[str] = []
    for name in names:
        tx.zrem(f"shold:{name}", run_id)
        woken += wake_step_waiters(tx, name, now, grace)
    if holds:
        flow["holds"] = holds
    else:
        flow.pop("holds", None)
    tx.flow_put(run_id, flow)
    return woken


def renew_holds(tx: FlowTx, run_id: str, lease_until: float) -> None:
    """Move the run's step slots to its lease's new end (called by ``renew``)."""
    flow = tx.flow_get(run_id)
    for name in (flow or {}).get("holds", []):
        if tx.zscore(f"shold:{name}", run_id) is not None:
            tx.zadd(f"shold:{name}", run_id, lease_until)


def block(tx: FlowTx, key: str, until: float) -> None:
    """``RateLimited(key=...)``: every step rate-limited under ``key`` waits until ``until``."""
    tx.zadd("rblock", key, max(until, tx.zscore("rblock", key) or 0.0))


# -- deadlines and status ------------------------------------------------------------------


def timed_out(tx: FlowTx, run_id: str, now: float) -> float:
    """Record that ``RunTimeoutError`` was raised into the run (once); return its final deadline."""
    flow = tx.flow_get(run_id) or {}
    if "timed_out" not in flow:
        flow["timed_out"] = now
        tx.flow_put(run_id, flow)
    grace = min(TIMEOUT_GRACE, float(flow.get("timeout", TIMEOUT_GRACE)))
    return float(flow["timed_out"]) + grace


def blocked_by(tx: FlowTx, run_id: str) -> dict[str, Any] | None:
    """Which limit holds the run back, and its place in line (``None``: none).

    A queued run's run limit; else the step limit or rate limit its inline attempt or one of
    its step branches is parked for (the first, in the order they were noted).
    """
    flow = tx.flow_get(run_id)
    if flow is None:
        return None
    if not flow.get("in"):
        for gate, maximum, _fairness in flow.get("gates", []):
            rank = tx.zrank(f"wait:{gate}", run_id)
            if rank is not None:
                return {"gate": gate, "limit": int(maximum), "position": rank + 1}
    for slot, (kind, name, maximum) in (flow.get("sw") or {}).items():
        member = branch_member(run_id, slot) if slot else run_id
        rank = tx.zrank(f"{'swait' if kind == 'limit' else 'rwait'}:{name}", member)
        if rank is not None:
            return {"gate": name, "limit": int(maximum), "position": rank + 1}
    return None
