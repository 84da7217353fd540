"""Attacks with write access to Redis on sealed engines (pickle, and JSON with a secret key).

Each test lets a run reach a known state, rewrites what a workflow or step will receive the way
anyone able to write to Redis could, and checks that the run fails with ``TamperedDataError``
without running the step the forged data would have unlocked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

import flowgen
from flowgen.serialization import Serializer
from tests.conftest import wait_until
from tests.security import apps
from tests.security.conftest import (
    SEALED_MODES,
    SECRET,
    failure,
    journal,
    meta_key,
    push_event,
    run_key,
    set_entry,
    wait_status,
    wake,
)

pytestmark = pytest.mark.redis

EngineFactory = Callable[..., flowgen.Engine]


@pytest.fixture(params=list(SEALED_MODES))
def sealed(request: pytest.FixtureRequest, engine_on_redis: EngineFactory) -> flowgen.Engine:
    return engine_on_redis(**SEALED_MODES[request.param])


def parked_guarded(engine: flowgen.Engine, run_id: str) -> flowgen.Run:
    run = engine.start(apps.guarded, run_id, run_id=run_id)
    wait_status(run, "waiting")
    return run


def assert_tampered(run: flowgen.Run, guarded_step: str) -> None:
    """The run failed with ``TamperedDataError`` and the step the forgery would unlock never ran."""
    error = failure(run)
    assert isinstance(error, flowgen.TamperedDataError), repr(error)
    assert apps.executions[guarded_step] == 0, f"{guarded_step} ran"


def test_an_unsealed_step_result_is_refused_and_the_guarded_step_never_runs(
    sealed: flowgen.Engine, client: redis.Redis
) -> None:
    run = parked_guarded(sealed, "unsealed-result")
    entry = journal(client, run.run_id)[0]
    entry["value"] = "true"
    set_entry(client, run.run_id, 0, entry)
    run.send_event("go")
    assert_tampered(run, "charge")


def test_unsealed_arguments_are_refused(sealed: flowgen.Engine, client: redis.Redis) -> None:
    run = sealed.start(apps.pay, "o-1", 10, run_id="unsealed-args")
    wait_status(run, "waiting")
    client.hset(meta_key(run.run_id), "args", json.dumps({"args": ["o-1", 10000], "kwargs": {}}))
    run.send_event("go")
    assert_tampered(run, "charge")


def test_a_sealed_value_moved_to_another_position_is_refused(
    sealed: flowgen.Engine, client: redis.Redis
) -> None:
    run = parked_guarded(sealed, "moved-value")
    entries = journal(client, run.run_id)
    forged = dict(entries[0], value=entries[1]["value"], info={"slot": "1"})
    set_entry(client, run.run_id, 0, forged)
    run.send_event("go")
    assert_tampered(run, "charge")


@pytest.mark.parametrize("source", ["inbox", "journal"])
def test_an_event_payload_redelivered_as_another_type_is_refused(
    sealed: flowgen.Engine, client: redis.Redis, source: str
) -> None:
    run = sealed.start(apps.pay_on_event, "o-1", run_id=f"redelivered-{source}")
    wait_status(run, "waiting")
    # A note that is never an amount: its sealed payload is copied while it waits in the inbox,
    # or once consumed, from the journal.
    run.send_event("note", 1_000_000, event_id="note-1")
    if source == "inbox":
        item = client.lindex(run_key(run.run_id, "inbox:note"), 0)
        if item is None:  # already consumed: the journal holds it
            source = "journal"
        else:
            payload = json.loads(item)["payload"]
    wait_until(lambda: len(journal(client, run.run_id)) == 1, 30, "the note to be consumed")
    wait_status(run, "waiting")
    if source == "journal":
        payload = journal(client, run.run_id)[0]["value"]
    push_event(client, run.run_id, "amount", payload, "note-1")
    wake(sealed, client, run.run_id)
    assert_tampered(run, "charge")


def test_a_forged_error_record_is_refused(sealed: flowgen.Engine, client: redis.Redis) -> None:
    run = sealed.start(apps.refund_on_error, run_id="forged-error")
    wait_status(run, "waiting")
    entry = journal(client, run.run_id)[0]
    entry.pop("value")
    entry["ok"] = False
    entry["error"] = {"type": "builtins:ValueError", "message": "forged", "args": ["forged"], "traceback": ""}
    set_entry(client, run.run_id, 0, entry)
    run.send_event("go")
    assert_tampered(run, "refund")


def test_a_value_sealed_in_an_earlier_generation_is_refused(
    sealed: flowgen.Engine, client: redis.Redis
) -> None:
    run_id = "earlier-generation"
    apps.approvals[run_id] = True
    run = parked_guarded(sealed, run_id)
    run.send_event("go")
    assert run.result(timeout=30) is True
    assert apps.executions["charge"] == 1
    approved_entry = journal(client, run_id)[0]
    apps.approvals[run_id] = False
    apps.executions.clear()
    run.restart()
    wait_until(lambda: run.status().generation == 1 and run.status().status == "waiting", 30, "gen 1")
    entry = journal(client, run_id)[0]
    set_entry(client, run_id, 0, dict(entry, value=approved_entry["value"]))
    run.send_event("go")
    assert_tampered(run, "charge")  # the approval of generation 0 does not unlock generation 1


@pytest.mark.parametrize("forgery", ["value", "error"])
def test_a_forged_parallel_step_report_is_refused(
    sealed: flowgen.Engine, client: redis.Redis, forgery: str
) -> None:
    run_id = f"forged-report-{forgery}"
    gate = apps.gates[run_id] = threading.Event()
    run = sealed.start(apps.parallel_check, run_id, run_id=run_id)
    branches = run_key(run_id, "branches")
    wait_until(lambda: client.hget(branches, "0/0|s"), 30, "the parallel step to start")
    if forgery == "value":
        report: dict[str, Any] = {"ok": True, "value": "true"}
    else:
        report = {
            "ok": False,
            "error": {"type": "builtins:ValueError", "message": "x", "args": ["x"], "traceback": ""},
            "retryable": False,
        }
    report.update(started=time.time(), finished=time.time())
    client.hset(branches, "0/0|r", json.dumps(report))
    wake(sealed, client, run_id)
    gate.set()
    assert_tampered(run, "charge")


def test_json_values_of_an_engine_with_a_key_are_signed_and_stay_readable(
    engine_on_redis: EngineFactory, client: redis.Redis
) -> None:
    engine = engine_on_redis(serializer="json", secret_key=SECRET)
    run = engine.start(apps.one_value, run_id="signed-json")
    assert isinstance(run.result(timeout=30), str)
    value = journal(client, run.run_id)[0]["value"]
    assert value.startswith("!json1:"), value
    # Still readable JSON after the seal, for tools without the key.
    assert json.loads(value.split(":", 2)[2])["__flowgen__"] == "uuid"


def test_sealed_mode_refuses_unsealed_text_whatever_the_serializer() -> None:
    for options in ({"pickle": True}, {}):
        serializer = Serializer(secret_key=SECRET, **options)  # type: ignore[arg-type]
        with pytest.raises(flowgen.TamperedDataError, match="position 3"):
            serializer.decode("true", run_id="r", slot="g0/3")
