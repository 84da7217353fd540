"""The Redis store's flow-control operations (``stores/lua/_flow.lua``, ``take_step.lua``,
``release_step.lua``, ``flow_mark.lua``), mixed into :class:`~flowgen.stores.redis.RedisStore`.

Run admission itself is in ``acquire.lua`` (the script that takes the lease) and the release of
run slots in ``commit.lua`` (a finish) and ``control.lua`` (terminate): one script each, so no
slot is ever taken or given back apart from the lease.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import LeaseLostError
from ..limits import TIMEOUT_GRACE
from .flow_logic import branch_member
from .flow_rates import RATE_LATENESS
from .redis_gates import RedisGates, verdict_args
from .redis_plans import Plan, commands
from .redis_shards import Shards
from .redis_wire import num, text

# The meta field create.lua sets to "1" for a run started without a flow document; flow_put
# (_flow.lua) deletes it when the run's first document is written, and a commit that writes a
# branch record sets it to "0". acquire and a finishing commit do not look for the document or
# the branch records of a run marked so. A run without the field is looked at, as before it.
PLAIN_FIELD = "plain"

FLOW_SCRIPTS = (
    "take_step",
    "release_step",
    "flow_mark",
    "lane_take",
    "gate_take",
    "gate_hold",
    "flow_wake_one",
)


class RedisFlow(RedisGates):
    """Flow control over Lua scripts; see :class:`~flowgen.stores.base.Store` for the contract."""

    prefix: str
    client: Any
    cluster: bool
    shards: Shards

    def _run(self, name: str, run_id: str, *args: Any) -> Any:
        raise NotImplementedError

    def _run_on(self, base: str, name: str, *args: Any) -> Any:
        raise NotImplementedError

    def key(self, run_id: str, suffix: str) -> str:
        raise NotImplementedError

    def _execute(self, plan: Plan[Any]) -> Any:
        raise NotImplementedError

    def take_step(
        self, run_id: str, epoch: int, gates: Sequence[Sequence[Any]], now: float, lease_until: float
    ) -> float | None:
        verdict: tuple[float, list[Any]] | None = None
        taken, phase1 = None, []  # on a many-shard cluster: the gates are taken in their shards first
        if gates and not self.shards.one_slot:
            verdict, taken = self._take_gates(run_id, gates, now, lease_until)
            phase1 = verdict_args(verdict)
        encoded = json.dumps([list(g) for g in gates])
        reply = self._run("take_step", run_id, str(epoch), num(now), num(lease_until), encoded, *phase1)
        status = text(reply[0])
        if status == "stale":
            if taken is not None and verdict is None:
                self._give_back(run_id, taken, now)
            raise LeaseLostError(f"run {run_id!r}: epoch {epoch} lost its lease before a step slot was taken")
        return float(text(reply[1])) if status == "retry" else None

    def release_step(self, run_id: str, names: Sequence[str], now: float, grace: float) -> list[str]:
        if not self.shards.one_slot:  # the holds are in the limits' shards only (redis_gates.py)
            return self._release_gates(run_id, names, now + grace)
        return [text(r) for r in self._run("release_step", run_id, num(now + grace), json.dumps(list(names)))]

    def give_back_start(self, run_id: str, name: str, sent: float, period: float) -> None:
        since = num(sent - period * RATE_LATENESS)
        base = self.shards.base_of(run_id) if self.shards.one_slot else self.step_limit_base(name)
        self._run_on(base, "flow_mark", "unstart", run_id, name, since)

    def block_key(self, key: str, until: float) -> None:
        base = self.shards.bases[0] if self.shards.one_slot else self.step_limit_base(key)
        self._run_on(base, "flow_mark", "block", key, num(until))

    def timed_out(self, run_id: str, now: float) -> float:
        reply = self._run_on(
            self.shards.base_of(run_id), "flow_mark", "timed_out", run_id, num(now), num(TIMEOUT_GRACE)
        )
        return float(text(reply[1]))

    def take_lane(self, now: float) -> str | None:
        if not self.cluster:
            reply = self._run("lane_take", num(now))
            return text(reply) if reply else None
        bases = self.shards.bases
        if len(bases) > 1:  # on a cluster: each shard has a lane; serve the one whose head comes first
            pipe = self.client.pipeline(transaction=False)
            for base in bases:
                pipe.zrange(f"{base}:fc:lane", 0, 0, withscores=True)
            heads = [(float(reply[0][1]), base) for base, reply in zip(bases, pipe.execute(), strict=True) if reply]
            bases = [base for _, base in sorted(heads)]
        for base in bases:
            reply = self._run_on(base, "lane_take", num(now))
            if reply:
                return text(reply)
        return None

    def flow_status_plan(self, run_id: str) -> Plan[dict[str, Any] | None]:
        """The run's flow document, with ``blocked_by``: as :func:`flowgen.stores.flow_logic.blocked_by`,
        a run limit's line, else a step gate's (the first it waits in, and its place), one pipeline."""
        (raw,) = yield from commands(("GET", self.key(run_id, "flow")))
        if raw is None:
            return None
        document: dict[str, Any] = json.loads(raw)
        lines: list[tuple[str, str, int]] = []
        if not document.get("in"):
            lines += [
                (f"wait:{gate}", run_id, int(maximum)) for gate, maximum, _ in document.get("gates", [])
            ]
        for slot, (kind, name, maximum) in (document.get("sw") or {}).items():
            member = branch_member(run_id, slot) if slot else run_id
            lines.append((f"{'swait' if kind == 'limit' else 'rwait'}:{name}", member, int(maximum)))
        base = self.shards.base_of(run_id)

        def line_of(waiters: str) -> str:
            """A run limit's line is in its run's shard; a step gate's in its own on many shards."""
            if self.shards.one_slot or waiters.startswith("wait:"):
                return f"{base}:fc:{waiters}"
            return f"{self.step_limit_base(waiters.partition(':')[2])}:fc:{waiters}"

        ranks = yield from commands(*(("ZRANK", line_of(waiters), member) for waiters, member, _ in lines))
        blocked = None
        for (waiters, _member, maximum), rank in zip(lines, ranks, strict=True):
            if rank is not None:
                blocked = {"gate": waiters.partition(":")[2], "limit": maximum, "position": int(rank) + 1}
                break
        return {**document, "blocked_by": blocked}

    def branch_parked_until(self, run_id: str, key: str) -> float | None:
        parked = self.client.hget(self.key(run_id, "branches"), f"{key}|pk")
        return float(parked) if parked is not None else None

    def flow_status(self, run_id: str) -> dict[str, Any] | None:
        status: dict[str, Any] | None = self._execute(self.flow_status_plan(run_id))
        return status
