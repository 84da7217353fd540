"""Workflows and steps the runner's tests run (names start with ``testing.`` to stay unique)."""

from __future__ import annotations

from datetime import datetime

import flowgen

SHIPPED: list[str] = []
"""Order ids the real ``ship`` step was called with (tests clear it)."""


@flowgen.step(name="testing.reserve")
def reserve(sku: str, quantity: int) -> str:
    return f"res-{sku}-{quantity}"


@flowgen.step(
    name="testing.charge", retries=flowgen.Retry(limit=2, delay="10s", backoff="constant", jitter=0)
)
def charge(order_id: str, amount: float) -> dict[str, object]:
    return {"id": f"pay-{order_id}", "amount": amount}


@flowgen.step(name="testing.ship", retries=0)
def ship(order_id: str) -> str:
    SHIPPED.append(order_id)
    return f"ship-{order_id}"


@flowgen.step(name="testing.refund", retries=0)
def refund(payment_id: str) -> str:
    return f"refunded-{payment_id}"


@flowgen.step(name="testing.notify", retries=0)
def notify(channel: str, text: str) -> str:
    return f"{channel}:{text}"


@flowgen.workflow(name="testing.order")
def order(order_id: str, sku: str, amount: float):
    """Reserve, charge, ship: three inline steps."""
    reservation = yield reserve(sku, 1)
    payment = yield charge(order_id, amount)
    shipment = yield ship(order_id)
    return {"reservation": reservation, "payment": payment["id"], "shipment": shipment}


@flowgen.workflow(name="testing.order_with_fallback")
def order_with_fallback(order_id: str, amount: float):
    """Charge; when the charge fails for good, say so instead of failing the run."""
    try:
        payment = yield charge(order_id, amount)
    except ConnectionError as error:
        return {"status": "payment_failed", "attempts": error.flowgen_attempts}
    return {"status": "paid", "payment": payment["id"]}


@flowgen.workflow(name="testing.trial")
def trial(user: str):
    """Sleep 30 days, then ask for an approval that times out after 7 days."""
    started = yield flowgen.now()
    yield flowgen.sleep("30 days")
    reminded = yield flowgen.now()
    yield notify("email", f"trial of {user} ended")
    try:
        decision = yield flowgen.wait_for_event("approval", timeout="7 days")
    except flowgen.EventTimeoutError:
        yield notify("email", f"{user} never answered")
        return {"status": "expired", "started": started, "reminded": reminded}
    return {"status": "approved" if decision["ok"] else "rejected", "started": started, "reminded": reminded}


@flowgen.workflow(name="testing.clock_reader")
def clock_reader(first: float, second: float):
    """Return the time seen before, between and after two sleeps."""
    times: list[datetime] = []
    times.append((yield flowgen.now()))
    yield flowgen.sleep(first)
    times.append((yield flowgen.now()))
    yield flowgen.sleep(second)
    times.append((yield flowgen.now()))
    return [moment.timestamp() for moment in times]


@flowgen.workflow(name="testing.fan_out")
def fan_out(order_id: str):
    """Notify on three channels in parallel."""
    results = yield flowgen.all_of(
        notify("email", order_id), notify("sms", order_id), notify("push", order_id)
    )
    return results


@flowgen.workflow(name="testing.race")
def race(timeout: str):
    """Wait for a payment event or give up after ``timeout``, whichever comes first."""
    index, value = yield flowgen.any_of(flowgen.wait_for_event("paid"), flowgen.sleep(timeout))
    return {"winner": "event" if index == 0 else "timer", "value": value}


@flowgen.workflow(name="testing.child_order")
def child_order(order_id: str):
    """Run ``testing.order`` as a child run and return its shipment."""
    result = yield flowgen.child(order, order_id, "sku-1", 5.0)
    return result["shipment"]
