"""Workflows of the crash test of child-run compensation (tests/faults/test_child_saga_crashes.py).

Steps write the fault suite's ledger (tests/apps/faults_common.py), so the test counts every
execution in every worker process.
"""

from __future__ import annotations

import flowgen
from tests.apps.faults_common import record


@flowgen.step(name="child_saga_faults.unbook", retries=2)
def unbook(item: str, result: str | None = None) -> str:
    record("child_saga_faults.unbook", item=item, result=result)
    return f"unbooked {item}"


@flowgen.step(name="child_saga_faults.book", retries=0, compensate=unbook)
def book(item: str) -> str:
    record("child_saga_faults.book", item=item)
    return f"booking-{item}"


@flowgen.step(name="child_saga_faults.refuse", retries=0)
def refuse() -> None:
    raise RuntimeError("the journey was refused")


@flowgen.workflow(name="child_saga_faults.leg")
def leg(n: int):
    first = yield book(f"{n}-leg-a")
    second = yield book(f"{n}-leg-b")
    return [first, second]


@flowgen.workflow(name="child_saga_faults.journey")
def journey(n: int):
    """Compensated newest first: the car, the child's two legs, the hotel."""
    yield book(f"{n}-hotel")
    yield flowgen.child(leg, n)
    yield book(f"{n}-car")
    yield refuse()
