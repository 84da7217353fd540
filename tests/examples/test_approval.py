"""Runner tests of examples/approval.py."""

from __future__ import annotations

import pytest

import flowgen
from examples.approval import close_ticket, expense
from flowgen.testing import Runner, call


def test_approval_closes_the_ticket_as_approved(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(expense, "r-1", 50.0)
    assert run.status().waiting_for == ("approved", "rejected")
    run.send_event("approved", {"by": "dana"})
    assert run.result() == {"request": "r-1", "outcome": "approved", "by": "dana"}
    assert flowgen_runner.calls(close_ticket) == [call(close_ticket, "ticket-r-1", "approved")]


def test_silence_for_three_days_expires_the_request(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(expense, "r-2", 50.0)
    flowgen_runner.advance("3 days")
    assert run.result() == {"request": "r-2", "outcome": "expired", "by": None}


def test_cancelling_runs_the_cleanup_and_ends_cancelled(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(expense, "r-3", 9000.0)
    run.cancel()
    assert run.status().status == "cancelled"
    with pytest.raises(flowgen.WorkflowCancelledError):
        run.result()
    assert flowgen_runner.calls(close_ticket) == [call(close_ticket, "ticket-r-3", "withdrawn")]


def test_force_cancel_skips_the_cleanup(flowgen_runner: Runner) -> None:
    run = flowgen_runner.start(expense, "r-4", 9000.0)
    run.cancel(force=True)
    assert run.status().status == "cancelled"
    assert flowgen_runner.calls(close_ticket) == []
