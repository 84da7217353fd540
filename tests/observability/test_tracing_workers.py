"""Spans of a run that sleeps, resumes in another worker process, and survives a kill -9 there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flowgen
from tests.apps import traced
from tests.conftest import wait_until

pytestmark = pytest.mark.redis


def read_spans(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_spans_of_a_run_resumed_elsewhere_and_replayed_join_the_callers_trace_once(
    redis_url: str, start_worker, tmp_path: Path
) -> None:
    spans_file = tmp_path / "spans.jsonl"
    env = {traced.SPANS_ENV: str(spans_file)}
    options = ["--lease-ttl", "1", "--reconcile-interval", "0.2"]
    caller_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(caller_spans))

    first = start_worker("tests.apps.traced", threads=2, env=env, args=options)
    with flowgen.Engine(redis_url, tracing=True) as engine:
        with provider.get_tracer("test").start_as_current_span("place order") as caller:
            run = engine.start(traced.traced, run_id="traced-1")
        wait_until(lambda: run.status().status == "waiting", 30, "the run to sleep")
        assert first.stop() == 0  # the run sleeps; whoever resumes it, it is not this process
        crash = {**env, "FLOWGEN_FAULT": "after_step_body:three"}
        second = start_worker("tests.apps.traced", threads=2, env=crash, args=options)
        wait_until(lambda: second.process.poll() is not None, 30, "step three to kill the second worker")
        third = start_worker("tests.apps.traced", threads=2, env=env, args=options)
        assert run.result(timeout=60) == ["one", "two", "three"]
        wait_until(lambda: any(s["name"] == "run traced" for s in read_spans(spans_file)), 10, "the run span")

    caller_context = caller.get_span_context()
    assert [span.name for span in caller_spans.get_finished_spans()] == ["place order"]
    spans = read_spans(spans_file)
    by_name = {span["name"]: span for span in spans}
    assert sorted(span["name"] for span in spans) == [
        "run traced",
        "sleep sleep",
        "step one",
        "step three",
        "step two",
    ]
    assert len({span["span_id"] for span in spans}) == len(spans)  # no span emitted twice
    assert {span["trace_id"] for span in spans} == {f"{caller_context.trace_id:032x}"}
    run_span = by_name["run traced"]
    assert run_span["parent_id"] == f"{caller_context.span_id:016x}"
    for name in ("step one", "sleep sleep", "step two", "step three"):
        assert by_name[name]["parent_id"] == run_span["span_id"], name
    # Each step span came from the process that ran it, the replays emitted nothing.
    assert by_name["step one"]["pid"] == first.pid
    assert by_name["step two"]["pid"] == second.pid
    assert by_name["step three"]["pid"] == third.pid
    assert by_name["step three"]["attributes"]["flowgen.attempt"] == 2  # the first one crashed
    assert by_name["step one"]["attributes"]["flowgen.outcome"] == "succeeded"
    assert by_name["run traced"]["attributes"]["flowgen.status"] == "completed"
