"""Step limits, rate limits and run deadlines, as the advance loop applies them.

Before an inline step attempt runs, :func:`take` asks the store for the attempt's step slots
and rate-limit starts, fenced by the lease epoch (:meth:`~flowgen.stores.base.Store.take_step`).
Refused, the attempt does not start: it is taken back out of the open entry (no retry spent,
nothing journaled as an error) and the run parks on a durable timer until a token is free or
a slot's holder would have lost its lease; a released slot wakes the first parked run sooner.
No worker thread waits. After the attempt, :func:`release` gives the slots back; if the
worker dies first, the slots end with its lease.

A granted rate-limit start holds only if the body starts soon enough after the request
(:func:`~flowgen.stores.flow_rates.body_deadline`: that is what keeps the bodies, not only the
recorded starts, at most ``count`` in any period). :func:`too_late` checks, right before the
body is called: later than that, the starts are given back and the attempt is delayed as a
refused one.

A step raising :class:`~flowgen.limits.RateLimited` is handled the same way: the attempt is
taken back and the run parks for ``retry_after`` (with a key, every step rate-limited under
that key waits too).

Deadlines: :func:`at_deadline` tells the loop when the run's deadline has passed, so
:class:`~flowgen.limits.RunTimeoutError` is raised into the workflow at its current ``yield``;
:func:`not_started` fails a run whose deadline passed before it started (in line for a
concurrency limit, or a delayed start); :func:`park_timer` makes a parked run wake at its deadline.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ..commands import Command
from ..flow_start import step_gates
from ..limits import RunTimeoutError
from ..stores import flow_rates
from .actions import Action, FailRun, RunAttempt
from .entries import fail_command
from .state import AdvanceState
from .wakeups import FALLBACK, HORIZON


def gates_of(action: RunAttempt) -> list[list[Any]]:
    """The gates of the attempt (``[]`` for a step without limits: no store call at all)."""
    step = action.step
    if not step.concurrency and step.rate_limit is None:
        return []
    return step_gates(step, action.args, action.kwargs)


def take(state: AdvanceState, gates: Sequence[Sequence[Any]], now: float) -> float | None:
    """Take the attempt's slots and starts, asking at ``now`` (the engine's clock); ``None``
    when taken, else when to try again."""
    return state.rt.store.take_step(state.run_id, state.epoch, gates, now, now + state.rt.settings.lease_ttl)


def too_late(state: AdvanceState, gates: Sequence[Sequence[Any]], sent: float, now: float) -> bool:
    """Whether the body of an attempt whose gates were taken on a request sent at ``sent`` may
    not start at ``now`` (past the body deadline of one of its rate limits); if so, its starts
    are given back (so they cost no token) and the caller delays the attempt."""
    periods = [(gate[1], float(gate[3])) for gate in gates if gate[0] == "rate"]
    if all(now <= flow_rates.body_deadline(sent, period) for _, period in periods):
        return False
    for name, period in periods:
        state.rt.store.give_back_start(state.run_id, name, sent, period)
    return True


def release(state: AdvanceState, gates: Sequence[Sequence[Any]]) -> None:
    """Give back the attempt's step slots and enqueue the runs that were waiting for them."""
    names = [gate[1] for gate in gates if gate[0] == "limit"]
    if not names:
        return
    woken = state.rt.store.release_step(state.run_id, names, state.now, state.rt.settings.grace)
    if woken:
        state.rt.enqueue(woken)


def take_back(action: RunAttempt) -> None:
    """The attempt did not start (or does not count): remove it from the step's state."""
    if action.state.attempts and action.state.attempts[-1] is action.attempt:
        action.state.attempts.pop()
    action.state.next_at = action.backoff


def wake_precisely(state: AdvanceState, until: float) -> float:
    """Ask the process's :class:`~.wakeups.Wakeups` to enqueue the run at ``until`` (once this
    advance has committed its park); return the durable timer to park on: ``until``, or a
    little later when the precise wake-up was taken (see :mod:`.wakeups`)."""
    wakeups = state.rt.wakeups
    if wakeups is None or until - state.now > HORIZON:
        return until
    state.after_commit.append(functools.partial(wakeups.at, state.run_id, until))
    return until + FALLBACK


def deadline(state: AdvanceState) -> float | None:
    """The run's next deadline: its timeout, or once ``RunTimeoutError`` was raised, the final one."""
    if state.timed_out_until is not None:
        return state.timed_out_until
    flow = state.snapshot.flow
    return float(flow["deadline"]) if flow and "deadline" in flow else None


def not_started(state: AdvanceState) -> RunTimeoutError | None:
    """The error of a run whose deadline passed before it started (``None``: it did not).

    A run that waited in line for a concurrency limit, or whose delayed start came too late,
    is failed at its deadline without running any of its code: it has nothing to clean up.
    "Not started" is: first generation, nothing journaled, no open entry, and not taken over
    from a worker that died (whose advance may have run the first step already).
    """
    record, due = state.run_record, deadline(state)
    if due is None or state.now < due or state.timed_out_until is not None:
        return None
    if record.generation or record.journal_length or record.open or state.snapshot.interrupted:
        return None
    timeout = float((state.snapshot.flow or {}).get("timeout", 0.0))
    return RunTimeoutError(
        f"run {state.run_id!r} did not start within its timeout of {timeout:g}s (it waited in line "
        "for a concurrency limit, or its delayed start came too late); it was failed before it ran"
    )


def at_deadline(state: AdvanceState, position: int, command: Command) -> Action | None:
    """What the deadline asks before ``command`` is evaluated: raise ``RunTimeoutError`` into the
    workflow at this ``yield`` (once), or fail the run if it is still going at the final deadline."""
    due = deadline(state)
    if due is None or state.now < due:
        return None
    flow = state.snapshot.flow or {}
    if state.timed_out_until is not None:
        return FailRun(
            RunTimeoutError(
                f"run {state.run_id!r} passed its timeout of {float(flow['timeout']):g}s and did not "
                "end in the time it had to clean up; it was failed"
            )
        )
    state.timed_out_until = state.rt.store.timed_out(state.run_id, state.now)
    error = RunTimeoutError(
        f"run {state.run_id!r} did not finish within its timeout of {float(flow['timeout']):g}s; "
        f"raised at {command.describe()} (position {position})"
    )
    resolved = fail_command(state, position, command, error)
    resolved.drop_branches = tuple(key for key in state.branches if key.startswith(f"{position}/"))
    return resolved


def park_timer(state: AdvanceState, timer: float | None) -> float | None:
    """A parked run's timer: the earlier of what it waits for and its deadline."""
    due = deadline(state)
    if due is None:
        return timer
    return due if timer is None else min(timer, due)
