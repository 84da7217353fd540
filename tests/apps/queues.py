"""Workflows whose steps are routed to their own queues (``@step(queue=...)``), for real-worker tests.

Each routed step records which worker process ran it (``test:queue-ran:<run id>`` -> pid) in
the ledger, so a test can tell that the dedicated worker ran it.
"""

from __future__ import annotations

import os

import flowgen
from tests.apps.core import ledger

ROUTED_QUEUE = "queues-routed"
UNCONSUMED_QUEUE = "queues-nobody"


def ran_in(run_id: str) -> int | None:
    """The pid of the worker process that ran the routed step of ``run_id``."""
    value = ledger().get(f"test:queue-ran:{run_id}")
    return None if value is None else int(value)


def _note_process() -> None:
    ledger().set(f"test:queue-ran:{flowgen.step_context().run_id}", os.getpid())


@flowgen.step(name="queues.on_routed", retries=0, queue=ROUTED_QUEUE)
def on_routed(x: int) -> int:
    _note_process()
    return x * 10


@flowgen.step(name="queues.on_nobody", retries=0, queue=UNCONSUMED_QUEUE)
def on_nobody(x: int) -> int:
    _note_process()
    return x + 1


@flowgen.step(name="queues.inline", retries=0)
def inline(x: int) -> int:
    return x + 1


@flowgen.workflow(name="queues.routed")
def routed(x: int):
    before = yield inline(x)
    value = yield on_routed(before)
    return value


@flowgen.workflow(name="queues.stranded")
def stranded(x: int):
    value = yield on_nobody(x)
    return value
