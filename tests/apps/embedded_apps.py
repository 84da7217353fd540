"""Workflows the embedded tests run, in this process and in subprocesses.

Every step body first records its execution in a side SQLite table (the file named by
``FLOWGEN_TEST_LEDGER``), committed before the step does anything else, so a test can count
how often each step ran even across ``kill -9``. ``FLOWGEN_TEST_HOLD_AT=<n>`` makes step ``n``
of :func:`ten_steps` block forever: a process killed there is killed mid-step.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import flowgen


def _ledger() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["FLOWGEN_TEST_LEDGER"], timeout=30, isolation_level=None)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS executions "
        "(run_id TEXT, position TEXT, step TEXT, attempt INTEGER, pid INTEGER, at REAL)"
    )
    return conn


def record(step: str) -> None:
    """Append one row for the step execution running now (autocommit: durable at once)."""
    context = flowgen.step_context()
    conn = _ledger()
    try:
        conn.execute(
            "INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?)",
            (context.run_id, context.position, step, context.attempt, os.getpid(), time.time()),
        )
    finally:
        conn.close()


def executions(ledger: Path | str, run_id: str | None = None) -> list[dict[str, Any]]:
    """Read the ledger's rows (all, or one run's), in execution order."""
    if not Path(ledger).exists():
        return []
    conn = sqlite3.connect(ledger, timeout=30)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'executions'").fetchone() is None:
            return []
        rows = conn.execute(
            "SELECT run_id, position, step, attempt, pid, at FROM executions "
            "WHERE ? IS NULL OR run_id = ? ORDER BY rowid",
            (run_id, run_id),
        ).fetchall()
    finally:
        conn.close()
    keys = ("run_id", "position", "step", "attempt", "pid", "at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


# -- the order workflow: five steps, a sleep and an event ------------------------------------


@flowgen.step(name="embedded.reserve")
def reserve(order_id: str) -> dict[str, Any]:
    record("reserve")
    return {"order": order_id, "reserved": True}


@flowgen.step(name="embedded.charge")
def charge(order_id: str, amount: float) -> str:
    record("charge")
    return f"pay-{order_id}-{amount:.2f}"


@flowgen.step(name="embedded.pack")
def pack(order_id: str) -> str:
    record("pack")
    return f"box-{order_id}"


@flowgen.step(name="embedded.label")
def label(box: str, carrier: str) -> str:
    record("label")
    return f"{carrier}:{box}"


@flowgen.step(name="embedded.notify")
def notify(order_id: str, tracking: str) -> str:
    record("notify")
    return f"mailed {order_id} {tracking}"


@flowgen.workflow(name="embedded.order")
def order(order_id: str, amount: float, nap: float) -> Generator[Any, Any, dict[str, Any]]:
    yield reserve(order_id)
    payment = yield charge(order_id, amount)
    yield flowgen.sleep(nap)
    box = yield pack(order_id)
    shipped = yield flowgen.wait_for_event("shipped", timeout="60s")
    tracking = yield label(box, shipped["carrier"])
    notice = yield notify(order_id, tracking)
    return {"payment": payment, "tracking": tracking, "notice": notice}


# -- ten steps, for crash recovery -------------------------------------------------------------


@flowgen.step(name="embedded.work")
def work(index: int) -> int:
    record(f"step{index}")
    if os.environ.get("FLOWGEN_TEST_HOLD_AT") == str(index):
        threading.Event().wait()  # never returns: the test kills this process here
    return index * 10


@flowgen.workflow(name="embedded.ten_steps")
def ten_steps() -> Generator[Any, Any, list[int]]:
    results = []
    for index in range(1, 11):
        results.append((yield work(index)))
    return results


# -- a sleep across a restart -------------------------------------------------------------------


@flowgen.step(name="embedded.mark")
def mark(what: str) -> float:
    record(what)
    return time.time()


@flowgen.workflow(name="embedded.nap")
def nap(seconds: float) -> Generator[Any, Any, dict[str, float]]:
    before = yield mark("before")
    yield flowgen.sleep(seconds)
    after = yield mark("after")
    return {"before": before, "after": after}
