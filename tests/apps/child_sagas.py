"""Workflows of the saga tests over child runs (tests/control/test_child_sagas.py).

Steps come from tests/apps/control.py (``reserve_stock`` is undone by ``release_stock``, which
counts ``release:<sku>:<reservation>``; ``charge`` by ``refund``, which always fails).
"""

from __future__ import annotations

import flowgen
from tests.apps import control
from tests.apps.sagas import fail_now


@flowgen.workflow(name="child_sagas.book_flight")
def book_flight(flight: str):
    """A child with two compensable steps."""
    seat = yield control.reserve_stock(f"seat-{flight}")
    meal = yield control.reserve_stock(f"meal-{flight}")
    return [seat, meal]


@flowgen.workflow(name="child_sagas.trip")
def trip():
    """Parent steps around a completed child, then a failure."""
    yield control.reserve_stock("hotel")
    yield flowgen.child(book_flight, "f1")
    yield control.reserve_stock("car")
    yield fail_now()


@flowgen.workflow(name="child_sagas.trip_without_the_flight")
def trip_without_the_flight():
    """The child opts out of the parent's compensation."""
    yield control.reserve_stock("hotel")
    yield flowgen.child(book_flight, "f2", compensate=False)
    yield fail_now()


@flowgen.workflow(name="child_sagas.two_flights")
def two_flights():
    """Children gathered by ``all_of``, then a failure."""
    yield flowgen.all_of(flowgen.child(book_flight, "a"), flowgen.child(book_flight, "b"))
    yield fail_now()


@flowgen.workflow(name="child_sagas.flight_with_insurance")
def flight_with_insurance(flight: str):
    """A child that has a child of its own."""
    yield control.reserve_stock(f"insurance-{flight}")
    yield flowgen.child(book_flight, flight)
    return "insured"


@flowgen.workflow(name="child_sagas.insured_trip")
def insured_trip():
    """A grandchild's steps are compensated in their place too."""
    yield flowgen.child(flight_with_insurance, "g")
    yield control.reserve_stock("car")
    yield fail_now()


@flowgen.workflow(name="child_sagas.paid_flight")
def paid_flight(order_id: str):
    """A child whose last step's compensation (``refund``) fails for good."""
    yield control.reserve_stock(f"seat-{order_id}")
    yield control.charge(order_id, 10.0)


@flowgen.workflow(name="child_sagas.paid_trip")
def paid_trip():
    """A child's compensation fails: it is recorded and the others still run."""
    yield control.reserve_stock("hotel")
    yield flowgen.child(paid_flight, "o1")
    yield control.reserve_stock("car")
    yield fail_now()


@flowgen.workflow(name="child_sagas.undo_then_go_on")
def undo_then_go_on():
    """``compensate()`` undoes a child once; a second one finds nothing left to undo."""
    yield flowgen.child(book_flight, "u")
    undone = yield flowgen.compensate()
    again = yield flowgen.compensate()
    return {"undone": undone, "again": again}


@flowgen.workflow(name="child_sagas.background_flights")
def background_flights():
    """``start_child`` runs: one opted in, one not; the parent fails once both completed."""
    kept = yield flowgen.start_child(book_flight, "kept")
    undone = yield flowgen.start_child(book_flight, "undone", compensate=True)
    yield flowgen.wait_for_event("both done")
    yield fail_now()
    return [kept, undone]


changed_code = {"flight": False}
"""Set by a test to make :func:`changing_flight` yield other commands on replay."""


@flowgen.workflow(name="child_sagas.changing_flight")
def changing_flight():
    """A child whose code "changes" after it completed (its replay then yields another step)."""
    if changed_code["flight"]:
        yield control.work("a different step")
    else:
        yield control.reserve_stock("seat-changing")


@flowgen.workflow(name="child_sagas.trip_with_changed_flight")
def trip_with_changed_flight():
    """The child completed; the parent fails once the test changed the child's code."""
    yield control.reserve_stock("hotel")
    yield flowgen.child(changing_flight)
    yield flowgen.wait_for_event("code changed")
    yield fail_now()
