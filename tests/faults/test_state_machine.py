"""A Hypothesis state machine over the real runtime and the in-memory store.

The production :class:`~flowgen.runtime.Runtime` advances runs over a
:class:`~flowgen.stores.memory.MemoryStore` on a virtual clock. Its transport records messages
instead of delivering them, and Hypothesis picks what happens next: deliver any queued message
(in any order), deliver one twice, lose one, crash a worker in the middle of a step (the step
raises a ``BaseException``, as a process dying would stop it, and the dead process's generator
cache is gone), send events (some again with the same event id), move time, fire timers, run the
reconciler. After every rule: every journal is gap-free, no event was delivered twice, every
accepted event is either journaled or still in the inbox, in the order it was sent, and no step
body ran more often than once plus the crashes it suffered. When the rules stop, the runs are
driven to rest with only what a real deployment does (deliver messages, time passing, timers,
the reconciler, senders that eventually send): every run must complete with the right result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import flowgen
from flowgen.context import step_context
from flowgen.decorators import Registry, Step
from flowgen.services import Services
from flowgen.status import FINISHED
from flowgen.steps import call_step_function
from flowgen.stores.memory import MemoryStore
from flowgen.testing import RunnerClock
from flowgen.transports.inline import InlineTransport

pytestmark = [pytest.mark.faults]

registry = Registry()


@flowgen.step(name="sm.add", retries=0)
def add(x: int, y: int) -> int:
    return x + y


@flowgen.step(name="sm.flaky", retries=flowgen.Retry(limit=2, delay=2, jitter=0))
def flaky(x: int) -> int:
    """Fails its first attempt: the retry waits on a durable timer."""
    if step_context().attempt == 1:
        raise ConnectionError("first attempts fail")
    return x


@flowgen.workflow(name="sm.flow")
def flow(n: int):
    """An inline step, a sleep, an event, two parallel steps (one retried), another event."""
    a = yield add(n, 1)
    yield flowgen.sleep(5)
    first = yield flowgen.wait_for_event("ev")
    pair = yield flowgen.all_of(add(a, 10), flaky(a + 20))
    second = yield flowgen.wait_for_event("ev")
    return [a, first, pair, second]


registry.add_step(add)
registry.add_step(flaky)
registry.add_workflow(flow)

EVENTS_PER_RUN = 2
CRASH_LIMIT = 3  # the steps' default crash_limit
LEASE_TTL = 10.0
GRACE = 15.0


class Crash(BaseException):
    """The worker process dies in the middle of a step body."""


class RecordingTransport(InlineTransport):
    """A transport whose messages wait in a list until the state machine delivers them (in any order)."""

    def __init__(self) -> None:
        self.runtime: Any = None
        self.messages: list[tuple[Any, ...]] = []

    def bind(self, runtime: Any) -> None:
        self.runtime = runtime

    def enqueue(self, run_ids: Sequence[str]) -> None:
        self.messages.extend(("advance", run_id) for run_id in run_ids)

    def enqueue_branch(self, run_id: str, key: str, attempt: int, queue: str | None) -> None:
        self.messages.append(("branch", run_id, key, attempt))

    def deliver(self, message: tuple[Any, ...]) -> None:
        if message[0] == "advance":
            self.runtime.advance(message[1])
        else:
            self.runtime.run_branch(message[1], message[2], message[3])


class Interleavings(RuleBasedStateMachine):
    """See the module docstring."""

    @initialize(numbers=st.lists(st.integers(0, 50), min_size=1, max_size=3))
    def setup(self, numbers: list[int]) -> None:
        self.clock = RunnerClock(1_800_000_000.0)
        self.store = MemoryStore()
        self.transport = RecordingTransport()
        self.engine = flowgen.Engine(
            store=self.store,
            transport=self.transport,
            clock=self.clock,
            registry=registry,
            start_workers=False,
            lease_ttl=LEASE_TTL,
            grace=GRACE,
            url="memory://state-machine",
        )
        self.runtime = self.engine.runtime
        self.runtime.invoker = self.invoke
        self.services = Services(self.store, self.transport.enqueue, self.clock, grace=GRACE)
        self.runs: dict[str, int] = {}
        self.accepted: dict[str, list[str]] = {}
        self.executions: Counter[tuple[str, str, int]] = Counter()
        self.crashes: Counter[tuple[str, str]] = Counter()
        self.lease_deaths: Counter[str] = Counter()
        self.keys: dict[tuple[str, str], str] = {}
        self.key_problems: list[tuple[Any, ...]] = []
        self.crash_next = False
        self.next_event = 0
        self.doomed = 0
        for n in numbers:
            self.start(n)

    def invoke(self, step: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        context = step_context()
        where = (context.run_id, context.position)
        self.executions[(*where, context.attempt)] += 1
        # The idempotency key is the same for every attempt of a step and unique to it (checked
        # by an invariant: an assertion raised here would only fail the step).
        key = self.keys.setdefault(where, context.idempotency_key)
        if key != context.idempotency_key or list(self.keys.values()).count(key) != 1:
            self.key_problems.append((where, context.attempt, context.idempotency_key))
        if self.crash_next:
            self.crash_next = False
            self.crashes[where] += 1
            raise Crash()
        return call_step_function(step, args, kwargs)

    def deliver(self, message: tuple[Any, ...], crash: bool = False) -> None:
        self.crash_next = crash
        try:
            self.transport.deliver(message)
        except Crash:
            # The process died: whatever it kept in memory is gone with it.
            self.runtime.cache = type(self.runtime.cache)(self.runtime.cache.size)
        finally:
            self.crash_next = False

    # -- rules ------------------------------------------------------------------------------

    @rule(n=st.integers(0, 50))
    def start(self, n: int) -> None:
        if len(self.runs) >= 4:
            return
        run_id = f"run-{len(self.runs)}"
        self.engine.start(flow, n, run_id=run_id)
        self.runs[run_id] = n
        self.accepted[run_id] = []

    def _pick(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, len(self.transport.messages) - 1), label="message")

    @precondition(lambda self: self.transport.messages)
    @rule(data=st.data())
    def deliver_one(self, data: st.DataObject) -> None:
        self.deliver(self.transport.messages.pop(self._pick(data)))

    @precondition(lambda self: self.transport.messages)
    @rule(data=st.data())
    def deliver_one_and_crash_in_its_step(self, data: st.DataObject) -> None:
        self.deliver(self.transport.messages.pop(self._pick(data)), crash=True)

    @precondition(lambda self: self.transport.messages)
    @rule(data=st.data())
    def deliver_twice(self, data: st.DataObject) -> None:
        message = self.transport.messages[self._pick(data)]
        self.deliver(message)
        self.deliver(message)

    @precondition(lambda self: self.transport.messages)
    @rule(data=st.data())
    def lose_one(self, data: st.DataObject) -> None:
        self.transport.messages.pop(self._pick(data))

    @rule(data=st.data(), again=st.booleans())
    def send_event(self, data: st.DataObject, again: bool) -> None:
        run_id = data.draw(st.sampled_from(sorted(self.runs)))
        if again and self.accepted[run_id]:
            event_id = data.draw(st.sampled_from(self.accepted[run_id]))
        else:
            event_id = f"e{self.next_event}"
            self.next_event += 1
        self._send(run_id, event_id)

    def _send(self, run_id: str, event_id: str) -> None:
        try:
            delivered = self.engine.send_event(run_id, "ev", event_id, event_id=event_id)
        except flowgen.RunFinishedError:
            return
        assert delivered == (event_id not in self.accepted[run_id]), "a duplicate id was accepted"
        if delivered:
            self.accepted[run_id].append(event_id)

    @rule(data=st.data())
    def a_worker_dies_right_after_taking_a_lease(self, data: st.DataObject) -> None:
        """A worker took a run's lease (a message, maybe a stale copy, reached it) and was killed."""
        run_id = data.draw(st.sampled_from(sorted(self.runs)))
        record = self.store.get_run(run_id)
        if record is not None and record.status not in FINISHED:
            self.doomed += 1
            if self.store.acquire(run_id, f"doomed-{self.doomed}", LEASE_TTL, self.clock.now()) is not None:
                # The engine cannot tell this death from one during the first step of an advance
                # (that step records its start with its result): it charges the next step it runs.
                self.lease_deaths[run_id] += 1

    @rule()
    def another_process_takes_over(self) -> None:
        """The next messages go to a process that never saw these runs: no live generators."""
        self.runtime.cache = type(self.runtime.cache)(self.runtime.cache.size)

    @rule(seconds=st.sampled_from([0.5, 3.0, 6.0, 11.0, 16.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def fire_timers(self) -> None:
        self.services.fire_timers()

    @rule()
    def reconcile(self) -> None:
        self.services.reconcile()

    # -- invariants -------------------------------------------------------------------------

    def consumed(self, run_id: str) -> list[str]:
        return [entry.info["event_id"] for entry in self.store.read_journal(run_id) if entry.kind == "event"]

    @invariant()
    def journals_are_gap_free(self) -> None:
        for run_id in getattr(self, "runs", {}):
            entries = self.store.read_journal(run_id)
            assert [entry.position for entry in entries] == list(range(len(entries)))
            record = self.store.get_run(run_id)
            assert record is not None and record.journal_length == len(entries)

    @invariant()
    def events_are_delivered_once_in_order_and_never_lost(self) -> None:
        for run_id in getattr(self, "runs", {}):
            consumed = self.consumed(run_id)
            accepted = self.accepted[run_id]
            assert consumed == accepted[: len(consumed)], f"{run_id}: consumed {consumed}, sent {accepted}"
            record = self.store.get_run(run_id)
            assert record is not None
            if record.status not in FINISHED:
                buffered = [event.id for event in self.store.inbox(run_id).get("ev", [])]
                assert buffered == accepted[len(consumed) :], f"{run_id}: inbox {buffered}, sent {accepted}"

    @invariant()
    def idempotency_keys_are_stable_and_unique(self) -> None:
        assert not getattr(self, "key_problems", []), self.key_problems

    @invariant()
    def steps_run_once_unless_their_worker_crashed(self) -> None:
        for (run_id, position, attempt), count in getattr(self, "executions", Counter()).items():
            assert count == 1, f"attempt {attempt} of the step at {run_id}/{position} ran {count} times"
            retries = 1 if position.endswith("/1") else 0  # sm.flaky fails once by design
            charged = self.crashes[(run_id, position)] + self.lease_deaths[run_id]
            assert attempt <= 1 + retries + charged, (run_id, position, attempt)

    # -- coming to rest ---------------------------------------------------------------------

    def teardown(self) -> None:
        if not hasattr(self, "engine"):
            return
        for _ in range(100):
            for _ in range(1000):
                if not self.transport.messages:
                    break
                self.deliver(self.transport.messages.pop(0))
            unfinished = [r for r in self.runs if self.store.get_run(r).status not in FINISHED]  # type: ignore[union-attr]
            if not unfinished:
                break
            for run_id in unfinished:
                while len(self.accepted[run_id]) < EVENTS_PER_RUN:
                    self._send(run_id, f"e{self.next_event}")
                    self.next_event += 1
            self.clock.advance(GRACE + 1)
            self.services.fire_timers()
            self.services.reconcile()
        for run_id, n in self.runs.items():
            record = self.store.get_run(run_id)
            assert record is not None
            self.journals_are_gap_free()
            crashed_out = any(
                count >= CRASH_LIMIT for (run, _), count in self.crashes.items() if run == run_id
            )
            may_crash_out = any(
                count + self.lease_deaths[run_id] >= CRASH_LIMIT
                for (run, _), count in [*self.crashes.items(), ((run_id, ""), 0)]
                if run == run_id
            )
            if crashed_out or (may_crash_out and record.status == "failed"):
                # A step whose worker died crash_limit times fails the run instead of looping.
                assert record.status == "failed", (run_id, record.status)
                assert record.error is not None and record.error["type"] == "flowgen.errors:StepCrashedError"
                consumed = self.consumed(run_id)
                assert consumed == self.accepted[run_id][: len(consumed)]
                continue
            assert record.status == "completed", (run_id, record.status, record.error)
            first, second = self.accepted[run_id][:2]
            assert self.engine.output_of(record) == [n + 1, first, [n + 11, n + 21], second]
            assert self.consumed(run_id) == [first, second]
        indexes = (self.store.ready, self.store.timers, self.store.leases)
        assert not any(index.scores for index in indexes), "a finished run is still indexed"
        self.steps_run_once_unless_their_worker_crashed()
        event(f"runs: {len(self.runs)}")
        event(f"crashed steps: {min(sum(self.crashes.values()), 3)}")
        event(f"attempts after the first: {min(sum(1 for (_, _, a) in self.executions if a > 1), 3)}")
        event(f"leases taken by workers that died: {min(self.doomed, 3)}")
        self.engine.close()


TestInterleavings = Interleavings.TestCase
TestInterleavings.settings = settings(
    max_examples=1000, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
