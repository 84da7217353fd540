"""A workflow the tracing test runs across worker processes, and the span file its workers write.

When ``FLOWGEN_TEST_SPANS`` names a file, importing this module installs an OpenTelemetry SDK
tracer provider whose exporter appends every finished span to that file as one JSON line (with
the pid that emitted it) before the step goes on, so spans survive a ``kill -9`` of the worker.

``traced()``: step ``one``, a 3-second sleep (the test moves the run to another worker
meanwhile), step ``two``, then step ``three`` (the test kills the worker that runs its first attempt, with
``FLOWGEN_FAULT=after_step_body:three``: the body returned, its result is not journaled).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import flowgen

SPANS_ENV = "FLOWGEN_TEST_SPANS"


def _install_exporter(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class FileExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with open(path, "a", encoding="utf-8") as file:
                for span in spans:
                    parent = span.parent
                    line = {
                        "name": span.name,
                        "trace_id": f"{span.context.trace_id:032x}",
                        "span_id": f"{span.context.span_id:016x}",
                        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
                        "attributes": dict(span.attributes or {}),
                        "status": span.status.status_code.name,
                        "pid": os.getpid(),
                    }
                    file.write(json.dumps(line) + "\n")
                file.flush()
                os.fsync(file.fileno())
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
    trace.set_tracer_provider(provider)


if os.environ.get(SPANS_ENV):
    _install_exporter(os.environ[SPANS_ENV])


@flowgen.step(retries=0)
def one() -> str:
    return "one"


@flowgen.step(retries=0)
def two() -> str:
    return "two"


@flowgen.step(retries=flowgen.Retry(limit=2, delay=0.01, jitter=0))
def three() -> str:
    return "three"


@flowgen.workflow
def traced():
    first = yield one()
    yield flowgen.sleep(3)
    second = yield two()
    third = yield three()
    return [first, second, third]
