"""@flowgen.step, @flowgen.workflow, the registry, and commands built by calling them."""

from __future__ import annotations

import pytest

import flowgen
from flowgen.decorators import Registry, Step, Workflow


def test_step_call_builds_an_equal_frozen_command_without_running() -> None:
    ran = []

    @flowgen.step
    def greet(name: str, punctuation: str = "!") -> str:
        ran.append(name)
        return f"hi {name}{punctuation}"

    call = greet("ada", punctuation="?")
    assert ran == []
    assert call == greet("ada", punctuation="?")
    assert call != greet("ada")
    assert call.step_name == greet.name
    assert call.args == ("ada",) and call.kwargs == {"punctuation": "?"}
    with pytest.raises(AttributeError):
        call.step_name = "other"  # type: ignore[misc]
    assert greet.fn("bob") == "hi bob!"


def test_step_with_options_keeps_them() -> None:
    @flowgen.step(
        name="payments.charge", retries=flowgen.Retry(limit=5, delay="2s"), timeout="30s", queue="slow"
    )
    def charge(amount: float) -> str:
        return "ok"

    assert isinstance(charge, Step)
    assert charge.name == "payments.charge"
    assert charge.retries.limit == 5 and charge.retries.delay == 2.0
    assert charge.timeout == 30.0
    assert charge.queue == "slow"
    assert flowgen.registry.step("payments.charge") is charge


def test_step_int_retries_is_a_retry_limit_and_default_policy_is_documented() -> None:
    @flowgen.step(retries=0)
    def once() -> None: ...

    @flowgen.step
    def default() -> None: ...

    assert once.retries == flowgen.Retry(limit=0)
    assert default.retries == flowgen.DEFAULT_RETRY
    assert (default.retries.limit, default.retries.delay, default.retries.backoff) == (3, 1.0, "exponential")


def test_workflow_call_returns_its_generator_and_first_command() -> None:
    @flowgen.step
    def first(x: int) -> int:
        return x

    @flowgen.workflow
    def flow(x: int):
        value = yield first(x)
        return value * 2

    generator = flow(21)
    assert next(generator) == first(21)
    with pytest.raises(StopIteration) as stop:
        generator.send(21)
    assert stop.value.value == 42


def test_workflow_with_name_is_registered_under_it() -> None:
    @flowgen.workflow(name="billing.monthly.v2")
    def monthly():
        yield flowgen.sleep(1)

    assert isinstance(monthly, Workflow)
    assert monthly.name == "billing.monthly.v2"
    assert flowgen.registry.workflow("billing.monthly.v2") is monthly


def test_registering_two_different_functions_under_one_name_raises() -> None:
    registry = Registry()

    def one():
        yield flowgen.sleep(1)

    def two():
        yield flowgen.sleep(2)

    registry.add_workflow(Workflow(one, name="same"))
    with pytest.raises(flowgen.RegistrationError, match="same"):
        registry.add_workflow(Workflow(two, name="same"))
    registry.add_step(Step(lambda: 1, name="s"))
    with pytest.raises(flowgen.RegistrationError):
        registry.add_step(Step(len, name="s"))


def test_re_registering_the_same_function_is_allowed() -> None:
    registry = Registry()

    def flow():
        yield flowgen.sleep(1)

    first = registry.add_workflow(Workflow(flow, name="again"))
    registry.add_workflow(first)
    assert registry.workflow("again") is first


def test_unknown_workflow_name_error_says_how_to_fix_it() -> None:
    with pytest.raises(flowgen.WorkflowNotFoundError, match="import the module"):
        Registry().workflow("nope")


def test_decorators_reject_the_wrong_kind_of_function() -> None:
    with pytest.raises(TypeError, match="generator"):
        flowgen.workflow(lambda: 1)

    def gen():
        yield 1

    with pytest.raises(TypeError, match="workflow"):
        flowgen.step(gen)


def test_invalid_names_are_rejected() -> None:
    with pytest.raises(flowgen.RegistrationError):
        Registry().add_step(Step(len, name="has space"))


def test_retry_delays_follow_the_backoff() -> None:
    exponential = flowgen.Retry(limit=5, delay="1s", backoff="exponential", max_delay="5s", jitter=0)
    assert [exponential.base_delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    linear = flowgen.Retry(delay=2, backoff="linear", jitter=0)
    assert [linear.delay_before(n) for n in (1, 2, 3)] == [2, 4, 6]
    constant = flowgen.Retry(delay=3, backoff="constant", jitter=0)
    assert constant.delay_before(7) == 3
    jittered = flowgen.Retry(delay=10, backoff="constant", jitter=0.5)
    assert all(5 <= jittered.delay_before(1) <= 10 for _ in range(200))


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": -1}, {"backoff": "fibonacci"}, {"jitter": 2}, {"delay": "soon"}, {"limit": True}],
)
def test_retry_rejects_bad_policies(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        flowgen.Retry(**kwargs)


def test_commands_compare_by_value_and_describe_themselves() -> None:
    assert flowgen.sleep("10 minutes") == flowgen.sleep(600)
    assert flowgen.wait_for_event("paid", timeout="1h") == flowgen.WaitForEvent("paid", 3600.0)
    combined = flowgen.any_of(flowgen.wait_for_event("yes"), flowgen.sleep(5))
    assert combined.name == "any_of(event:yes, sleep:sleep)"
    with pytest.raises(flowgen.WorkflowYieldError):
        flowgen.all_of(flowgen.now())
    with pytest.raises(ValueError):
        flowgen.all_of()


def test_async_def_steps_are_declared_as_async_steps() -> None:
    async def charge(amount: float) -> str:
        return "ok"

    declared = Step(charge, retries=2, timeout="5s")
    assert declared.is_async and declared.fn is charge
    assert declared(1.0) == flowgen.StepCall(declared.name, (1.0,), {})
    assert not Step(lambda: 1, name="plain").is_async


def test_async_generator_steps_are_refused_with_the_fix() -> None:
    async def stream():  # an async generator returns no one value: no step
        yield 1

    with pytest.raises(TypeError, match=r"async generator.*return instead of yield"):
        Step(stream)


def test_async_workflows_are_told_to_put_the_awaiting_in_async_steps() -> None:
    async def flow():
        return 1

    async def agen_flow():
        yield flowgen.sleep(1)

    for fn in (flow, agen_flow):
        with pytest.raises(TypeError) as caught:
            flowgen.workflow(fn)
        message = str(caught.value)
        assert (
            "generator" in message and "async def @flowgen.step" in message and "docs/asyncio.md" in message
        )
        assert "did you mean @flowgen.step" not in message.lower()


def test_a_plain_function_workflow_is_pointed_at_steps_without_a_misleading_hint() -> None:
    def not_a_generator():
        return 1

    with pytest.raises(TypeError) as caught:
        flowgen.workflow(not_a_generator)
    message = str(caught.value)
    assert "Did you mean" not in message and "sync or async def" in message
