"""Changed code under in-flight runs, and bad input of every kind a worker can receive."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from dramatiq.message import Message

import flowgen
from tests.apps import faults
from tests.conftest import wait_until
from tests.faults.support import Expect, Ledger, Workers, check_scenario, wait_finished

pytestmark = [pytest.mark.faults, pytest.mark.redis]

RUNS = 200


def test_a_step_reordered_under_in_flight_runs_fails_them_cleanly_naming_the_position(
    redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    old = workers.start(redis_url, "tests.apps.faults", threads=8)
    with flowgen.Engine(redis_url) as engine:
        closed = [f"closed-{n:03d}" for n in range(RUNS // 2)]
        opened = [f"open-{n:03d}" for n in range(RUNS // 2)]
        engine.start_many(
            "faults.versioned_closed", [((n,), None, run_id) for n, run_id in enumerate(closed)]
        )
        engine.start_many("faults.versioned_open", [((n,), None, run_id) for n, run_id in enumerate(opened)])

        def parked() -> bool:
            return engine.store.client.zcard("flowgen:status:waiting") == RUNS  # type: ignore[attr-defined]

        wait_until(parked, 60, "every run to wait for its event under the old code")
        assert old.stop() == 0
        before = {run_id: engine.journal(run_id) for run_id in closed + opened}
        opens = {run_id: engine.store.get_run(run_id).open for run_id in closed + opened}  # type: ignore[union-attr]
        executed_before = ledger.executions()

        new = workers.start(redis_url, "tests.apps.faults_v2", threads=8)
        for run_id in closed + opened:
            engine.send_event(run_id, "go", 1)
        wait_finished(redis_url, closed + opened, 60)
        expected = {
            **{run_id: Expect.failed(flowgen.NonDeterminismError, "position 1") for run_id in closed},
            **{run_id: Expect.failed(flowgen.NonDeterminismError, "position 1") for run_id in opened},
        }
        after = check_scenario(redis_url, expected)
        for run_id in closed + opened:
            assert after[run_id] == before[run_id], f"{run_id}: the failing replay appended to the journal"
            with pytest.raises(flowgen.WorkflowFailedError) as failure:
                engine.get(run_id).result(timeout=5)
            error = failure.value.__cause__
            assert isinstance(error, flowgen.NonDeterminismError) and error.position == 1
            if run_id in closed:
                assert (error.recorded, error.new) == ("step 'faults.b'", "step 'faults.c'")
            else:
                assert (error.recorded, error.new) == ("event 'go'", "step 'faults.b'")
            assert opens[run_id] is not None
        # No recorded result was fed to another command: the new code never got past position 1,
        # so none of its steps ran.
        assert ledger.executions() == executed_before
        assert not [e for e in ledger.entries(None, None) if e["pid"] == new.pid]
        # The event that woke each run was not consumed into its journal.
        assert all(entry["kind"] != "event" for journal in after.values() for entry in journal)


def test_bad_input_is_a_clear_error_with_nothing_appended_and_the_worker_keeps_serving(
    redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    worker = workers.start(redis_url, threads=8)
    client = redis.Redis.from_url(redis_url)
    with flowgen.Engine(redis_url) as engine:
        good = [f"good-{n:03d}" for n in range(RUNS)]
        engine.start_many(faults.effect, [((n, 0.05), None, run_id) for n, run_id in enumerate(good)])
        unencodable = [f"unencodable-{n}" for n in range(10)]
        oversize = [f"oversize-{n}" for n in range(10)]
        engine.start_many(
            faults.bad_result, [((n, "unencodable"), None, run_id) for n, run_id in enumerate(unencodable)]
        )
        engine.start_many(
            faults.bad_result, [((n, "oversize"), None, run_id) for n, run_id in enumerate(oversize)]
        )
        unknown = engine.start("faults.nobody_declared_this", 1, run_id="unknown-workflow")
        waiting = engine.start(faults.wait_then, 5, run_id="big-event")

        # Messages no flowgen client would send, straight into the queue.
        broker = engine.transport.broker
        actor = engine.transport.advance_actor
        broker.enqueue(actor.message("no-such-run"))
        broker.enqueue(Message("flowgen", "flowgen.advance", (), {"unexpected": 1}, {}))
        broker.enqueue(Message("flowgen", "flowgen.advance", ("big-event", "extra", 3), {}, {}))
        broker.enqueue(Message("flowgen", "flowgen.step", ("big-event", "9/9", 1), {}, {}))
        broker.enqueue(Message("flowgen", "nobody.declared.this.actor", ("x",), {}, {}))
        garbage_id = str(uuid.uuid4())
        client.hset("flowgen-dramatiq:flowgen.msgs", garbage_id, b"\x00not a message")
        client.rpush("flowgen-dramatiq:flowgen", garbage_id)

        wait_until(lambda: engine.store.get_run("big-event").status == "waiting", 30, "the run to wait")  # type: ignore[union-attr]
        with pytest.raises(flowgen.PayloadTooLargeError, match="payload of event 'go'"):
            engine.send_event("big-event", "go", "x" * (2 * 1024 * 1024))
        assert engine.store.inbox("big-event") == {}, "the oversize event was not stored"
        assert engine.store.get_run("big-event").status == "waiting"  # type: ignore[union-attr]
        engine.send_event("big-event", "go", 3)

        finished = [*good, *unencodable, *oversize, "unknown-workflow", "big-event"]
        wait_finished(redis_url, finished, 60)
        expected = {
            **{run_id: Expect.completed(faults.expected_effect(n)) for n, run_id in enumerate(good)},
            **{
                run_id: Expect.failed(
                    flowgen.SerializationError, "cannot encode the result of step 'faults.unencodable'"
                )
                for run_id in unencodable
            },
            **{
                run_id: Expect.failed(flowgen.PayloadTooLargeError, "the result of step 'faults.oversize'")
                for run_id in oversize
            },
            "unknown-workflow": Expect.failed(flowgen.WorkflowNotFoundError, "faults.nobody_declared_this"),
            "big-event": Expect.completed(90),
        }
        journals = check_scenario(redis_url, expected)
        for run_id in unencodable + oversize:
            assert [entry["name"] for entry in journals[run_id]] == ["faults.prepare"], "nothing was appended"
        assert journals["unknown-workflow"] == []
        assert unknown.status().status == "failed"
        assert waiting.result(timeout=5) == 90
        wait_until(
            lambda: client.llen("flowgen-dramatiq:flowgen") == 0, 30, "the bad messages to be consumed"
        )
    assert worker.process.poll() is None, "the worker survived every bad message"
    executions = ledger.executions()
    assert set(executions.values()) == {1}, "no step ran twice"
    log = worker.log()
    assert "no run with id 'no-such-run'" in log
    assert "skipping an undecodable message" in log
    assert "Consumer encountered an unexpected error" not in log, "a bad message restarted the consumer"
    client.close()


def test_a_tampered_pickle_blob_fails_its_run_before_unpickling_and_nothing_is_appended(
    redis_url: str, workers: Workers, ledger: Ledger
) -> None:
    secret = "fault-suite-secret-key-0123456789"
    env = {"FLOWGEN_SECRET_KEY": secret}
    worker = workers.start(
        redis_url,
        threads=8,
        env=env,
        args=("--serializer", "pickle", "--lease-ttl", "2", "--grace", "2", "--reconcile-interval", "0.5"),
    )
    client = redis.Redis.from_url(redis_url)
    with flowgen.Engine(redis_url, serializer="pickle", secret_key=secret) as engine:
        ids = [f"pickled-{n:03d}" for n in range(RUNS)]
        engine.start_many(faults.wait_then, [((n,), None, run_id) for n, run_id in enumerate(ids)])
        wait_until(lambda: client.zcard("flowgen:status:waiting") == RUNS, 60, "every run to wait")
        journal_key = "flowgen:{%s}:journal"
        meta_key = "flowgen:{%s}:meta"

        def flip(text: bytes) -> bytes:
            head, _, blob = text.rpartition(b":")
            return head + b":" + (b"A" if blob[:1] != b"A" else b"B") + blob[1:]

        tampered = {}
        # A journaled step result whose bytes were changed.
        for run_id in ids[0:10]:
            entry = json.loads(client.lindex(journal_key % run_id, 0))
            entry["value"] = flip(entry["value"].encode()).decode()
            client.lset(journal_key % run_id, 0, json.dumps(entry))
            tampered[run_id] = "at the journal position"
        # A validly signed result moved from another run: the seal binds it to its run.
        for run_id in ids[10:20]:
            donor = json.loads(client.lindex(journal_key % ids[-1], 0))
            client.lset(journal_key % run_id, 0, json.dumps(donor))
            tampered[run_id] = "moved"
        # The run's arguments.
        for run_id in ids[20:30]:
            client.hset(meta_key % run_id, "args", flip(client.hget(meta_key % run_id, "args")))
            tampered[run_id] = "args"
        before = {run_id: client.lrange(journal_key % run_id, 0, -1) for run_id in ids}
        # An event payload sealed for another event (written straight to the store).
        for n, run_id in enumerate(ids[30:40], start=30):
            payload = engine.serializer.encode(n, run_id=run_id, slot="event:another", what="an event")
            sent = engine.store.send_event(run_id, "go", payload, f"evt-{n}", time.time(), 2.0)
            assert sent.wake
            engine.transport.enqueue([run_id])
            tampered[run_id] = "event"
        for n, run_id in enumerate(ids):
            if run_id not in tampered or tampered[run_id] != "event":
                engine.send_event(run_id, "go", n)
        wait_finished(redis_url, ids, 60)
        expected = {
            run_id: (
                Expect.failed(flowgen.TamperedDataError, "refusing it")
                if run_id in tampered
                else Expect.completed((n + 1 + n) * 10)
            )
            for n, run_id in enumerate(ids)
        }
        check_scenario(redis_url, expected, serializer="pickle", secret_key=secret)
        for run_id in tampered:
            assert client.lrange(journal_key % run_id, 0, -1) == before[run_id], "nothing was appended"
    assert worker.process.poll() is None
    assert set(ledger.executions().values()) == {1}
    client.close()
