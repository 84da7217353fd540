"""Lifecycle hooks: ``engine.on("run.failed", callback)``.

A hook is called in the process that committed the transition (the worker that advanced the
run, or the embedded engine's own threads), on that worker thread, right **after** the commit:
**at most once** per transition. A worker that dies between the commit and the call loses the
call (the transition itself is safe in the store); a replay never calls it again. For an
at-least-once reaction (paging somebody), let the hook enqueue durable work, or consume
``engine.watch()`` in a process of your own (docs/observability.md, "Hooks and alerting").

A callback receives the fact (:mod:`.observer`): ``RunStarted``, ``AttemptEnded``,
``WaitEnded``, ``RunEnded``. An exception in a callback is logged and does not affect the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError
from .observer import FAILED, SUCCEEDED, TIMED_OUT, AttemptEnded, Observer, RunEnded, RunStarted, WaitEnded

HOOK_EVENTS = (
    "run.started",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.finished",
    "step.succeeded",
    "step.failed",
    "step.attempt",
    "wait.ended",
)
"""The events ``engine.on`` accepts: ``run.finished`` is any of the three ends, ``step.attempt``
every attempt, ``step.failed`` an attempt that failed or timed out (it may be retried)."""

logger = logging.getLogger("flowgen.hooks")

Callback = Callable[[Any], object]


def check_hook_event(event: object) -> str:
    """Return ``event`` if ``engine.on`` knows it, else raise naming the known ones."""
    if not isinstance(event, str) or event not in HOOK_EVENTS:
        raise ConfigurationError(
            f"unknown hook event {event!r}; engine.on() takes one of {', '.join(HOOK_EVENTS)}"
        )
    return event


class Hooks(Observer):
    """The callbacks registered with ``engine.on``, by event."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callback]] = {}

    def enabled(self) -> bool:
        return any(self.callbacks.values())

    def add(self, event: str, callback: Callback) -> None:
        if not callable(callback):
            raise ConfigurationError(f"engine.on({event!r}, ...) needs a callable, got {callback!r}")
        self.callbacks.setdefault(check_hook_event(event), []).append(callback)

    def remove(self, event: str, callback: Callback) -> None:
        callbacks = self.callbacks.get(check_hook_event(event), [])
        if callback in callbacks:
            callbacks.remove(callback)

    def _call(self, event: str, fact: object) -> None:
        for callback in list(self.callbacks.get(event, ())):
            try:
                callback(fact)
            except Exception:
                logger.exception("the %s hook %r failed (the run is not affected)", event, callback)

    def run_started(self, fact: RunStarted) -> None:
        self._call("run.started", fact)

    def attempt_ended(self, fact: AttemptEnded) -> None:
        self._call("step.attempt", fact)
        if fact.outcome == SUCCEEDED:
            self._call("step.succeeded", fact)
        elif fact.outcome in (FAILED, TIMED_OUT):
            self._call("step.failed", fact)

    def wait_ended(self, fact: WaitEnded) -> None:
        self._call("wait.ended", fact)

    def run_ended(self, fact: RunEnded) -> None:
        self._call(f"run.{fact.status}", fact)
        self._call("run.finished", fact)


process_hooks = Hooks()
"""The hooks of every engine of this process (:func:`on`)."""


def on(event: str, callback: Callback) -> Callback:
    """Call ``callback(fact)`` after each ``event`` committed by any engine of this process.

    The way to give ``flowgen worker`` processes hooks: call it in a module the worker imports.
    Returns ``callback``.
    """
    process_hooks.add(event, callback)
    return callback
