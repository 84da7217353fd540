"""An approval that can be cancelled: wait for a decision, clean up if the request is withdrawn.

Run it from the repository root (embedded SQLite, no server)::

    python examples/approval.py

The workflow files a request and waits up to three days for an "approved" or "rejected" event,
whichever comes first (``any_of``). ``run.cancel()`` raises ``flowgen.CancelledError`` into the
workflow at its current ``yield``, so its ``finally`` block can run a cleanup step; the run then
ends ``cancelled``. ``run.cancel(force=True)`` would end it at once, without cleanup.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.step(name="approval.file_request")
def file_request(request_id: str, amount: float) -> str:
    print(f"  step: file request {request_id} for {amount:.2f}")
    return f"ticket-{request_id}"


@flowgen.step(name="approval.close_ticket")
def close_ticket(ticket: str, outcome: str) -> None:
    print(f"  step: close {ticket} ({outcome})")


@flowgen.workflow(name="approval.expense")
def expense(request_id: str, amount: float) -> Generator[Any, Any, dict[str, Any]]:
    """File the request, then wait for approval, rejection, or three days of silence."""
    ticket = yield file_request(request_id, amount)
    outcome = "withdrawn"
    try:
        index, decision = yield flowgen.any_of(
            flowgen.wait_for_event("approved"),
            flowgen.wait_for_event("rejected"),
            flowgen.sleep("3 days"),
        )
        outcome = ["approved", "rejected", "expired"][index]
        return {"request": request_id, "outcome": outcome, "by": (decision or {}).get("by")}
    finally:
        yield close_ticket(ticket, outcome)


def wait_until_waiting(run: flowgen.Run) -> None:
    deadline = time.monotonic() + 30
    while run.status().status != "waiting":
        if time.monotonic() > deadline:
            raise SystemExit(f"{run.run_id} never started waiting: {run.status()}")
        time.sleep(0.05)


def main() -> None:
    with flowgen.Engine() as engine:
        approved = engine.start(expense, f"exp-{uuid.uuid4().hex[:6]}", 120.0)
        withdrawn = engine.start(expense, f"exp-{uuid.uuid4().hex[:6]}", 9000.0)
        wait_until_waiting(approved)
        approved.send_event("approved", {"by": "dana"})
        print(f"{approved.run_id} -> {approved.result(timeout=30)}")

        wait_until_waiting(withdrawn)
        withdrawn.cancel()
        try:
            withdrawn.result(timeout=30)
        except flowgen.WorkflowCancelledError:
            print(f"{withdrawn.run_id} -> {withdrawn.status().status}")


if __name__ == "__main__":
    main()
