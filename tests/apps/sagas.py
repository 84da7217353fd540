"""Workflows of the saga tests over ``all_of`` (tests/control/test_sagas.py); steps from tests/apps/control.py."""

from __future__ import annotations

import time

import flowgen
from tests.apps import control


@flowgen.step(name="sagas.fail_after_reservations", retries=0)
def fail_after_reservations(*skus: str) -> None:
    """Fail once the other members reserved ``skus`` (so they completed before the ``all_of`` fails)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(control.executions[f"reserve:{sku}"] == 0 for sku in skus):
        time.sleep(0.01)
    raise RuntimeError("the warehouse refused the order")


@flowgen.workflow(name="sagas.first_all_of_fails")
def first_all_of_fails():
    """The run's first command is an ``all_of`` whose last member fails after the others completed."""
    yield flowgen.all_of(
        control.reserve_stock("a"), control.reserve_stock("b"), fail_after_reservations("a", "b")
    )


@flowgen.workflow(name="sagas.later_all_of_fails")
def later_all_of_fails():
    """A step, then an ``all_of`` whose last member fails after the other completed."""
    yield control.reserve_stock("x")
    yield flowgen.all_of(control.reserve_stock("y"), fail_after_reservations("y"))


@flowgen.step(name="sagas.reserve_slowly", retries=0, compensate=control.release_stock)
def reserve_slowly(sku: str) -> str:
    """A compensable member still running when another member fails."""
    time.sleep(0.5)
    control.count(f"reserve:{sku}")
    return f"hold-{sku}"


@flowgen.step(name="sagas.fail_now", retries=0)
def fail_now() -> None:
    raise RuntimeError("the warehouse refused the order")


@flowgen.workflow(name="sagas.member_still_running")
def member_still_running():
    """An ``all_of`` fails while a compensable member's attempt is still running."""
    yield flowgen.all_of(reserve_slowly("s"), fail_now())
