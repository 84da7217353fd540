"""A cancellation or pause that arrives while an advance is under way is never lost.

The advance checks the run's control flags when it reaches a command. An event wait then reads
the inbox, and that read also returns the run's latest control flags and signals counter; the
park is fenced on that counter. So a request that lands between the lease and the inbox read
must be honoured at once: parking on the fresh counter would succeed and leave the run waiting
with the request pending and nobody to act on it (the request did not wake the run: it was
leased). These tests land the request exactly there, through the store's own ``control``.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.testing import Runner
from tests.apps import control


def _request_during_the_inbox_read(runner: Runner, run_id: str, action: str) -> None:
    """Make the next inbox read of ``run_id`` be preceded by ``action`` on it (as another client would)."""
    store = runner.store
    original = store.load

    def load(requested_run: str, *args: Any, **kwargs: Any) -> Any:
        if requested_run == run_id:
            store.load = original  # type: ignore[method-assign]
            runner.runtime.request_control(run_id, action)
        return original(requested_run, *args, **kwargs)

    store.load = load  # type: ignore[method-assign]


@pytest.mark.parametrize(("action", "status"), [("cancel", "cancelled"), ("pause", "paused")])
def test_a_request_landing_between_the_lease_and_the_inbox_read_is_honoured(action: str, status: str) -> None:
    control.reset()
    with Runner() as runner:
        run = runner.start(control.sleep_then_event, 5)
        _request_during_the_inbox_read(runner, run.run_id, action)
        runner.advance(5)  # the sleep ends; the advance that follows reads the inbox for the event
        info = run.status()
        assert info.status == status, f"the {action} was lost: the run is {info.status}"
        if action == "pause":
            run.resume()
            run.send_event("go", 1)
            assert run.result() is not None
