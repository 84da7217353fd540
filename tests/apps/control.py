"""Workflows for the run-control tests: pause, cancel, restart, retry, children, sagas, continue-as-new.

Steps count their executions in :data:`executions` (the tests run workers in this process), and
some steps call :data:`hooks` so a test can act "while the step runs" the same way on every
engine (the testing runner, Redis with worker threads, SQLite).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import flowgen

executions: Counter[str] = Counter()
hooks: dict[str, Callable[[], Any]] = {}
failures_left: Counter[str] = Counter()
_lock = threading.Lock()


def count(name: str) -> None:
    with _lock:
        executions[name] += 1


def reset() -> None:
    executions.clear()
    hooks.clear()
    failures_left.clear()


@flowgen.step(name="control.work", retries=0)
def work(label: str) -> str:
    count(label)
    hook = hooks.get(label)
    if hook is not None:
        hook()
    return label.upper()


@flowgen.step(name="control.flaky", retries=0)
def flaky(label: str) -> str:
    count(label)
    with _lock:
        if failures_left[label] > 0:
            failures_left[label] -= 1
            raise ConnectionError(f"{label} is down")
    return label.upper()


@flowgen.workflow(name="control.three_steps")
def three_steps():
    first = yield work("one")
    second = yield work("two")
    third = yield work("three")
    return [first, second, third]


@flowgen.workflow(name="control.sleep_then_event")
def sleep_then_event(seconds: float):
    yield flowgen.sleep(seconds)
    payload = yield flowgen.wait_for_event("go")
    done = yield work("after")
    return [payload, done]


@flowgen.workflow(name="control.cleanup_on_cancel")
def cleanup_on_cancel():
    try:
        payload = yield flowgen.wait_for_event("approval")
        return payload
    finally:
        yield work("cleanup")


@flowgen.workflow(name="control.child_waits")
def child_waits(label: str):
    try:
        payload = yield flowgen.wait_for_event("release")
    finally:
        yield work(f"child-cleanup-{label}")
    return {"child": label, "payload": payload}


@flowgen.workflow(name="control.parent_of_one")
def parent_of_one():
    value = yield flowgen.child(child_waits, "only", run_id="control-child-only")
    return value


@flowgen.workflow(name="control.child_ok")
def child_ok(n: int):
    value = yield work(f"child-{n}")
    return {"n": n, "value": value}


@flowgen.workflow(name="control.child_fails")
def child_fails(n: int):
    yield work(f"child-{n}")
    raise ValueError(f"child {n} cannot go on")


@flowgen.workflow(name="control.fan_out")
def fan_out(count: int):
    results = yield flowgen.all_of(*(flowgen.child(child_ok, n) for n in range(count)))
    return results


@flowgen.workflow(name="control.parent_of_failing")
def parent_of_failing():
    try:
        yield flowgen.child(child_fails, 7)
    except flowgen.ChildWorkflowError as error:
        return {
            "caught": str(error),
            "cause": type(error.__cause__).__name__,
            "message": str(error.__cause__),
        }
    return {"caught": None}


@flowgen.workflow(name="control.race_children")
def race_children():
    index, value = yield flowgen.any_of(flowgen.child(child_ok, 1), flowgen.child(child_waits, "slow"))
    return {"index": index, "value": value}


@flowgen.workflow(name="control.retry_me")
def retry_me():
    first = yield work("before")
    second = yield flaky("flaky")
    third = yield work("after")
    return [first, second, third]


@flowgen.step(name="control.release_stock", retries=0)
def release_stock(sku: str, result: str | None = None) -> str:
    count(f"release:{sku}:{result}")
    return f"released {sku}"


@flowgen.step(name="control.reserve_stock", retries=0, compensate=release_stock)
def reserve_stock(sku: str) -> str:
    count(f"reserve:{sku}")
    return f"hold-{sku}"


@flowgen.step(name="control.refund", retries=flowgen.Retry(limit=1, delay=0.01, jitter=0))
def refund(order_id: str, amount: float) -> None:
    count(f"refund:{order_id}")
    raise ConnectionError("the payment provider is down")


@flowgen.step(name="control.charge", retries=0, compensate=refund)
def charge(order_id: str, amount: float) -> str:
    count(f"charge:{order_id}")
    return "ch_1"


@flowgen.step(name="control.ship", retries=0)
def ship(order_id: str) -> None:
    count(f"ship:{order_id}")
    raise RuntimeError("no courier available")


@flowgen.workflow(name="control.saga")
def saga(order_id: str):
    yield reserve_stock("a")
    yield flowgen.all_of(reserve_stock("b"), reserve_stock("c"))
    yield charge(order_id, 10.0)
    yield ship(order_id)


@flowgen.workflow(name="control.explicit_compensation")
def explicit_compensation():
    yield reserve_stock("x")
    undone = yield flowgen.compensate()
    again = yield flowgen.compensate()
    return {"undone": undone, "again": again}


@flowgen.workflow(name="control.generations")
def generations(generation: int, seen: list):
    value = yield work(f"gen-{generation}")
    seen = [*seen, value]
    if generation < 4:
        yield flowgen.continue_as_new(generation + 1, seen)
    return {"generation": generation, "seen": seen}


@flowgen.workflow(name="control.long")
def long_workflow(steps: int):
    for index in range(steps):
        yield work(f"long-{index % 3}")
    return steps


@flowgen.workflow(name="control.child_per_generation")
def child_per_generation(generation: int):
    value = yield flowgen.child(child_ok, generation)
    if generation < 2:
        yield flowgen.continue_as_new(generation + 1)
    return value


class Opaque:
    """Not JSON-encodable: only the pickle serializer can journal it."""

    def __init__(self, value: int) -> None:
        self.value = value


@flowgen.step(name="control.make_opaque", retries=0)
def make_opaque(value: int) -> Opaque:
    count(f"opaque-{value}")
    return Opaque(value)


@flowgen.step(name="control.queued_opaque", retries=0, queue="flowgen")
def queued_opaque(value: int) -> Opaque:
    count(f"queued-{value}")
    return Opaque(value)


@flowgen.workflow(name="control.opaque_child")
def opaque_child(value: int):
    made = yield make_opaque(value)
    return made


@flowgen.workflow(name="control.everything_pickled")
def everything_pickled():
    inline = yield make_opaque(1)
    queued = yield queued_opaque(2)
    gathered = yield flowgen.all_of(make_opaque(3), queued_opaque(4), flowgen.child(opaque_child, 5))
    payload = yield flowgen.wait_for_event("opaque")
    return [inline.value, queued.value, [item.value for item in gathered], payload.value]
