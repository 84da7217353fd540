"""Runner tests of examples/order_saga.py."""

from __future__ import annotations

import pytest

import flowgen
from examples.order_saga import charge, order, refund, release_stock, reserve_stock, ship
from flowgen.testing import Runner, call


def test_a_shipped_order_runs_no_compensation(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(order, "o-1", [["book", 1]], 10.0, "1 Main St")
    assert run.result() == {"holds": ["hold-book-o-1"], "payment": "ch-o-1", "parcel": "parcel-o-1"}
    assert flowgen_runner.calls(refund) == [] and flowgen_runner.calls(release_stock) == []


def test_a_failed_shipment_undoes_the_charge_then_the_reservations(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(order, "o-2", [["book", 1], ["lamp", 2]], 60.0, "")
    with pytest.raises(flowgen.WorkflowFailedError) as failure:
        run.result()
    compensated = failure.value.__cause__
    assert isinstance(compensated, flowgen.CompensatedError)
    assert isinstance(compensated.__cause__, flowgen.NonRetryableError)
    assert [c["undoes"] for c in compensated.compensations] == [
        "saga.charge",
        "saga.reserve_stock",
        "saga.reserve_stock",
    ]
    assert flowgen_runner.calls(refund) == [call(refund, "o-2", 60.0, result="ch-o-2")]
    assert flowgen_runner.calls(release_stock) == [
        call(release_stock, "o-2", "lamp", 2, result="hold-lamp-o-2"),
        call(release_stock, "o-2", "book", 1, result="hold-book-o-2"),
    ]
    assert len(flowgen_runner.calls(ship)) == 1, "a non-retryable error is not retried"


def test_a_failing_compensation_is_recorded_and_the_others_still_run(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(refund, raises=ConnectionError("payment provider down"))
    flowgen_runner.mock(ship, raises=flowgen.NonRetryableError("warehouse closed"))
    run = flowgen_runner.start(order, "o-3", [["book", 1]], 5.0, "1 Main St")
    flowgen_runner.advance("10 minutes")  # the refund's own retries
    with pytest.raises(flowgen.WorkflowFailedError) as failure:
        run.result()
    outcome = {c["undoes"]: c["ok"] for c in failure.value.__cause__.compensations}
    assert outcome == {"saga.charge": False, "saga.reserve_stock": True}
    assert len(flowgen_runner.calls(refund)) == 4, "the default policy: one attempt and three retries"
    assert flowgen_runner.calls(reserve_stock) == [call(reserve_stock, "o-3", "book", 1)]
    assert flowgen_runner.calls(charge) == [call(charge, "o-3", 5.0)]
