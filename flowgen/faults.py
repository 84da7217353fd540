"""Fault-injection points, for the fault suite: kill this process at a named point of the engine.

Production code calls :func:`fault_point` at the places where a crash is most interesting; it
does nothing unless the environment variable ``FLOWGEN_FAULT`` selects that point:

    FLOWGEN_FAULT="<point>[:<detail>][@<n>]"

(read when the process imports flowgen) kills the process with SIGKILL (no cleanup, like a
machine losing power) the ``n``-th time
(default: the first) the point is reached with that detail (any detail if omitted). Points:

* ``after_acquire`` (detail: the run id): a worker took a run's lease and has done nothing yet;
* ``after_step_body`` (detail: the step name): a step's body returned, its result is not
  journaled yet;
* ``after_commit`` (detail: ``"<run id>"``): a journal write was acknowledged, the messages it
  implies (parallel steps, woken runs) are not sent yet;
* ``after_branch_report`` (detail: the step name): a parallel step's outcome was recorded, the
  run is not enqueued yet.
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_hits: dict[str, int] = {}


def _parse(text: str) -> tuple[str, str, int] | None:
    if not text:
        return None
    text, _, count = text.partition("@")
    point, _, detail = text.partition(":")
    return point, detail, int(count or 1)


_SPEC = _parse(os.environ.get("FLOWGEN_FAULT", ""))
"""Read once, when the process imports flowgen: production code passes a fault point at every
step boundary, and a fault is always chosen for a whole (worker) process."""


def _fault_point(point: str, detail: str = "") -> None:
    """Kill this process here if ``FLOWGEN_FAULT`` asks for it (see the module docstring)."""
    spec = _SPEC
    if spec is None or spec[0] != point or (spec[1] and spec[1] != detail):
        return
    with _lock:
        _hits[point] = _hits.get(point, 0) + 1
        reached = _hits[point] == spec[2]
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)


def _no_fault(point: str, detail: str = "") -> None:
    """No fault was chosen for this process: a fault point is a call that does nothing."""


fault_point = _fault_point if _SPEC is not None else _no_fault
"""Kill this process here if ``FLOWGEN_FAULT`` asks for it (see the module docstring).

Chosen once at import, like the spec itself: production code passes a fault point at every step
boundary, and without a fault it should cost no more than an empty call.
"""
