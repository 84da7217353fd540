"""Workflows and steps of the flow-control tests (tests/testing/test_runner_flow.py,
tests/e2e/test_flow_control.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import flowgen

STARTS: list[float] = []
"""When each attempt of ``ping`` started (the test's clock, set by the test)."""

CLOCK: list[Any] = [time.time]


@flowgen.step(rate_limit=flowgen.RateLimit(100, per="1s"))
def ping(index: int) -> int:
    STARTS.append(CLOCK[0]())
    return index


@flowgen.workflow(name="flow.pings")
def pings(count: int) -> Any:
    for index in range(count):
        yield ping(index)
    return count


ANSWERS: list[str] = []


@flowgen.step(retries=0, rate_limit=flowgen.RateLimit(1000, per="1s", key=lambda api, **_: api))
def call_api(api: str) -> str:
    if ANSWERS and ANSWERS.pop(0) == "429":
        raise flowgen.RateLimited("the API said 429", retry_after="30s", key=api)
    return "ok"


@flowgen.workflow(name="flow.api")
def api_call(api: str) -> Any:
    return (yield call_api(api))


@flowgen.step
def note(text: str) -> str:
    return text


@flowgen.workflow(name="flow.per_customer", concurrency=flowgen.Limit(1, key=lambda customer, **_: customer))
def per_customer(customer: str, order: str) -> Any:
    yield flowgen.sleep("10s")
    return (yield note(f"{customer}:{order}"))


@flowgen.workflow(name="flow.shared", concurrency=flowgen.Limit(1))
def shared(tenant: str, order: str) -> Any:
    yield flowgen.sleep("10s")
    return (yield note(f"{tenant}:{order}"))


@flowgen.workflow(name="flow.greet")
def greet(name: str) -> Any:
    return (yield note(f"hello {name}"))


@flowgen.workflow(name="flow.cleans_up", timeout="1 hour")
def cleans_up() -> Any:
    try:
        yield flowgen.sleep("1 day")
    except flowgen.RunTimeoutError:
        yield note("cleaned up")
        return "timed out, cleaned up"
    return "slept"


@flowgen.workflow(name="flow.stubborn", timeout="1 hour")
def stubborn() -> Any:
    while True:
        try:
            yield flowgen.sleep("1 day")
        except flowgen.RunTimeoutError:
            continue


LOCK = threading.Lock()
RUNNING: dict[str, int] = {"now": 0, "max": 0}


def _hold(index: int) -> int:
    """Count the attempts in their body at once (``RUNNING``), for 0.15 s."""
    with LOCK:
        RUNNING["now"] += 1
        RUNNING["max"] = max(RUNNING["max"], RUNNING["now"])
    time.sleep(0.15)
    with LOCK:
        RUNNING["now"] -= 1
    return index


@flowgen.step(concurrency=flowgen.Limit(2))
def scarce(index: int) -> int:
    return _hold(index)


@flowgen.workflow(name="flow.scarce_fan")
def scarce_fan(count: int) -> Any:
    """``count`` branches of a step limited to 2 executing attempts."""
    return (yield flowgen.all_of(*(scarce(index) for index in range(count))))


@flowgen.step(name="flow.scarce_queued", queue="flow-gpu", concurrency=flowgen.Limit(2))
def scarce_queued(index: int) -> int:
    return _hold(index)


@flowgen.workflow(name="flow.uses_scarce_queued")
def uses_scarce_queued(index: int) -> Any:
    return (yield scarce_queued(index))


@flowgen.step(name="flow.slow_scarce", concurrency=flowgen.Limit(2))
def slow_scarce(seconds: float) -> float:
    with LOCK:
        RUNNING["now"] += 1
    time.sleep(seconds)
    with LOCK:
        RUNNING["now"] -= 1
    return seconds


@flowgen.workflow(name="flow.slow_fan")
def slow_fan(count: int, seconds: float) -> Any:
    return (yield flowgen.all_of(*(slow_scarce(seconds) for _ in range(count))))


@flowgen.workflow(name="flow.uses_slow_scarce")
def uses_slow_scarce(seconds: float) -> Any:
    return (yield slow_scarce(seconds))


@flowgen.workflow(name="flow.ping_fan")
def ping_fan(count: int) -> Any:
    """``count`` branches of the rate-limited ``ping`` (100 a second)."""
    return len((yield flowgen.all_of(*(ping(index) for index in range(count)))))


@flowgen.workflow(name="flow.scarce")
def uses_scarce(index: int) -> Any:
    return (yield scarce(index))


@flowgen.step
def pause_for(seconds: float) -> None:
    time.sleep(seconds)


@flowgen.workflow(name="flow.greet_slowly", concurrency=flowgen.Limit(1, key=lambda key, **_: key))
def greet_slowly(key: str, seconds: float) -> Any:
    yield pause_for(seconds)
    return key


@flowgen.workflow(name="flow.fan_out")
def fan_out() -> Any:
    return (yield flowgen.all_of(scarce(1), scarce(2)))


@flowgen.workflow(name="flow.two_children")
def two_children() -> Any:
    first = yield flowgen.start_child(per_customer, "c9", "first", run_id="child-1")
    second = yield flowgen.start_child(per_customer, "c9", "second", run_id="child-2")
    return [first, second]
