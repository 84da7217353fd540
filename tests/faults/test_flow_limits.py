"""Admission under kill -9: ``Limit(2, key=...)`` is never exceeded and every run completes; a
step limit of 2 on all_of branches holds the same way, and a killed holder's slot comes back.

Four real ``flowgen worker`` processes on a real redis-server run 200 runs of a workflow
limited to 2 in progress per tenant, over 5 tenants, while the test kills a random worker with
SIGKILL every time another batch of runs has finished (and starts a new one). The steps record
how many runs of their tenant they see in progress at once (tests/apps/faults_flow.py).
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict

import pytest

import flowgen
from tests.apps import faults_flow
from tests.conftest import wait_until
from tests.faults.support import Ledger, Workers, children_of, start_runs, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

RUNS = 200
TENANTS = 5
LIMIT = 2
KILLS = 6


@pytest.fixture(
    params=[
        pytest.param("redis", id="redis"),
        pytest.param("cluster", id="cluster", marks=pytest.mark.redis_cluster),
    ]
)
def limit_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """The engine URL: the single test Redis, or the session's Redis Cluster (the runs of each
    tenant in the shard of its limit, the tenants spread over the shards; the ledger stays on the
    single server)."""
    return redis_url if request.param == "redis" else str(request.getfixturevalue("redis_cluster_url"))


def test_a_keyed_limit_of_2_is_never_exceeded_while_workers_are_killed(
    limit_url: str, workers: Workers, ledger: Ledger
) -> None:
    rng = random.Random(15)
    modules = ("tests.apps.faults_flow",)
    redis_url = limit_url
    engine = flowgen.Engine(limit_url)
    live = [workers.start(redis_url, *modules, threads=8) for _ in range(4)]
    # on a cluster an explicit id must fall in its tenant's shard: flowgen picks the ids there
    prefix = None if "+cluster" in limit_url else "lim"
    ids = start_runs(engine, "faults.limited", prefix, [(f"t{n % TENANTS}", 0.05) for n in range(RUNS)])
    if prefix is None:
        shards = engine.store.shards  # type: ignore[attr-defined]
        used = {shards.base_of(run_id) for run_id in ids}
        assert len(used) > 1, "the tenants' runs are in several shards"

    def left() -> int:
        return sum(1 for entry in seen() if entry["phase"] == "leave")

    def seen() -> list[dict[str, object]]:
        return [json.loads(raw) for raw in ledger.client.lrange(faults_flow.SEEN, 0, -1)]

    for kill in range(KILLS):
        target = (kill + 1) * RUNS // (KILLS + 2)
        wait_until(lambda target=target: left() >= target, 120, f"{target} runs to reach their last step")
        victim = live.pop(rng.randrange(len(live)))
        victim.kill()
        live.append(workers.start(redis_url, *modules, threads=8))

    wait_finished(redis_url, ids, 180)
    statuses = {engine.status(run_id).status for run_id in ids}
    assert statuses == {"completed"}
    most: dict[str, int] = defaultdict(int)
    for entry in seen():
        most[str(entry["tenant"])] = max(most[str(entry["tenant"])], int(entry["count"]))  # type: ignore[call-overload]
    assert max(most.values()) <= LIMIT, most
    assert max(most.values()) == LIMIT, most  # the limit did bind: the test is not vacuous
    assert len(most) == TENANTS
    engine.close()


def test_a_step_limit_of_2_on_branches_is_never_exceeded_while_workers_are_killed(
    limit_url: str, workers: Workers, ledger: Ledger
) -> None:
    rng = random.Random(17)
    redis_url = limit_url  # on a cluster the runs spread over the shards, the limit in its own
    engine = flowgen.Engine(limit_url)
    modules = ("tests.apps.faults_flow",)
    live = [workers.start(redis_url, *modules, threads=8) for _ in range(4)]
    ids = start_runs(engine, "faults.gpu_fan", "gpu", [(5, 0.05) for _ in range(24)])

    def seen() -> list[int]:
        return [int(raw) for raw in ledger.client.lrange(faults_flow.GPU_SEEN, 0, -1)]

    for kill in range(3):
        target = (kill + 1) * 120 // 5
        wait_until(lambda target=target: len(seen()) >= target, 120, f"{target} branch attempts to start")
        victim = live.pop(rng.randrange(len(live)))
        pids = {str(victim.pid), *(str(child.pid) for child in children_of(victim))}
        victim.kill()
        # the attempts it was running are gone with it (their slots end with their heartbeat)
        for member in ledger.client.smembers(faults_flow.GPU):
            if member.decode().partition(":")[0] in pids:
                ledger.client.srem(faults_flow.GPU, member)
        live.append(workers.start(redis_url, *modules, threads=8))

    wait_finished(redis_url, ids, 180)
    assert {engine.status(run_id).status for run_id in ids} == {"completed"}
    counts = seen()
    assert max(counts) <= LIMIT, counts
    assert max(counts) == LIMIT  # the limit did bind
    engine.close()


def test_a_rate_limit_never_starts_more_than_its_count_in_any_period(
    limit_url: str, workers: Workers, ledger: Ledger
) -> None:
    """60 attempts of a ``RateLimit(10, per="1s")`` step from 20 runs on 2 workers of 4 threads,
    one killed on the way: at most 10 start in any second (a start is recorded by the step body, a
    few ms after the worker took its token: 0.1 s of slack), and the rate is reached."""
    modules = ("tests.apps.faults_flow",)
    engine = flowgen.Engine(limit_url)
    live = [workers.start(limit_url, *modules, threads=4) for _ in range(2)]
    ids = start_runs(engine, "faults.paced", "paced", [(3,) for _ in range(20)])

    def starts() -> list[float]:
        return sorted(float(raw) for raw in ledger.client.lrange(faults_flow.PACED, 0, -1))

    wait_until(lambda: len(starts()) >= 20, 60, "20 attempts to start")
    live[0].kill()
    live.append(workers.start(limit_url, *modules, threads=4))
    wait_finished(limit_url, ids, 120)
    assert {engine.status(run_id).status for run_id in ids} == {"completed"}
    times = starts()
    assert len(times) >= 60
    pace = faults_flow.PACE
    closest = min(later - earlier for earlier, later in zip(times, times[pace:], strict=False))
    assert closest >= 0.9, f"{pace + 1} attempts started within {closest:.3f}s"
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert pace * 0.6 <= achieved <= pace * 1.05, achieved
    engine.close()


def test_a_killed_holder_s_step_slot_comes_back_within_its_lease(
    limit_url: str, workers: Workers, ledger: Ledger
) -> None:
    """A worker holding the only slot of a step limit is killed with SIGKILL inside the step: the
    run waiting for the slot starts its attempt once the dead holder's lease has ended (2 s with
    the fault suite's settings), not after a long TTL."""
    modules = ("tests.apps.faults_flow",)
    engine = flowgen.Engine(limit_url)
    holder = workers.start(limit_url, *modules, threads=2)
    first = engine.start("faults.one", 120.0).run_id

    def held() -> list[dict[str, object]]:
        return [json.loads(raw) for raw in ledger.client.lrange(faults_flow.HELD, 0, -1)]

    wait_until(lambda: len(held()) >= 1, 60, "the first attempt to take the slot")
    waiter = workers.start(limit_url, *modules, threads=2)
    second = engine.start("faults.one", 0.0).run_id
    wait_until(lambda: engine.status(second).blocked_by is not None, 60, "the second run to wait in line")
    assert [entry["run"] for entry in held()] == [first], "the slot is taken: the second waits"
    holder.kill()
    killed = time.time()
    wait_finished(limit_url, [first, second], 60)
    started = next(float(str(entry["at"])) for entry in held() if entry["run"] == second)
    assert started - killed < 8.0, f"the slot came back {started - killed:.1f}s after the kill"
    assert waiter.process.poll() is None
    engine.close()
