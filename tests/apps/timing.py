"""Workflows for the end-to-end tests of sleeps, events, races, gathers, retries and timeouts."""

from __future__ import annotations

import json
import time

import flowgen
from tests.apps.core import ledger


def attempt_log(name: str) -> None:
    """Append this attempt (number and wall time) to a Redis list the test reads back."""
    context = flowgen.step_context()
    ledger().rpush(
        f"test:attempts:{context.run_id}:{name}", json.dumps({"attempt": context.attempt, "at": time.time()})
    )


@flowgen.workflow(name="t.sleep")
def sleeper(seconds: float):
    yield flowgen.sleep(seconds)
    woke = yield flowgen.now()
    return woke.timestamp()


@flowgen.workflow(name="t.wait_event")
def wait_event(event_type: str, timeout: float | None = None):
    try:
        payload = yield flowgen.wait_for_event(event_type, timeout=timeout)
    except flowgen.EventTimeoutError as error:
        return {"timed_out": str(error)}
    return {"payload": payload}


@flowgen.step(retries=0)
def warm_up(seconds: float) -> None:
    time.sleep(seconds)


@flowgen.workflow(name="t.step_then_two_events")
def step_then_two_events(timeout: float):
    yield warm_up(0.3)
    first = yield flowgen.wait_for_event("item", timeout=timeout)
    try:
        second = yield flowgen.wait_for_event("item", timeout=timeout)
    except flowgen.EventTimeoutError:
        second = "timed out"
    return [first, second]


@flowgen.workflow(name="t.race")
def race(seconds: float):
    index, value = yield flowgen.any_of(flowgen.wait_for_event("approve"), flowgen.sleep(seconds))
    return {"winner": "event" if index == 0 else "sleep", "value": value}


@flowgen.step(retries=0)
def slow(index: int, seconds: float) -> dict:
    started = time.time()
    time.sleep(seconds)
    return {"index": index, "started": started, "finished": time.time()}


@flowgen.workflow(name="t.gather")
def gather(count: int, seconds: float):
    values = yield flowgen.all_of(*(slow(i, seconds) for i in range(count)))
    return values


ROUTED_SLOW_QUEUE = "t-slow"


@flowgen.step(name="t.slow_routed", retries=0, queue=ROUTED_SLOW_QUEUE)
def slow_routed(index: int, seconds: float) -> dict:
    """:func:`slow` on a queue of its own, so a test chooses which workers may run it."""
    return slow.fn(index, seconds)


@flowgen.workflow(name="t.gather_routed")
def gather_routed(count: int, seconds: float):
    values = yield flowgen.all_of(*(slow_routed(i, seconds) for i in range(count)))
    return values


@flowgen.step(retries=flowgen.Retry(limit=4, delay=0.5, backoff="exponential", jitter=0))
def flaky() -> int:
    attempt_log("flaky")
    attempt = flowgen.step_context().attempt
    if attempt < 3:
        raise ConnectionError(f"attempt {attempt} failed")
    return attempt


@flowgen.workflow(name="t.flaky")
def flaky_flow():
    attempt = yield flaky()
    return attempt


@flowgen.step(retries=flowgen.Retry(limit=5, delay=0.1))
def refuses() -> None:
    attempt_log("refuses")
    raise flowgen.NonRetryableError("the card was reported stolen")


@flowgen.workflow(name="t.refuses")
def refuses_flow():
    try:
        yield refuses()
    except flowgen.NonRetryableError as error:
        return {"gave_up": str(error)}
    return {"gave_up": None}


@flowgen.step(timeout=0.5, retries=1)
def busy_loop() -> None:
    attempt_log("busy_loop")
    while True:
        pass


@flowgen.workflow(name="t.busy")
def busy_flow():
    try:
        yield busy_loop()
    except flowgen.StepTimeoutError as error:
        return {"attempts": error.flowgen_attempts, "last": type(error).__name__}
    return {"attempts": None}
