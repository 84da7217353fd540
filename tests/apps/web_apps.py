"""Workflows the dashboard tests start (tests/web), in the test process and in worker processes.

``FLOWGEN_TEST_WEB_FLAGS`` names a folder where :func:`fail_once` leaves a file per run: the
first attempt of a run fails (the run ends ``failed``), every attempt after a retry succeeds.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import flowgen


@flowgen.step(name="web.reserve")
def reserve(order_id: str) -> str:
    return f"reservation-{order_id}"


@flowgen.step(name="web.ship")
def ship(order_id: str, approval: Any) -> dict[str, Any]:
    return {"order": order_id, "approval": approval}


@flowgen.workflow(name="web.approval")
def approval(order_id: str) -> Generator[Any, Any, dict[str, Any]]:
    """Reserve, wait up to a day for an "approved" event, ship."""
    yield reserve(order_id)
    decision = yield flowgen.wait_for_event("approved", timeout="1 day")
    return (yield ship(order_id, decision))


@flowgen.step(name="web.fail_once", retries=0)
def fail_once(label: str) -> str:
    flags = Path(os.environ["FLOWGEN_TEST_WEB_FLAGS"])
    flag = flags / flowgen.step_context().run_id.replace("/", "_")
    if not flag.exists():
        flag.write_text("failed once")
        raise flowgen.NonRetryableError(f"first attempt of {label} fails")
    return f"{label}: ok"


@flowgen.workflow(name="web.flaky")
def flaky(label: str) -> Generator[Any, Any, str]:
    """Fails on its first attempt; a retry completes it."""
    return (yield fail_once(label))


@flowgen.step(name="web.<b>evil</b>", retries=0)
def evil_step(payload: str) -> None:
    raise flowgen.NonRetryableError(payload)


@flowgen.workflow(name="web.<script>")
def evil(payload: str) -> Generator[Any, Any, None]:
    """A workflow whose name, arguments and error message all hold markup."""
    yield evil_step(payload)


@flowgen.step(name="web.tick")
def tick(n: int) -> int:
    return n


@flowgen.workflow(name="web.long")
def long(steps: int) -> Generator[Any, Any, int]:
    """``steps`` journaled steps (for the timeline of a long run)."""
    total = 0
    for n in range(steps):
        total += yield tick(n)
    return total


@flowgen.workflow(name="web.one_at_a_time", concurrency=flowgen.Limit(1))
def one_at_a_time(order_id: str) -> Generator[Any, Any, Any]:
    """One run in progress at a time: a second run waits in line while the first waits for "go"."""
    return (yield flowgen.wait_for_event("go"))
