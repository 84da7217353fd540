"""The pure interpreter: replay of hand-built journals, decisions, and non-determinism errors."""

from __future__ import annotations

import pytest

import flowgen
from flowgen.interpreter import Complete, Execute, Fail, Outcome, Recorded, Replayer


@flowgen.step
def fetch(user_id: str) -> dict:
    return {"id": user_id}


@flowgen.step
def charge(amount: float) -> str:
    return "ch_1"


@flowgen.step
def notify(text: str) -> None:
    return None


@flowgen.step
def refund(charge_id: str) -> None:
    return None


@flowgen.workflow
def order(user_id: str, amount: float):
    user = yield fetch(user_id)
    try:
        charge_id = yield charge(amount)
    except ValueError as error:
        yield notify(f"charge failed: {error}")
        return {"status": "failed"}
    yield notify(f"charged {user['id']}")
    return {"status": "ok", "charge": charge_id}


def ok(position: int, name: str, value: object, kind: str = "step") -> Recorded:
    return Recorded(position, kind, name, Outcome.success(value))


def failed(position: int, name: str, error: BaseException) -> Recorded:
    return Recorded(position, "step", name, Outcome.failure(error))


def test_interpreter_first_decision_is_the_first_command() -> None:
    decision = Replayer(order("u1", 10.0)).replay([])
    assert decision == Execute(0, fetch("u1"))


def test_interpreter_replays_results_into_the_generator() -> None:
    decision = Replayer(order("u1", 10.0)).replay([ok(0, "fetch", {"id": "u1"}), ok(1, "charge", "ch_9")])
    assert decision == Execute(2, notify("charged u1"))


def test_interpreter_completes_with_the_output() -> None:
    journal = [ok(0, "fetch", {"id": "u1"}), ok(1, "charge", "ch_9"), ok(2, "notify", None)]
    assert Replayer(order("u1", 10.0)).replay(journal) == Complete({"status": "ok", "charge": "ch_9"})


def test_interpreter_throws_recorded_failures_into_the_workflow() -> None:
    journal = [ok(0, "fetch", {"id": "u1"}), failed(1, "charge", ValueError("card declined"))]
    decision = Replayer(order("u1", 10.0)).replay(journal)
    assert decision == Execute(2, notify("charge failed: card declined"))
    done = Replayer(order("u1", 10.0)).replay([*journal, ok(2, "notify", None)])
    assert done == Complete({"status": "failed"})


def test_interpreter_uncaught_failure_fails_the_run() -> None:
    @flowgen.workflow
    def strict():
        yield charge(1.0)

    error = KeyError("nope")
    decision = Replayer(strict()).replay([failed(0, "charge", error)])
    assert isinstance(decision, Fail)
    assert decision.error is error


def test_interpreter_reordered_step_is_nondeterministic() -> None:
    @flowgen.workflow
    def reordered(user_id: str, amount: float):
        yield charge(amount)
        yield fetch(user_id)

    with pytest.raises(flowgen.NonDeterminismError) as caught:
        Replayer(reordered("u1", 1.0)).replay([ok(0, "fetch", {"id": "u1"}), ok(1, "charge", "c")])
    assert caught.value.position == 0
    assert caught.value.recorded == "step 'fetch'"
    assert caught.value.new == "step 'charge'"
    assert "position 0" in str(caught.value)


def test_interpreter_renamed_step_is_nondeterministic() -> None:
    @flowgen.step(name="fetch_v2")
    def fetch_renamed(user_id: str) -> dict:
        return {}

    @flowgen.workflow
    def renamed(user_id: str, amount: float):
        yield fetch_renamed(user_id)

    with pytest.raises(flowgen.NonDeterminismError) as caught:
        Replayer(renamed("u1", 1.0)).replay([ok(0, "fetch", {"id": "u1"})])
    assert (caught.value.position, caught.value.recorded, caught.value.new) == (
        0,
        "step 'fetch'",
        "step 'fetch_v2'",
    )


def test_interpreter_inserted_step_is_nondeterministic_at_its_position() -> None:
    @flowgen.workflow
    def inserted(user_id: str, amount: float):
        user = yield fetch(user_id)
        yield notify("about to charge")
        yield charge(amount)
        return user

    journal = [ok(0, "fetch", {"id": "u1"}), ok(1, "charge", "c"), ok(2, "notify", None)]
    with pytest.raises(flowgen.NonDeterminismError) as caught:
        Replayer(inserted("u1", 1.0)).replay(journal)
    assert caught.value.position == 1
    assert caught.value.recorded == "step 'charge'"
    assert caught.value.new == "step 'notify'"


def test_interpreter_changed_command_kind_is_nondeterministic() -> None:
    @flowgen.workflow
    def sleeper():
        yield flowgen.sleep(5)

    with pytest.raises(flowgen.NonDeterminismError) as caught:
        Replayer(sleeper()).replay([ok(0, "fetch", {"id": "u1"})])
    assert caught.value.new == "sleep 'sleep'"


def test_interpreter_workflow_ending_before_the_journal_is_nondeterministic() -> None:
    @flowgen.workflow
    def short():
        yield fetch("u1")
        return 1

    with pytest.raises(flowgen.NonDeterminismError) as caught:
        Replayer(short()).replay([ok(0, "fetch", {}), ok(1, "charge", "c")])
    assert caught.value.position == 1
    assert caught.value.new is None


def test_interpreter_same_step_twice_uses_each_positions_result() -> None:
    @flowgen.workflow
    def twice():
        first = yield fetch("a")
        second = yield fetch("b")
        return [first, second]

    journal = [ok(0, "fetch", "first"), ok(1, "fetch", "second")]
    assert Replayer(twice()).replay(journal) == Complete(["first", "second"])


def test_interpreter_non_command_yield_fails_with_a_hint() -> None:
    @flowgen.workflow
    def forgot_call():
        yield fetch

    decision = Replayer(forgot_call()).replay([])
    assert isinstance(decision, Fail)
    assert isinstance(decision.error, flowgen.WorkflowYieldError)
    assert "call it" in str(decision.error)


def test_interpreter_combinator_outcome_can_be_built_from_the_yielded_command() -> None:
    @flowgen.workflow
    def gather():
        values = yield flowgen.all_of(fetch("a"), fetch("b"))
        return values

    seen = []

    def outcome(command: object) -> Outcome:
        seen.append(command)
        return Outcome.success(["A", "B"])

    journal = [Recorded(0, "all_of", "all_of(step:fetch, step:fetch)", outcome)]
    assert Replayer(gather()).replay(journal) == Complete(["A", "B"])
    assert seen == [flowgen.all_of(fetch("a"), fetch("b"))]


PURE_MODULES = (
    "commands",
    "interpreter",
    "errors",
    "journal",
    "combinators",
    "decorators",
    "durations",
    "names",
    "validation",
)

BOUNDARY_CHECK = """
import importlib.machinery, importlib.util, sys
package_dir = sys.argv[1]
spec = importlib.machinery.ModuleSpec("flowgen", None, is_package=True)
spec.submodule_search_locations = [package_dir]
sys.modules["flowgen"] = importlib.util.module_from_spec(spec)  # skip flowgen/__init__.py
for name in sys.argv[2:]:
    importlib.import_module("flowgen." + name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("redis", "dramatiq"))
print(leaked)
sys.exit(1 if leaked else 0)
"""


def test_interpreter_module_imports_neither_redis_nor_dramatiq() -> None:
    import os
    import subprocess
    import sys

    package_dir = os.path.dirname(flowgen.__file__)
    result = subprocess.run(
        [sys.executable, "-c", BOUNDARY_CHECK, package_dir, *PURE_MODULES], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The check itself must be able to fail: the Redis store does import redis.
    leaking = subprocess.run(
        [sys.executable, "-c", BOUNDARY_CHECK, package_dir, "stores.redis"], capture_output=True, text=True
    )
    assert leaking.returncode == 1 and "redis" in leaking.stdout
