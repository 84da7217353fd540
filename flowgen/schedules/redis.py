"""Schedules in Redis, beside the Redis store's runs (same prefix ``P``).

| key | type | holds |
| --- | --- | --- |
| ``P:schedules`` | zset | every schedule, by creation time |
| ``P:schedules:due`` | zset | schedule name -> when to claim it next (its durable timer) |
| ``P:schedule:<name>`` | hash | ``spec``, ``state`` (JSON) and ``rev`` (the revision) |
| ``P:schedule:<name>:runs`` | zset | run id -> tick, its latest :data:`~.store.KEEP_RUNS` runs |

Claims and writes are Lua scripts (``lua/schedule_claim.lua``, ``lua/schedule_put.lua``) that
check before they write; recording runs is one ``MULTI`` (``ZADD NX`` plus a trim).

On a Redis Cluster ``P`` is ``<prefix>:{schedules}``: every schedule key is in that one hash
slot, so the claim script (which reads many schedules) runs on one node. Each script declares
``P`` as its key (``KEYS[1]``) and takes it as ``ARGV[1]`` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from ..stores.redis import RedisStore
from .store import KEEP_RUNS, ScheduleStore, StoredSchedule


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSchedules(ScheduleStore):
    """Implements :class:`ScheduleStore` on a :class:`~flowgen.stores.redis.RedisStore`'s server."""

    def __init__(self, store: RedisStore) -> None:
        self.client = store.client
        self.prefix = store.shards.shared("schedules")
        self.cluster = store.cluster
        lua = resources.files("flowgen.schedules").joinpath("lua")
        self._claim = self.client.register_script(lua.joinpath("schedule_claim.lua").read_text())
        self._put = self.client.register_script(lua.joinpath("schedule_put.lua").read_text())

    def _key(self, name: str) -> str:
        return f"{self.prefix}:schedule:{name}"

    def get(self, name: str) -> StoredSchedule | None:
        spec, state, revision = self.client.hmget(self._key(name), "spec", "state", "rev")
        if spec is None:
            return None
        return StoredSchedule(name, _text(spec), _text(state), int(_text(revision)))

    def all(self) -> list[StoredSchedule]:
        names = sorted(_text(name) for name in self.client.zrange(f"{self.prefix}:schedules", 0, -1))
        found = (self.get(name) for name in names)
        return [stored for stored in found if stored is not None]

    def put(
        self, name: str, expected: int, spec: str | None, state: str, due: float | None, now: float
    ) -> int | None:
        revision = int(self._put(keys=[self.prefix], args=self._put_args(name, expected, spec, state, due, now)))
        return None if revision < 0 else revision

    def put_many(
        self, writes: Sequence[tuple[str, int, str | None, str, float | None]], now: float
    ) -> list[int | None]:
        """One round trip: the scripts in a pipeline (each atomic; the pipeline need not be)."""
        if not writes:
            return []
        if self.cluster:  # a cluster pipeline may not carry scripts: one call each
            return [self.put(name, expected, spec, state, due, now) for name, expected, spec, state, due in writes]
        with self.client.pipeline(transaction=False) as pipe:
            for name, expected, spec, state, due in writes:
                self._put(keys=[self.prefix], args=self._put_args(name, expected, spec, state, due, now), client=pipe)
            replies = pipe.execute()
        return [None if int(reply) < 0 else int(reply) for reply in replies]

    def add_runs_many(self, runs: Mapping[str, Sequence[tuple[str, float]]]) -> None:
        if not runs:
            return
        with self.client.pipeline(transaction=True) as pipe:
            for name, pairs in runs.items():
                key = f"{self._key(name)}:runs"
                pipe.zadd(key, {run_id: tick for run_id, tick in pairs}, nx=True)
                pipe.zremrangebyrank(key, 0, -(KEEP_RUNS + 1))
            pipe.execute()

    def _put_args(
        self, name: str, expected: int, spec: str | None, state: str, due: float | None, now: float
    ) -> list[Any]:
        return [self.prefix, name, expected, spec or "", state, "" if due is None else repr(due), repr(now)]

    def claim(self, now: float, limit: int, ttl: float) -> list[StoredSchedule]:
        flat = self._claim(keys=[self.prefix], args=[self.prefix, repr(now), limit, repr(ttl)])
        return [
            StoredSchedule(_text(flat[i]), _text(flat[i + 1]), _text(flat[i + 2]), int(flat[i + 3]))
            for i in range(0, len(flat), 4)
        ]

    def next_due(self) -> float | None:
        first = self.client.zrange(f"{self.prefix}:schedules:due", 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def add_runs(self, name: str, runs: Sequence[tuple[str, float]]) -> int:
        if not runs:
            return 0
        key = f"{self._key(name)}:runs"
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {run_id: tick for run_id, tick in runs}, nx=True)
            pipe.zremrangebyrank(key, 0, -(KEEP_RUNS + 1))
            added, _ = pipe.execute()
        return int(added)

    def runs(self, name: str, limit: int) -> list[tuple[str, float]]:
        rows: list[Any] = self.client.zrevrange(f"{self._key(name)}:runs", 0, limit - 1, withscores=True)
        return [(_text(row[0]), float(row[1])) for row in rows]
