"""``python -m benchmarks.listing``: how long a page of runs takes among many (issue 19).

Fills a store with ``--runs`` runs (default 100,000) of 4 workflows in 8 statuses' worth of
mixes (a quarter waiting, the rest completed, 1% failed), each tagged ``customer=<n % 1000>``
and ``region=<eu|us>``, then times each listing ``--repeat`` times and prints the median and
the worst, in milliseconds, as a Markdown table (docs/performance.md, "Listing runs"):

* the newest page of 50, unfiltered, by status, by workflow and status, by tag, by two tags;
* the 50 runs after a cursor 90% of the way down (a deep page);
* the counts by status (unfiltered and for one workflow).

Runs are created through the store (``create_runs``, ``set_tags``) and finished by a commit,
as the engine does; no worker runs. Redis is a private ``redis-server`` (see
:mod:`benchmarks.redis_server`), SQLite a file in a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from flowgen.engine import Engine
from flowgen.search import Cursor, build_query
from flowgen.status import RunStatus
from flowgen.stores.base import Commit, Finish, NewRun, Store
from flowgen.stores.redis import RedisStore
from flowgen.stores.sqlite import SQLiteStore
from flowgen.transports.inline import InlineTransport

from .redis_server import RedisServer

WORKFLOWS = ("orders", "billing", "emails", "reports")
PAGE = 50


def populate(store: Store, count: int) -> None:
    """Create ``count`` runs, tag them, and finish three quarters of them."""
    start = time.time() - count
    batch = 1000
    for first in range(0, count, batch):
        news = [
            NewRun(f"run-{n:07d}", WORKFLOWS[n % 4], '{"args":[],"kwargs":{}}', "fp", start + n)
            for n in range(first, min(count, first + batch))
        ]
        now = start + first
        store.create_runs(news, now, 15.0)
        for new in news:
            number = int(new.run_id[4:])
            store.set_tags(
                new.run_id, {"customer": str(number % 1000), "region": "eu" if number % 2 else "us"}
            )
            if number % 4 == 0:
                continue  # stays queued
            snapshot = store.acquire(new.run_id, "bench", 30.0, now)
            assert snapshot is not None
            status = RunStatus.FAILED if number % 100 == 1 else RunStatus.COMPLETED
            error = {"type": "E", "message": "m"} if status == RunStatus.FAILED else None
            finish = Finish(status, output=None if error else '"ok"', error=error)
            assert store.commit(Commit(new.run_id, snapshot.epoch, 0, (finish,)), now, 15.0).ok


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    call()  # warm caches and connections
    times = []
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times), result


def cases(store: Store, count: int) -> dict[str, Callable[[], Any]]:
    deep = store.search_runs(build_query(limit=1, offset=int(count * 0.9)))[0][0]
    cursor = Cursor(deep.created, deep.run_id)
    engine = Engine(store=store, transport=InlineTransport())
    return {
        "engine.runs(limit=50): RunInfo built, outputs decoded": lambda: engine.runs(limit=PAGE),
        "engine.runs(tags=..., status=...): RunInfo built": lambda: engine.runs(
            tags={"region": "eu"}, status="completed", limit=PAGE
        ),
        "newest 50, no filter": lambda: store.search_runs(build_query(limit=PAGE)),
        "newest 50, status=completed": lambda: store.search_runs(build_query(status="completed", limit=PAGE)),
        "newest 50, status=failed (1%)": lambda: store.search_runs(build_query(status="failed", limit=PAGE)),
        "newest 50, workflow + status": lambda: store.search_runs(
            build_query(workflow="orders", status="queued", limit=PAGE)
        ),
        "newest 50, tag customer=42 (100 runs)": lambda: store.search_runs(
            build_query(tags={"customer": "42"}, limit=PAGE)
        ),
        "newest 50, tags region=eu + customer=43": lambda: store.search_runs(
            build_query(tags={"region": "eu", "customer": "43"}, limit=PAGE)
        ),
        "newest 50, tag region=eu (half the runs) + status=failed (1%)": lambda: store.search_runs(
            build_query(tags={"region": "eu"}, status="failed", limit=PAGE)
        ),
        "50 after a cursor 90% down": lambda: store.search_runs(
            attrs.evolve(build_query(limit=PAGE), cursor=cursor)
        ),
        "50 after a cursor 90% down, status=completed": lambda: store.search_runs(
            attrs.evolve(build_query(status="completed", limit=PAGE), cursor=cursor)
        ),
        "count by status": lambda: store.count_runs(build_query(limit=None)),
        "count by status, one workflow": lambda: store.count_runs(build_query(workflow="orders", limit=None)),
    }


def measure(name: str, store: Store, count: int, repeat: int) -> dict[str, tuple[float, float]]:
    began = time.perf_counter()
    populate(store, count)
    print(f"{name}: {count} runs created in {time.perf_counter() - began:.1f}s", flush=True)
    figures = {}
    for label, call in cases(store, count).items():
        median, worst, result = timed(call, repeat)
        if isinstance(result, list) and "engine" not in label:
            assert len(result) == PAGE or "customer" in label or "failed" in label, (label, len(result))
        figures[label] = (median, worst)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.listing", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--stores", nargs="+", default=["redis", "sqlite"], choices=("redis", "sqlite"))
    args = parser.parse_args(argv)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    if "redis" in args.stores:
        server = RedisServer()
        server.start()
        try:
            store = RedisStore(server.url, retention=None)
            results["Redis"] = measure("Redis", store, args.runs, args.repeat)
            store.close()
        finally:
            server.stop()
    if "sqlite" in args.stores:
        with tempfile.TemporaryDirectory() as directory:
            sqlite = SQLiteStore(Path(directory) / "bench.db", retention=None)
            results["SQLite"] = measure("SQLite", sqlite, args.runs, args.repeat)
            sqlite.close()
    names = list(results)
    print()
    print(f"{args.runs:,} runs, {args.repeat} repeats: median (worst) in ms")
    print()
    print("| listing | " + " | ".join(names) + " |")
    print("| --- | " + " | ".join("---:" for _ in names) + " |")
    for label in next(iter(results.values())):
        cells = [f"{results[n][label][0]:.2f} ({results[n][label][1]:.1f})" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
