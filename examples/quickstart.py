"""Quickstart: a durable order workflow on the embedded default - no server to install.

Run it from the repository root::

    pip install -e . && python examples/quickstart.py

``flowgen.Engine()`` with no URL keeps runs in ``flowgen.sqlite3`` in the current directory
and advances them on threads of this process. The workflow reserves stock, charges the card,
sleeps on a durable timer, waits for a "shipped" event (which this script sends, playing the
warehouse), then notifies the customer. Every step prints a line as it runs.

Every outcome is journaled in the SQLite file. Stop the script (Ctrl-C) during the sleep and
run it again: the interrupted order resumes from the file - its timer fires, the script ships
it too, and only the steps it had not finished yet run. Each start also places a new order, so
the script can be run again and again.

The same code runs on Redis: ``FLOWGEN_URL=redis://localhost:6379/0`` plus a worker process
(``flowgen worker examples.quickstart --url redis://localhost:6379/0``). See docs/embedded.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from typing import Any

import flowgen

STARTED = time.monotonic()


def say(text: str) -> None:
    """Print a line with the seconds since the script started."""
    print(f"[{time.monotonic() - STARTED:5.2f}s] {text}", flush=True)


@flowgen.step
def reserve_stock(order_id: str, items: list[str]) -> str:
    say(f"step reserve_stock: holding {', '.join(items)} for {order_id}")
    return f"res-{order_id}"


@flowgen.step(retries=flowgen.Retry(limit=3, delay="1s"))
def charge_card(order_id: str, amount: float) -> str:
    say(f"step charge_card: charging {amount:.2f} EUR for {order_id}")
    return f"pay-{order_id}"


@flowgen.step
def notify_customer(order_id: str, carrier: str, tracking: str) -> str:
    say(f"step notify_customer: {order_id} ships with {carrier}, tracking {tracking}")
    return f"mail-{order_id}"


@flowgen.workflow
def order(order_id: str, items: list[str], amount: float) -> Generator[Any, Any, dict[str, Any]]:
    """Reserve, charge, let the order settle, wait for the warehouse, notify."""
    reservation = yield reserve_stock(order_id, items)
    payment = yield charge_card(order_id, amount)
    # A durable timer: no thread waits for it, and it survives a restart of this script.
    yield flowgen.sleep("2s")
    try:
        shipment = yield flowgen.wait_for_event("shipped", timeout="1 minute")
    except flowgen.EventTimeoutError:
        return {"order": order_id, "status": "not shipped", "payment": payment}
    mail = yield notify_customer(order_id, shipment["carrier"], shipment["tracking"])
    return {
        "order": order_id,
        "status": "shipped",
        "reservation": reservation,
        "payment": payment,
        "mail": mail,
    }


def ship_when_ready(run: flowgen.Run) -> None:
    """Play the warehouse: once the run waits for "shipped", send it.

    Sending earlier would work too (events are buffered until the run asks for them); waiting
    first just makes the printed story easier to follow.
    """
    deadline = time.monotonic() + 30
    while run.status().waiting_for != ("shipped",):
        if time.monotonic() > deadline:
            raise SystemExit(f"{run.run_id} never waited for its shipment: {run.status()}")
        time.sleep(0.05)
    say(f'sending the "shipped" event to {run.run_id}')
    run.send_event("shipped", {"carrier": "DHL", "tracking": "TRK-4242"})


def main() -> None:
    # No URL: $FLOWGEN_URL if set, else flowgen.sqlite3 in the current directory. The engine
    # advances runs on its own threads until the with block ends.
    with flowgen.Engine() as engine:
        # Orders an interrupted earlier run of this script left in the file resume on their own.
        leftovers = [engine.get(info.run_id) for info in engine.runs(workflow=order) if not info.is_finished]
        for run in leftovers:
            say(f"resuming {run.run_id}, left unfinished by an earlier run of this script")

        order_id = f"order-{uuid.uuid4().hex[:6]}"
        say(f"starting {order_id} on {engine.url}")
        new = engine.start(order, order_id, ["book", "lamp"], 42.0, run_id=order_id)

        for run in [*leftovers, new]:
            ship_when_ready(run)
            say(f"result of {run.run_id}: {run.result(timeout=30)}")
        say(
            "journal of "
            + new.run_id
            + ": "
            + ", ".join(f"{e['pos']}:{e['kind']} {e['name']}" for e in new.journal())
        )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        say("interrupted; run the script again and the unfinished order resumes from flowgen.sqlite3")
