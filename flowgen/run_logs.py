"""What a worker logs about runs and steps (loggers ``flowgen.runs`` and ``flowgen.steps``).

Levels, chosen for a production log at thousands of steps a second:

* ERROR: a run failed (once per run, with the error).
* WARNING: a step attempt failed (with the error and when the next attempt is due, or that
  the step gives up) - what someone on call looks for.
* INFO: a run finished otherwise (completed or cancelled): one line per run, which a log
  pipeline can bear and which shows throughput.
* DEBUG: each step attempt that succeeded. These are as many as the steps, a multiple of the
  runs; at INFO they would drown the lines above.

Every record also carries the run context (:mod:`flowgen.log_context`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .status import RunStatus

if TYPE_CHECKING:
    from .context import StepContext
    from .stores.base import RunRecord

run_logger = logging.getLogger("flowgen.runs")
step_logger = logging.getLogger("flowgen.steps")


def log_finished(record: RunRecord, status: RunStatus, error: dict[str, Any] | None) -> None:
    """A run ended with ``status`` (and ``error``, for a failed or cancelled one)."""
    took = max(0.0, time.time() - record.created)
    if status == RunStatus.FAILED:
        detail = (
            ""
            if error is None
            else f": {str(error.get('type', '')).replace(':', '.')}: {error.get('message', '')}"
        )
        run_logger.error("run %s of %s failed after %.3fs%s", record.run_id, record.workflow, took, detail)
    else:
        run_logger.info("run %s of %s %s after %.3fs", record.run_id, record.workflow, status, took)


def log_attempt(context: StepContext, result: Any) -> None:
    """A step attempt ran in this process (its failure is logged by :func:`log_failed_attempt`)."""
    if result.ok and step_logger.isEnabledFor(logging.DEBUG):
        step_logger.debug(
            "step %s attempt %d succeeded",
            context.step,
            context.attempt,
            extra={"step": context.step, "attempt": context.attempt},
        )


def log_failed_attempt(
    step: str, attempt: int, record: dict[str, Any], retry_in: float | None, attempts_left: int
) -> None:
    """A step attempt failed: ``retry_in`` seconds until the next one, or ``None`` if it gives up."""
    error = f"{str(record.get('type', '')).replace(':', '.')}: {record.get('message', '')}"
    extra = {"step": step, "attempt": attempt}
    if retry_in is None:
        step_logger.warning(
            "step %s attempt %d failed: %s; no retry left, the step fails", step, attempt, error, extra=extra
        )
    else:
        step_logger.warning(
            "step %s attempt %d failed: %s; next attempt in %.3gs (at %s), %d retr%s left",
            step,
            attempt,
            error,
            retry_in,
            time.strftime("%H:%M:%S", time.localtime(time.time() + retry_in)),
            attempts_left,
            "y" if attempts_left == 1 else "ies",
            extra=extra,
        )
