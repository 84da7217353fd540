"""Trace and span ids derived from a run and its journal, so a replay never emits a new span.

A span is named by what it describes, never by when a worker happened to emit it: the run span
by ``(run id, generation, retries of the generation)``, a step attempt by ``(run id, generation, position, when its entry
opened, attempt)``, a wait by ``(run id, generation, position, when it began)`` (and its branch
path inside an ``all_of``/``any_of``); all of these are
journaled, so whichever worker emits the span, on whichever day, gives it the same id. A run
started outside any trace gets a trace id derived from its run id (a retried run stays in it).

Also the one parser of stored ``traceparent`` texts: the store is data, so a malformed one is
ignored (the run gets its derived trace), never trusted.
"""

from __future__ import annotations

import hashlib
import re

SAMPLED = 0x01

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _digest(size: int, *parts: object) -> int:
    text = "\x00".join(str(part) for part in parts).encode("utf-8", "surrogatepass")
    value = int.from_bytes(hashlib.blake2b(text, digest_size=size, person=b"flowgen-ids").digest(), "big")
    return value or 1  # zero is the invalid id in OpenTelemetry


def run_trace_id(run_id: str) -> int:
    """The 128-bit trace id of a run started outside any trace."""
    return _digest(16, "trace", run_id)


def run_span_id(run_id: str, generation: int, retries: int = 0) -> int:
    """The 64-bit id of the span of a run: one per generation, and per ``retry()`` of it."""
    if retries:
        return _digest(8, "run", run_id, generation, "retry", retries)
    return _digest(8, "run", run_id, generation)


def attempt_span_id(run_id: str, generation: int, position: str, opened: float, attempt: int) -> int:
    """The 64-bit id of the span of one step attempt."""
    return _digest(8, "attempt", run_id, generation, position, repr(opened), attempt)


def wait_span_id(run_id: str, generation: int, position: int, started: float, branch: str = "") -> int:
    """The 64-bit id of the span of a sleep, an event wait or a wait for a child run
    (``branch``: its path inside an ``all_of``/``any_of``)."""
    if branch:
        return _digest(8, "wait", run_id, generation, position, repr(started), branch)
    return _digest(8, "wait", run_id, generation, position, repr(started))


def format_traceparent(trace_id: int, span_id: int, flags: int) -> str:
    """A W3C ``traceparent`` header value."""
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


RETRIES = ";r="
"""How a run's stored trace counts the ``retry()`` calls of its generation: ``<traceparent>;r=<n>``.

A retried run keeps its generation (its journal goes on), so the count is what gives each of
its ends a run span of its own. The stores add it when they retry a run (``reset`` in
``stores/run_control.py`` and ``lua/reset.lua``, in the same format), and a restart (a new
generation) drops it."""


_RETRIED = re.compile(r"(.*?);r=(\d+)", re.DOTALL)


def _split(text: object) -> tuple[str, int]:
    """A stored trace's caller ``traceparent`` (maybe empty) and retry count (as reset.lua splits it)."""
    if not isinstance(text, str):
        return "", 0
    match = _RETRIED.fullmatch(text)
    return (match.group(1), int(match.group(2))) if match else (text, 0)


def retries_of(text: object) -> int:
    """How many times the run whose stored trace is ``text`` was retried in its generation."""
    return _split(text)[1]


def retried(text: str | None, restart: bool) -> str | None:
    """The stored trace of a run after ``retry()`` (count one more) or ``restart()`` (no count)."""
    caller, retries = _split(text)
    if restart:
        return caller or None
    return f"{caller}{RETRIES}{retries + 1}"


def parse_traceparent(text: object) -> tuple[int, int, int] | None:
    """``(trace id, span id, flags)`` of a valid ``traceparent`` (a stored trace may follow it
    with its retry count), else ``None``."""
    if not isinstance(text, str):
        return None
    match = _TRACEPARENT.fullmatch(_split(text)[0].strip())
    if match is None:
        return None
    trace_id, span_id = int(match.group(1), 16), int(match.group(2), 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(match.group(3), 16)


def child_traceparent(parent_id: str, generation: int, stored: object) -> str:
    """The ``traceparent`` a child run is created with: the parent's run span, in the parent's trace.

    ``stored`` is the parent's own stored ``traceparent`` (the caller of ``engine.start``), else
    the parent's trace is the one derived from its run id.
    """
    caller = parse_traceparent(stored)
    trace_id, flags = (caller[0], caller[2]) if caller is not None else (run_trace_id(parent_id), SAMPLED)
    return format_traceparent(trace_id, run_span_id(parent_id, generation, retries_of(stored)), flags)
