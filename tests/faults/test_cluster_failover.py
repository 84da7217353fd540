"""A Redis Cluster master killed with SIGKILL while runs advance: its replica takes over.

The test owns its cluster (3 masters, 3 replicas; tests/redis_cluster.py), so the session's
cluster stays whole. It kills the master that holds the Dramatiq broker's slot and some shards
of runs, with runs in every stage, and checks that every run still completes with its result
and that no step was lost. Replication is asynchronous: the writes a master acknowledged in its
last moments may not have reached the replica, so a step whose commit was lost runs again (steps
are at-least-once; docs/scaling.md says what can be lost and what flowgen does).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

import flowgen
from flowgen.cluster_urls import CLUSTER_NAMESPACE
from flowgen.errors import StoreUnavailableError
from tests.apps import core
from tests.conftest import Workers, wait_until
from tests.redis_cluster import LocalCluster

pytestmark = [pytest.mark.faults, pytest.mark.redis, pytest.mark.redis_cluster]

RUNS = 150


def _expected(x: int) -> dict:
    d = ((x * 2) + 1) * 2 + 1
    return {"value": d, "even": d % 2 == 0}


def _owner_of(cluster: LocalCluster, key: str) -> int:
    """The port of the master serving ``key``'s slot."""
    with redis.Redis(port=cluster.masters()[0], socket_timeout=10) as client:
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
    raise AssertionError(f"no master serves {key}")


def _result(engine: flowgen.Engine, run_id: str, deadline: float) -> object:
    """The run's result, asking again while the cluster fails over (the client reports it unreachable)."""
    while True:
        try:
            return engine.result(run_id, timeout=max(1.0, deadline - time.monotonic()))
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_killing_a_master_mid_run_loses_no_run(tmp_path: Path, redis_url: str) -> None:
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.start()
    workers = Workers(tmp_path, redis_url)
    try:
        workers.start(cluster.url, "tests.apps.core", threads=8)
        ledger = redis.Redis.from_url(redis_url)
        with flowgen.Engine(cluster.url) as engine:
            ids = [engine.start(core.five_steps, x, run_id=f"fo-{x}").run_id for x in range(RUNS)]
            victim = _owner_of(cluster, CLUSTER_NAMESPACE)
            # kill once runs are in every stage: some finished, most still to go
            wait_until(lambda: ledger.hlen("test:executions") >= RUNS, 120, "the runs to get going")
            cluster.kill(victim)
            survivors = [port for port in cluster.ports if port != victim]
            promoted = wait_until(
                lambda: victim not in cluster.masters() and len(cluster.masters()) == 3,
                120,
                "a replica to take over the killed master's slots",
            )
            assert promoted
            cluster.wait_ok(len(cluster.ports), survivors)
            deadline = time.monotonic() + 240
            results = [_result(engine, run_id, deadline) for run_id in ids]
        assert results == [_expected(x) for x in range(RUNS)]
        counts = {key.decode(): int(value) for key, value in ledger.hgetall("test:executions").items()}
        assert len(counts) == RUNS * 5, "every step of every run ran"
        again = sum(count - 1 for count in counts.values())
        # at-least-once: only steps whose commit the dead master had not yet replicated run again
        assert again <= RUNS * 5 // 2, f"{again} steps ran twice"
        print(f"failover: {again} of {RUNS * 5} steps ran again")
        ledger.close()
    finally:
        workers.stop_all()
        cluster.stop()
