"""A workflow is a plain generator: drive it with next(), send() and throw(), no engine at all."""

from __future__ import annotations

import pytest

import flowgen


@flowgen.step
def reserve_stock(sku: str, quantity: int) -> str:
    raise AssertionError("never called when driving the generator by hand")


@flowgen.step
def charge_card(order_id: str, amount: float) -> str:
    raise AssertionError("never called")


@flowgen.step
def release_stock(reservation: str) -> None:
    raise AssertionError("never called")


@flowgen.workflow
def checkout(order_id: str, sku: str, amount: float):
    reservation = yield reserve_stock(sku, 1)
    try:
        receipt = yield charge_card(order_id, amount)
    except ConnectionError:
        yield release_stock(reservation)
        return {"status": "payment_failed"}
    try:
        yield flowgen.wait_for_event("shipped", timeout="7 days")
    except flowgen.EventTimeoutError:
        return {"status": "not_shipped", "receipt": receipt}
    return {"status": "shipped", "receipt": receipt}


def test_drive_the_happy_path_with_send() -> None:
    generator = checkout("o-1", "sku-9", 25.0)
    assert next(generator) == reserve_stock("sku-9", 1)
    assert generator.send("res-1") == charge_card("o-1", 25.0)
    assert generator.send("rcpt-7") == flowgen.wait_for_event("shipped", timeout="7 days")
    with pytest.raises(StopIteration) as done:
        generator.send({"carrier": "ups"})
    assert done.value.value == {"status": "shipped", "receipt": "rcpt-7"}


def test_drive_a_step_failure_with_throw() -> None:
    generator = checkout("o-2", "sku-9", 25.0)
    next(generator)
    generator.send("res-2")
    cleanup = generator.throw(ConnectionError("bank down"))
    assert cleanup == release_stock("res-2")
    with pytest.raises(StopIteration) as done:
        generator.send(None)
    assert done.value.value == {"status": "payment_failed"}


def test_drive_an_event_timeout_with_throw() -> None:
    generator = checkout("o-3", "sku-9", 25.0)
    next(generator)
    generator.send("res-3")
    generator.send("rcpt-3")
    with pytest.raises(StopIteration) as done:
        generator.throw(flowgen.EventTimeoutError("no shipment in 7 days"))
    assert done.value.value == {"status": "not_shipped", "receipt": "rcpt-3"}


def test_an_uncaught_error_leaves_the_generator() -> None:
    generator = checkout("o-4", "sku-9", 25.0)
    next(generator)
    with pytest.raises(KeyError):
        generator.throw(KeyError("warehouse down"))
