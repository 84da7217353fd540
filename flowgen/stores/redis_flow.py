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

from ..errors import LeaseLostError, RunPlacementError
from ..limits import TIMEOUT_GRACE
from .flow_logic import branch_member
from .redis_plans import Plan, commands
from .redis_shards import Shards
from .redis_wire import num, text

FLOW_SCRIPTS = ("take_step", "release_step", "flow_mark", "lane_take")


class RedisFlow:
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
        if gates and self.cluster:
            raise RunPlacementError(
                f"run {run_id!r}: step limits need a single Redis (their holders are one structure for "
                "every run); on a Redis Cluster limits are not supported yet"
            )
        reply = self._run(
            "take_step", run_id, str(epoch), num(now), num(lease_until), json.dumps([list(g) for g in gates])
        )
        status = text(reply[0])
        if status == "stale":
            raise LeaseLostError(f"run {run_id!r}: epoch {epoch} lost its lease before a step slot was taken")
        return float(text(reply[1])) if status == "retry" else None

    def release_step(self, run_id: str, names: Sequence[str], now: float, grace: float) -> list[str]:
        return [text(r) for r in self._run("release_step", run_id, num(now + grace), json.dumps(list(names)))]

    def block_key(self, key: str, until: float) -> None:
        self._run_on(self.shards.bases[0], "flow_mark", "block", key, num(until))

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
        ranks = yield from commands(*(("ZRANK", f"{base}:fc:{waiters}", member) for waiters, member, _ in lines))
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
