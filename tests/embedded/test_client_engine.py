"""A client engine (``start_workers=False``) on a SQLite file another engine advances.

docs/embedded.md: such a client enqueues nothing, so its writes are marked due at once (its
grace is 0) and the worker engine's reconciler picks them up on its next pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowgen

from . import apps

RECONCILE = 0.2
PROMPT = 5.0  # far below the default grace (15 s) a late pickup would take


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[flowgen.Engine, flowgen.Engine]]:
    """A worker engine and a client engine on one file."""
    monkeypatch.setenv("FLOWGEN_TEST_LEDGER", str(tmp_path / "ledger.db"))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    worker = flowgen.Engine(url, reconcile_interval=RECONCILE, timer_interval=0.05)
    client = flowgen.Engine(url, start_workers=False)
    try:
        yield worker, client
    finally:
        client.close()
        worker.close()


def _sleeping_run(worker: flowgen.Engine, run_id: str) -> None:
    worker.start(apps.nap, 600.0, run_id=run_id)
    worker.wait_for_status(run_id, ["waiting"], timeout=30)


def test_a_client_engine_has_no_grace_in_the_runtime_that_writes_its_control_requests(
    engines: tuple[flowgen.Engine, flowgen.Engine],
) -> None:
    _, client = engines
    assert client.settings.grace == 0.0
    assert client.runtime.settings.grace == 0.0


@pytest.mark.parametrize(("action", "status"), [("cancel", "cancelled"), ("pause", "paused")])
def test_a_control_request_from_a_client_engine_takes_effect_on_the_next_reconciler_pass(
    engines: tuple[flowgen.Engine, flowgen.Engine], action: str, status: str
) -> None:
    worker, client = engines
    _sleeping_run(worker, f"client-{action}")

    began = time.monotonic()
    getattr(client, action)(f"client-{action}")
    worker.wait_for_status(f"client-{action}", [status], timeout=30)

    assert time.monotonic() - began < PROMPT


def test_a_resume_from_a_client_engine_takes_effect_on_the_next_reconciler_pass(
    engines: tuple[flowgen.Engine, flowgen.Engine],
) -> None:
    worker, client = engines
    _sleeping_run(worker, "client-resume")
    client.pause("client-resume")
    worker.wait_for_status("client-resume", ["paused"], timeout=30)

    began = time.monotonic()
    client.resume("client-resume")
    worker.wait_for_status("client-resume", ["waiting"], timeout=30)

    assert time.monotonic() - began < PROMPT
