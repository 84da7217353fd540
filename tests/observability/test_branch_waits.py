"""Waits inside ``all_of``/``any_of`` have spans (and facts) of their own, like waits on their own;
child runs are in their parent's trace.

The run below advances several times while its ``all_of`` is open (the child finishes, the
sleep's timer fires, the event arrives), and each advance evaluates every branch again; only the
advance whose commit journals the ``all_of`` reports its waits, so each has exactly one span,
whose id is derived from the journal (run, generation, position, when the entry opened, branch).
"""

from __future__ import annotations

import contextlib

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import flowgen
import flowgen.metrics
from flowgen.observability import ids
from tests.conftest import wait_until
from tests.observability.test_counters import sample
from tests.observability.test_tracing import finished


@flowgen.step(retries=0)
def bw_value(x: int) -> int:
    return x + 1


@flowgen.workflow
def bw_child(x: int):
    return (yield bw_value(x))


@flowgen.workflow
def bw_flow():
    _napped, payload, got = yield flowgen.all_of(
        flowgen.sleep(0.05), flowgen.wait_for_event("go"), flowgen.child(bw_child, 1)
    )
    with contextlib.suppress(flowgen.EventTimeoutError):  # raised into the workflow at the yield
        yield flowgen.any_of(flowgen.wait_for_event("never", timeout=0.05))
    yield flowgen.start_child(bw_child, 2)  # not a wait: no span
    alone = yield flowgen.child(bw_child, 3)  # a wait of its own
    return [payload, got, alone]


def test_each_wait_inside_all_of_and_any_of_has_one_span_with_a_journal_derived_id(
    spans: InMemorySpanExporter,
) -> None:
    delivered = sample("flowgen_events_delivered_total", workflow="bw_flow")
    with flowgen.Engine("memory://", tracing=True) as engine:
        flowgen.metrics.instrument(engine, state=False)
        with trace.get_tracer("test").start_as_current_span("branch waits") as caller:
            run = engine.start(bw_flow, run_id="branch-waits")
        wait_until(lambda: run.status().status == "waiting", 20, "the all_of to wait")
        run.send_event("go", "payload")
        assert run.result(timeout=20) == ["payload", 2, 4]
        got = finished(spans, 13)
        journal = run.journal()
    assert {span.context.trace_id for span in got} == {caller.get_span_context().trace_id}
    children = [span for span in got if span.name == "run bw_child"]
    assert len(children) == 3
    parent_span_id = ids.run_span_id("branch-waits", 0)
    assert all(span.parent.span_id == parent_span_id for span in children)  # in the parent's trace
    got = [span for span in got if span.attributes.get("flowgen.run_id") in ("branch-waits", None)]
    waits = sorted(
        (span for span in got if span.attributes.get("flowgen.kind") in ("sleep", "event", "child")),
        key=lambda span: str(span.attributes["flowgen.position"]),
    )
    assert [(span.name, span.attributes["flowgen.position"]) for span in waits] == [
        ("sleep sleep", "0/0"),
        ("wait go", "0/1"),
        ("child bw_child", "0/2"),
        ("wait never", "1/0"),
        ("child bw_child", 3),
    ]
    run_span = next(span for span in got if span.name == "run bw_flow")
    for span, (position, path) in zip(waits, [(0, "0"), (0, "1"), (0, "2"), (1, "0"), (3, "")], strict=True):
        assert span.parent.span_id == run_span.context.span_id
        opened = journal[position]["started"]
        assert span.context.span_id == ids.wait_span_id("branch-waits", 0, position, opened, path)
    timed_out = waits[3]
    assert timed_out.status.status_code == StatusCode.ERROR
    assert "EventTimeoutError" in timed_out.events[0].attributes["exception.type"]
    assert len({span.context.span_id for span in got}) == len(got)  # no span twice
    assert sample("flowgen_events_delivered_total", workflow="bw_flow") == delivered + 1
