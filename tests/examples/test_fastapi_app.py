"""examples/fastapi_app.py served in-process (httpx over ASGI) on a SQLite engine and on Redis.

The app's lifespan opens and closes its ``AsyncEngine``; the runs advance on the embedded
engine's threads (SQLite) or on worker threads of a sync engine in this process (Redis, where
the app's client is native ``redis.asyncio``), and the async steps on the process's step loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

import flowgen
from examples.fastapi_app import create_app, order, quote
from flowgen.testing import Runner


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The app's engine URL: a SQLite file (embedded workers), or Redis with worker threads here."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shop.db"
        return
    redis_url = request.getfixturevalue("redis_url")
    with flowgen.Engine(redis_url) as workers, workers.worker(threads=4):
        yield redis_url


@pytest_asyncio.fixture
async def client(url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as http:
            yield http


@pytest.mark.asyncio
async def test_a_quote_endpoint_starts_a_run_and_awaits_its_result(client: httpx.AsyncClient) -> None:
    response = await client.post("/quotes/EUR", params={"amount": 100})
    assert response.status_code == 200
    assert response.json() == {"currency": "EUR", "amount": 100.0, "usd": 108.0}


@pytest.mark.asyncio
async def test_a_step_that_fails_for_good_is_answered_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/quotes/XYZ", params={"amount": 1})
    assert response.status_code == 422
    assert "no rate for currency 'XYZ'" in response.json()["detail"]


@pytest.mark.asyncio
async def test_awaiting_results_leaves_the_service_responsive(client: httpx.AsyncClient) -> None:
    quotes = [asyncio.create_task(client.post("/quotes/GBP", params={"amount": n})) for n in range(1, 21)]
    health = await client.get("/health")  # answered while 20 handlers await their runs
    assert health.json() == {"status": "ok"}
    assert not all(task.done() for task in quotes)
    answers = await asyncio.gather(*quotes)
    assert [answer.json()["usd"] for answer in answers] == [round(n * 1.27, 2) for n in range(1, 21)]


@pytest.mark.asyncio
async def test_the_payment_webhook_sends_the_event_that_completes_the_order(
    client: httpx.AsyncClient,
) -> None:
    started = await client.post("/orders/o-7")
    assert started.status_code == 202 and started.json() == {"run_id": "order-o-7"}
    assert (await client.post("/orders/o-7")).json() == {"run_id": "order-o-7"}  # idempotent
    webhook = {"delivery_id": "dlv-1", "order_id": "o-7", "payment_id": "pay-42"}
    delivered = await client.post("/webhooks/payments", json=webhook)
    assert delivered.status_code == 200 and delivered.json() == {"delivered": True}
    result = await client.get("/runs/order-o-7/result", params={"timeout": 30})
    assert result.status_code == 200
    assert result.json()["payment"] == "pay-42" and result.json()["shipment"].startswith(
        "shipment-order-o-7:0:"
    )
    status = await client.get("/runs/order-o-7")
    assert status.json()["status"] == "completed"
    again = await client.post("/webhooks/payments", json=webhook)  # a redelivery after it settled
    assert again.status_code == 409


@pytest.mark.asyncio
async def test_webhooks_for_unknown_orders_and_bad_input_get_clear_answers(client: httpx.AsyncClient) -> None:
    missing = await client.post(
        "/webhooks/payments", json={"delivery_id": "d", "order_id": "nope", "payment_id": "p"}
    )
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert (await client.post("/webhooks/payments", json={"order_id": "x"})).status_code == 422
    assert (await client.get("/runs/unknown")).status_code == 404
    await client.post("/orders/o-8")
    pending = await client.get("/runs/order-o-8/result", params={"timeout": 0.05})
    assert pending.status_code == 202
    negative = await client.get("/runs/order-o-8/result", params={"timeout": -1})
    assert negative.status_code == 422 and "timeout" in negative.json()["detail"]


def test_the_workflows_under_the_runner(flowgen_runner: Runner) -> None:
    """The Runner runs the async steps too (on the step loop, in real time: 50 ms here)."""
    assert flowgen_runner.start(quote, "JPY", 1000.0).result() == {
        "currency": "JPY",
        "amount": 1000.0,
        "usd": 6.7,
    }
    run = flowgen_runner.start(order, "o-1")
    assert run.status().waiting_for == ("payment.confirmed",)
    run.send_event("payment.confirmed", {"payment_id": "pay-1"})
    assert run.result() == {"order": "o-1", "payment": "pay-1", "shipment": f"shipment-{run.run_id}:0:1"}
