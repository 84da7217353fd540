"""The runtime's evaluators are pure: called with a hand-built view (no store, no transport), they
return what to do as data, and the one dispatch table reaches an evaluator for every command."""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest

import flowgen
from flowgen.commands import COMMAND_TYPES, Command, StepCall, branches_of
from flowgen.decorators import Step, Workflow
from flowgen.errors import CancelledError, NonDeterminismError
from flowgen.journal import ATTEMPT_ERROR, ATTEMPT_OK, Entry, LeafState, OpenEntry
from flowgen.runtime import Settings, dispatch
from flowgen.runtime.actions import Begin, Dispatch, Load, Resolve, RunAttempt, StartChildren, Wait
from flowgen.runtime.view import ChildHistory, FinishedAttempt, InboxView, StartedChild, StepProgress
from flowgen.serialization import Serializer
from flowgen.steps import AttemptResult
from flowgen.stores.base import CANCEL_REQUESTED, InboxEvent, RunRecord

NOW = 1_800_000_000.0


@flowgen.step(name="evaluators.charge", retries=flowgen.Retry(limit=2, delay=30, jitter=0))
def charge(amount: int) -> str:
    raise AssertionError("an evaluator never runs a step body")


@flowgen.step(name="evaluators.resize", queue="images")
def resize(image: str) -> str:
    raise AssertionError("an evaluator never runs a step body")


@attrs.define
class View:
    """A :class:`flowgen.runtime.view.RunView` made of plain data."""

    run_id: str = "run-1"
    epoch: int = 3
    run_record: RunRecord = attrs.Factory(lambda: RunRecord("run-1", "wf", "running", NOW, NOW, "{}", ""))
    now: float = NOW
    settings: Settings = attrs.Factory(Settings)
    serializer: Serializer = attrs.Factory(Serializer)
    rng: random.Random = attrs.Factory(lambda: random.Random(0))
    history: list[Any] = attrs.Factory(list)
    journal: list[Entry] | None = None
    open: OpenEntry | None = None
    inbox: InboxView = attrs.Factory(InboxView)
    branches: dict[str, dict[str, Any]] = attrs.Factory(dict)
    children: dict[str, RunRecord | None] = attrs.Factory(dict)
    started: dict[str, StartedChild] = attrs.Factory(dict)
    child_histories: dict[str, ChildHistory] = attrs.Factory(dict)
    cancel_state: str = ""
    pause_requested: bool = False
    warned: bool = False
    progress: StepProgress = attrs.Factory(StepProgress)
    ran: FinishedAttempt | None = None
    held: RunAttempt | None = None
    status_change: str | None = None

    @property
    def status(self) -> str:
        return self.status_change or self.run_record.status

    def step_for(self, call: StepCall) -> Step:
        assert isinstance(call.step, Step)
        return call.step

    def workflow_for(self, name: str) -> Workflow | None:
        return None  # no child's code: a child named by a string is started unchecked

    def open_entry(self, position: int, command: Command) -> OpenEntry:
        if self.open is not None and self.open.position == position:
            if (self.open.kind, self.open.name) != (command.kind, command.name):
                raise NonDeterminismError(position, self.open.name, command.name)
            return self.open
        leaves = {path: LeafState(branch.kind, branch.name) for path, branch in branches_of(command)}
        self.open = OpenEntry(position, command.kind, command.name, self.now, leaves)
        return self.open


def test_an_inline_step_is_run_by_the_loop_then_closed_from_what_the_loop_reports() -> None:
    view = View()
    action = dispatch.decide(view, 0, charge(5))
    assert isinstance(action, RunAttempt)
    assert action.step is charge and action.args == (5,) and action.context.position == "0"
    assert action.records_start is False, "the first attempt of an advance records its start with its result"

    view.ran = FinishedAttempt(action, AttemptResult(True, "ch_1"), NOW + 1)
    closed = dispatch.evaluate(view, 0, charge(5))
    assert isinstance(closed, Resolve)
    assert closed.outcome.value == "ch_1"
    assert closed.entry.value == '"ch_1"' and [a["status"] for a in closed.entry.attempts] == [ATTEMPT_OK]


def test_a_failed_inline_attempt_waits_for_its_retry_back_off() -> None:
    view = View()
    action = dispatch.decide(view, 0, charge(5))
    assert isinstance(action, RunAttempt)
    view.ran = FinishedAttempt(action, AttemptResult(False, error=ValueError("declined")), NOW + 2)
    waiting = dispatch.evaluate(view, 0, charge(5))
    assert waiting == Wait(timer=NOW + 2 + 30)
    assert view.open is not None and view.open.leaves[""].attempts[0].status == ATTEMPT_ERROR


def test_a_tree_asks_for_the_inbox_then_waits_for_the_event_and_the_timer() -> None:
    view = View()
    command = flowgen.any_of(flowgen.wait_for_event("paid"), flowgen.sleep(60))
    assert dispatch.decide(view, 4, command) == Load(event_types=("paid",))

    view.inbox.loaded({"paid": 1}, {}, ())
    assert dispatch.evaluate(view, 4, command) == Wait(types=("paid",), timer=NOW + 60)

    view.inbox.loaded({"paid": 1}, {"paid": [InboxEvent("e1", "42", NOW + 5)]}, ())
    resolved = dispatch.evaluate(view, 4, command)
    assert isinstance(resolved, Resolve)
    assert resolved.outcome.value == (0, 42) and resolved.consume == (("paid", "e1"),)


def test_step_branches_are_dispatched_as_data_not_sent() -> None:
    view = View()
    action = dispatch.decide(view, 2, flowgen.all_of(resize("a.png"), resize("b.png")))
    assert isinstance(action, Wait) and action.internal
    assert [(d.key, d.attempt, d.queue) for d in action.dispatch] == [
        ("2/0", 1, "images"),
        ("2/1", 1, "images"),
    ]
    assert all(isinstance(d, Dispatch) and d.record["step"] == "evaluators.resize" for d in action.dispatch)


def test_a_child_run_is_asked_for_then_read_back() -> None:
    view = View()
    command = flowgen.child("other.workflow", 1)
    action = dispatch.decide(view, 1, command)
    assert isinstance(action, StartChildren)
    (start,) = action.runs
    assert start.new.run_id == "run-1/1" and start.new.parent == "run-1" and start.read_back

    child = RunRecord(
        "run-1/1", "other.workflow", "completed", NOW, NOW, start.new.args, start.new.fingerprint
    )
    child.output, child.finished = "7", NOW + 3
    view.started["run-1/1"] = StartedChild(start.new, True, child)
    view.children["run-1/1"] = child
    resolved = dispatch.evaluate(view, 1, command)
    assert isinstance(resolved, Resolve) and resolved.outcome.value == 7


@flowgen.step(name="evaluators.unbook")
def unbook(item: str) -> None:
    raise AssertionError("an evaluator never runs a step body")


@flowgen.step(name="evaluators.book", compensate=unbook)
def book(item: str) -> str:
    raise AssertionError("an evaluator never runs a step body")


def test_a_saga_asks_for_its_completed_child_replayed_then_plans_the_childs_compensations() -> None:
    serializer = Serializer()
    child_call = flowgen.child("other.workflow")
    view = View(history=[child_call], journal=[Entry(0, "child", "other.workflow", True, value="null")])
    assert dispatch.decide(view, 1, flowgen.compensate()) == Load(child_histories=("run-1/0",))

    record = RunRecord("run-1/0", "other.workflow", "completed", NOW, NOW, "{}", "")
    booked = Entry(
        0,
        "step",
        "evaluators.book",
        True,
        value=serializer.encode("b-1", run_id="run-1/0", slot="g0/0", what="a result"),
    )
    view.child_histories["run-1/0"] = ChildHistory(record, [booked], [book("x")])
    begin = dispatch.evaluate(view, 1, flowgen.compensate())
    assert isinstance(begin, Begin)
    (branch,) = begin.entry.leaves.values()
    assert (branch.name, branch.info["for"], branch.info["child"]) == ("evaluators.unbook", "0>0", "run-1/0")
    assert serializer.decode(branch.info["call"], run_id="run-1", slot="g0/1/0:args") == {
        "args": ["x"],
        "kwargs": {},
    }


def test_a_requested_cancellation_resolves_the_command_with_cancelled_error() -> None:
    view = View(cancel_state=CANCEL_REQUESTED, branches={"3/0": {"d": 1}, "2/0": {"d": 1}})
    resolved = dispatch.decide(view, 3, flowgen.sleep(10))
    assert isinstance(resolved, Resolve) and resolved.deliver_cancel
    assert isinstance(resolved.outcome.error, CancelledError)
    assert resolved.drop_branches == ("3/0",)


def test_an_open_entry_of_another_command_is_non_determinism() -> None:
    view = View(open=OpenEntry(0, "sleep", "sleep", NOW, {"": LeafState("sleep", "sleep")}))
    with pytest.raises(NonDeterminismError):
        dispatch.decide(view, 0, charge(1))


EVERY_COMMAND = [
    charge(1),
    flowgen.sleep(1),
    flowgen.sleep_until(NOW + 1),
    flowgen.wait_for_event("e"),
    flowgen.child("w"),
    flowgen.now(),
    flowgen.continue_as_new(),
    flowgen.compensate(),
    flowgen.all_of(resize("x")),
    flowgen.any_of(flowgen.sleep(1)),
    flowgen.patched("p"),
]


def test_the_commands_below_are_one_of_each_command_type() -> None:
    assert {type(command) for command in EVERY_COMMAND} == set(COMMAND_TYPES)


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda command: type(command).__name__)
def test_the_table_has_an_evaluator_for_every_command_type(command: Any) -> None:
    view = View(journal=[])
    view.inbox.complete.add("e")
    assert dispatch.decide(view, 0, command) is not None
