"""OpenTelemetry spans of runs, step attempts, sleeps and event waits (the ``[otel]`` extra).

Imported only when ``opentelemetry`` is installed and tracing is on (``Engine(tracing=...)``,
by default on when the package is importable). The span model (docs/observability.md):

* ``run <workflow>``: from the run's creation to its end; its parent is the span that was
  current when :meth:`flowgen.Engine.start` was called (its ``traceparent`` is stored with the
  run), else it is the root of a trace whose id is derived from the run id;
* ``step <name>``: one per step attempt, child of the run span, with ``flowgen.attempt``,
  ``flowgen.outcome`` and, for a failed attempt, an ``exception`` event and an error status;
* ``sleep <name>`` / ``wait <event type>`` / ``child <workflow>``: one per sleep, event wait or
  wait for a child run (also those inside ``all_of``/``any_of``), emitted when it ends.

Spans are emitted after the commit that journals what they describe (see :mod:`.observer`),
with start and end times taken from the journal, and with ids from :mod:`.ids`: whichever
worker emits a span, it has the same id, and a replay emits nothing. Ids are chosen through the
tracer's id generator (the OpenTelemetry SDK's ``Tracer.id_generator``); with another tracer
implementation the ids are that tracer's own.
"""

from __future__ import annotations

import contextvars
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from . import ids
from .observer import SUCCEEDED, AttemptEnded, Observer, RunEnded, WaitEnded

INSTRUMENTATION = "flowgen"

_WAIT_NAMES = {"sleep": "sleep", "event": "wait", "child": "child"}
"""The first word of a wait span's name, by the kind of wait (then the sleep, event type or workflow)."""

_chosen: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "flowgen_span_ids", default=None
)
"""The (trace id, span id) the next span flowgen starts must have (read by :class:`_ChosenIds`)."""


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


class _ChosenIds:
    """An id generator that returns the ids flowgen chose, else asks the tracer's own generator."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    def generate_span_id(self) -> int:
        chosen = _chosen.get()
        return chosen[1] if chosen is not None else int(self.fallback.generate_span_id())

    def generate_trace_id(self) -> int:
        chosen = _chosen.get()
        return chosen[0] if chosen is not None else int(self.fallback.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        # A derived trace id is not random (W3C trace context level 2's "random" flag).
        if _chosen.get() is not None:
            return False
        check = getattr(self.fallback, "is_trace_id_random", None)
        return bool(check()) if check is not None else False


def current_traceparent() -> str | None:
    """The ``traceparent`` of the span current in this thread (``None`` outside a trace)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return ids.format_traceparent(span_context.trace_id, span_context.span_id, int(span_context.trace_flags))


class Tracing(Observer):
    """Emits the spans of the module docstring through the global tracer provider (or ``provider``)."""

    def __init__(self, provider: Any = None) -> None:
        self._explicit = provider
        self._provider: Any = None
        self._tracer: Any = None

    def enabled(self) -> bool:
        """False while OpenTelemetry has no tracer provider (every span would be a no-op)."""
        if self._explicit is not None:
            return True
        return not isinstance(
            trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        )

    def _get_tracer(self) -> Any:
        provider = self._explicit or trace.get_tracer_provider()
        if provider is not self._provider:
            tracer = provider.get_tracer(INSTRUMENTATION)
            if hasattr(tracer, "id_generator"):
                tracer.id_generator = _ChosenIds(tracer.id_generator)
            self._provider, self._tracer = provider, tracer
        return self._tracer

    @staticmethod
    def _trace_of(run_id: str, stored: str | None) -> tuple[int, SpanContext | None, int]:
        """The run's trace id, the caller's span (if any) and the trace flags its spans carry."""
        caller = ids.parse_traceparent(stored)
        if caller is None:
            return ids.run_trace_id(run_id), None, ids.SAMPLED
        trace_id, span_id, flags = caller
        return trace_id, SpanContext(trace_id, span_id, True, TraceFlags(flags)), flags

    def _emit(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent: SpanContext | None,
        start: float,
        end: float,
        attributes: dict[str, Any],
        error: tuple[str | None, str | None] | None = None,
    ) -> None:
        tracer = self._get_tracer()
        parent_context = (
            trace.set_span_in_context(NonRecordingSpan(parent))
            if parent is not None
            else otel_context.Context()
        )
        token = _chosen.set((trace_id, span_id))
        try:
            span = tracer.start_span(
                name,
                context=parent_context,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=_ns(start),
            )
        finally:
            _chosen.reset(token)
        if error is not None:
            error_type, message = error
            span.add_event(
                "exception", {"exception.type": error_type or "", "exception.message": message or ""}
            )
            span.set_status(Status(StatusCode.ERROR, f"{error_type}: {message}"))
        span.end(end_time=_ns(max(end, start)))

    def _run_parent(self, run_id: str, generation: int, stored: str | None) -> tuple[int, SpanContext]:
        trace_id, _caller, flags = self._trace_of(run_id, stored)
        span_id = ids.run_span_id(run_id, generation, ids.retries_of(stored))
        run_span = SpanContext(trace_id, span_id, True, TraceFlags(flags))
        return trace_id, run_span

    @staticmethod
    def _common(run_id: str, workflow: str, generation: int) -> dict[str, Any]:
        return {
            "messaging.system": "flowgen",
            "messaging.destination.name": workflow,
            "flowgen.run_id": run_id,
            "flowgen.workflow": workflow,
            "flowgen.generation": generation,
        }

    def attempt_ended(self, fact: AttemptEnded) -> None:
        trace_id, parent = self._run_parent(fact.run_id, fact.generation, fact.trace)
        attributes = self._common(fact.run_id, fact.workflow, fact.generation)
        attributes.update(
            {
                "flowgen.step": fact.step,
                "flowgen.position": fact.position,
                "flowgen.attempt": fact.attempt,
                "flowgen.outcome": fact.outcome,
            }
        )
        span_id = ids.attempt_span_id(fact.run_id, fact.generation, fact.position, fact.opened, fact.attempt)
        error = None if fact.outcome == SUCCEEDED else (fact.error_type, fact.error_message)
        self._emit(
            f"step {fact.step}", trace_id, span_id, parent, fact.started, fact.finished, attributes, error
        )

    def wait_ended(self, fact: WaitEnded) -> None:
        trace_id, parent = self._run_parent(fact.run_id, fact.generation, fact.trace)
        attributes = self._common(fact.run_id, fact.workflow, fact.generation)
        position: int | str = f"{fact.position}/{fact.branch}" if fact.branch else fact.position
        attributes.update({"flowgen.position": position, "flowgen.kind": fact.kind, "flowgen.wait": fact.name})
        if fact.due is not None:
            attributes["flowgen.due"] = fact.due
            if fact.kind == "sleep":
                attributes["flowgen.lateness_seconds"] = max(0.0, fact.ended - fact.due)
        span_id = ids.wait_span_id(fact.run_id, fact.generation, fact.position, fact.started, fact.branch)
        error = None
        if not fact.ok:
            error = (
                fact.error_type or "flowgen.errors.EventTimeoutError",
                fact.error_message or f"no event {fact.name!r} arrived in time",
            )
        self._emit(
            f"{_WAIT_NAMES.get(fact.kind, 'wait')} {fact.name}",
            trace_id,
            span_id,
            parent,
            fact.started,
            fact.ended,
            attributes,
            error,
        )

    def generation_ended(self, fact: RunEnded) -> None:
        """The run span of a generation that continued as new (its spans name it as their parent)."""
        self.run_ended(fact)

    def run_ended(self, fact: RunEnded) -> None:
        trace_id, caller, _flags = self._trace_of(fact.run_id, fact.trace)
        attributes = self._common(fact.run_id, fact.workflow, fact.generation)
        attributes.update({"flowgen.status": fact.status, "flowgen.journal_length": fact.journal_length})
        error = None if fact.status != "failed" else (fact.error_type, fact.error_message)
        span_id = ids.run_span_id(fact.run_id, fact.generation, ids.retries_of(fact.trace))
        self._emit(
            f"run {fact.workflow}", trace_id, span_id, caller, fact.created, fact.finished, attributes, error
        )
