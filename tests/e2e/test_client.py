"""The client surface on Redis: idempotent start, handles, status, listing, result timeouts."""

from __future__ import annotations

import time

import pytest

import flowgen
from tests.apps import core, timing

pytestmark = pytest.mark.redis


def test_start_is_idempotent_on_run_id_and_conflicting_arguments_are_refused(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as engine, engine.worker(threads=4):
        first = engine.start(core.five_steps, 3, run_id="order-3")
        again = engine.start(core.five_steps, 3, run_id="order-3")
        assert again == first
        assert first.result(timeout=30) == {"value": 15, "even": False}
        assert engine.start(core.five_steps, 3, run_id="order-3").result(timeout=5) == {
            "value": 15,
            "even": False,
        }
        with pytest.raises(flowgen.RunIdConflictError, match="order-3"):
            engine.start(core.five_steps, 4, run_id="order-3")
        with pytest.raises(flowgen.RunIdConflictError):
            engine.start(timing.sleeper, 3, run_id="order-3")
        assert len(engine.runs()) == 1
        assert len(first.journal()) == 5


def test_invalid_run_ids_are_refused_before_anything_is_written(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as engine:
        for bad in ["", "has space", "x" * 201, "brace{tag}", "new\nline"]:
            with pytest.raises(flowgen.InvalidRunIdError):
                engine.start(core.five_steps, 1, run_id=bad)
        assert engine.runs() == []


def test_unencodable_arguments_are_refused_with_the_workflow_named(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as engine:
        with pytest.raises(flowgen.SerializationError, match=r"e2e\.five_steps"):
            engine.start(core.five_steps, object())
        assert engine.runs() == []


def test_get_status_and_listing_by_status_and_workflow(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as engine, engine.worker(threads=4):
        done = engine.start(core.five_steps, 1, run_id="done-1")
        done.result(timeout=30)
        waiting = engine.start(timing.wait_event, "never", run_id="waiting-1")
        waiting.wait_for_status("waiting", timeout=30)
        assert engine.get("done-1") == done
        with pytest.raises(flowgen.RunNotFoundError):
            engine.get("missing")
        info = done.status()
        assert (info.run_id, info.workflow, info.status) == ("done-1", "e2e.five_steps", "completed")
        assert info.output == {"value": 7, "even": False}
        assert info.created <= info.updated and info.finished is not None and info.error is None
        assert [r.run_id for r in engine.runs(status="completed")] == ["done-1"]
        assert [r.run_id for r in engine.runs(status="waiting")] == ["waiting-1"]
        assert [r.run_id for r in engine.runs(workflow="t.wait_event")] == ["waiting-1"]
        assert [r.run_id for r in engine.runs(workflow=core.five_steps, status="completed")] == ["done-1"]
        assert engine.runs(workflow=core.five_steps, status="waiting") == []
        assert {r.run_id for r in engine.runs()} == {"done-1", "waiting-1"}
        with pytest.raises(ValueError, match="unknown status"):
            engine.runs(status="sleeping")


def test_result_times_out_with_a_timeout_error_without_polling(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as engine, engine.worker(threads=2):
        run = engine.start(timing.wait_event, "never")
        began = time.monotonic()
        with pytest.raises(TimeoutError, match=r"did not finish within 0\.5s"):
            run.result(timeout=0.5)
        assert 0.5 <= time.monotonic() - began < 2.0


def test_result_wakes_promptly_when_the_run_finishes(redis_url: str) -> None:
    with flowgen.Engine(redis_url) as engine, engine.worker(threads=2):
        run = engine.start(timing.wait_event, "go")
        run.wait_for_status("waiting", timeout=30)
        sent = time.monotonic()
        run.send_event("go", 1)
        assert run.result(timeout=30) == {"payload": 1}
        assert time.monotonic() - sent < 1.0


def test_a_worker_started_again_in_the_same_process_advances_runs(redis_url: str) -> None:
    """Stopping ``engine.worker()`` drains the runtime; a worker started after it must not stay
    drained (every advance would hand its run straight back, for ever)."""
    with flowgen.Engine(redis_url) as engine:
        with engine.worker(threads=2):
            assert engine.start(core.five_steps, 1).result(timeout=30) == {"value": 7, "even": False}
        with engine.worker(threads=2):
            run = engine.start(core.five_steps, 2)
            assert run.result(timeout=30) == {"value": 11, "even": False}
        assert len(run.journal()) == 5
