"""Async step branches (``async def`` steps inside ``all_of``) are counted and traced as sync ones.

Their report is written by the step loop's continuation thread, which must name the workflow
(a metric label) and the run's trace, generation and entry (the span's parent and id), as the
branch actor does for a sync step branch.
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flowgen
import flowgen.metrics
from flowgen.observability import ids
from tests.observability.test_counters import sample
from tests.observability.test_tracing import finished


@flowgen.step(retries=0)
async def ab_async_branch(x: int) -> int:
    await asyncio.sleep(0)
    return x * 10


@flowgen.workflow
def ab_async_parallel():
    values = yield flowgen.all_of(ab_async_branch(1), ab_async_branch(2))
    return values


def test_async_step_branches_are_labelled_with_their_workflow_and_traced_in_the_callers_trace(
    spans: InMemorySpanExporter,
) -> None:
    labels = {"workflow": "ab_async_parallel", "step": "ab_async_branch", "outcome": "succeeded"}
    before = sample("flowgen_step_attempts_total", **labels)
    with flowgen.Engine("memory://", tracing=True) as engine:
        flowgen.metrics.instrument(engine, state=False)
        with trace.get_tracer("test").start_as_current_span("fan out async") as caller:
            run = engine.start(ab_async_parallel, run_id="async-branches")
        assert run.result(timeout=30) == [10, 20]
        got = finished(spans, 4)
    assert sample("flowgen_step_attempts_total", **labels) == before + 2
    branches = [span for span in got if span.name == "step ab_async_branch"]
    assert sorted(span.attributes["flowgen.position"] for span in branches) == ["0/0", "0/1"]
    assert {span.attributes["flowgen.workflow"] for span in branches} == {"ab_async_parallel"}
    run_span = next(span for span in got if span.name == "run ab_async_parallel")
    assert run_span.context.span_id == ids.run_span_id("async-branches", 0)
    assert {span.context.trace_id for span in got} == {caller.get_span_context().trace_id}
    assert all(span.parent.span_id == run_span.context.span_id for span in branches)
    assert len({span.context.span_id for span in got}) == len(got)
