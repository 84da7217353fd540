"""One attempt of a step branch, worker side: what its branch record asks to run, and its report.

:meth:`~.runtime.Runtime.run_branch` takes the branch record a worker begins
(``Store.branch_begin``), turns it into a :class:`BranchAttempt` (:func:`prepare`), runs the
step, and writes :func:`report` into the record. A sync step runs in the worker's thread;
an ``async def`` step on the process's step loop (:mod:`flowgen.aio.runner`), which reports
through the same two functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from .. import slots
from ..context import StepContext
from ..decoding import decode_call, leaf_slot
from ..decorators import Registry, Step
from ..errors import FlowgenError, SerializationError
from ..serialization import Serializer
from ..steps import AttemptResult, is_retryable

Report = dict[str, Any]
"""What a branch record keeps of a finished attempt (``ok``, ``value``/``error``, times...)."""


@attrs.frozen
class BranchAttempt:
    """A step branch attempt ready to run: the step, its decoded arguments and its context."""

    run_id: str
    key: str
    attempt: int
    step: Step
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    context: StepContext
    slot: str
    started: float
    record: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The branch record it was begun from (its workflow, generation and trace name the
    attempt to observers, as for a sync attempt)."""


class AsyncSteps(Protocol):
    """Runs async step attempts without holding the calling thread (:mod:`flowgen.aio.runner`)."""

    def start(self, prepared: BranchAttempt) -> None:
        """Start a step branch attempt; its report is written when it ends, the branch's lease dropped."""

    def suspend(self, suspended: Any) -> None:
        """Start the inline attempt an advance is suspended at (a :class:`~.advance.Suspended`);
        the advance is resumed with its result when it ends."""


def prepare(
    serializer: Serializer,
    registry: Registry,
    run_id: str,
    key: str,
    attempt: int,
    record: dict[str, Any],
    now: float,
) -> BranchAttempt | Report:
    """The attempt a begun branch record describes, or the report that fails it without running.

    A step that is not registered here, or arguments that fail their seal or cannot be
    decoded, are reported at once (arguments that cannot be decoded fail the run, not the step).
    """
    generation = int(record.get("gen", 0))
    position, _, path = key.partition("/")
    slot = leaf_slot(generation, int(position), path)
    try:
        step = registry.step(record["step"])
        args, kwargs = decode_call(
            serializer, record["args"], run_id=run_id, slot=slots.branch_args(generation, key)
        )
    except FlowgenError as error:
        return {
            "ok": False,
            "error": serializer.error_record(error, run_id=run_id, slot=slot),
            "retryable": False,
            "fatal": isinstance(error, SerializationError),
            "started": now,
            "finished": now,
        }
    context = StepContext(run_id, record.get("workflow", ""), step.name, key, attempt, generation)
    return BranchAttempt(run_id, key, attempt, step, args, kwargs, context, slot, now, record)


def report(serializer: Serializer, prepared: BranchAttempt, result: AttemptResult, finished: float) -> Report:
    """The report of an attempt that ran: its encoded value, or its error record and whether to retry."""
    run_id, slot, step = prepared.run_id, prepared.slot, prepared.step
    if result.ok:
        try:
            text = serializer.encode(
                result.value, run_id=run_id, slot=slot, what=f"the result of step {step.name!r}"
            )
        except SerializationError as error:
            return {
                "ok": False,
                "error": serializer.error_record(error, run_id=run_id, slot=slot),
                "fatal": True,
                "started": prepared.started,
                "finished": finished,
            }
        return {"ok": True, "value": text, "started": prepared.started, "finished": finished}
    assert result.error is not None
    return {
        "ok": False,
        "error": serializer.error_record(result.error, result.traceback, run_id=run_id, slot=slot),
        "retryable": is_retryable(step, result.error),
        "timeout": result.timed_out,
        "started": prepared.started,
        "finished": finished,
    }
