"""Conformance: flow control in every store (run slots, round-robin, step slots, rate windows,
RateLimited blocks, delayed starts, deadlines), with the same answers from memory, SQLite and Redis."""

from __future__ import annotations

import json

import pytest

from flowgen.errors import LeaseLostError
from flowgen.status import RunStatus
from flowgen.stores.base import Commit, Finish, NewRun, Park, Snapshot, Store, WriteBranch

from .support import ARGS, GRACE, TTL, T


def make(store: Store, run_id: str, created: float, **flow: object) -> None:
    new = NewRun(run_id, "wf", ARGS, "fp", created, flow=json.dumps(flow) if flow else None)
    assert store.create_run(new, created, GRACE)[0]


def b_parked_behind_a(store: Store, gates: list[list[object]]) -> Snapshot:
    """Runs ``a`` and ``b`` leased at ``T``: ``a`` takes the one step slot of ``gates``, ``b`` is
    refused it and parks on its retry time; returns ``a``'s lease."""
    make(store, "a", T)
    make(store, "b", T)
    a = store.acquire("a", "w1", TTL, T)
    b = store.acquire("b", "w2", TTL, T)
    assert a is not None and b is not None
    assert store.take_step("a", a.epoch, gates, T, T + TTL) is None
    retry = store.take_step("b", b.epoch, gates, T, T + TTL)
    assert retry is not None
    assert store.commit(Commit("b", b.epoch, 0, [Park(b.run.signals, (), retry)]), T, GRACE).parked
    return a


def finish(store: Store, run_id: str, epoch: int, position: int = 0, now: float = T + 5) -> tuple[str, ...]:
    result = store.commit(
        Commit(run_id, epoch, position, [Finish(RunStatus.COMPLETED, output="1")]), now, GRACE
    )
    assert result.ok
    return result.wake


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_a_run_over_its_limit_waits_in_line_and_the_released_slot_wakes_it(store: Store) -> None:
    gates = [["run:wf|k", 1, ""]]
    for index, run_id in enumerate(("a", "b", "c")):
        make(store, run_id, T + index, gates=gates)
    first = store.acquire("a", "w1", TTL, T + 3)
    assert first is not None and first.flow is not None and first.flow["in"] == 1
    assert store.acquire("c", "w1", TTL, T + 3) is None  # queued behind b, over the limit
    assert store.acquire("b", "w1", TTL, T + 3) is None
    assert store.get_run("b").status == RunStatus.QUEUED  # type: ignore[union-attr]
    status_b, status_c = store.flow_status("b"), store.flow_status("c")
    assert status_b is not None and status_b["blocked_by"] == {"gate": "run:wf|k", "limit": 1, "position": 1}
    assert status_c is not None and status_c["blocked_by"]["position"] == 2
    assert store.reconcile(T + 30, 100, GRACE) == []  # blocked runs are not ready: no re-enqueue loop
    assert finish(store, "a", first.epoch) == ("b",)  # arrival order per key
    assert store.acquire("c", "w1", TTL, T + 6) is None  # b was woken first and keeps its place
    second = store.acquire("b", "w1", TTL, T + 6)
    assert second is not None
    assert store.flow_status("b")["blocked_by"] is None  # type: ignore[index]


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_a_run_whose_deadline_passes_in_line_wakes_then_and_leaves_the_line(store: Store) -> None:
    gates = [["run:wf|k", 1, ""]]
    make(store, "a", T, gates=gates)
    make(store, "b", T + 1, gates=gates, timeout=5.0, deadline=T + 6)
    make(store, "c", T + 2, gates=gates)
    assert store.acquire("a", "w1", TTL, T + 2) is not None
    assert store.acquire("b", "w1", TTL, T + 3) is None  # in line behind a...
    assert store.acquire("c", "w1", TTL, T + 3) is None
    assert store.claim_due_timers(T + 5.9, 10, GRACE) == []
    assert store.claim_due_timers(T + 6, 10, GRACE) == ["b"]  # ...with a timer at its deadline
    late = store.acquire("b", "w1", TTL, T + 6)
    assert late is not None and late.flow is not None and late.flow["in"] == 2  # passes, holds no slot
    status_c = store.flow_status("c")
    assert status_c is not None and status_c["blocked_by"]["position"] == 1  # b left the line


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_keys_are_independent(store: Store) -> None:
    make(store, "a", T, gates=[["run:wf|x", 1, ""]])
    make(store, "b", T + 1, gates=[["run:wf|y", 1, ""]])
    assert store.acquire("a", "w1", TTL, T + 2) is not None
    assert store.acquire("b", "w1", TTL, T + 2) is not None


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_a_gate_shared_by_keys_serves_them_round_robin(store: Store) -> None:
    for index, (run_id, key) in enumerate((("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"))):
        make(store, run_id, T + index, gates=[["run:wf", 1, key]])
    first = store.acquire("a1", "w1", TTL, T + 5)
    assert first is not None
    for run_id in ("a2", "a3", "b1"):
        assert store.acquire(run_id, "w1", TTL, T + 5) is None
    # b1 arrived after a2 and a3, but it is B's first run: it goes before A's second
    assert finish(store, "a1", first.epoch) == ("b1",)
    nxt = store.acquire("b1", "w1", TTL, T + 6)
    assert nxt is not None
    assert finish(store, "b1", nxt.epoch, now=T + 7) == ("a2",)


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_terminate_gives_the_slot_back(store: Store) -> None:
    make(store, "a", T, gates=[["run:wf", 1, ""]])
    make(store, "b", T + 1, gates=[["run:wf", 1, ""]])
    assert store.acquire("a", "w1", TTL, T + 2) is not None
    assert store.acquire("b", "w1", TTL, T + 2) is None
    assert store.control("a", "terminate", T + 3, GRACE).woken == ("b",)
    assert store.acquire("b", "w1", TTL, T + 4) is not None


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_a_cancelled_queued_run_passes_its_limit_to_end(store: Store) -> None:
    make(store, "a", T, gates=[["run:wf", 1, ""]])
    make(store, "b", T + 1, gates=[["run:wf", 1, ""]])
    assert store.acquire("a", "w1", TTL, T + 2) is not None
    assert store.acquire("b", "w1", TTL, T + 2) is None
    store.control("b", "cancel", T + 3, GRACE)
    assert store.acquire("b", "w1", TTL, T + 4) is not None


@pytest.mark.limits
def test_step_slots_are_held_under_the_lease_and_end_with_it(store: Store) -> None:
    gates = [["limit", "step:s", 1, 0]]
    make(store, "a", T)
    make(store, "b", T)
    a = store.acquire("a", "w1", TTL, T)
    b = store.acquire("b", "w2", TTL, T)
    assert a is not None and b is not None
    assert store.take_step("a", a.epoch, gates, T, T + TTL) is None
    assert store.take_step("b", b.epoch, gates, T + 1, T + 1 + TTL) == T + TTL  # when a's lease would end
    store.renew([("a", a.epoch)], TTL, T + 10)  # a renews: its slot moves with its lease
    assert store.take_step("b", b.epoch, gates, T + TTL + 1, T + 2 * TTL) == T + 10 + TTL
    # a's worker is killed: no renewal, no release. The slot is free once the lease ends.
    assert store.take_step("b", b.epoch, gates, T + 10 + TTL + 0.5, T + 100) is None
    with pytest.raises(LeaseLostError):
        store.take_step("a", a.epoch - 1, gates, T, T + TTL)


@pytest.mark.limits
def test_a_released_step_slot_wakes_the_first_parked_run(store: Store) -> None:
    gates = [["limit", "step:s", 1, 0]]
    b_parked_behind_a(store, gates)
    assert store.release_step("a", ["step:s"], T + 1, GRACE) == ["b"]
    b2 = store.acquire("b", "w2", TTL, T + 2)
    assert b2 is not None
    assert store.take_step("b", b2.epoch, gates, T + 2, T + 2 + TTL) is None


@pytest.mark.limits
def test_a_rate_limit_is_a_sliding_window(store: Store) -> None:
    gates = [["rate", "rate:s", 3, 1.0]]
    make(store, "a", T)
    a = store.acquire("a", "w1", TTL, T)
    assert a is not None
    for offset in (0.0, 0.1, 0.2):
        assert store.take_step("a", a.epoch, gates, T + offset, T + TTL) is None
    # a start stays in the window for per * RATE_MARGIN (1.02 s here)
    assert store.take_step("a", a.epoch, gates, T + 0.5, T + TTL) == pytest.approx(T + 1.02, abs=1e-3)
    assert store.take_step("a", a.epoch, gates, T + 1.0, T + TTL) is not None
    assert store.take_step("a", a.epoch, gates, T + 1.02, T + TTL) is None  # the start at T has left
    assert store.take_step("a", a.epoch, gates, T + 1.05, T + TTL) == pytest.approx(T + 1.12, abs=1e-3)


@pytest.mark.limits
def test_a_start_given_back_costs_no_token_and_only_its_own_entry_leaves(store: Store) -> None:
    gates = [["rate", "rate:s", 2, 1.0]]
    for run_id in ("a", "b"):
        make(store, run_id, T)
    a, b = store.acquire("a", "w1", TTL, T), store.acquire("b", "w1", TTL, T)
    assert a is not None and b is not None
    assert store.take_step("a", a.epoch, gates, T, T + TTL) is None
    assert store.take_step("b", b.epoch, gates, T + 0.1, T + TTL) is None
    assert store.take_step("a", a.epoch, gates, T + 0.2, T + TTL) is not None  # the window is full
    store.give_back_start("b", "rate:s", T + 0.1, 1.0)  # b's body would have started too late
    store.give_back_start("b", "rate:s", T + 0.1, 1.0)  # nothing more of b's to give back
    assert store.take_step("a", a.epoch, gates, T + 0.3, T + TTL) is None  # b's token is free again
    store.give_back_start("a", "rate:s", T + 0.5, 1.0)  # a's starts were all recorded before
    assert store.take_step("b", b.epoch, gates, T + 0.4, T + TTL) is not None  # a's two still count


@pytest.mark.limits
def test_a_rate_limited_key_blocks_every_step_under_it(store: Store) -> None:
    make(store, "a", T)
    a = store.acquire("a", "w1", TTL, T)
    assert a is not None
    gates = [["rate", "rate:s|api", 100, 1.0], ["block", "api", 0, 0]]
    store.block_key("api", T + 30)
    store.block_key("api", T + 10)  # never shortens a block
    assert store.take_step("a", a.epoch, gates, T + 1, T + TTL) == pytest.approx(T + 30, abs=1e-3)
    assert store.take_step("a", a.epoch, gates, T + 30, T + TTL) is None


def test_a_delayed_run_starts_on_its_timer_not_before(store: Store) -> None:
    make(store, "a", T, start_at=T + 600)
    assert store.reconcile(T + 100, 100, GRACE) == []
    assert store.next_timer() == pytest.approx(T + 600, abs=1e-3)
    assert store.claim_due_timers(T + 599, 100, GRACE) == []
    assert store.claim_due_timers(T + 600, 100, GRACE) == ["a"]


def test_the_timeout_is_recorded_once(store: Store) -> None:
    make(store, "a", T, timeout=100.0, deadline=T + 100)
    first = store.timed_out("a", T + 100)
    assert first == pytest.approx(T + 160, abs=1e-3)
    assert store.timed_out("a", T + 120) == pytest.approx(T + 160, abs=1e-3)
    assert store.flow_status("a")["timed_out"] == pytest.approx(T + 100, abs=1e-3)  # type: ignore[index]


@pytest.mark.limits
def test_attempts_waiting_for_a_rate_limit_wake_one_window_at_a_time(store: Store) -> None:
    gates = [["rate", "rate:s", 3, 1.0]]
    epochs = {}
    for run_id in ("a", "w1", "w2", "w3", "w4", "w5"):
        make(store, run_id, T)
        taken = store.acquire(run_id, "w", TTL, T)
        assert taken is not None
        epochs[run_id] = taken.epoch
    for _ in range(3):
        assert store.take_step("a", epochs["a"], gates, T, T + TTL) is None
    waits = [
        store.take_step(run_id, epochs[run_id], gates, T + 0.1, T + TTL)
        for run_id in ("w1", "w2", "w3", "w4", "w5")
    ]
    assert waits == [pytest.approx(T + 1.02, abs=1e-3)] * 3 + [pytest.approx(T + 2.04, abs=1e-3)] * 2
    # at T + 1.02 the three due waiters take the three tokens; a newcomer does not jump the line
    make(store, "new", T + 1)
    new = store.acquire("new", "w", TTL, T + 1.02)
    assert new is not None
    assert store.take_step("new", new.epoch, gates, T + 1.02, T + 1 + TTL) is not None
    for run_id in ("w1", "w2", "w3"):
        assert store.take_step(run_id, epochs[run_id], gates, T + 1.02, T + TTL) is None
    assert store.take_step("w4", epochs["w4"], gates, T + 1.02, T + TTL) == pytest.approx(T + 2.04, abs=1e-3)


def _leased(store: Store, *run_ids: str) -> dict[str, int]:
    epochs = {}
    for run_id in run_ids:
        make(store, run_id, T)
        taken = store.acquire(run_id, "w", TTL, T)
        assert taken is not None
        epochs[run_id] = taken.epoch
    return epochs


@pytest.mark.limits
def test_a_waiter_that_comes_a_little_late_is_recorded_at_its_token_time(store: Store) -> None:
    gates = [["rate", "rate:s", 1, 1.0]]
    epochs = _leased(store, "a", "w1", "w2", "w3")
    assert store.take_step("a", epochs["a"], gates, T, T + TTL) is None
    assert store.take_step("w1", epochs["w1"], gates, T + 0.1, T + TTL) == pytest.approx(T + 1.02, abs=1e-3)
    assert store.take_step("w1", epochs["w1"], gates, T + 1.025, T + TTL) is None  # 5 ms late
    # the next token is one period after w1's token time, not after its late arrival: wake-up
    # latency does not add up from window to window
    assert store.take_step("w2", epochs["w2"], gates, T + 1.05, T + TTL) == pytest.approx(T + 2.04, abs=1e-3)
    # much later than that, a start is recorded at most 1% of the period before its grant
    assert store.take_step("w2", epochs["w2"], gates, T + 2.5, T + TTL) is None
    assert store.take_step("w3", epochs["w3"], gates, T + 2.6, T + TTL) == pytest.approx(T + 2.49 + 1.02, abs=1e-3)


@pytest.mark.limits
def test_a_late_waiter_does_not_hold_up_the_waiters_behind_it(store: Store) -> None:
    gates = [["rate", "rate:s", 1, 1.0]]
    epochs = _leased(store, "a", "w1", "w2")
    assert store.take_step("a", epochs["a"], gates, T, T + TTL) is None
    assert store.take_step("w1", epochs["w1"], gates, T + 0.1, T + TTL) == pytest.approx(T + 1.02, abs=1e-3)
    assert store.take_step("w2", epochs["w2"], gates, T + 0.1, T + TTL) == pytest.approx(T + 2.04, abs=1e-3)
    # w1 does not come back in time; w2's token time has come: it takes the free token (it used
    # to be refused for w1, and woke again for a token w1 kept)
    assert store.take_step("w2", epochs["w2"], gates, T + 2.05, T + TTL) is None
    # w1, late, gets the next token, one period after w2's start (recorded at its token time)
    assert store.take_step("w1", epochs["w1"], gates, T + 2.1, T + TTL) == pytest.approx(T + 3.06, abs=1e-3)


@pytest.mark.limits
def test_a_window_emptied_by_late_waiters_still_hands_out_count_tokens_a_period(store: Store) -> None:
    gates = [["rate", "rate:s", 3, 1.0]]
    waiters = [f"w{n}" for n in range(6)]
    epochs = _leased(store, "a", "new", *waiters)
    for _ in range(3):
        assert store.take_step("a", epochs["a"], gates, T, T + TTL) is None
    for run_id in waiters:
        assert store.take_step(run_id, epochs[run_id], gates, T + 0.1, T + TTL) is not None
    # the workers stalled: every waiter is late, the window is nearly empty
    assert store.take_step("w0", epochs["w0"], gates, T + 2.5, T + TTL) is None
    # five due waiters are ahead of a newcomer: two take the free tokens now, the third w0's
    # next one, and the newcomer is in the second period after that (not in the fourth: the
    # schedule counts 3 tokens a period, not only the one start the window holds)
    retry = store.take_step("new", epochs["new"], gates, T + 2.5, T + TTL)
    assert retry == pytest.approx(T + 2.5 - 0.01 + 2 * 1.02, abs=1e-3)


def test_the_priority_lane_serves_higher_priorities_first_and_resumes_ahead(store: Store) -> None:
    make(store, "low", T, pri=1)
    make(store, "high", T + 5, pri=3)
    make(store, "plain", T)  # priority 0: not in the lane, only the transport's queue
    make(store, "sleeper", T, pri=1)
    sleeper = store.acquire("sleeper", "w", TTL, T)
    assert sleeper is not None
    parked = store.commit(
        Commit("sleeper", sleeper.epoch, 0, [Park(sleeper.run.signals, (), T + 10)]), T, GRACE
    )
    assert parked.parked
    # the sleeper's lane entry from its start is gone once it is leased
    assert store.take_lane(T + 1) == "high"  # priority 3 arrived 5 s later, but 2 minutes "ahead"
    assert store.take_lane(T + 1) == "low"
    assert store.take_lane(T + 1) is None
    make(store, "new", T + 10, pri=1)
    assert store.claim_due_timers(T + 10, 10, GRACE) == ["sleeper"]
    assert store.take_lane(T + 10) == "sleeper"  # resuming from a timer: ahead of a new start
    assert store.take_lane(T + 10) == "new"


def test_the_lane_drops_runs_that_finished(store: Store) -> None:
    make(store, "a", T, pri=5)
    a = store.acquire("a", "w", TTL, T)
    assert a is not None
    finish(store, "a", a.epoch)
    assert store.take_lane(T + 6) is None


def _park_prioritized(store: Store, run_id: str, waiting: tuple[str, ...] = ()) -> None:
    """A run of priority 1, leased and parked (waiting for ``waiting``): out of the lane."""
    make(store, run_id, T, pri=1)
    leased = store.acquire(run_id, "w", TTL, T)
    assert leased is not None
    assert store.commit(Commit(run_id, leased.epoch, 0, [Park(leased.run.signals, waiting, None)]), T, GRACE).parked
    assert store.take_lane(T) is None


def test_a_prioritized_run_woken_by_an_event_resumes_through_the_lane_ahead_of_new_starts(store: Store) -> None:
    _park_prioritized(store, "waiter", ("paid",))
    make(store, "new", T + 10, pri=1)
    assert store.send_event("waiter", "paid", '"x"', "e1", T + 10, GRACE).wake
    assert store.take_lane(T + 10) == "waiter"
    assert store.take_lane(T + 10) == "new"


def test_a_prioritized_run_woken_by_its_child_s_end_resumes_through_the_lane(store: Store) -> None:
    _park_prioritized(store, "parent")
    child = NewRun("parent/child", "wf", "[]", "fp", T, parent="parent")  # the parent's shard on a cluster
    assert store.create_run(child, T, GRACE)[0]
    leased = store.acquire("parent/child", "w", TTL, T)
    assert leased is not None
    assert finish(store, "parent/child", leased.epoch, now=T + 10) == ("parent",)
    assert store.take_lane(T + 10) == "parent"


def test_a_prioritized_run_woken_by_a_branch_outcome_resumes_through_the_lane(store: Store) -> None:
    make(store, "fan", T, pri=1)
    leased = store.acquire("fan", "w", TTL, T)
    assert leased is not None
    record = {"d": 1, "step": "s", "args": "{}", "workflow": "wf", "gen": 0}
    ops = [WriteBranch("0/0", record), Park(leased.run.signals, (), None)]
    assert store.commit(Commit("fan", leased.epoch, 0, ops), T, GRACE).parked
    assert store.branch_begin("fan", "0/0", 1, TTL, T + 1) is not None
    assert store.take_lane(T + 1) is None
    assert store.branch_finish("fan", "0/0", 1, {"ok": True, "value": "1"}, T + 2, GRACE) == ["fan"]
    assert store.take_lane(T + 2) == "fan"


@pytest.mark.limits
@pytest.mark.one_slot  # names its runs freely: on a cluster, one shard (conftest)
def test_a_run_started_without_limits_gives_back_the_step_slot_it_took_when_it_ends(store: Store) -> None:
    # no flow document at the start (on Redis: the run is marked plain): the step slot is
    # recorded when taken, and the finish must look for it
    gates = [["limit", "step:s", 1, 0]]
    a = b_parked_behind_a(store, gates)
    assert finish(store, "a", a.epoch, now=T + 1) == ("b",)
