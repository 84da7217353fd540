"""Runner tests of ``examples/quickstart.py`` (run in their own process by ``test_examples.py``).

The quickstart registers its steps under their plain names (``reserve_stock``, ``order``...),
which other test modules of this repository use too, and flowgen's registry refuses two
different functions under one name in one process. So these tests run in a fresh interpreter.
"""

from __future__ import annotations

import pytest

import flowgen
from examples.quickstart import charge_card, notify_customer, order, reserve_stock
from flowgen.testing import RunBlockedError, Runner, call, verify_replay


def test_order_ships_after_the_settling_sleep_and_the_event(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(order, "o-1", ["book", "lamp"], 42.0)
    assert flowgen_runner.calls() == [
        call(reserve_stock, "o-1", ["book", "lamp"]),
        call(charge_card, "o-1", 42.0),
    ]
    with pytest.raises(RunBlockedError, match="a sleep until"):
        run.result()

    flowgen_runner.advance("2s")
    assert run.status().waiting_for == ("shipped",)
    run.send_event("shipped", {"carrier": "DHL", "tracking": "TRK-1"})

    assert run.result() == {
        "order": "o-1",
        "status": "shipped",
        "reservation": "res-o-1",
        "payment": "pay-o-1",
        "mail": "mail-o-1",
    }
    assert flowgen_runner.calls(notify_customer) == [call(notify_customer, "o-1", "DHL", "TRK-1")]


def test_order_without_shipment_gives_up_after_a_minute(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(order, "o-2", ["lamp"], 10.0)

    flowgen_runner.advance("2s")
    flowgen_runner.advance("1 minute")

    assert run.result() == {"order": "o-2", "status": "not shipped", "payment": "pay-o-2"}
    assert flowgen_runner.calls(notify_customer) == []


def test_a_declined_charge_is_retried_after_its_back_off(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(charge_card, side_effect=[ConnectionError("bank timeout"), "pay-retried"])

    run = flowgen_runner.start(order, "o-3", ["book"], 5.0)
    assert run.status().status == "waiting"
    flowgen_runner.advance("1s")
    flowgen_runner.advance("2s")
    run.send_event("shipped", {"carrier": "UPS", "tracking": "T"})

    assert run.result()["payment"] == "pay-retried"
    assert [c.attempt for c in flowgen_runner.calls(charge_card)] == [1, 2]


def test_a_charge_that_keeps_failing_fails_the_order(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(charge_card, raises=ConnectionError("bank down"))

    run = flowgen_runner.start(order, "o-4", ["book"], 5.0)
    flowgen_runner.advance("1 minute")

    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    assert isinstance(failed.value.__cause__, ConnectionError)
    assert len(flowgen_runner.calls(charge_card)) == 4


def test_the_journal_of_a_waiting_order_replays(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(order, "o-5", ["book"], 5.0)
    flowgen_runner.advance("2s")

    result = verify_replay(order, flowgen_runner.export(run.run_id))

    assert result.positions == 3
    assert result.next_command == "event 'shipped'"
