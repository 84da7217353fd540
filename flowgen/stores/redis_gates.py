"""Step limits and rate limits on a many-shard Redis Cluster: taken in the limit's own shard.

On a single Redis (or one shard) ``take_step.lua`` takes an attempt's step slots and rate
starts in the same script that checks its lease. On a cluster a script runs in one slot, and
the runs sharing a step limit or a rate limit are in every shard, so each limit's holders,
waiters and rate window live in the shard its *name* hashes to (:meth:`RedisGates.step_limit_base`),
and an attempt takes them in two steps:

1. ``gate_take.lua`` in each limit's shard takes the slot (a holder entry that ends at the
   attempt's lease expiry) or the rate start, exactly as ``flow_take`` does on one Redis, or
   says when to try again (the attempt then waits in the limit's line);
2. ``take_step.lua`` in the run's shard checks the lease and records what was taken, or that
   the run parks.

Never over-admitted: a slot is counted from the moment phase 1 takes it, and a holder entry ends
at its lease's expiry unless renewed, so a worker that dies between the phases, or during the
attempt, frees its slots when its lease would have ended, as on one Redis. The entries are
renewed *before* the lease (:meth:`RedisGates._renew_gates`), so a holder entry never ends
before the lease it is held under. What a crash can cost is the other way: a slot or a rate
start taken and not used until the lease's end (an attempt refused by a second limit in another
shard gives back its slots at once; a rate start already taken is spent).

The attempt's holds are known to the process running it (steps give their slots back in the same
process, :func:`flowgen.runtime.gates.release`), which releases them in the limits' shards and
wakes the first waiter still in line in that waiter's own shard (``flow_wake_one.lua``). A wake
lost to a crash costs latency only: a waiter parks on a timer at the earliest holder's expiry.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Sequence
from typing import Any

import attrs

from .flow_logic import branch_member
from .redis_shards import Shards
from .redis_wire import num, text

GATE_WORDS = frozenset({"gates", "release", "renew", "leave"})
"""The words of this module's scripts: ``branch_begin.lua``'s reply with a gated record, and the
actions of ``gate_hold.lua`` (tests/stores/test_vocabulary.py checks the scripts use no other)."""


@attrs.frozen
class Taken:
    """What phase 1 took, per limit shard: ``fresh``, the slots the member did not hold already
    (the only ones an attempt that does not start gives back); ``added``, the names this process
    started to track for it."""

    fresh: dict[str, list[str]]
    added: dict[str, list[str]]


def verdict_args(verdict: tuple[float, list[Any]] | None) -> list[str]:
    """Phase 1's verdict as the run's script takes it: ``"", ""`` when taken, else when to try
    again and the gate that refused (``take_step.lua``, ``branch_begin.lua``)."""
    return ["", ""] if verdict is None else [num(verdict[0]), json.dumps(verdict[1])]


class RedisGates:
    """The cluster's side of step limits and rate limits; mixed into :class:`~.redis_flow.RedisFlow`."""

    shards: Shards

    def _run_on(self, base: str, name: str, *args: Any) -> Any:
        raise NotImplementedError

    def _run(self, name: str, run_id: str, *args: Any) -> Any:
        raise NotImplementedError

    def _init_gates(self) -> None:
        self._gate_lock = threading.Lock()
        self._gate_holds: dict[str, dict[str, list[str]]] = {}
        """member -> limit shard base -> names of the step slots this process holds there."""

    def step_limit_base(self, name: str) -> str:
        """The shard of the step limit, rate limit or ``RateLimited`` key ``name``."""
        return self.shards.bases[zlib.crc32(name.encode()) % self.shards.count]

    def _take_gates(
        self, member: str, gates: Sequence[Sequence[Any]], now: float, until: float
    ) -> tuple[tuple[float, list[Any]] | None, Taken]:
        """Phase 1: take ``gates`` in their shards. Returns ``None`` when all were taken, else when
        to try again and the gate that refused (the slots taken in other shards are given back
        first); and what :meth:`_give_back` returns if the attempt then does not start.

        Shards with rate limits or blocks come last: a rate start cannot be given back, so it is
        taken only once every slot is."""
        groups: dict[str, list[Sequence[Any]]] = {}
        for gate in gates:
            groups.setdefault(self.step_limit_base(str(gate[1])), []).append(gate)
        order = sorted(groups.items(), key=lambda item: any(gate[0] != "limit" for gate in item[1]))
        fresh: dict[str, list[str]] = {}
        held: dict[str, list[str]] = {}
        for base, group in order:
            encoded = json.dumps([list(g) for g in group])
            reply = self._run_on(base, "gate_take", member, num(now), num(until), encoded)
            if text(reply[0]) == "retry":
                self._give_back(member, Taken(fresh, {}), now)
                return (float(text(reply[1])), json.loads(text(reply[2]))), Taken({}, {})
            names = [str(gate[1]) for gate in group if gate[0] == "limit"]
            if names:
                held[base] = names
                fresh[base] = list(json.loads(text(reply[1])))
        added: dict[str, list[str]] = {}
        if held:
            with self._gate_lock:
                mine = self._gate_holds.setdefault(member, {})
                for base, names in held.items():
                    known = mine.get(base, [])
                    added[base] = [name for name in names if name not in known]
                    mine[base] = sorted({*known, *names})
        return None, Taken(fresh, added)

    def _give_back(self, member: str, taken: Taken, ready_score: float) -> None:
        """Undo phase 1 for an attempt that does not start: give back the slots it took fresh
        (waking their first waiters) and stop tracking what it started to track."""
        self._untrack(member, taken.added)
        for base, names in taken.fresh.items():
            if names:
                self._release_in(base, member, names, ready_score)

    def _begin_gated_branch(self, run_id: str, key: str, attempt: int, ttl: float, now: float) -> Any:
        """``branch_begin.lua`` on a many-shard cluster: a branch under step limits or rate limits
        takes them in their shards (phase 1) between two calls of the script in the run's."""
        args = (run_id, key, attempt, num(now + ttl), num(now))
        reply = self._run("branch_begin", *args, "?")
        if not isinstance(reply, list):
            return reply
        gates = json.loads(text(reply[1]))["g"]
        member = branch_member(run_id, key)
        verdict, taken = self._take_gates(member, gates, now, now + ttl)
        reply = self._run("branch_begin", *args, *verdict_args(verdict))
        if not reply and verdict is None:  # taken for an attempt that may not start: given back
            self._give_back(member, taken, now)
        return reply

    def _release_gates(self, member: str, names: Sequence[str] | None, ready_score: float) -> list[str]:
        """Give back ``member``'s slots of ``names`` (``None``: every slot it holds) and wake, per
        slot, the first waiter still in line; returns the runs to enqueue."""
        with self._gate_lock:
            mine = self._gate_holds.get(member, {})
            if names is None:
                names = [name for held in mine.values() for name in held]
        by_base: dict[str, list[str]] = {}
        for name in names:
            by_base.setdefault(self.step_limit_base(name), []).append(name)
        self._untrack(member, by_base)
        woken: list[str] = []
        for base, group in by_base.items():
            woken += self._release_in(base, member, group, ready_score)
        return woken

    def _untrack(self, member: str, by_base: dict[str, list[str]]) -> None:
        """Stop renewing ``member``'s slots of these names (per limit shard)."""
        with self._gate_lock:
            mine = self._gate_holds.get(member, {})
            for base, dropped in by_base.items():
                left = [name for name in mine.get(base, []) if name not in dropped]
                if left:
                    mine[base] = left
                else:
                    mine.pop(base, None)
            if not mine:
                self._gate_holds.pop(member, None)

    def _release_in(self, base: str, member: str, names: list[str], ready_score: float) -> list[str]:
        """Give back ``member``'s slots of ``names`` in shard ``base``; wake their first waiters."""
        woken: list[str] = []
        lines = self._run_on(base, "gate_hold", "release", member, json.dumps(names), "")
        for name, line in zip(names, lines, strict=True):
            woken += self._wake_first(base, name, [text(waiter) for waiter in line], ready_score)
        return woken

    def _wake_first(self, base: str, name: str, line: list[str], ready_score: float) -> list[str]:
        """Wake the first waiter of ``line`` that is still there (in its own shard); the gone ones
        leave the line."""
        for waiter in line:
            run_id = waiter.split("#", 1)[0]
            reply = self._run_on(self.shards.base_of(run_id), "flow_wake_one", waiter, num(ready_score))
            if reply is not None:
                return [text(woken) for woken in reply]
            self._run_on(base, "gate_hold", "leave", waiter, json.dumps([name]), "")
        return []

    def _renew_gates(self, members: Sequence[str], until: float) -> None:
        """Move the holder entries of ``members``' slots to ``until``, before their leases are."""
        with self._gate_lock:
            held = [(member, dict(self._gate_holds.get(member, {}))) for member in members]
        for member, by_base in held:
            for base, names in by_base.items():
                self._run_on(base, "gate_hold", "renew", member, json.dumps(names), num(until))
