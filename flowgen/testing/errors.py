"""The errors the test runner raises itself (workflow and step errors are the engine's own)."""

from __future__ import annotations

from ..errors import FlowgenError, RunStateError


class RunBlockedError(RunStateError):
    """``result()`` was asked of a runner's run that is blocked: it waits for time or an event.

    Under the runner nothing happens on its own: the test moves time with
    :meth:`Runner.advance` or delivers an event with :meth:`RunnerRun.send_event`.

    Attributes:
        run_id: the blocked run.
        status: its status (``waiting``, ``paused``, ...).
        waiting_on: a description of what it waits for.

    Fix: move virtual time with ``runner.advance(...)`` or deliver the event the run waits for,
    then ask for the result again.
    """

    def __init__(self, message: str, run_id: str, status: str, waiting_on: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.waiting_on = waiting_on


class RunnerError(FlowgenError):
    """flowgen itself failed while the runner advanced a run (not the workflow or a step).

    On a worker such an error is logged and the run is retried later; in a test it is raised so
    the failure is seen where it happens instead of as a run that never moves again.

    Fix: read its ``__cause__``: a bug in flowgen or in a custom store or transport, not in the
    workflow under test.
    """
