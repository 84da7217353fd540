"""runner.mock(): returns, raises, side effects, scoped to one runner; runner.calls() records every call."""

from __future__ import annotations

import pytest

import flowgen
from flowgen.testing import Call, Runner, call
from tests.apps import runner_apps as apps


@pytest.fixture(autouse=True)
def _clear_shipped() -> None:
    apps.SHIPPED.clear()


def test_mock_returns_replaces_the_step_body(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.ship, returns="mock-shipment")

    run = flowgen_runner.start(apps.order, "o-1", "sku-1", 2.0)

    assert run.result()["shipment"] == "mock-shipment"
    assert apps.SHIPPED == [], "the real step body must not run"
    assert run.journal()[2]["value"] == "mock-shipment"


def test_mock_raises_goes_through_the_retry_policy(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.ship, raises=KeyError)

    run = flowgen_runner.start(apps.order, "o-2", "sku-1", 2.0)

    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    assert isinstance(failed.value.__cause__, KeyError)
    assert len(flowgen_runner.calls(apps.ship)) == 1, "ship has retries=0"


def test_side_effect_callable_gets_the_arguments(flowgen_runner: Runner) -> None:
    seen: list[tuple[str, float]] = []

    def fake_charge(order_id: str, amount: float) -> dict[str, object]:
        seen.append((order_id, amount))
        return {"id": f"fake-{order_id}", "amount": amount * 2}

    flowgen_runner.mock(apps.charge, side_effect=fake_charge)

    run = flowgen_runner.start(apps.order, "o-3", "sku-1", 2.5)

    assert run.result()["payment"] == "fake-o-3"
    assert seen == [("o-3", 2.5)]


def test_side_effect_list_answers_successive_attempts(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(
        apps.charge, side_effect=[TimeoutError("slow"), TimeoutError("slow"), {"id": "third"}]
    )

    run = flowgen_runner.start(apps.order_with_fallback, "o-4", 1.0)
    flowgen_runner.advance("20s")

    assert run.result() == {"status": "paid", "payment": "third"}
    assert [c.attempt for c in flowgen_runner.calls(apps.charge)] == [1, 2, 3]


def test_side_effect_list_running_out_says_so(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.ship, side_effect=[])

    run = flowgen_runner.start(apps.order, "o-5", "sku-1", 1.0)

    with pytest.raises(flowgen.WorkflowFailedError, match="more times than its side_effect list"):
        run.result()


def test_calls_record_real_and_mocked_steps_in_order(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.charge, returns={"id": "p"})

    flowgen_runner.start(apps.order, "o-6", "sku-7", 9.0, run_id="r-6")

    assert flowgen_runner.calls() == [
        call(apps.reserve, "sku-7", 1),
        call(apps.charge, "o-6", 9.0),
        call(apps.ship, "o-6"),
    ]
    reserve_call, charge_call, ship_call = flowgen_runner.calls()
    assert (reserve_call.mocked, charge_call.mocked, ship_call.mocked) == (False, True, False)
    assert (charge_call.run_id, charge_call.position, charge_call.attempt) == ("r-6", "1", 1)
    assert flowgen_runner.calls("testing.ship") == [Call("testing.ship", ("o-6",))]


def test_mocks_are_scoped_to_their_runner() -> None:
    with Runner() as mocked, Runner() as plain:
        mocked.mock(apps.ship, returns="fake")
        assert mocked.start(apps.order, "o-7", "s", 1.0).result()["shipment"] == "fake"
        assert plain.start(apps.order, "o-7", "s", 1.0).result()["shipment"] == "ship-o-7"
        assert plain.calls(apps.ship)[0].mocked is False


def test_unmock_restores_the_real_step(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.ship, returns="fake")
    flowgen_runner.unmock(apps.ship)

    assert flowgen_runner.start(apps.order, "o-8", "s", 1.0).result()["shipment"] == "ship-o-8"


def test_mock_result_that_cannot_be_stored_fails_like_the_real_step(flowgen_runner: Runner) -> None:
    flowgen_runner.mock(apps.ship, returns=object())

    run = flowgen_runner.start(apps.order, "o-9", "s", 1.0)

    with pytest.raises(flowgen.WorkflowFailedError) as failed:
        run.result()
    assert isinstance(failed.value.__cause__, flowgen.SerializationError)


def test_mock_takes_one_behaviour(flowgen_runner: Runner) -> None:
    with pytest.raises(TypeError, match="one of returns=, raises= or side_effect="):
        flowgen_runner.mock(apps.ship, returns=1, raises=ValueError)
    with pytest.raises(TypeError, match="exception"):
        flowgen_runner.mock(apps.ship, raises="boom")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="side_effect"):
        flowgen_runner.mock(apps.ship, side_effect=42)
