"""The workflow of the flow-control fault test (tests/faults/test_flow_limits.py).

``faults.limited`` runs under ``Limit(2, key=tenant)``. Its steps keep, per tenant, the set of
runs between their first step and their last (``test:flow:holders:<tenant>`` on the ledger's
Redis) and record how many they see there at once: a run is in that set only while flowgen
counts it as in progress, so the set can never be larger than the limit unless flowgen let
too many runs in. A worker killed inside a step leaves its run in the set, which is right: the
run is still in progress, and another worker finishes it.
"""

from __future__ import annotations

import json
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
