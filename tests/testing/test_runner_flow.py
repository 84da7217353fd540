"""Flow control in flowgen.testing.Runner, on virtual time: rate limits, RateLimited, run limits
with their line and round-robin, delayed starts, deadlines, and the bad input of each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

import flowgen
from flowgen.testing import Runner
from tests.apps import flow_apps as apps


@pytest.fixture
def runner() -> Iterator[Runner]:
    with Runner() as r:
        apps.CLOCK[0] = lambda: r.now().timestamp()
        apps.STARTS.clear()
        apps.ANSWERS.clear()
        yield r


def finish(runner: Runner, run: flowgen.Run | object, step: str = "1s", rounds: int = 10_000) -> None:
    for _ in range(rounds):
        if run.status().is_finished:  # type: ignore[attr-defined]
            return
        runner.advance(step)
    raise AssertionError("the run did not finish")


def test_1000_rate_limited_attempts_take_10_virtual_seconds_and_milliseconds_of_wall_time(
    runner: Runner,
) -> None:
    started = time.perf_counter()
    run = runner.start(apps.pings, 1000)
    finish(runner, run, "100ms")
    wall = time.perf_counter() - started
    assert run.result() == 1000
    starts = apps.STARTS
    assert len(starts) == 1000  # every attempt ran once: none failed, none was retried
    # never more than 100 starts in any window of one second
    assert max(sum(1 for t in starts[i:] if t < s + 1.0) for i, s in enumerate(starts)) <= 100
    assert starts[-1] - starts[0] >= 9.0
    assert wall < 5.0
    entries = runner.engine.journal(run.run_id)
    assert all(len(entry["attempts"]) == 1 for entry in entries)  # a wait spends no retry


def test_a_grant_whose_body_would_start_too_late_is_given_back_and_granted_again(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the store's answer to the first request arrives 50 ms later on the engine's clock (a
    # slow round trip): past the slack of RateLimit(100, per="1s"), 10 ms
    store, take = runner.store, runner.store.take_step
    slow = [0.05]

    def take_slowly(*args: object, **kwargs: object) -> float | None:
        retry = take(*args, **kwargs)  # type: ignore[arg-type]
        if slow:
            runner.clock.move_to(runner.clock.now() + slow.pop())
        return retry

    monkeypatch.setattr(store, "take_step", take_slowly)
    before = runner.clock.now()
    run = runner.start(apps.pings, 2)
    finish(runner, run, "10ms")
    assert run.result() == 2
    assert len(apps.STARTS) == 2 and apps.STARTS[0] >= before + 0.049
    entries = runner.engine.journal(run.run_id)
    assert [len(entry["attempts"]) for entry in entries] == [1, 1]  # no retry spent, no error
    assert all(entry["attempts"][0]["status"] == "ok" for entry in entries)
    with store._write() as tx:  # the late grant's entry was given back: two starts, two bodies
        recorded = [at for _, at in tx.zhead("rate:rate:ping", 10)]
    assert len(recorded) == 2
    # every body started within the margin's slack of its recorded start (0.02 s of 1 s; the
    # bodies read the clock as a datetime, to the microsecond)
    assert all(-1e-6 <= body - at <= 0.02 + 1e-6 for body, at in zip(apps.STARTS, recorded, strict=True))


def test_rate_limited_is_retried_later_without_spending_a_retry(runner: Runner) -> None:
    apps.ANSWERS.extend(["429"])
    run = runner.start(apps.api_call, "payments")
    assert run.status().status == "waiting"  # retries=0, yet not failed
    other = runner.start(apps.api_call, "payments")  # the key is blocked for everyone
    assert other.status().status == "waiting"
    elsewhere = runner.start(apps.api_call, "search")  # another key is not
    assert elsewhere.result() == "ok"
    runner.advance("29s")
    assert not run.status().is_finished
    runner.advance("2s")
    assert run.result() == "ok" and other.result() == "ok"
    [entry] = runner.engine.journal(run.run_id)
    assert len(entry["attempts"]) == 1 and entry["attempts"][0]["status"] == "ok"


def test_runs_over_a_keyed_limit_wait_in_line_with_their_place(runner: Runner) -> None:
    a = runner.start(apps.per_customer, "c1", "o1", run_id="a")
    b = runner.start(apps.per_customer, "c1", "o2", run_id="b")
    c = runner.start(apps.per_customer, "c1", "o3", run_id="c")
    d = runner.start(apps.per_customer, "c2", "o4", run_id="d")
    assert a.status().status == "waiting" and d.status().status == "waiting"  # sleeping, slot held
    info_b, info_c = b.status(), c.status()
    assert info_b.status == "queued" and info_b.blocked_by == flowgen.BlockedBy(
        "run:flow.per_customer|c1", "c1", 1, 1
    )
    assert info_c.blocked_by is not None and info_c.blocked_by.position == 2
    runner.advance("10s")
    assert a.result() == "c1:o1" and d.result() == "c2:o4"
    assert b.status().status == "waiting" and c.status().blocked_by.position == 1  # type: ignore[union-attr]
    runner.advance("10s")
    assert b.result() == "c1:o2"
    runner.advance("10s")
    assert c.result() == "c1:o3"


def test_a_shared_limit_serves_keys_round_robin(runner: Runner) -> None:
    order = []
    for index in range(4):
        order.append(
            runner.start(apps.shared, "big", f"b{index}", concurrency_key="big", run_id=f"big{index}")
        )
    small = runner.start(apps.shared, "small", "s0", concurrency_key="small", run_id="small0")
    assert small.status().blocked_by is not None
    finished: list[str] = []
    for _ in range(10):
        runner.advance("10s")
        for run in [*order, small]:
            if run.status().is_finished and run.run_id not in finished:
                finished.append(run.run_id)
    # big0 held the slot; then one run of each key before the second of any
    assert finished[:3] == ["big0", "big1", "small0"] or finished[:3] == ["big0", "small0", "big1"]
    assert finished.index("small0") < finished.index("big2")


def test_a_delayed_run_starts_at_its_time(runner: Runner) -> None:
    run = runner.start(apps.greet, "ada", delay="10 minutes")
    info = run.status()
    assert info.status == "queued" and info.starts_at is not None
    runner.advance("9 minutes")
    assert run.status().status == "queued" and runner.calls(apps.note) == []
    runner.advance("2 minutes")
    assert run.result() == "hello ada"
    again = runner.start(apps.greet, "ada", run_id=run.run_id, delay="10 minutes")  # idempotent
    assert again.result() == "hello ada"


def test_start_at_in_the_past_starts_now(runner: Runner) -> None:
    run = runner.start(apps.greet, "bo", start_at=runner.now() - timedelta(hours=1))
    assert run.result() == "hello bo"


def test_the_deadline_raises_run_timeout_error_at_the_current_yield(runner: Runner) -> None:
    run = runner.start(apps.cleans_up)
    assert run.status().deadline is not None
    runner.advance("59 minutes")
    assert not run.status().is_finished
    runner.advance("2 minutes")
    assert run.result() == "timed out, cleaned up"
    assert [c.args for c in runner.calls(apps.note)] == [("cleaned up",)]


def test_a_run_that_ignores_its_deadline_is_failed_after_the_grace(runner: Runner) -> None:
    run = runner.start(apps.stubborn)
    runner.advance("60 minutes")
    runner.advance("30s")
    assert not run.status().is_finished  # told, and given a minute to clean up
    runner.advance("31s")
    with pytest.raises(flowgen.WorkflowFailedError, match=r"RunTimeoutError|timeout"):
        run.result()


def test_a_run_whose_deadline_passes_in_line_is_failed_before_it_runs(runner: Runner) -> None:
    first = runner.start(apps.per_customer, "c1", "o1")  # holds key c1 for 10 s
    late = runner.start(apps.per_customer, "c1", "o2", timeout="5s")
    after = runner.start(apps.per_customer, "c1", "o3")
    assert late.status().blocked_by is not None
    runner.advance("6s")
    assert late.status().status == "failed"  # at its deadline, still in line
    with pytest.raises(flowgen.WorkflowFailedError, match="did not start within its timeout of 5s"):
        late.result()
    runner.advance("11s")
    assert first.result() == "c1:o1"
    runner.advance("11s")
    assert after.result() == "c1:o3"  # the failed run left the line
    assert [c.args for c in runner.calls(apps.note)] == [("c1:o1",), ("c1:o3",)]  # o2 never ran


def test_a_delayed_run_that_could_not_start_before_its_deadline_is_failed(runner: Runner) -> None:
    first = runner.start(apps.per_customer, "c2", "o1")
    late = runner.start(apps.per_customer, "c2", "o2", delay="2s", timeout="5s")
    runner.advance("3s")
    assert late.status().status == "queued" and late.status().blocked_by is not None
    runner.advance("5s")  # its deadline is 2 s + 5 s after its creation
    assert late.status().status == "failed"
    runner.advance("11s")
    assert first.result() == "c2:o1"


def test_start_timeout_overrides_the_workflow(runner: Runner) -> None:
    run = runner.start(apps.cleans_up, timeout="5 minutes")
    runner.advance("6 minutes")
    assert run.result() == "timed out, cleaned up"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"start_at": "tomorrow"}, TypeError, "must be a datetime"),
        ({"start_at": datetime(2030, 1, 1)}, ValueError, "no timezone"),
        ({"start_at": datetime(2030, 1, 1, tzinfo=timezone.utc), "delay": "1s"}, ValueError, "not both"),
        ({"delay": "soon"}, ValueError, "soon"),
        ({"timeout": 0}, ValueError, "longer than 0"),
        ({"concurrency_key": ""}, TypeError, "concurrency_key"),
        ({"concurrency_key": 42}, TypeError, "concurrency_key"),
    ],
)
def test_bad_start_options_are_refused_and_nothing_is_stored(
    runner: Runner, options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        runner.start(apps.greet, "x", run_id="bad", **options)
    assert runner.runs() == []


def test_a_key_function_that_raises_or_returns_a_non_string_is_refused_at_start(runner: Runner) -> None:
    @flowgen.workflow(
        name="flow.bad_key", concurrency=flowgen.Limit(1, key=lambda order, **_: order["customer"])
    )
    def bad_key(order: object) -> object:
        return (yield apps.note("x"))

    with pytest.raises(ValueError, match=r"key function .* raised TypeError"):
        runner.start(bad_key, "not a dict")
    with pytest.raises(TypeError, match="must be a non-empty str, got 7"):
        runner.start(bad_key, {"customer": 7})
    assert runner.runs() == []


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: flowgen.Limit(0), r"Limit\(0\)"),
        (lambda: flowgen.Limit(-2), r"Limit\(-2\)"),
        (lambda: flowgen.Limit(True), r"Limit\(True\)"),
        (lambda: flowgen.Limit(2, key="customer"), "must be a function"),
        (lambda: flowgen.RateLimit(0), r"RateLimit\(0"),
        (lambda: flowgen.RateLimit(10, per="0s"), "longer than 0"),
        (lambda: flowgen.RateLimit(10, per="every tuesday"), "every tuesday"),
        (lambda: flowgen.workflow(timeout="-1s")(lambda: (yield)), "-1s"),
        (lambda: flowgen.step(concurrency=3)(lambda: None), "concurrency must be a flowgen.Limit"),
        (lambda: flowgen.step(rate_limit=100)(lambda: None), "rate_limit must be a flowgen.RateLimit"),
    ],
)
def test_bad_declarations_are_refused(build: object, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        build()  # type: ignore[operator]


def test_rate_limited_branches_of_all_of_wait_for_their_tokens_without_spending_retries(
    runner: Runner,
) -> None:
    run = runner.start(apps.ping_fan, 300)
    finish(runner, run, "100ms")
    assert run.result() == 300
    starts = sorted(apps.STARTS)
    assert len(starts) == 300  # one attempt each: a wait is not a failure
    assert max(sum(1 for t in starts[i:] if t < s + 1.0) for i, s in enumerate(starts)) <= 100
    assert starts[-1] - starts[0] >= 1.9  # 300 starts at 100 a second: three windows
    (entry,) = runner.engine.journal(run.run_id)
    assert all(len(leaf["attempts"]) == 1 for leaf in entry["leaves"].values())


def test_limited_steps_run_as_branches_and_on_queues(runner: Runner) -> None:
    assert runner.start(apps.scarce_fan, 5).result() == [0, 1, 2, 3, 4]
    assert runner.start(apps.uses_scarce_queued, 7).result() == 7


def test_child_runs_follow_their_workflow_s_limits(runner: Runner) -> None:
    parent = runner.start(apps.two_children)
    assert parent.result() == ["child-1", "child-2"]
    second = runner.get("child-2").status()
    assert second.status == "queued" and second.blocked_by is not None  # child-1 holds key c9
    runner.advance("10s")
    assert runner.get("child-1").result() == "c9:first"
    runner.advance("10s")
    assert runner.get("child-2").result() == "c9:second"
