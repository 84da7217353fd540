"""``AsyncEngine`` on Redis does its I/O natively: no executor thread per call, one shared connection.

Writes (starts, events, control) are the store's own scripts awaited on ``redis.asyncio`` through
the automatic pipeline (``flowgen/aio/autopipe.py``): these tests check that no call holds a
thread, that the replies of hundreds of concurrent calls reach their own callers, and that the
client survives Redis forgetting its scripts or dropping its connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
import redis

import flowgen
from tests.apps import async_apps as apps

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]

EXECUTOR_PREFIX = "flowgen-async-engine"


def executor_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name.startswith(EXECUTOR_PREFIX))


@pytest.fixture
def redis_workers(redis_url: str) -> Iterator[str]:
    apps.reset()
    with flowgen.Engine(redis_url) as engine, engine.worker(threads=4):
        yield redis_url


async def test_writes_and_reads_hold_no_thread(redis_workers: str) -> None:
    before = executor_threads()
    async with flowgen.AsyncEngine(redis_workers) as engine:
        opened = executor_threads()
        assert opened - before <= 1  # opening the Engine (a blocking constructor) used one
        runs = await asyncio.gather(*(engine.start(apps.wait_for_approval) for _ in range(50)))
        await asyncio.gather(*(run.wait_for_status("waiting", timeout=60) for run in runs))
        await runs[0].pause()
        await runs[0].wait_for_status("paused", timeout=30)
        await runs[0].resume()
        await runs[1].cancel()
        delivered = await asyncio.gather(
            *(engine.send_event(run.run_id, "approved", {"n": i}) for i, run in enumerate(runs[2:]))
        )
        assert all(delivered)
        results = await asyncio.gather(*(run.result(timeout=60) for run in runs[2:]))
        assert results == [{"n": i} for i in range(48)]
        many = await engine.start_many(apps.mixed, [((i,), None, f"many-{i}") for i in range(20)])
        assert [run.run_id for run in many.runs] == [f"many-{i}" for i in range(20)]
        assert isinstance(many, flowgen.StartManyResult) and isinstance(many.runs[0], flowgen.AsyncRun)
        assert len(await engine.runs(limit=200)) == 70
        assert executor_threads() == opened, "a call ran on the executor"


async def test_concurrent_replies_reach_their_own_callers(redis_workers: str) -> None:
    async with flowgen.AsyncEngine(redis_workers) as engine:
        ids = [f"order-{i}" for i in range(300)]
        started = await asyncio.gather(
            *(engine.start(apps.wait_for_approval, run_id=run_id) for run_id in ids)
        )
        assert [run.run_id for run in started] == ids
        # Existing and missing runs interleaved: every caller gets its own answer, in any order.
        asked = [f"order-{i}" if i % 3 else f"missing-{i}" for i in range(300)]
        answers = await asyncio.gather(*(engine.status(run_id) for run_id in asked), return_exceptions=True)
        for run_id, answer in zip(asked, answers, strict=True):
            if run_id.startswith("missing"):
                assert isinstance(answer, flowgen.RunNotFoundError) and run_id in str(answer)
            else:
                assert isinstance(answer, flowgen.RunInfo) and answer.run_id == run_id
        # A conflicting start among good ones fails alone.
        outcomes = await asyncio.gather(
            engine.start(apps.wait_for_approval, run_id="order-1"),
            engine.start(apps.mixed, 3, run_id="order-2"),
            engine.start(apps.wait_for_approval, run_id="order-3"),
            return_exceptions=True,
        )
        assert [type(outcome) for outcome in outcomes] == [
            flowgen.AsyncRun,
            flowgen.RunIdConflictError,
            flowgen.AsyncRun,
        ]


async def test_scripts_flushed_from_redis_are_loaded_again(redis_workers: str) -> None:
    admin = redis.Redis.from_url(redis_workers)
    try:
        async with flowgen.AsyncEngine(redis_workers) as engine:
            first = await engine.start(apps.wait_for_approval)
            await first.wait_for_status("waiting", timeout=30)
            admin.script_flush()
            second = await engine.start(apps.mixed, 2)  # create and the broker's dispatch: NOSCRIPT, reloaded
            assert await engine.send_event(first.run_id, "approved", "ok")
            assert await first.result(timeout=30) == "ok"
            assert await second.result(timeout=30) == 10
    finally:
        admin.close()


async def test_a_dropped_connection_is_made_again(redis_workers: str) -> None:
    admin = redis.Redis.from_url(redis_workers)
    others = {int(client["id"]) for client in admin.client_list()}
    try:
        async with flowgen.AsyncEngine(redis_workers) as engine:
            run = await engine.start(apps.wait_for_approval)
            await run.wait_for_status("waiting", timeout=30)
            mine = [int(c["id"]) for c in admin.client_list() if int(c["id"]) not in others]
            assert mine, "the async client opened no connection"
            for client_id in mine:
                admin.client_kill_filter(_id=client_id)
            # The next calls reconnect (the sync engine's connections of this test too).
            assert (await run.status()).status == flowgen.RunStatus.WAITING
            assert await run.send_event("approved", 7)
            assert await run.result(timeout=30) == 7
    finally:
        admin.close()


async def test_an_unreachable_redis_is_a_store_error_naming_it() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with flowgen.AsyncEngine(f"redis://127.0.0.1:{port}/0") as engine:
        with pytest.raises(flowgen.StoreUnavailableError, match=f"127.0.0.1:{port}"):
            await engine.start(apps.mixed, 1)
        with pytest.raises(flowgen.StoreUnavailableError, match="unreachable"):
            await engine.get("x").status()


async def test_status_tells_a_queue_no_worker_consumes_without_a_thread(redis_url: str) -> None:
    from tests.apps import queues

    with flowgen.Engine(redis_url) as workers, workers.worker(threads=2, queues=["flowgen"]):
        async with flowgen.AsyncEngine(redis_url) as engine:
            opened = executor_threads()
            run = await engine.start(queues.stranded, 1, run_id="stranded-async")
            info = await run.wait_for_status("waiting", timeout=30)
            for _ in range(300):  # the branch is sent just after the run parks
                if info.unconsumed_queues:
                    break
                await asyncio.sleep(0.05)
                info = await run.status()
            assert info.unconsumed_queues == (queues.UNCONSUMED_QUEUE,)
            listed = await engine.runs(status="waiting")
            assert [item.unconsumed_queues for item in listed] == [(queues.UNCONSUMED_QUEUE,)]
            assert executor_threads() == opened
