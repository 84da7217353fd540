"""The workflow of the flow-control fault test (tests/faults/test_flow_limits.py).

``faults.gpu_fan`` runs branches of a step under a step limit of 2 (``faults.flow.gpu``): each
attempt adds itself to ``test:flow:gpu`` while its body runs (named by its process id, so the
test takes out the attempts of a worker it killed) and records the set's size.

``faults.limited`` runs under ``Limit(2, key=tenant)``. Its steps keep, per tenant, the set of
runs between their first step and their last (``test:flow:holders:<tenant>`` on the ledger's
Redis) and record how many they see there at once: a run is in that set only while flowgen
counts it as in progress, so the set can never be larger than the limit unless flowgen let
too many runs in. A worker killed inside a step leaves its run in the set, which is right: the
run is still in progress, and another worker finishes it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import flowgen
from tests.apps.faults_common import ledger

SEEN = "test:flow:seen"


def holders(tenant: str) -> str:
    return f"test:flow:holders:{tenant}"


def _observe(tenant: str, phase: str) -> None:
    run_id = flowgen.step_context().run_id
    client = ledger()
    pipe = client.pipeline(transaction=True)
    if phase == "enter":
        pipe.sadd(holders(tenant), run_id)
    pipe.scard(holders(tenant))
    if phase == "leave":
        pipe.srem(holders(tenant), run_id)
    count = pipe.execute()[1 if phase == "enter" else 0]
    client.rpush(SEEN, json.dumps({"tenant": tenant, "run": run_id, "phase": phase, "count": count}))


@flowgen.step(name="faults.flow.enter", crash_limit=20)
def enter(tenant: str) -> None:
    _observe(tenant, "enter")


@flowgen.step(name="faults.flow.work", crash_limit=20)
def work(tenant: str, seconds: float) -> None:
    _observe(tenant, "work")
    time.sleep(seconds)
    _observe(tenant, "work")


@flowgen.step(name="faults.flow.leave", crash_limit=20)
def leave(tenant: str) -> None:
    _observe(tenant, "leave")


@flowgen.workflow(name="faults.limited", concurrency=flowgen.Limit(2, key=lambda tenant, **_: tenant))
def limited(tenant: str, seconds: float) -> Any:
    yield enter(tenant)
    yield work(tenant, seconds)
    yield work(tenant, seconds)
    yield leave(tenant)
    return tenant


GPU = "test:flow:gpu"
GPU_SEEN = "test:flow:gpu_seen"


@flowgen.step(name="faults.flow.gpu", crash_limit=20, concurrency=flowgen.Limit(2))
def gpu(seconds: float) -> None:
    context = flowgen.step_context()
    member = f"{os.getpid()}:{context.run_id}:{context.position}:{context.attempt}"
    client = ledger()
    pipe = client.pipeline(transaction=True)
    pipe.sadd(GPU, member)
    pipe.scard(GPU)
    client.rpush(GPU_SEEN, pipe.execute()[1])
    time.sleep(seconds)
    client.srem(GPU, member)


@flowgen.workflow(name="faults.gpu_fan")
def gpu_fan(count: int, seconds: float) -> Any:
    yield flowgen.all_of(*(gpu(seconds) for _ in range(count)))
    return count


PACED = "test:flow:paced"
PACE = 10
"""``faults.flow.paced`` starts at most this many attempts a second."""


@flowgen.step(name="faults.flow.paced", crash_limit=20, rate_limit=flowgen.RateLimit(PACE, per="1s"))
def paced() -> None:
    ledger().rpush(PACED, repr(time.time()))


@flowgen.workflow(name="faults.paced")
def paced_runs(count: int) -> Any:
    for _ in range(count):
        yield paced()
    return count


HELD = "test:flow:held"
"""When each attempt of ``faults.flow.one`` started, with its run id."""


@flowgen.step(name="faults.flow.one", crash_limit=20, concurrency=flowgen.Limit(1))
def one(hold: float) -> None:
    """Under a step limit of 1: record the start, then keep the slot for ``hold`` seconds (the
    first attempt of the test's first run; the worker running it is killed meanwhile)."""
    client = ledger()
    run_id = flowgen.step_context().run_id
    client.rpush(HELD, json.dumps({"run": run_id, "at": time.time(), "pid": os.getpid()}))
    if client.set(f"{HELD}:first", run_id, nx=True):
        time.sleep(hold)


@flowgen.workflow(name="faults.one")
def one_run(hold: float) -> Any:
    yield one(hold)
    return hold
