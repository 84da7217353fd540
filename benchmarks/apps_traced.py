"""The benchmark's workflows with an OpenTelemetry SDK installed, for the cost of tracing.

Spans go through the SDK's ``BatchSpanProcessor`` (what production uses) to an exporter that
drops them, so the figure is what flowgen and the SDK cost, not an exporter's network.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .apps import k_dispatched, k_steps, noop, noop_dispatched, sleeper, three_steps  # noqa: F401


class DroppingExporter(SpanExporter):
    """Accepts every span and keeps none."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


_provider = TracerProvider()
_provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
trace.set_tracer_provider(_provider)
