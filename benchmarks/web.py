"""``python -m benchmarks.web``: the dashboard's server time on real volumes.

Fills a store with ``--runs`` runs (100,000 by default) of a workflow nobody advances (they stay
``queued``, which is what a listing reads), plus one completed run of 1,000 steps, then times
the dashboard's ASGI app in this process (Starlette's test client: the server's work, no network
or browser) for:

* ``GET /api/v1/runs?limit=50`` (the first page) and a page far down (by following cursors),
* ``GET /runs`` (the HTML runs page: a page plus the counts by status),
* ``GET /runs/<the 1,000-step run>`` (its timeline rendered as HTML).

Each figure is the median of ``--repeat`` requests, on SQLite and on a private redis-server.
The issue's targets: a page among 100,000 runs in 200 ms, a 1,000-step timeline in 500 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import flowgen

from .redis_server import RedisServer


@flowgen.workflow(name="bench.web.idle")
def idle(n: int) -> Generator[Any, Any, int]:
    """Never advanced by this benchmark: its runs stay queued."""
    return (yield flowgen.now())


@flowgen.step(name="bench.web.tick")
def tick(n: int) -> int:
    return n


@flowgen.workflow(name="bench.web.long")
def long(steps: int) -> Generator[Any, Any, int]:
    """``steps`` journaled steps."""
    total = 0
    for n in range(steps):
        total += yield tick(n)
    return total


def _fill(engine: flowgen.Engine, runs: int, log: Callable[[str], None]) -> None:
    started = time.perf_counter()
    for first in range(0, runs, 1000):
        engine.start_many(
            idle, [((n,), None, f"idle-{n:06d}") for n in range(first, min(runs, first + 1000))]
        )
    log(f"  {runs:,} runs created in {time.perf_counter() - started:.1f} s")


def _median_ms(call: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def measure(url: str, runs: int, steps: int, repeat: int, log: Callable[[str], None]) -> dict[str, float]:
    """Fill the store at ``url`` and time the requests; returns medians in milliseconds."""
    from starlette.testclient import TestClient

    from flowgen.web import app

    with flowgen.Engine(url, threads=2) as worker_engine:
        # An embedded engine advances runs itself; on Redis, in-process worker threads do.
        workers = None if worker_engine.embedded else worker_engine.worker(threads=2)
        try:
            worker_engine.start(long, steps, run_id="long-run").result(timeout=600)
        finally:
            if workers is not None:
                workers.stop()
    client_engine = flowgen.Engine(url, start_workers=False)
    try:
        _fill(client_engine, runs, log)
        client = TestClient(app(client_engine))

        def ok(path: str, **params: str) -> Any:
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text[:500]
            return response

        cursor = None
        for _ in range(20):  # 20 pages of 50 down the list
            cursor = ok("/api/v1/runs", limit="50", **({"cursor": cursor} if cursor else {})).json()[
                "next_cursor"
            ]
        assert cursor is not None
        deep = cursor
        figures = {
            "api_first_page_ms": _median_ms(lambda: ok("/api/v1/runs", limit="50"), repeat),
            "api_page_21_ms": _median_ms(lambda: ok("/api/v1/runs", limit="50", cursor=deep), repeat),
            "runs_page_html_ms": _median_ms(lambda: ok("/runs"), repeat),
            "timeline_html_ms": _median_ms(lambda: ok("/runs/long-run"), repeat),
        }
    finally:
        client_engine.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "redis"], choices=["sqlite", "redis"])
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    for store in args.stores:
        print(f"{store}:", flush=True)
        if store == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
                results[store] = measure(url, args.runs, args.steps, args.repeat, print)
        else:
            server = RedisServer().start()
            try:
                results[store] = measure(server.url, args.runs, args.steps, args.repeat, print)
            finally:
                server.stop()
        for key, value in results[store].items():
            print(f"  {key:<22} {value:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
