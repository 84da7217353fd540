"""Checked by ``mypy --strict`` (tests/core/test_typing.py): the typed API gives these types.

Never imported by the tests; it is only type-checked. ``assert_type`` fails the check when a
type is not exactly the one written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from datetime import datetime
from typing import Any
from uuid import UUID

from typing_extensions import assert_type

import flowgen
import flowgen.testing


@dataclasses.dataclass
class Payment:
    order_id: str
    amount: int


@flowgen.step
def charge(order_id: str, amount: int) -> Payment:
    return Payment(order_id, amount)


@flowgen.step(retries=2)
def receipt(payment: Payment, *, email: str = "") -> str:
    return f"{payment.order_id}:{email}"


@flowgen.step
async def fetch_rate(currency: str) -> float:
    return 1.0


@flowgen.step(retries=2, timeout="5s")
async def fetch_payment(order_id: str) -> Payment:
    return Payment(order_id, 1)


@flowgen.workflow
def converted(order_id: str) -> Generator[Any, Any, float]:
    rate = yield from fetch_rate("EUR")  # an async def step gives its awaited result
    assert_type(rate, float)
    payment = yield from fetch_payment(order_id)
    assert_type(payment, Payment)
    return rate * payment.amount


@flowgen.workflow
def refund(order_id: str) -> Generator[Any, Any, int]:
    payment = yield from charge(order_id, -1)
    return payment.amount


@flowgen.workflow(name="typed.order")
def order(order_id: str, amount: int) -> Generator[Any, Any, str]:
    payment = yield from charge(order_id, amount)
    assert_type(payment, Payment)
    text = yield from receipt(payment, email="a@example.com")
    assert_type(text, str)
    assert_type((yield from flowgen.sleep(5)), None)
    assert_type((yield from flowgen.sleep_until(1_900_000_000)), None)
    paid = yield from flowgen.wait_for_event("paid", schema=Payment)
    assert_type(paid, Payment)
    anything = yield from flowgen.wait_for_event("note", timeout=10)
    assert_type(anything, Any)
    both = yield from flowgen.all_of(charge(order_id, 1), receipt(payment))
    assert_type(both, tuple[Payment, str])
    three = yield from flowgen.all_of(charge(order_id, 1), flowgen.sleep(1), receipt(payment))
    assert_type(three, tuple[Payment, None, str])
    refunded = yield from flowgen.child(refund, order_id)
    assert_type(refunded, int)
    child_id = yield from flowgen.start_child(refund, order_id)
    assert_type(child_id, str)
    assert_type((yield from flowgen.now()), datetime)
    assert_type((yield from flowgen.uuid4()), UUID)
    assert_type((yield from flowgen.random()), float)
    assert_type((yield from flowgen.patched("receipt-v2")), bool)
    assert_type((yield from flowgen.deprecate_patch("charge-v1")), bool)
    plain = yield charge(order_id, amount)  # plain yield keeps working; its result is Any
    assert_type(plain, Any)
    return text


assert_type(charge("o1", 3), flowgen.StepCall[Payment])
assert_type(charge.fn("o1", 3), Payment)
assert_type(order("o1", 3), Generator[Any, Any, str])


def start_them(engine: flowgen.Engine) -> None:
    run = engine.start(order, "o1", 10)
    assert_type(run, flowgen.Run[str])
    assert_type(run.result(timeout=5), str)
    named = engine.start(order, "o1", 10, run_id="order-o1")
    assert_type(named.result(), str)
    untyped = engine.start("typed.order", "o1", 10)
    assert_type(untyped, flowgen.Run[Any])
    urgent = engine.start(order, "o1", 10, priority=50, timeout="1 hour")  # flow options
    assert_type(urgent, flowgen.Run[str])
    later = engine.start(order, "o1", 10, delay="10 minutes")
    assert_type(later.result(), str)
    tagged = engine.start(order, "o1", 10, tags={"customer": "c1"})  # tags without a run id
    assert_type(tagged, flowgen.Run[str])


def start_maybe_named(engine: flowgen.Engine, run_id: str | None) -> flowgen.Run[str]:
    return engine.start(order, "o1", 10, run_id=run_id)  # None: a new UUID, as at run time


async def start_them_async(engine: flowgen.AsyncEngine) -> None:
    run = await engine.start(order, "o1", 10)
    assert_type(run, flowgen.AsyncRun[str])
    assert_type(await run.result(timeout=5), str)
    named = await engine.start(order, "o1", 10, run_id="order-o1")
    assert_type(await named.result(), str)
    untyped = await engine.start("typed.order", "o1", 10)
    assert_type(untyped, flowgen.AsyncRun[Any])
    urgent = await engine.start(order, "o1", 10, priority=50)
    assert_type(urgent, flowgen.AsyncRun[str])


def start_them_in_a_runner(runner: flowgen.testing.Runner) -> None:
    run = runner.start(order, "o1", 10)
    assert_type(run, flowgen.testing.RunnerRun[str])
    assert_type(run.result(), str)
    named = runner.start(order, "o1", 10, run_id="order-o1")
    assert_type(named.result(), str)
    assert_type(runner.start("typed.order", "o1", 10), flowgen.testing.RunnerRun[Any])
