"""The observability half of :class:`flowgen.Engine`: its observers, ``on``, ``watch``, ``watch_run``.

:class:`EngineObservability` is a base class of the engine (as
:class:`~flowgen.inspection.RunInspection` is the read-only half), so ``engine.py`` only calls
:meth:`EngineObservability._init_observability` and hands ``self.observers`` to the runtime.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..status import RunStatus
from .hooks import Callback, Hooks, process_hooks
from .observer import Observers, tracing_from_environment

if TYPE_CHECKING:
    from ..client import RunInfo
    from ..decorators import Workflow
    from .watch import LocalNotifier


class EngineObservability:
    """Observers of an engine's facts: tracing, metrics, hooks, and the watchers' notifier."""

    observers: Observers

    def _init_observability(self, tracing: bool | None) -> None:
        """Create the engine's observers: tracing as asked, and the hooks of :func:`flowgen.on`."""
        self.observers = Observers()
        self._hooks: Hooks | None = None
        self._notifier: LocalNotifier | None = None
        if tracing is None:
            tracing = tracing_from_environment()
        if tracing is None:
            tracing = importlib.util.find_spec("opentelemetry") is not None
        if tracing:
            try:
                from .tracing import Tracing, current_traceparent
            except ImportError as error:
                raise ConfigurationError(
                    f"Engine(tracing=True) needs OpenTelemetry ({error}); install dramatiq-flowgen[otel]"
                ) from None
            self.observers.add(Tracing())
            self.observers.trace_context = current_traceparent
        self.observers.add(process_hooks)  # wants facts only while flowgen.on() registered some

    def on(self, event: str, callback: Callback) -> Callback:
        """Call ``callback(fact)`` after each ``event`` this engine commits; returns ``callback``.

        Events: ``run.started``, ``run.completed``, ``run.failed``, ``run.cancelled``,
        ``run.finished``, ``step.succeeded``, ``step.failed``, ``step.attempt``, ``wait.ended``
        (``HOOK_EVENTS`` in ``flowgen/observability/hooks.py``). Called in the worker process (or the
        embedded engine's thread) that committed the transition, right after the commit: at
        most once per transition (docs/observability.md, "Hooks and alerting").

        Raises:
            ConfigurationError: an unknown event, or a callback that is not callable.
        """
        if self._hooks is None:
            self._hooks = Hooks()
        self._hooks.add(event, callback)
        self.observers.add(self._hooks)
        return callback

    def _local_notifier(self) -> LocalNotifier:
        """What nudges this process's watchers when its own threads change a run (``watch.py``)."""
        if self._notifier is None:
            from .watch import LocalNotifier

            self._notifier = LocalNotifier()
            self.observers.add(self._notifier)
        return self._notifier

    def watch(
        self,
        workflow: Workflow | str | None = None,
        *,
        status: Sequence[str] = (),
        timeout: float | None = None,
        interval: float = 1.0,
    ) -> Iterator[RunInfo]:
        """Iterate over the :class:`~flowgen.RunInfo` of each run whose state changes from now on.

        Filter by ``workflow`` and by ``status`` (the statuses to report); the iteration ends
        after ``timeout`` seconds (``None``: never). See docs/observability.md, "Watching runs".

        Raises:
            ConfigurationError: a status that is not one (the message lists them).
        """
        from ..inspection import workflow_name
        from .watch import watch_runs

        known = [value.value for value in RunStatus]
        for value in status:
            if value not in known:
                raise ConfigurationError(
                    f"unknown status {value!r} to watch for; use some of {', '.join(known)}"
                )
        name = workflow_name(workflow) if workflow is not None else None
        return watch_runs(self, name, tuple(status), timeout, interval)  # type: ignore[arg-type]

    def watch_run(
        self, run_id: str, *, timeout: float | None = None, interval: float = 1.0
    ) -> Iterator[RunInfo]:
        """Iterate over a run's :class:`~flowgen.RunInfo`: now, then after each state change until it finishes."""
        from .watch import watch_run

        return watch_run(self, run_id, timeout, interval)  # type: ignore[arg-type]
