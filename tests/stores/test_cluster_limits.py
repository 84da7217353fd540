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
    homes = {key: store.shards.run_limit_base("wf", _flow(key)) for key in keys}
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
    assert blocked is not None and blocked["blocked_by"] == {
        "gate": "run:wf|tenant-0",
        "limit": 1,
        "position": 2,
    }
    result = store.commit(
        Commit(first, held.epoch, 0, [Finish(RunStatus.COMPLETED, output="1")]), T + 5, GRACE
    )
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
    home = store.shards.run_limit_base("wf", flow)
    elsewhere = next(f"order-{n}" for n in range(100) if store.shards.base_of(f"order-{n}") != home)
    with pytest.raises(
        RunPlacementError, match=r"under a concurrency limit.*run_id='order-\d+\+\d+'"
    ) as error:
        store.create_run(NewRun(elsewhere, "wf", ARGS, "fp", T, flow=flow), T, GRACE)
    assert store.get_run(elsewhere) is None, "nothing was written"
    suggested = str(error.value).split("run_id=")[1].split("'")[1]
    assert suggested.startswith(elsewhere + "+")
    assert store.shards.placed_id(elsewhere, home) == suggested, "the same id every time"
    assert store.create_run(NewRun(suggested, "wf", ARGS, "fp", T, flow=flow), T, GRACE)[0]
    store.close()


def test_a_run_with_several_limits_lives_in_its_workflows_shard(redis_cluster_url: str) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore)
    flows = [
        json.dumps({"gates": [["run:wf", 5, key], [f"run:wf#1|{key}", 1, ""]]}) for key in ("a", "b", "c")
    ]
    assert len({store.shards.run_limit_base("wf", flow) for flow in flows}) == 1, "the shared gate decides"
    store.close()


def _two_runs_apart(store: RedisStore, limit: str) -> tuple[str, str]:
    """Two run ids in two shards, neither the limit's."""
    home = store.step_limit_base(limit)
    ids = [f"r{n}" for n in range(200) if store.shards.base_of(f"r{n}") != home]
    first = ids[0]
    second = next(run_id for run_id in ids if store.shards.base_of(run_id) != store.shards.base_of(first))
    for run_id in (first, second):
        assert store.create_run(NewRun(run_id, "wf", ARGS, "fp", T), T, GRACE)[0]
    return first, second


def test_a_step_slot_taken_by_a_worker_that_died_before_recording_it_frees_at_its_lease_end(
    redis_cluster_url: str,
) -> None:
    """Phase 1 (the limit's shard) without phase 2 (the run's): the slot counts, so nothing is
    over-admitted, and it ends with the lease expiry it was taken with."""
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore)
    gates = [["limit", "step:gpu", 1, 0]]
    a, b = _two_runs_apart(store, "step:gpu")
    verdict, _taken = store._take_gates(a, gates, T, T + TTL)  # the worker dies right after this
    assert verdict is None
    held_b = store.acquire(b, "w2", TTL, T)
    assert held_b is not None
    assert store.take_step(b, held_b.epoch, gates, T + 1, T + 1 + TTL) == T + TTL, (
        "refused until a's lease end"
    )
    blocked = store.flow_status(b)
    assert blocked is not None and blocked["blocked_by"] == {"gate": "step:gpu", "limit": 1, "position": 1}
    assert store.take_step(b, held_b.epoch, gates, T + TTL + 0.5, T + 2 * TTL) is None
    store.close()


def test_an_attempt_refused_by_a_rate_limit_in_another_shard_gives_its_slot_back(
    redis_cluster_url: str,
) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore)
    limit = "step:api"
    rate = next(
        f"rate:api|{n}"
        for n in range(100)
        if store.step_limit_base(f"rate:api|{n}") != store.step_limit_base(limit)
    )
    gates = [["limit", limit, 1, 0], ["rate", rate, 1, 60.0]]
    a, b = _two_runs_apart(store, limit)
    held_a, held_b = store.acquire(a, "w1", TTL, T), store.acquire(b, "w2", TTL, T)
    assert held_a is not None and held_b is not None
    assert store.take_step(a, held_a.epoch, gates, T, T + TTL) is None
    assert store.release_step(a, [limit], T + 1, GRACE) == []
    # the rate's one start a minute is spent: b takes the slot, then is refused by the rate
    assert (store.take_step(b, held_b.epoch, gates, T + 2, T + 2 + TTL) or 0) > T + 60
    assert store.client.zcard(f"{store.step_limit_base(limit)}:fc:shold:{limit}") == 0, (
        "its slot was given back"
    )
    assert store._gate_holds == {}, "and is no longer renewed"
    assert store.take_step(a, held_a.epoch, [["limit", limit, 1, 0]], T + 3, T + 3 + TTL) is None
    store.close()


def test_engine_start_places_a_limited_run_and_refuses_a_foreign_id_storing_nothing(
    redis_cluster_url: str,
) -> None:
    import flowgen
    from tests.apps import flow_apps

    with flowgen.Engine(redis_cluster_url, start_workers=False) as engine:
        store = engine.store
        assert isinstance(store, RedisStore)
        run = engine.start(flow_apps.per_customer, "c1", "o1")
        flow = store.flow_status(run.run_id)
        assert flow is not None and flow["gates"] == [["run:flow.per_customer|c1", 1, ""]]
        home = store.shards.base_of(run.run_id)
        foreign = next(f"order-{n}" for n in range(100) if store.shards.base_of(f"order-{n}") != home)
        with pytest.raises(RunPlacementError, match=r"run_id='order-\d+\+\d+'") as error:
            engine.start(flow_apps.per_customer, "c1", "o2", run_id=foreign)
        assert store.get_run(foreign) is None
        suggested = str(error.value).split("run_id=")[1].split("'")[1]
        placed = engine.start(flow_apps.per_customer, "c1", "o2", run_id=suggested)
        assert placed.run_id == suggested and store.shards.base_of(suggested) == home
