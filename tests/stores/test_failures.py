"""Conformance: a refused operation raises the same error, with the same message, on every store.

The messages come from one mapping (``store_error`` in ``flowgen/stores/base.py``): the Lua
scripts reply a reason code and ``logic.py`` names the same reason, so a user sees one text
whichever store refused.
"""

from __future__ import annotations

import re

import pytest

from flowgen.errors import RunFinishedError, RunNotFoundError, RunStateError
from flowgen.status import RunStatus
from flowgen.stores.base import Commit, Finish, Store
from flowgen.stores.failures import Reason, store_error

from .support import GRACE, TTL, T, change, created, started

MISSING = "no run with id 'nope'"


def _raises(error: type[Exception], message: str) -> pytest.RaisesContext[Exception]:
    return pytest.raises(error, match=f"^{re.escape(message)}$")


def test_every_operation_on_a_missing_run_names_the_run(store: Store) -> None:
    with _raises(RunNotFoundError, MISSING):
        store.acquire("nope", "w1", TTL, T)
    with _raises(RunNotFoundError, MISSING):
        store.load("nope")
    with _raises(RunNotFoundError, MISSING):
        store.commit(Commit("nope", 1, 0), T, GRACE)
    with _raises(RunNotFoundError, MISSING):
        store.wait_finished("nope", 0)
    with _raises(RunNotFoundError, MISSING):
        store.reset("nope", "restart", T, GRACE)
    with _raises(RunNotFoundError, MISSING):
        store.get_run_or_raise("nope")


def test_an_operation_on_a_missing_run_says_what_it_did_not_do(store: Store) -> None:
    with _raises(RunNotFoundError, f"{MISSING}; the event 'go' was not delivered"):
        store.send_event("nope", "go", "null", "e1", T, GRACE)
    with _raises(RunNotFoundError, f"{MISSING}; it cannot pause"):
        store.control("nope", "pause", T, GRACE)


def test_an_operation_on_a_finished_run_names_its_status(store: Store) -> None:
    snapshot = started(store)
    assert store.commit(change(snapshot, Finish(RunStatus.FAILED, error={"type": "E"})), T, GRACE).ok
    finished = "run 'r1' has already finished (failed)"
    with _raises(RunFinishedError, f"{finished}; the event 'go' was not delivered"):
        store.send_event("r1", "go", "null", "e1", T, GRACE)
    with _raises(RunFinishedError, f"{finished}; it cannot cancel"):
        store.control("r1", "cancel", T, GRACE)


def test_a_request_the_run_state_refuses_names_the_state(store: Store) -> None:
    created(store)
    with _raises(RunStateError, "run 'r1' is queued, not paused; there is nothing to resume"):
        store.control("r1", "resume", T, GRACE)
    with _raises(
        RunStateError, "run 'r1' is queued; only a failed run can be retried (restart() runs it again)"
    ):
        store.reset("r1", "retry", T, GRACE)


def test_store_error_maps_each_raised_reason_to_one_error_class() -> None:
    classes = {
        reason: type(store_error(reason, "r1", status="running"))
        for reason in Reason
        if reason not in (Reason.STALE, Reason.CONFLICT)
    }
    assert classes == {
        Reason.MISSING: RunNotFoundError,
        Reason.FINISHED: RunFinishedError,
        Reason.NOT_PAUSED: RunStateError,
        Reason.NOT_FAILED: RunStateError,
    }
    # stale and conflict are results of a commit, not errors; an unknown reply is a bug
    for reply in (Reason.STALE, Reason.CONFLICT, "gibberish"):
        with pytest.raises(
            ValueError, match=f"store reply {str(reply)!r} for run 'r1' is not a failure reason"
        ):
            store_error(reply, "r1")
