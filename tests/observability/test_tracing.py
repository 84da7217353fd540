"""The span model, in one process with the SDK's in-memory exporter (docs/observability.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import flowgen
from flowgen.observability import ids

ATTEMPTS: list[int] = []


@flowgen.step(retries=flowgen.Retry(limit=1, delay=0.01, jitter=0))
def tr_flaky() -> str:
    ATTEMPTS.append(1)
    if len(ATTEMPTS) == 1:
        raise ConnectionError("first attempt fails")
    return "ok"


@flowgen.step(retries=0)
def tr_fine(x: int) -> int:
    return x + 1


@flowgen.workflow
def tr_flow(x: int):
    value = yield tr_fine(x)
    yield flowgen.sleep(0.05)
    status = yield tr_flaky()
    return [value, status]


def finished(spans: InMemorySpanExporter, count: int) -> list:
    from tests.conftest import wait_until

    return wait_until(
        lambda: len(spans.get_finished_spans()) >= count and spans.get_finished_spans(), 10, "spans"
    )


def test_a_run_under_a_caller_span_is_a_tree_of_run_step_and_sleep_spans(spans: InMemorySpanExporter) -> None:
    ATTEMPTS.clear()
    with flowgen.Engine("memory://", tracing=True) as engine:
        with trace.get_tracer("test").start_as_current_span("checkout") as caller:
            run = engine.start(tr_flow, 1, run_id="traced-tree")
        assert run.result(timeout=10) == [2, "ok"]
        got = finished(spans, 6)
    caller_context = caller.get_span_context()
    by_name: dict[str, list] = {}
    for span in got:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == ["checkout", "run tr_flow", "sleep sleep", "step tr_fine", "step tr_flaky"]
    assert len(by_name["step tr_flaky"]) == 2
    assert {span.context.trace_id for span in got} == {caller_context.trace_id}
    run_span = by_name["run tr_flow"][0]
    assert run_span.parent.span_id == caller_context.span_id
    assert run_span.context.span_id == ids.run_span_id("traced-tree", 0)
    assert run_span.attributes["flowgen.status"] == "completed"
    assert run_span.attributes["flowgen.journal_length"] == 3
    for name in ("step tr_fine", "sleep sleep", "step tr_flaky"):
        for span in by_name[name]:
            assert span.parent.span_id == run_span.context.span_id
    failed, succeeded = sorted(by_name["step tr_flaky"], key=lambda span: span.attributes["flowgen.attempt"])
    assert failed.attributes["flowgen.outcome"] == "failed"
    assert failed.status.status_code == StatusCode.ERROR
    assert [event.name for event in failed.events] == ["exception"]
    assert failed.events[0].attributes["exception.type"] == "builtins.ConnectionError"
    assert succeeded.attributes["flowgen.outcome"] == "succeeded"
    assert succeeded.attributes["flowgen.attempt"] == 2
    sleep = by_name["sleep sleep"][0]
    assert sleep.attributes["flowgen.lateness_seconds"] >= 0
    assert sleep.end_time - sleep.start_time >= 50_000_000  # the sleep's 0.05 s at least


def test_a_run_started_outside_a_trace_gets_a_trace_derived_from_its_run_id(
    spans: InMemorySpanExporter,
) -> None:
    with flowgen.Engine("memory://", tracing=True) as engine:
        ATTEMPTS.clear()
        ATTEMPTS.append(1)  # tr_flaky succeeds at once
        run = engine.start(tr_flow, 5, run_id="untraced")
        assert run.result(timeout=10) == [6, "ok"]
        got = finished(spans, 4)
    assert {span.context.trace_id for span in got} == {ids.run_trace_id("untraced")}
    run_span = next(span for span in got if span.name == "run tr_flow")
    assert run_span.parent is None


def test_tracing_off_emits_nothing(spans: InMemorySpanExporter) -> None:
    ATTEMPTS[:] = [1]
    with flowgen.Engine("memory://", tracing=False) as engine:
        assert engine.start(tr_flow, 1).result(timeout=10) == [2, "ok"]
    assert spans.get_finished_spans() == ()


def test_importing_flowgen_imports_neither_opentelemetry_nor_prometheus() -> None:
    code = (
        "import sys, flowgen; "
        "assert 'opentelemetry' not in sys.modules and 'prometheus_client' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_opentelemetry_runs_work_and_tracing_true_says_what_to_install() -> None:
    code = """
import sys
sys.modules['opentelemetry'] = None  # as if it were not installed
import flowgen

@flowgen.step(retries=0)
def s(x):
    return x

@flowgen.workflow
def w(x):
    return (yield s(x))

with flowgen.Engine('memory://') as engine:
    assert engine.start(w, 3).result(timeout=10) == 3
try:
    flowgen.Engine('memory://', tracing=True)
except flowgen.ConfigurationError as error:
    assert 'dramatiq-flowgen[otel]' in str(error), error
else:
    raise AssertionError('tracing=True without OpenTelemetry was accepted')
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_prometheus_client_flowgen_metrics_says_what_to_install() -> None:
    code = """
import sys
sys.modules['prometheus_client'] = None  # as if it were not installed
import flowgen
flowgen.Engine('memory://', tracing=False).close()  # flowgen itself works without it
try:
    import flowgen.metrics
except ImportError as error:
    assert "dramatiq-flowgen[metrics]" in str(error), error
else:
    raise AssertionError('flowgen.metrics imported without prometheus-client')
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("text", ["", "garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", None, 42])
def test_a_stored_traceparent_that_is_not_valid_is_ignored(text: object) -> None:
    assert ids.parse_traceparent(text) is None


def test_derived_ids_depend_on_what_they_name_only() -> None:
    assert ids.attempt_span_id("r", 0, "3", 1.5, 1) == ids.attempt_span_id("r", 0, "3", 1.5, 1)
    assert (
        len(
            {
                ids.attempt_span_id("r", 0, "3", 1.5, 1),
                ids.attempt_span_id("r", 0, "3", 1.5, 2),
                ids.attempt_span_id("r", 0, "4", 1.5, 1),
                ids.attempt_span_id("r", 1, "3", 1.5, 1),
                ids.attempt_span_id("r", 0, "3", 2.5, 1),
            }
        )
        == 5
    )
    assert ids.parse_traceparent(ids.format_traceparent(5, 7, 1)) == (5, 7, 1)


@flowgen.step(retries=0)
def tr_branch(x: int) -> int:
    return x * 10


@flowgen.workflow
def tr_parallel():
    values = yield flowgen.all_of(tr_branch(1), tr_branch(2))
    return values


def test_step_branches_of_all_of_are_spans_of_the_callers_trace(spans: InMemorySpanExporter) -> None:
    with flowgen.Engine("memory://", tracing=True) as engine:
        with trace.get_tracer("test").start_as_current_span("fan out") as caller:
            run = engine.start(tr_parallel, run_id="traced-branches")
        assert run.result(timeout=10) == [10, 20]
        got = finished(spans, 4)
    branches = [span for span in got if span.name == "step tr_branch"]
    assert sorted(span.attributes["flowgen.position"] for span in branches) == ["0/0", "0/1"]
    run_span = next(span for span in got if span.name == "run tr_parallel")
    assert {span.context.trace_id for span in got} == {caller.get_span_context().trace_id}
    assert all(span.parent.span_id == run_span.context.span_id for span in branches)
    assert len({span.context.span_id for span in got}) == len(got)


def test_without_a_tracer_provider_tracing_builds_no_facts() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # nothing configured
    with flowgen.Engine("memory://", tracing=True) as engine:
        assert engine.observers.items  # the tracing observer is there...
        assert not engine.observers  # ...and wants nothing: the runtime builds no fact


@flowgen.workflow
def tr_looping(rounds: int):
    yield tr_fine(rounds)
    if rounds:
        yield flowgen.continue_as_new(rounds - 1)
    return "done"


def test_each_generation_of_a_run_that_continues_as_new_has_its_run_span(spans: InMemorySpanExporter) -> None:
    with flowgen.Engine("memory://", tracing=True) as engine:
        run = engine.start(tr_looping, 1, run_id="looping")
        assert run.result(timeout=10) == "done"
        got = finished(spans, 4)
    run_spans = {span.context.span_id: span for span in got if span.name == "run tr_looping"}
    assert set(run_spans) == {ids.run_span_id("looping", 0), ids.run_span_id("looping", 1)}
    assert run_spans[ids.run_span_id("looping", 0)].attributes["flowgen.status"] == "continued_as_new"
    steps = [span for span in got if span.name == "step tr_fine"]
    assert len(steps) == 2
    assert all(span.parent.span_id in run_spans for span in steps)  # no step without its run span


FAIL_ONCE: list[int] = []


@flowgen.step(retries=0)
def tr_fails_first_time() -> str:
    FAIL_ONCE.append(1)
    if len(FAIL_ONCE) == 1:
        raise LookupError("not yet")
    return "ok"


@flowgen.workflow
def tr_retried():
    yield tr_fine(1)
    return (yield tr_fails_first_time())


def test_a_retried_run_ends_with_a_run_span_of_its_own_in_the_same_trace(spans: InMemorySpanExporter) -> None:
    FAIL_ONCE.clear()
    with flowgen.Engine("memory://", tracing=True) as engine:
        with trace.get_tracer("test").start_as_current_span("order") as caller:
            run = engine.start(tr_retried, run_id="retried")
        with pytest.raises(flowgen.WorkflowFailedError):
            run.result(timeout=10)
        engine.retry("retried")
        assert run.result(timeout=10) == "ok"
        got = finished(spans, 6)
    run_spans = {span.attributes["flowgen.status"]: span for span in got if span.name == "run tr_retried"}
    assert sorted(run_spans) == ["completed", "failed"]
    assert len({span.context.span_id for span in got}) == len(got)  # the second end is not the first
    assert run_spans["failed"].context.span_id == ids.run_span_id("retried", 0)
    assert run_spans["completed"].context.span_id == ids.run_span_id("retried", 0, 1)
    assert {span.context.trace_id for span in got} == {caller.get_span_context().trace_id}
    attempts = {
        span.attributes["flowgen.outcome"]: span for span in got if span.name == "step tr_fails_first_time"
    }
    assert attempts["failed"].parent.span_id == run_spans["failed"].context.span_id
    assert attempts["succeeded"].parent.span_id == run_spans["completed"].context.span_id
