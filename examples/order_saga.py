"""An order saga: reserve stock, charge, ship; when shipping fails, undo what was done.

Run it from the repository root (embedded SQLite, no server)::

    python examples/order_saga.py

Each step that changes the world names the step that undoes it (``compensate=``). When the
workflow fails with an uncaught error, flowgen runs the compensations of the steps that
completed, newest first, each as a durable journaled step with its own retries; the run's status
is ``compensating`` meanwhile, and its final error says what failed and which compensations ran.
A compensation that receives a ``result`` argument gets the undone step's result.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.step(name="saga.release_stock")
def release_stock(order_id: str, sku: str, quantity: int, result: str) -> None:
    print(f"  compensation: release {result} ({quantity} x {sku})")


@flowgen.step(name="saga.reserve_stock", compensate=release_stock)
def reserve_stock(order_id: str, sku: str, quantity: int) -> str:
    print(f"  step: reserve {quantity} x {sku}")
    return f"hold-{sku}-{order_id}"


@flowgen.step(name="saga.refund")
def refund(order_id: str, amount: float, result: str) -> None:
    print(f"  compensation: refund charge {result} of {amount:.2f}")


@flowgen.step(name="saga.charge", compensate=refund)
def charge(order_id: str, amount: float) -> str:
    print(f"  step: charge {amount:.2f}")
    return f"ch-{order_id}"


@flowgen.step(name="saga.ship", retries=flowgen.Retry(limit=1, delay="100ms"))
def ship(order_id: str, address: str) -> str:
    print(f"  step: ship to {address}")
    if not address:
        raise flowgen.NonRetryableError("no shipping address on the order")
    return f"parcel-{order_id}"


@flowgen.workflow(name="saga.order")
def order(
    order_id: str, lines: list[list[Any]], amount: float, address: str
) -> Generator[Any, Any, dict[str, Any]]:
    """Reserve every line in parallel, charge, ship; a failure undoes the completed steps."""
    holds = yield flowgen.all_of(*(reserve_stock(order_id, sku, quantity) for sku, quantity in lines))
    payment = yield charge(order_id, amount)
    parcel = yield ship(order_id, address)
    return {"holds": holds, "payment": payment, "parcel": parcel}


def main() -> None:
    with flowgen.Engine() as engine:
        lines = [["book", 1], ["lamp", 2]]
        good = engine.start(order, f"o-{uuid.uuid4().hex[:6]}", lines, 60.0, "1 Main St")
        print(f"{good.run_id} -> {good.result(timeout=30)}")
        bad = engine.start(order, f"o-{uuid.uuid4().hex[:6]}", lines, 60.0, "")
        try:
            bad.result(timeout=30)
        except flowgen.WorkflowFailedError as failure:
            print(f"{bad.run_id} failed and was rolled back:\n  {failure.__cause__}")


if __name__ == "__main__":
    main()
