"""Redis Cluster specifics: one slot per script, the single-Redis layout unchanged, refusals, URLs.

The conformance suite runs on the local cluster as the ``cluster`` store (tests/stores/conftest.py);
these tests check what only a cluster has.
"""

from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot

from flowgen.cluster_urls import parse_cluster_url
from flowgen.errors import ConfigurationError, RunPlacementError
from flowgen.status import RunStatus
from flowgen.stores.base import Commit, Finish, NewRun, Park
from flowgen.stores.redis import RedisStore
from flowgen.stores.redis_shards import Shards
from flowgen.urls import open_store

from .support import ARGS, GRACE, TTL, T


def _exercise(store: RedisStore, ids: list[str]) -> None:
    """Create runs (some children), park one on a timer, finish one, tag one, send events."""
    store.create_runs([NewRun(run_id, "wf", ARGS, "fp", T) for run_id in ids], T, GRACE)
    store.create_run(NewRun(f"{ids[0]}/0", "wf", ARGS, "fp", T, parent=ids[0]), T, GRACE)
    store.set_tags(ids[1], {"customer": "7"})
    store.send_event(ids[2], "go", '"x"', "e1", T, GRACE)
    for run_id, operation in ((ids[0], Park(0, (), T + 60)), (ids[1], Finish(RunStatus.COMPLETED))):
        snapshot = store.acquire(run_id, "w1", TTL, T)
        assert snapshot is not None
        assert store.commit(Commit(run_id, snapshot.epoch, 0, (operation,)), T, GRACE).ok


@pytest.mark.redis
@pytest.mark.redis_cluster
def test_every_key_of_a_run_is_in_its_shards_slot(redis_cluster_url: str) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore) and store.cluster and store.shards.count >= 2
    ids = [f"run-{number}" for number in range(40)]
    _exercise(store, ids)
    slots = {key_slot(base.encode()) for base in store.shards.bases}
    assert len(slots) == store.shards.count, "each shard is a slot of its own"
    keys = [key.decode() for key in store.client.scan_iter("flowgen:*")]
    assert any(":timers" in key for key in keys) and any(":tag:" in key for key in keys)
    for key in keys:
        assert key_slot(key.encode()) in slots, f"{key} is outside every shard's slot"
    for run_id in [*ids, f"{ids[0]}/0"]:
        base = store.shards.base_of(run_id)
        for key in [key for key in keys if f"{{{run_id}}}" in key]:
            assert key_slot(key.encode()) == key_slot(base.encode()), f"{key} is not in {run_id}'s shard"
    assert store.shards.base_of(f"{ids[0]}/0") == store.shards.base_of(ids[0]), (
        "a child lives with its parent"
    )
    used = {store.shards.base_of(run_id) for run_id in ids}
    assert len(used) > 1, "runs spread over the shards"
    assert store.state_counts(T).runs["queued"] == 39
    store.close()


@pytest.mark.redis
def test_a_single_redis_keeps_the_layout_it_always_had(redis_url: str) -> None:
    store = RedisStore(redis_url)
    _exercise(store, ["a", "b", "c"])
    keys = {key.decode() for key in redis.Redis.from_url(redis_url).keys("flowgen*")}
    assert {"flowgen:{a}:meta", "flowgen:{a}:children", "flowgen:timers", "flowgen:runs"} <= keys
    assert {
        "flowgen:status:queued",
        "flowgen:wf:wf",
        "flowgen:tag:customer=7",
        "flowgen:{c}:inbox:go",
    } <= keys
    assert not [key for key in keys if "{t:" in key]
    store.close()


@pytest.mark.redis
@pytest.mark.redis_cluster
def test_a_cluster_refuses_a_child_outside_its_parents_shard(redis_cluster_url: str) -> None:
    store = open_store(redis_cluster_url, retention=3600, prefix="flowgen")
    assert isinstance(store, RedisStore)
    store.create_run(NewRun("parent", "wf", ARGS, "fp", T), T, GRACE)
    elsewhere = next(
        f"c{n}" for n in range(100) if store.shards.base_of(f"c{n}") != store.shards.base_of("parent")
    )
    with pytest.raises(RunPlacementError, match=r"child run id .* another shard .*'parent/"):
        store.create_run(NewRun(elsewhere, "wf", ARGS, "fp", T, parent="parent"), T, GRACE)
    assert store.get_run(elsewhere) is None, "nothing was written"
    store.close()


def test_cluster_urls_name_nodes_password_and_shards() -> None:
    nodes, user, password, shards, tls = parse_cluster_url(
        "redis+cluster://:s3cret@h1:7000,h2:7001/?shards=8"
    )
    assert (nodes, user, password, shards, tls) == ([("h1", 7000), ("h2", 7001)], None, "s3cret", 8, False)
    assert parse_cluster_url("rediss+cluster://u:p@h:1")[1:] == ("u", "p", None, True)
    for bad, why in (
        ("redis+cluster://", "names no node"),
        ("redis+cluster://h1", "'h1' is not host:port"),
        ("redis+cluster://h1:7000?shards=0", "shards='0'"),
    ):
        with pytest.raises(ConfigurationError, match=why):
            parse_cluster_url(bad)


def test_shards_are_fixed_by_the_root_id_and_validated() -> None:
    shards = Shards("flowgen", 16)
    assert shards.base_of("order-1") == shards.base_of("order-1/3.1") == shards.base_of("order-1/g2/0")
    assert shards.key("order-1", "meta").startswith(shards.base_of("order-1") + ":{order-1}")
    assert Shards("flowgen").key("r", "meta") == "flowgen:{r}:meta"
    with pytest.raises(ValueError, match="shards=-1"):
        Shards("flowgen", -1)


def test_a_limited_runs_fresh_id_is_32_hex_digits_in_its_limits_shard() -> None:
    shards = Shards("flowgen", 24)
    flow = '{"gates": [["run:wf|t1", 2, ""]]}'
    home = shards.run_limit_base("wf", flow)
    ids = {shards.new_run_id("wf", flow) for _ in range(500)}
    assert len(ids) == 500
    assert all(len(run_id) == 32 and int(run_id, 16) >= 0 for run_id in ids)
    assert {shards.base_of(run_id) for run_id in ids} == {home}
    assert Shards("flowgen").run_limit_base("wf", flow) is None, "a single Redis places nothing"
    assert len({shards.base_of(shards.new_run_id("wf", None)) for _ in range(500)}) > 12
