"""Steps shared by the fault-suite workflows, and the ledger they write.

Every step body appends one JSON record per execution to the Redis list ``test:ledger`` on the
server named by ``FLOWGEN_TEST_LEDGER_URL`` (the shared test server, never a Redis a scenario
kills): run id, journal position, step, attempt, process id, idempotency key and a phase
(``start`` when the body begins, ``end`` when it is about to return). The fault tests count
executions from it.

This module registers steps only, no workflow, so two versions of a workflow (``faults`` and
``faults_v2``) can both use it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import redis

import flowgen

LEDGER = "test:ledger"
EFFECTS = "test:effects"

_ledger: redis.Redis | None = None
_ledger_key: tuple[int, str] = (0, "")


def ledger() -> redis.Redis:
    """The ledger's Redis client (one per process and ledger URL).

    Keyed on the URL too: a test that points ``FLOWGEN_TEST_LEDGER_URL`` at a private server
    (which it then stops) must not leave later tests in this process writing to a dead server.
    """
    global _ledger, _ledger_key
    key = (os.getpid(), os.environ["FLOWGEN_TEST_LEDGER_URL"])
    if _ledger is None or _ledger_key != key:
        _ledger = redis.Redis.from_url(key[1])
        _ledger_key = key
    return _ledger


def record(step: str, phase: str = "start", **extra: Any) -> None:
    """Append this execution of ``step`` to the ledger."""
    context = flowgen.step_context()
    entry = {
        "run": context.run_id,
        "pos": context.position,
        "step": step,
        "attempt": context.attempt,
        "pid": os.getpid(),
        "key": context.idempotency_key,
        "phase": phase,
        "at": time.time(),
        **extra,
    }
    ledger().rpush(LEDGER, json.dumps(entry))


@flowgen.step(name="faults.prepare", retries=0)
def prepare(n: int) -> int:
    record("faults.prepare")
    return n + 1


@flowgen.step(name="faults.finish", retries=0)
def finish(n: int) -> int:
    record("faults.finish")
    return n * 10


@flowgen.step(name="faults.pay", retries=0)
def pay(n: int, seconds: float) -> dict[str, Any]:
    """The step with an external effect: applied once per idempotency key, then a slow wait."""
    context = flowgen.step_context()
    record("faults.pay")
    applied = ledger().hsetnx(
        EFFECTS, context.idempotency_key, json.dumps({"pid": os.getpid(), "attempt": context.attempt})
    )
    record("faults.pay", phase="effect", applied=bool(applied))
    if seconds:
        time.sleep(seconds)
    record("faults.pay", phase="end")
    return {"n": n + 1, "pid": os.getpid(), "attempt": context.attempt}


@flowgen.step(name="faults.hold", retries=0)
def hold(n: int, seconds: float) -> dict[str, Any]:
    """Like ``pay``, but nothing is recorded after the wait: the body returns as soon as it wakes."""
    context = flowgen.step_context()
    record("faults.hold")
    applied = ledger().hsetnx(
        EFFECTS, context.idempotency_key, json.dumps({"pid": os.getpid(), "attempt": context.attempt})
    )
    record("faults.hold", phase="effect", applied=bool(applied))
    time.sleep(seconds)
    return {"n": n + 1, "pid": os.getpid(), "attempt": context.attempt}


@flowgen.step(name="faults.stall", retries=0)
def stall(n: int, seconds: float) -> int:
    """Wait ``seconds`` in the first attempt only: run again after a crash, it returns at once."""
    record("faults.stall")
    if flowgen.step_context().attempt == 1:
        time.sleep(seconds)
    return n + 1


@flowgen.step(name="faults.poison", retries=3)
def poison(n: int) -> int:
    """Kill the process running this step, every time (a segfault, the OOM killer...)."""
    record("faults.poison")
    os.kill(os.getpid(), signal.SIGKILL)
    return n


@flowgen.step(name="faults.part", retries=0)
def part(n: int, index: int) -> int:
    record("faults.part", index=index)
    return n + index


@flowgen.step(name="faults.slow", retries=0)
def slow(n: int, seconds: float) -> dict[str, Any]:
    record("faults.slow")
    time.sleep(seconds)
    record("faults.slow", phase="end")
    return {"n": n + 1, "pid": os.getpid()}


@flowgen.step(name="faults.a", retries=0)
def step_a(n: int) -> str:
    record("faults.a")
    return f"a{n}"


@flowgen.step(name="faults.b", retries=0)
def step_b(n: int) -> str:
    record("faults.b")
    return f"b{n}"


@flowgen.step(name="faults.c", retries=0)
def step_c(n: int) -> str:
    record("faults.c")
    return f"c{n}"
