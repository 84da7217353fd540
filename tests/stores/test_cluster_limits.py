"""Concurrency limits on runs over a many-shard Redis Cluster (docs/scaling.md, "Limits").

A limit's holders and waiters live in one shard with every run they admit: ``engine.start``
picks a run id in that shard (:meth:`flowgen.stores.redis_shards.Shards.new_run_id`), so
admission stays in the one script that takes the lease, as on a single Redis. Keys of one
limit go to different shards. An explicit run id in another shard is refused, naming one that
fits.
"""

from __future__ import annotations

import json

import pytest

from flowgen.errors import RunPlacementError
from flowgen.status import RunStatus
from flowgen.stores.base import Commit, Finish, NewRun
from flowgen.stores.redis import RedisStore
from flowgen.urls import open_store

from .support import ARGS, GRACE, TTL, T

pytestmark = [pytest.mark.redis, pytest.mark.redis_cluster]


def _flow(key: str) -> str:
    return json.dumps({"gates": [[f"run:wf|{key}", 1, ""]]})


def _start(store: RedisStore, key: str, created: float) -> str:
    flow = _flow(key)
    run_id = store.new_run_id("wf", flow)
    assert store.create_run(NewRun(run_id, "wf", ARGS, "fp", created, flow=flow), created, GRACE)[0]
    return run_id


def test_a_limits_runs_share_its_shard_and_are_admitted_one_at_a_time(redis_cluster_url: str) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore) and store.shards.count > 1
    keys = [f"tenant-{n}" for n in range(12)]
    homes = {key: store.shards.gate_base("wf", _flow(key)) for key in keys}
    assert len(set(homes.values())) > 3, "the keys of one limit spread over the shards"
    first, second, third = (_start(store, "tenant-0", T + n) for n in range(3))
    assert {store.shards.base_of(run_id) for run_id in (first, second, third)} == {homes["tenant-0"]}
    other = _start(store, "tenant-1", T + 3)
    assert store.shards.base_of(other) == homes["tenant-1"]

    held = store.acquire(first, "w1", TTL, T + 4)
    assert held is not None and held.flow is not None and held.flow["in"] == 1
    assert store.acquire(second, "w2", TTL, T + 4) is None, "over the limit: it waits in line"
    assert store.acquire(third, "w2", TTL, T + 4) is None
    assert store.acquire(other, "w2", TTL, T + 4) is not None, "another key, another shard, its own slot"
    blocked = store.flow_status(third)
    assert blocked is not None and blocked["blocked_by"] == {"gate": "run:wf|tenant-0", "limit": 1, "position": 2}
    result = store.commit(Commit(first, held.epoch, 0, [Finish(RunStatus.COMPLETED, output="1")]), T + 5, GRACE)
    assert result.ok and tuple(result.wake) == (second,), "the freed slot wakes the next in line"
    assert store.acquire(third, "w2", TTL, T + 6) is None
    assert store.acquire(second, "w2", TTL, T + 6) is not None
    store.close()


def test_an_explicit_run_id_outside_its_limits_shard_is_refused_naming_one_that_fits(
    redis_cluster_url: str,
) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore)
    flow = _flow("tenant-0")
    home = store.shards.gate_base("wf", flow)
    elsewhere = next(f"order-{n}" for n in range(100) if store.shards.base_of(f"order-{n}") != home)
    with pytest.raises(RunPlacementError, match=r"under a concurrency limit.*run_id='order-\d+~\d+'") as error:
        store.create_run(NewRun(elsewhere, "wf", ARGS, "fp", T, flow=flow), T, GRACE)
    assert store.get_run(elsewhere) is None, "nothing was written"
    suggested = str(error.value).split("run_id=")[1].split("'")[1]
    assert suggested.startswith(elsewhere + "~")
    assert store.shards.placed_id(elsewhere, home) == suggested, "the same id every time"
    assert store.create_run(NewRun(suggested, "wf", ARGS, "fp", T, flow=flow), T, GRACE)[0]
    store.close()


def test_a_run_with_several_limits_lives_in_its_workflows_shard(redis_cluster_url: str) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore)
    flows = [json.dumps({"gates": [["run:wf", 5, key], [f"run:wf#1|{key}", 1, ""]]}) for key in ("a", "b", "c")]
    assert len({store.shards.gate_base("wf", flow) for flow in flows}) == 1, "the shared gate decides"
    store.close()
