"""The handle of a runner's run: the :class:`flowgen.Run` interface, answering at once instead of waiting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import TypeVar

from ..client import Run, RunInfo

if TYPE_CHECKING:
    from .runner import Runner


R = TypeVar("R", default=Any)


class RunnerRun(Run[R]):
    """A run of a :class:`Runner`: the :class:`flowgen.Run` interface, without waiting.

    Typed as :class:`flowgen.Run` is: ``runner.start(order, ...)`` gives a
    ``RunnerRun[<order's return type>]``.

    ``status()``, ``journal()`` and ``send_event()`` work as on an engine (sending an event also
    lets the runner process what it wakes). ``result()`` returns at once: the output of a
    completed run, the error of a failed one, and :class:`RunBlockedError` for a run that waits.
    """

    def __init__(self, runner: Runner, run_id: str) -> None:
        super().__init__(runner.engine, run_id)
        self.runner = runner

    def __repr__(self) -> str:
        return f"<flowgen.testing.RunnerRun {self.run_id}>"

    def result(self, timeout: float | None = None) -> R:
        """Return the output of the finished run.

        ``timeout`` is accepted for compatibility with :meth:`flowgen.Run.result` and ignored:
        under the runner a run that has not finished will not finish by waiting.

        Raises:
            WorkflowFailedError: the run failed; the workflow's error is the ``__cause__``.
            WorkflowCancelledError: the run was cancelled.
            RunBlockedError: the run has not finished; the message says what it waits for.
        """
        record = self._record()
        if record.is_finished:
            output: R = self.engine.output_of(record)
            return output
        raise self.runner.waits.blocked_error(record)

    def send_event(self, type: str, payload: Any = None, event_id: str | None = None) -> bool:
        """Deliver an event to this run and process what it wakes; see :meth:`Runner.send_event`."""
        return self.runner.send_event(self.run_id, type, payload, event_id=event_id)

    def pause(self) -> RunInfo:
        """Pause the run (see :meth:`flowgen.Run.pause`), then process what that changes."""
        self.engine.pause(self.run_id)
        self.runner.run_until_idle()
        return self.status()

    def resume(self) -> RunInfo:
        """Resume the paused run and let it go on until it is blocked again."""
        self.engine.resume(self.run_id)
        self.runner.run_until_idle()
        return self.status()

    def cancel(self, force: bool = False) -> RunInfo:
        """Cancel the run and its children (see :meth:`flowgen.Run.cancel`), running any cleanup."""
        self.engine.cancel(self.run_id, force=force)
        self.runner.run_until_idle()
        return self.status()

    def restart(self) -> RunnerRun:
        """Run the workflow again from the beginning (see :meth:`flowgen.Run.restart`)."""
        self.engine.restart(self.run_id)
        self.runner.run_until_idle()
        return self

    def retry(self) -> RunnerRun:
        """Resume the failed run from its failed step (see :meth:`flowgen.Run.retry`)."""
        self.engine.retry(self.run_id)
        self.runner.run_until_idle()
        return self

    def wait_for_status(self, *statuses: str, timeout: float = 30.0) -> RunInfo:
        """Return the status if the run is in one of ``statuses``; raise :class:`RunBlockedError` if not.

        Nothing changes by waiting under the runner, so this checks once.
        """
        info = self.status()
        if info.status in statuses:
            return info
        record = self._record()
        raise self.runner.waits.blocked_error(record, wanted=statuses)

    def waiting_on(self) -> str:
        """Describe what the run waits for (``""`` when it has finished)."""
        return self.runner.describe_wait(self.run_id)
