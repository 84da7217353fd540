"""Workflows of the fault suite (tests/faults), run by real ``flowgen worker`` processes.

Their steps live in :mod:`tests.apps.faults_common` and record every execution in the ledger.
Each workflow's result is a plain function of its input (``expected_*`` below), so a test can
check every run's result whatever crashed along the way.
"""

from __future__ import annotations

import os
from typing import Any

import flowgen
from tests.apps.faults_common import (
    finish,
    hold,
    part,
    pay,
    poison,
    prepare,
    record,
    slow,
    stall,
    step_a,
    step_b,
)


@flowgen.workflow(name="faults.effect")
def effect(n: int, seconds: float):
    """A quick step, a step with an external effect and a wait, a quick step."""
    a = yield prepare(n)
    paid = yield pay(a, seconds)
    return (yield finish(paid["n"]))


def expected_effect(n: int) -> int:
    return (n + 2) * 10


@flowgen.workflow(name="faults.held")
def held(n: int, seconds: float):
    """Like ``effect``; its slow step returns the moment its wait is over (see ``hold``)."""
    a = yield prepare(n)
    got = yield hold(a, seconds)
    return (yield finish(got["n"]))


@flowgen.workflow(name="faults.stalled")
def stalled(n: int, seconds: float):
    """A quick step, a step that waits ``seconds`` in its first attempt only, a quick step."""
    a = yield prepare(n)
    b = yield stall(a, seconds)
    return (yield finish(b))


def expected_stalled(n: int) -> int:
    return (n + 2) * 10


@flowgen.workflow(name="faults.poisoned")
def poisoned(n: int):
    """A step that kills its worker every time: after crash_limit deaths the workflow hears of it."""
    a = yield prepare(n)
    try:
        yield poison(a)
    except flowgen.StepCrashedError as error:
        return {"gave_up": str(error).split(";")[0], "then": (yield finish(a))}
    return {"gave_up": None}


@flowgen.workflow(name="faults.steps")
def steps(n: int, count: int, seconds: float):
    """``count`` slow steps in a row."""
    for _ in range(count):
        n = (yield slow(n, seconds))["n"]
    return n


@flowgen.workflow(name="faults.child")
def child(x: int):
    return (yield part(x, 2))


@flowgen.workflow(name="faults.fanout")
def fanout(n: int):
    """An inline step, two parallel steps (their own messages), a child run, an inline step."""
    a = yield prepare(n)
    pair = yield flowgen.all_of(part(a, 0), part(a, 1))
    from_child = yield flowgen.child(child, a)
    return (yield finish(sum(pair) + from_child))


def expected_fanout(n: int) -> int:
    a = n + 1
    return (3 * a + 3) * 10


@flowgen.workflow(name="faults.mixed")
def mixed(n: int):
    """Every kind of wake-up: a start, a timer, parallel steps reporting, an event."""
    a = yield prepare(n)
    yield flowgen.sleep(0.2)
    pair = yield flowgen.all_of(part(a, 0), part(a, 1))
    bonus = yield flowgen.wait_for_event("go")
    return (yield finish(sum(pair) + bonus))


def expected_mixed(n: int, bonus: int) -> int:
    a = n + 1
    return (2 * a + 1 + bonus) * 10


@flowgen.workflow(name="faults.durable")
def durable(n: int):
    """Steps around a short sleep, for Redis restarts."""
    a = yield prepare(n)
    yield flowgen.sleep(0.3)
    b = yield slow(a, 0.1)
    return (yield finish(b["n"]))


def expected_durable(n: int) -> int:
    return (n + 2) * 10


@flowgen.workflow(name="faults.sleeper")
def sleeper(n: int, seconds: float):
    """Sleep, then journal the time the run woke up."""
    a = yield prepare(n)
    yield flowgen.sleep(seconds)
    woke = yield flowgen.now()
    done = yield finish(a)
    return {"n": done, "woke": woke.timestamp()}


@flowgen.workflow(name="faults.collect")
def collect(delay: float, count: int):
    """Take ``count`` events of type ``item``, after a step that takes ``delay`` seconds."""
    yield slow(0, delay)
    items = []
    for _ in range(count):
        items.append((yield flowgen.wait_for_event("item")))
    return items


@flowgen.workflow(name="faults.versioned_closed")
def versioned_closed(n: int):
    """Version 1: a, b, then wait; version 2 (faults_v2) runs c before b."""
    first = yield step_a(n)
    second = yield step_b(n)
    go = yield flowgen.wait_for_event("go")
    return [first, second, go]


@flowgen.workflow(name="faults.versioned_open")
def versioned_open(n: int):
    """Version 1: a, wait, then b; version 2 (faults_v2) runs b before the wait."""
    first = yield step_a(n)
    go = yield flowgen.wait_for_event("go")
    second = yield step_b(n)
    return [first, go, second]


class Opaque:
    """A value JSON cannot encode."""


@flowgen.step(name="faults.unencodable", retries=0)
def unencodable(n: int) -> Any:
    record("faults.unencodable")
    return Opaque()


@flowgen.step(name="faults.oversize", retries=0)
def oversize(n: int) -> str:
    record("faults.oversize")
    return "x" * (2 * 1024 * 1024)


@flowgen.workflow(name="faults.bad_result")
def bad_result(n: int, kind: str):
    a = yield prepare(n)
    bad = yield (unencodable(a) if kind == "unencodable" else oversize(a))
    return (yield finish(len(bad)))


@flowgen.workflow(name="faults.wait_then")
def wait_then(n: int):
    a = yield prepare(n)
    go = yield flowgen.wait_for_event("go")
    return (yield finish(a + go))


__all__ = [
    "bad_result",
    "child",
    "collect",
    "durable",
    "effect",
    "fanout",
    "five_slow",
    "held",
    "mixed",
    "poisoned",
    "sleeper",
    "steps",
    "versioned_closed",
    "versioned_open",
    "wait_then",
]


@flowgen.workflow(name="faults.five_slow")
def five_slow(n: int, seconds: float):
    """Five slow steps: a graceful stop during the first must not wait for the other four."""
    for _ in range(5):
        n = (yield slow(n, seconds))["n"]
    return n


@flowgen.step(name="faults.exit_zero", retries=0)
def exit_zero() -> None:
    """Leave the worker process at once with status 0, as a careless library might."""
    record("faults.exit_zero")
    os._exit(0)


@flowgen.workflow(name="faults.exits")
def exits():
    yield exit_zero()
