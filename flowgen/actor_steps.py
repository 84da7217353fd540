"""Existing Dramatiq actors as workflow steps: ``yield flowgen.actor_step(send_email, user_id)``.

An actor used as a step is a step whose function is the actor's own (``actor.fn``): the worker
advancing the run calls it directly, once per attempt, with flowgen's journaling, retries,
timeout and idempotency key (``flowgen.step_context().idempotency_key`` inside the actor's
code), and its result is journaled like any step's. The actor itself is not changed and can
still be sent as a message by other code.

Dramatiq's own options of the actor (``max_retries``, ``time_limit``, ...) do not apply to the
step: no actor message is sent, so no Dramatiq middleware runs around that call (the
``flowgen.advance`` message it runs in does go through the app's middleware). Give the step
flowgen's options instead: ``flowgen.actor_as_step(send_email, retries=5, timeout="30s")``;
``queue=send_email.queue_name`` runs each call as its own message on the actor's queue, so it
runs on the workers that serve that queue.

The step's stable name is ``actor:<actor name>`` unless ``name=`` says otherwise. It is
registered when first built, so a module that declares its workflows should build it at import
(``send_email_step = flowgen.actor_as_step(send_email)``) if it has a ``queue=``: a worker that
runs a step message looks the step up by name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from .commands import StepCall
from .decorators import Retry, Step, registry
from .durations import Duration

ACTOR_STEP_PREFIX = "actor:"

_lock = threading.Lock()
_steps: dict[int, tuple[Any, Step]] = {}
"""The step built for each actor (by ``id``, with the actor kept alive), so calls reuse it."""


def _check_actor(actor: Any) -> None:
    if not (callable(getattr(actor, "fn", None)) and isinstance(getattr(actor, "actor_name", None), str)):
        raise TypeError(
            f"expected a Dramatiq actor (a function decorated with @dramatiq.actor), got {actor!r}; "
            "a plain function becomes a step with @flowgen.step"
        )


def actor_as_step(
    actor: Any,
    *,
    name: str | None = None,
    retries: Retry | int | None = None,
    timeout: Duration | None = None,
    queue: str | None = None,
    no_retry_on: Iterable[type[BaseException]] = (),
    compensate: Step | None = None,
    crash_limit: int = 3,
) -> Step:
    """Declare the step that runs ``actor``'s function, with flowgen's step options.

    Calling the returned step builds a ``StepCall`` as calling any ``@flowgen.step`` does.
    A declaration under the default name (no ``name=``) is the one :func:`actor_step` uses;
    declaring it again replaces its options. A declaration with its own ``name=`` is a separate
    step, used only by calling it, so a ``queue=`` variant never changes what
    ``actor_step(actor)`` does elsewhere.

    Raises:
        TypeError: ``actor`` is not a Dramatiq actor (or its function is a generator function).
        InvalidNameError: the step name (``actor:<actor name>`` by default) is not acceptable;
            pass ``name=``.
    """
    _check_actor(actor)
    step = Step(
        actor.fn,
        name=name if name is not None else ACTOR_STEP_PREFIX + actor.actor_name,
        retries=retries,
        timeout=timeout,
        queue=queue,
        no_retry_on=no_retry_on,
        compensate=compensate,
        crash_limit=crash_limit,
    )
    registry.add_step(step)
    if name is None:
        with _lock:
            _steps[id(actor)] = (actor, step)
    return step


def actor_step(actor: Any, /, *args: Any, **kwargs: Any) -> StepCall:
    """The command "call ``actor``'s function with these arguments as a step": ``yield`` it.

    Uses the step :func:`actor_as_step` declared for ``actor`` under its default name
    (``actor:<actor name>``), or declares one with flowgen's default step options
    (:data:`flowgen.DEFAULT_RETRY`, no timeout, inline). Declarations with their own ``name=``
    are not used here.
    """
    _check_actor(actor)
    with _lock:
        known = _steps.get(id(actor))
    step = known[1] if known is not None and known[0] is actor else actor_as_step(actor)
    return step(*args, **kwargs)
