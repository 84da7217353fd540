"""Workflows the security tests attack. Steps count their executions in :data:`executions`.

The tests run worker threads in this process, so the counters are shared with them; a test
asserts that a step guarded by a forged value never ran.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import flowgen

executions: Counter[str] = Counter()
approvals: dict[str, bool] = {}
gates: dict[str, threading.Event] = {}
_lock = threading.Lock()


def count(name: str) -> None:
    with _lock:
        executions[name] += 1


def reset() -> None:
    executions.clear()
    approvals.clear()
    gates.clear()


@flowgen.step(name="security.check", retries=0)
def check(order: str) -> bool:
    count("check")
    return approvals.get(order, False)


@flowgen.step(name="security.always_true", retries=0)
def always_true() -> bool:
    count("always_true")
    return True


@flowgen.step(name="security.charge", retries=0)
def charge(order: str, amount: Any = None) -> str:
    count("charge")
    return f"charged {order} {amount}"


@flowgen.step(name="security.risky", retries=0)
def risky() -> str:
    count("risky")
    return "fine"


@flowgen.step(name="security.refund", retries=0)
def refund() -> str:
    count("refund")
    return "refunded"


@flowgen.step(name="security.slow_check", queue="flowgen", retries=0)
def slow_check(order: str) -> bool:
    count("slow_check")
    gate = gates.get(order)
    if gate is not None:
        gate.wait(30)
    return False


@flowgen.workflow(name="security.guarded")
def guarded(order: str):
    """Charge only if ``check`` approved; parks on an event so the tests can edit the journal."""
    approved = yield check(order)  # position 0
    yield always_true()  # position 1: a sealed True another position could steal
    yield flowgen.wait_for_event("go")  # position 2
    if approved:
        yield charge(order)
    return approved


@flowgen.workflow(name="security.pay")
def pay(order: str, amount: int):
    """Charge the amount the run was started with, after an event."""
    yield flowgen.wait_for_event("go")
    receipt = yield charge(order, amount)
    return receipt


@flowgen.workflow(name="security.pay_on_event")
def pay_on_event(order: str):
    """Charge the amount a second event carries; the first event is a note."""
    note = yield flowgen.wait_for_event("note")
    amount = yield flowgen.wait_for_event("amount")
    receipt = yield charge(order, amount)
    return [note, receipt]


@flowgen.workflow(name="security.refund_on_error")
def refund_on_error():
    """Refund only if ``risky`` failed; parks on an event after it."""
    try:
        yield risky()
        failed = False
    except ValueError:
        failed = True
    yield flowgen.wait_for_event("go")
    if failed:
        yield refund()
    return failed


@flowgen.workflow(name="security.parallel_check")
def parallel_check(order: str):
    """Charge only if a parallel check approved."""
    approved = yield flowgen.all_of(slow_check(order))
    if approved[0]:
        yield charge(order)
    return approved[0]


@flowgen.workflow(name="security.echo_event")
def echo_event():
    """Return the payload of one event, exactly as the workflow received it."""
    payload = yield flowgen.wait_for_event("webhook")
    return {"type": type(payload).__name__, "payload": payload}


@flowgen.workflow(name="security.many_uuids")
def many_uuids(count_: int):
    """Journal ``count_`` uuid4 values in one advance (no wait between them)."""
    values = []
    for _ in range(count_):
        values.append((yield flowgen.uuid4()))
    return [len(values), len({str(value) for value in values}), isinstance(values[0], uuid.UUID)]


@flowgen.workflow(name="security.endless_clock")
def endless_clock():
    """Read the clock forever: only the journal limit ends it."""
    while True:
        yield flowgen.now()


@flowgen.workflow(name="security.one_value")
def one_value():
    value = yield flowgen.uuid4()
    return str(value)


@flowgen.step(name="security.shout", retries=flowgen.Retry(limit=2, delay=0.01, jitter=0))
def shout(size: int) -> None:
    count("shout")
    raise ValueError("x" * size)


@flowgen.workflow(name="security.loud_failure")
def loud_failure(size: int):
    yield shout(size)
