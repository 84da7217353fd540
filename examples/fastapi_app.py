"""A FastAPI service on ``flowgen.AsyncEngine``: start runs and await them, receive webhooks.

Run it (needs ``pip install fastapi uvicorn``; embedded SQLite, so the runs advance in the
service's own process)::

    uvicorn examples.fastapi_app:app

In production point ``FLOWGEN_URL`` at Redis and run the steps in ``flowgen worker
examples.fastapi_app`` processes; the service is then only a client.

* ``POST /quotes/{currency}`` starts a run and **awaits its result** (up to 5 s) without
  blocking the event loop: other requests are served meanwhile. A run that takes longer is
  answered ``202`` with its id, to be fetched from ``GET /runs/{run_id}``.
* ``POST /orders/{order_id}`` starts an order that waits for its payment (``202``).
* ``POST /webhooks/payments`` is the payment provider's **webhook**: it sends the
  ``payment.confirmed`` event to the order's run. The provider's delivery id is the event id,
  so a webhook delivered twice is delivered to the run once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Generator
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import flowgen

RATES = {"EUR": 1.08, "GBP": 1.27, "JPY": 0.0067}


@flowgen.step(name="shop.fetch_rate", retries=3, timeout="10s")
async def fetch_rate(currency: str) -> float:
    """An async step: where a real service would ``await http.get(...)`` a rates API."""
    await asyncio.sleep(0.05)
    if currency not in RATES:
        raise flowgen.NonRetryableError(f"no rate for currency {currency!r}")
    return RATES[currency]


@flowgen.step(name="shop.ship")
async def ship(order_id: str, payment_id: str) -> str:
    """Another async step; its idempotency key is stable across retries (pass it to the carrier)."""
    await asyncio.sleep(0.01)
    return f"shipment-{flowgen.step_context().idempotency_key}"


@flowgen.workflow(name="shop.quote")
def quote(currency: str, amount: float) -> Generator[Any, Any, dict[str, Any]]:
    rate = yield fetch_rate(currency)
    return {"currency": currency, "amount": amount, "usd": round(amount * rate, 2)}


@flowgen.workflow(name="shop.order")
def order(order_id: str) -> Generator[Any, Any, dict[str, Any]]:
    payment = yield flowgen.wait_for_event("payment.confirmed", timeout="1 day")
    shipment = yield ship(order_id, payment["payment_id"])
    return {"order": order_id, "payment": payment["payment_id"], "shipment": shipment}


class Payment(BaseModel):
    delivery_id: str
    order_id: str
    payment_id: str


def create_app(url: str | None = None) -> FastAPI:
    """The service, on the engine at ``url`` (default ``$FLOWGEN_URL``, else ``sqlite:///shop.sqlite3``)."""
    engine = flowgen.AsyncEngine(url or os.environ.get("FLOWGEN_URL", "sqlite:///shop.sqlite3"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with engine:  # opened off the loop, closed when the service stops
            yield

    app = FastAPI(title="shop", lifespan=lifespan)
    app.state.engine = engine

    @app.post("/quotes/{currency}")
    async def create_quote(currency: str, amount: float) -> Any:
        run = await engine.start(quote, currency, amount)
        try:
            return await run.result(timeout=5)
        except flowgen.ResultTimeoutError:
            raise HTTPException(202, {"run_id": run.run_id, "status": "running"}) from None
        except flowgen.WorkflowFailedError as failed:
            raise HTTPException(422, str(failed.__cause__)) from None

    @app.post("/orders/{order_id}", status_code=202)
    async def create_order(order_id: str) -> dict[str, str]:
        run = await engine.start(order, order_id, run_id=f"order-{order_id}")  # idempotent
        return {"run_id": run.run_id}

    @app.post("/webhooks/payments")
    async def payment_webhook(payment: Payment) -> dict[str, bool]:
        try:
            delivered = await engine.send_event(
                f"order-{payment.order_id}",
                "payment.confirmed",
                {"payment_id": payment.payment_id},
                event_id=payment.delivery_id,
            )
        except flowgen.RunNotFoundError:
            raise HTTPException(404, f"no order {payment.order_id!r}") from None
        except flowgen.RunFinishedError:
            raise HTTPException(409, f"order {payment.order_id!r} is already settled") from None
        return {"delivered": delivered}

    @app.get("/runs/{run_id}")
    async def run_status(run_id: str) -> dict[str, Any]:
        try:
            info = await engine.status(run_id)
        except flowgen.RunNotFoundError:
            raise HTTPException(404, f"no run {run_id!r}") from None
        return {"run_id": run_id, "status": str(info.status), "output": info.output}

    @app.get("/runs/{run_id}/result")
    async def run_result(run_id: str, timeout: float = 5.0) -> Any:
        try:
            return await engine.get(run_id).result(timeout=timeout)
        except flowgen.RunNotFoundError:
            raise HTTPException(404, f"no run {run_id!r}") from None
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        except flowgen.ResultTimeoutError:
            raise HTTPException(202, {"run_id": run_id, "status": "running"}) from None

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
"""What ``uvicorn examples.fastapi_app:app`` serves; nothing is opened before the service starts."""
