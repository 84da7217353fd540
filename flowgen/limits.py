"""Flow control as users declare it: ``Limit``, ``RateLimit``, ``RateLimited``, ``RunTimeoutError``.

A **limit** caps runs in progress (``@workflow(concurrency=...)``) or step attempts executing
(``@step(concurrency=...)``), optionally per **key** (a function of the call's arguments). A
**rate limit** caps how many attempts of a step *start* per period, per key. Both are checked
by the store in the same atomic operation that holds the lease (see
:mod:`flowgen.stores.flow_logic`); this module only describes them and checks what users give.

Every check here runs at declaration or at start, before anything is stored, and names the
bad value. This module imports neither ``redis`` nor ``dramatiq``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .durations import Duration, parse_duration
from .errors import FlowgenError

KeyFunction = Callable[..., Any]
"""A function of the call's arguments (``*args, **kwargs``) returning the key as a ``str``."""

MAX_KEY_LENGTH = 200
"""The longest key flowgen accepts (keys name store records)."""


class RunTimeoutError(FlowgenError):
    """The run's deadline (``@workflow(timeout=...)`` or ``engine.start(..., timeout=...)``) passed.

    Raised into the workflow at its current ``yield`` so it can clean up; a run still going
    ``min(timeout, 60 s)`` later is failed without further cleanup.

    Fix: catch it around the ``yield`` where the run may wait too long and clean up (then return),
    or give the run a longer ``timeout=`` (docs/flow-control.md).
    """


class RateLimited(FlowgenError):
    """Raised by a step when the service behind it answers "too many requests".

    The attempt is tried again after ``retry_after`` without spending a retry and without an
    error in the journal; with a ``key``, every step rate-limited under that key waits too.

    Fix: nothing to fix: raise it from a step when the service behind it says "too many
    requests" (HTTP 429), with its ``Retry-After`` as ``retry_after``.
    """

    def __init__(self, message: str = "", *, retry_after: Duration = 1.0, key: str | None = None) -> None:
        self.retry_after = parse_duration(retry_after, what="RateLimited(retry_after=...)")
        self.key = None if key is None else check_key(key, "RateLimited(key=...)")
        super().__init__(message or f"rate limited: retry after {self.retry_after:g}s")


TIMEOUT_GRACE = 60.0
"""Seconds a run has to clean up once ``RunTimeoutError`` was raised into it (at most the timeout)."""


MIN_PRIORITY, MAX_PRIORITY = 0, 100
"""The range of ``priority=`` (0, the default, is every run's: the transport's FIFO order)."""

PRIORITY_SECONDS = 60.0
"""Priority as seconds ahead in line: a run of priority ``p`` is served as if it had arrived
``p`` minutes earlier than it did, so a lower-priority run that has waited longer than the
difference goes first (low priority work cannot starve)."""

RESUME_AHEAD = 30.0
"""A prioritized run resuming from a timer (a sleep, a retry back-off, an event timeout) is
another 30 seconds ahead: it goes before new starts of the same priority."""


def check_priority(value: object) -> int:
    """Return ``priority=`` if it is an int in the documented range."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise ValueError(
            f"priority={value!r}: a priority is an int from {MIN_PRIORITY} to {MAX_PRIORITY} (default 0)"
        )
    return value


def check_key(value: object, what: str) -> str:
    """Return ``value`` if it is an acceptable key (a non-empty ``str`` of at most 200 characters)."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty str, got {value!r}")
    if len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"{what} is {len(value)} characters long; keys are at most {MAX_KEY_LENGTH}")
    return value


def key_from_start(**_arguments: Any) -> str:
    """The key function of a limit whose key is given at start: ``engine.start(..., concurrency_key=...)``.

    ``@workflow(concurrency=Limit(1, key=flowgen.key_from_start))``: a run started without a
    ``concurrency_key`` is refused.
    """
    raise LookupError(
        "this limit takes its key from engine.start(..., concurrency_key=...), and none was given"
    )


def _check_max(_instance: Any, _attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Limit({value!r}): a concurrency limit is an int >= 1")


def _check_key_function(_instance: Any, _attribute: Any, value: KeyFunction | None) -> None:
    if value is not None and not callable(value):
        raise TypeError(
            f"key={value!r} must be a function of the call's arguments returning a str, "
            "e.g. key=lambda customer_id, **_: customer_id"
        )


@attrs.frozen
class Limit:
    """At most ``max`` at once: runs in progress of a workflow, or executing attempts of a step.

    With ``key``, the cap is per key: ``Limit(1, key=lambda customer_id, **_: customer_id)``
    allows one at a time per customer.
    """

    max: int = attrs.field(validator=_check_max)
    key: KeyFunction | None = attrs.field(default=None, validator=_check_key_function, eq=False)


def _check_count(_instance: Any, _attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RateLimit({value!r}, ...): the number of attempts per period is an int >= 1")


def _period(value: Duration) -> float:
    seconds = parse_duration(value, what="RateLimit period (per=...)")
    if seconds <= 0:
        raise ValueError(f"RateLimit(per={value!r}): the period must be longer than 0, e.g. per='1s'")
    return seconds


@attrs.frozen
class RateLimit:
    """At most ``count`` attempts of a step *start* per ``per`` (a sliding window), per key."""

    count: int = attrs.field(validator=_check_count)
    per: float = attrs.field(default=1.0, converter=_period)
    key: KeyFunction | None = attrs.field(default=None, validator=_check_key_function, eq=False)


def as_limits(value: Limit | Sequence[Limit] | None, what: str) -> tuple[Limit, ...]:
    """Return ``concurrency=`` as a tuple of limits (checked)."""
    if value is None:
        return ()
    limits = (
        (value,) if isinstance(value, Limit) else tuple(value) if isinstance(value, (list, tuple)) else None
    )
    if limits is None or not all(isinstance(limit, Limit) for limit in limits):
        raise TypeError(f"{what}: concurrency must be a flowgen.Limit or a list of them, got {value!r}")
    return limits


def as_rate_limit(value: RateLimit | None, what: str) -> RateLimit | None:
    if value is not None and not isinstance(value, RateLimit):
        raise TypeError(f"{what}: rate_limit must be a flowgen.RateLimit, got {value!r}")
    return value


def named_arguments(
    target: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name of ``target`` (the workflow or step function), so
    a key function reads them by name: ``key=lambda customer_id, **_: customer_id``."""
    try:
        bound = inspect.signature(target).bind(*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"the arguments do not match {getattr(target, '__qualname__', target)!r}: {error}"
        ) from error
    named = dict(bound.arguments)
    for name, parameter in bound.signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in named:
            named.update(named.pop(name))
    return named


def key_of(
    function: KeyFunction,
    target: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    what: str,
) -> str:
    """Call a key function with the call's arguments, by name, and check it returned a usable key."""
    named = named_arguments(target, args, kwargs)
    try:
        key = function(**named)
    except Exception as error:
        raise ValueError(f"the key function of {what} raised {type(error).__name__}: {error}") from error
    return check_key(key, f"the key returned by the key function of {what} ({key!r})")


def start_time(start_at: object, delay: object, now: float) -> float | None:
    """When a run starts (``None``: now), from ``start_at=`` (an aware datetime) or ``delay=``."""
    if start_at is not None and delay is not None:
        raise ValueError("give start_at= or delay=, not both")
    if delay is not None:
        seconds = parse_duration(delay, what="delay")
        return now + seconds if seconds > 0 else None
    if start_at is None:
        return None
    if not isinstance(start_at, datetime):
        raise TypeError(f"start_at={start_at!r} must be a datetime (timezone-aware), e.g. datetime.now(UTC)")
    if start_at.tzinfo is None:
        raise ValueError(f"start_at={start_at!r} has no timezone; give an aware datetime")
    at = start_at.timestamp()
    return at if at > now else None  # in the past: start now


def run_timeout(value: Duration | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value, what=what)
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError(f"{what}={value!r}: a run timeout must be longer than 0")
    return seconds
