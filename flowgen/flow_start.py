"""The flow of a run being started: its limits' gates and keys, start time and deadline.

:func:`run_flow` turns a workflow's declaration (``@workflow(concurrency=..., timeout=...)``) and the options of ``engine.start`` into the flow document the store keeps
(:func:`flowgen.stores.flow_logic.flow_document`), checking every value first: a key function
that raises or returns a non-string, a bad ``start_at`` or timeout are errors
here, before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .decorators import Step, Workflow, registry
from .durations import Duration
from .limits import TIMEOUT_GRACE, check_key, check_priority, key_of, run_timeout, start_time
from .stores.base import NewRun
from .stores.flow_logic import dumps, flow_document

FLOW_OPTIONS = ("concurrency_key", "start_at", "delay", "timeout", "priority")
"""The keyword arguments of ``engine.start`` that are flow control, not the workflow's."""


def run_flow(
    workflow: Workflow | None,
    name: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    now: float,
    *,
    concurrency_key: str | None = None,
    start_at: Any = None,
    delay: Any = None,
    timeout: Duration | None = None,
    priority: int | None = None,
) -> str | None:
    """The flow document (JSON) of a run of ``name``, or ``None`` when it has no flow control.

    ``workflow`` is the declaration when this process knows it (else only the start options
    apply). ``concurrency_key`` replaces the key function of the workflow's keyed limits; limits
    without a key are shared by all keys and serve them round-robin, by the run's key.
    """
    if concurrency_key is not None:
        check_key(concurrency_key, "concurrency_key")
    limits = workflow.concurrency if workflow is not None else ()
    target: Any = workflow.fn if workflow is not None else None
    what = f"the concurrency limit of workflow {name!r}"
    keys = [
        concurrency_key or key_of(limit.key, target, args, kwargs, what) if limit.key is not None else ""
        for limit in limits
    ]
    fairness = concurrency_key or next((key for key in keys if key), "")
    gates: list[tuple[str, int, str]] = []
    for index, (limit, key) in enumerate(zip(limits, keys, strict=True)):
        gate = f"run:{name}" + (f"#{index}" if index else "")
        gates.append((f"{gate}|{key}", limit.max, "") if key else (gate, limit.max, fairness))
    if workflow is not None and timeout is None:
        timeout = workflow.timeout
    if workflow is not None and priority is None:
        priority = workflow.priority
    document = flow_document(
        gates,
        start_at=start_time(start_at, delay, now),
        timeout=run_timeout(timeout, "timeout"),
        created=now,
        priority=check_priority(0 if priority is None else priority),
    )
    return None if document is None else dumps(document)


def delayed(new: NewRun) -> bool:
    """The run starts later (``start_at``/``delay``): its timer, not a message now, starts it."""
    return bool(new.flow) and "start_at" in json.loads(new.flow or "{}")


def step_gates(step: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[list[Any]]:
    """The gates an attempt of ``step`` with these arguments passes (``[]``: none), for
    :meth:`~flowgen.stores.base.Store.take_step`."""
    gates: list[list[Any]] = []
    for index, limit in enumerate(step.concurrency):
        suffix = "" if index == 0 else f"#{index}"
        key = (
            ""
            if limit.key is None
            else "|" + key_of(limit.key, step.fn, args, kwargs, f"the limit of step {step.name!r}")
        )
        gates.append(["limit", f"step:{step.name}{suffix}{key}", limit.max, 0])
    rate = step.rate_limit
    if rate is not None:
        key = (
            ""
            if rate.key is None
            else key_of(rate.key, step.fn, args, kwargs, f"the rate limit of step {step.name!r}")
        )
        gates.append(["rate", f"rate:{step.name}" + (f"|{key}" if key else ""), rate.count, rate.per])
        if key:
            gates.append(["block", key, 0, 0])
    return gates


def final_deadline(flow: dict[str, Any] | None) -> float | None:
    """When a run that was told ``RunTimeoutError`` is failed without more cleanup (``None``: not told)."""
    if not flow or "timed_out" not in flow:
        return None
    return float(flow["timed_out"]) + min(TIMEOUT_GRACE, float(flow["timeout"]))


def declared_flow(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], now: float) -> str | None:
    """The flow of a child run of ``name``: what its declaration (in the process registry) says."""
    return run_flow(registry.workflows.get(name), name, args, kwargs, now)
