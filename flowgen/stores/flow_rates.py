"""Rate limits in the store: the window of starts, the line of waiters, and where a start goes.

Written once in Python for the memory and SQLite stores (called by
:func:`flowgen.stores.flow_logic.take_gates`); ``stores/lua/_flow.lua`` (``flow_take``) is the
same in Lua. Per rate limit ``name`` (``rate:<step>[|<key>]``):

* ``rate:<name>``: the **recorded start times** of granted attempts (one member per start);
* ``rwait:<name>``: parked attempts, each scored by when its token is expected;
* ``rnow`` (member ``name``): the latest recorded start, so the window's clock only moves forward.

**The guarantee, and its window.** Any ``count + 1`` recorded starts of a limit are at least
``per * RATE_MARGIN`` apart: at most ``count`` recorded starts fall in any window of ``per *
RATE_MARGIN`` (the store's clock, that is the workers' clocks as they reach the store, never
moving back). A newcomer's start is recorded when it is granted; a waiter's at the earliest
admissible time after its token's, at most ``RATE_LATENESS * per`` before the moment it is
granted: a waiter woken a little after its token was due is recorded at its token's time, so
wake-up latency does not add up from one window to the next (it used to: each token's next
start was one period after its last *actual* start, and the rate fell to ``count / (per +
latency)``). A step body starts after its grant, so as measured by the bodies themselves, at
most ``count`` start in any ``per`` as long as each body starts within ``(RATE_MARGIN - 1 -
RATE_LATENESS) * per`` of its grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .flow_logic import FlowTx

RATE_MARGIN = 1.02
"""Recorded starts of ``count + 1`` attempts span at least ``per * RATE_MARGIN``."""

RATE_LATENESS = 0.01
"""How far (* ``per``) before its grant a start may be recorded (a waiter that came late)."""


def window_now(tx: FlowTx, name: str, now: float) -> float:
    """``now`` for the rate window ``name``, never earlier than the latest start it recorded.

    Workers read their clock before their request reaches the store, so requests can arrive
    out of clock order; a window that only ever moves forward keeps the guarantee true of the
    starts in the order the store granted them.
    """
    latest = tx.zscore("rnow", name)
    return now if latest is None else max(now, latest)


def wait(tx: FlowTx, member: str, name: str, count: int, period: float, now: float) -> float | None:
    """When the attempt ``member`` may start under the rate limit ``name`` (``None``: now).

    The window holds the recorded starts of the last ``per * RATE_MARGIN`` (and, for
    :func:`start`, the few older ones a late start may still be placed after). Parked attempts
    wait in ``rwait:<name>``, each scored by when its token is expected (the k-th waiter's is
    the k-th token the window frees: ``count`` tokens per period, the free ones now and each
    used one a period after its start), so they wake one window's worth at a time. An attempt
    may start when the window and the waiters due before it leave a token: a newcomer is behind
    every due waiter, a waiter woken too early behind the waiters due by now; a waiter whose
    token time has come takes any free token, whether the waiters ahead of it came back or not
    (one that is late finds no free token and is given the next one, still first in line: a late
    waiter never holds up the ones behind it, who would otherwise wake again and again for a
    token it keeps). A waiter that never came back (its run ended) is forgotten after two periods.
    """
    now = window_now(tx, name, now)
    window, waiters = f"rate:{name}", f"rwait:{name}"
    span = period * RATE_MARGIN
    tx.zprune(window, now - span - period * RATE_LATENESS)
    tx.zprune(waiters, now - 2 * span)
    mine = tx.zscore(waiters, member)
    # the waiters due before this attempt: all due ones for a newcomer or a waiter woken too
    # early, none for a waiter whose token time has come
    due = 0 if mine is not None and mine <= now else tx.zcount(waiters, now)
    old = tx.zcount(window, now - span)  # kept for start(), out of the window
    kept = tx.zcard(window)
    used = kept - old
    if used + due < count and (kept < count or tx.zhead(window, kept - count + 1)[-1][1] + span <= now):
        # the second test is the guarantee itself, checked on what start() records after: the
        # count-th latest recorded start is a whole span before now (the first implies it, but
        # the guarantee does not rest on that arithmetic)
        return None
    # a newcomer is behind every waiter; a waiter that woke too early keeps its place in line
    ahead = tx.zcard(waiters) if mine is None else tx.zrank(waiters, member) or 0
    starts = [score for _, score in tx.zhead(window, old + count)][old:]
    tokens = [now] * (count - len(starts)) + [at + span for at in starts]
    cycle, index = divmod(ahead, count)
    at = max(tokens[index] + span * cycle, now + 0.001)
    tx.zadd(waiters, member, at)
    return at


def start(tx: FlowTx, member: str, name: str, count: int, period: float, now: float) -> float:
    """Where a granted start is recorded: ``now`` for a newcomer; for a waiter (told a token
    time), the earliest time that keeps ``count + 1`` recorded starts ``per * RATE_MARGIN``
    apart, not before its token time, the latest recorded start, or ``RATE_LATENESS * per``
    before ``now`` (and never after ``now``)."""
    now = window_now(tx, name, now)
    token = tx.zscore(f"rwait:{name}", member)
    if token is None:
        return now
    window = f"rate:{name}"
    at = max(token, now - period * RATE_LATENESS)
    latest = tx.zscore("rnow", name)
    if latest is not None:
        at = max(at, latest)
    kept = tx.zcard(window)
    if kept >= count:
        at = max(at, tx.zhead(window, kept)[kept - count][1] + period * RATE_MARGIN)
    return min(at, now)
