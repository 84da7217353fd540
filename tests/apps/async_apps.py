"""Workflows with ``async def`` steps, for the asyncio tests (Runner, embedded, Redis workers).

Steps note what they did in :data:`TRACE` (this process) and return what the tests check:
their step context as seen from inside the coroutine, the loop thread they ran on, how many
attempts were cancelled by their timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import flowgen

_everyone_arrived: asyncio.Event | None = None
"""The barrier of :func:`meet` (made on the step loop)."""

TRACE: dict[str, Any] = {}
"""What the steps of this process did: timeouts that cancelled them, attempts per step call,
compensations, and how many naps were awaiting at once (``awaiting``, its peak ``most``)."""


def reset() -> None:
    global _everyone_arrived
    _everyone_arrived = None
    TRACE.clear()
    TRACE.update({"cancelled": 0, "attempts": {}, "undone": [], "awaiting": 0, "most": 0, "arrived": 0})


reset()


def _count_attempt() -> int:
    context = flowgen.step_context()
    key = f"{context.run_id}:{context.position}"
    TRACE["attempts"][key] = TRACE["attempts"].get(key, 0) + 1
    return int(TRACE["attempts"][key])


@flowgen.step(retries=0)
async def nap(seconds: float) -> dict:
    """Await ``seconds``; return the context seen after the await, and where it ran."""
    TRACE["awaiting"] += 1  # only the step loop's thread touches these
    TRACE["most"] = max(TRACE["most"], TRACE["awaiting"])
    try:
        await asyncio.sleep(seconds)
    finally:
        TRACE["awaiting"] -= 1
    context = flowgen.step_context()
    return {
        "run_id": context.run_id,
        "position": context.position,
        "key": context.idempotency_key,
        "thread": threading.current_thread().name,
    }


@flowgen.workflow(name="aio.one_nap")
def one_nap(seconds: float):
    result = yield nap(seconds)
    return result


@flowgen.step(retries=0)
def sync_double(x: int) -> int:
    return x * 2


@flowgen.step(retries=0)
async def async_increment(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@flowgen.workflow(name="aio.mixed")
def mixed(x: int):
    a = yield sync_double(x)
    b = yield async_increment(a)
    c = yield sync_double(b)
    return c


@flowgen.workflow(name="aio.parallel_naps")
def parallel_naps(count: int, seconds: float):
    started = yield flowgen.now()
    results = yield flowgen.all_of(*[nap(seconds) for _ in range(count)])
    ended = yield flowgen.now()
    return {"positions": [r["position"] for r in results], "elapsed": ended - started}


@flowgen.step(name="aio.flaky_step", retries=flowgen.Retry(limit=2, delay=0, jitter=0))
async def flaky(fail_times: int) -> int:
    attempt = _count_attempt()
    await asyncio.sleep(0)
    if attempt <= fail_times:
        raise ConnectionError(f"attempt {attempt} failed")
    return attempt


@flowgen.workflow(name="aio.flaky")
def flaky_flow(fail_times: int):
    attempts = yield flaky(fail_times)
    return attempts


@flowgen.step(retries=flowgen.Retry(limit=1, delay=0, jitter=0), timeout=0.2)
async def hangs_first_time(seconds: float) -> int:
    attempt = _count_attempt()
    try:
        if attempt == 1:
            await asyncio.sleep(seconds)  # cancelled by the timeout
        return attempt
    except asyncio.CancelledError:
        TRACE["cancelled"] += 1
        raise


@flowgen.workflow(name="aio.timeout")
def timeout_flow(seconds: float):
    attempt = yield hangs_first_time(seconds)
    return attempt


@flowgen.step(retries=0, timeout=0.2)
async def always_hangs() -> None:
    await asyncio.sleep(60)


@flowgen.workflow(name="aio.times_out")
def times_out():
    try:
        yield always_hangs()
    except flowgen.StepTimeoutError as error:
        return f"timed out: {error}"
    return "finished"


@flowgen.step(retries=0)
async def undo_booking(booking: str) -> None:
    await asyncio.sleep(0)
    TRACE["undone"].append(booking)


@flowgen.step(retries=0, compensate=undo_booking)
async def book(booking: str) -> str:
    await asyncio.sleep(0)
    return booking


@flowgen.step(retries=0)
async def refuse(reason: str) -> None:
    raise ValueError(reason)


@flowgen.workflow(name="aio.saga")
def saga(booking: str):
    yield book(booking)
    yield refuse("no seats")


@flowgen.workflow(name="aio.wait_for_approval")
def wait_for_approval():
    approval = yield flowgen.wait_for_event("approved")
    return approval


@flowgen.step(retries=0)
async def noted_nap(seconds: float) -> dict:
    """A nap that notes its start in the Redis ledger of the tests (real worker processes)."""
    from tests.apps.core import record

    record("noted_nap")  # a sync Redis call on the loop: test code only
    seen = await nap.fn(seconds)
    seen["most"] = TRACE["most"]
    return seen


@flowgen.workflow(name="aio.noted_nap")
def noted_nap_flow(seconds: float):
    result = yield noted_nap(seconds)
    return result


@flowgen.workflow(name="aio.sleep_then_nap")
def sleep_then_nap(hours: float, seconds: float):
    yield flowgen.sleep(hours * 3600)
    result = yield nap(seconds)
    return result["position"]


@flowgen.step(retries=0, queue="aio-queue")
async def queued_nap(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return flowgen.step_context().position


@flowgen.workflow(name="aio.queued")
def queued(seconds: float):
    position = yield queued_nap(seconds)
    return position


@flowgen.step(retries=0, timeout=120)
async def meet(parties: int) -> int:
    """Wait until ``parties`` attempts of this step await together in this process (a barrier).

    It can only finish if that many coroutines really await at once: with steps bound to
    worker threads it would wait for ever (here: fail at its timeout).
    """
    global _everyone_arrived
    if _everyone_arrived is None:
        _everyone_arrived = asyncio.Event()  # made on the step loop
    TRACE["arrived"] += 1
    if TRACE["arrived"] >= parties:
        _everyone_arrived.set()
    await _everyone_arrived.wait()
    return int(TRACE["arrived"])


@flowgen.workflow(name="aio.meet")
def meeting(parties: int):
    arrived = yield meet(parties)
    return arrived


@flowgen.workflow(name="aio.three_increments")
def three_increments(x: int):
    for _ in range(3):
        x = yield async_increment(x)
    return x


@flowgen.workflow(name="aio.meet_all")
def meet_all(parties: int):
    arrived = yield flowgen.all_of(*[meet(parties) for _ in range(parties)])
    return arrived


@dataclasses.dataclass
class Receipt:
    order_id: str
    amount: int


@flowgen.step(retries=0)
async def make_receipt(order_id: str, fits: bool) -> Receipt:
    await asyncio.sleep(0)
    return {"order_id": order_id, "amount": 3} if fits else {"nope": 1}  # type: ignore[return-value]


@flowgen.workflow(name="aio.receipt")
def receipt(order_id: str, fits: bool):
    made = yield make_receipt(order_id, fits)
    return [type(made).__name__, made.amount]
