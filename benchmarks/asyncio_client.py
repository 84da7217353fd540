"""``python -m benchmarks.asyncio_client``: the async client's writes on Redis, many coroutines at once.

What an asyncio service does under load: ``--concurrency`` coroutines on one event loop share
one :class:`flowgen.AsyncEngine` and, together, make ``--operations`` calls of

* ``await engine.start(workflow)`` (a new run each: one ``create`` script call and the
  advance message), then
* ``await engine.send_event(run_id, ...)`` to those runs (one ``send_event`` script call,
  and an advance message when it wakes the run).

Each figure is operations per second over the whole batch, median of ``--repeat`` repetitions.
Alongside it: the client CPU per operation (``time.process_time``, every thread of the process:
the steadier figure on a loaded machine), the longest gap between two turns of the event loop
while the batch ran (a ticker task awaiting ``asyncio.sleep(0.005)``), and the most threads the
process had (a client whose writes go through an executor shows its threads there).

No worker runs: the runs stay queued, which is what a start or a send costs the client (the
advances are the workers' business; see ``benchmarks.asyncio_steps`` for those). It starts its
own ``redis-server`` on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

OPERATIONS = 3000
CONCURRENCY = 200

T = TypeVar("T")


class LoopWatch:
    """Counts the turns of the event loop it runs on, the longest gap between two, and the most
    threads seen, while it runs (also the tests' ticker: tests/aio/support.py)."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest_gap = 0.0
        self.threads = threading.active_count()
        self._stop = False

    async def run(self) -> None:
        last = time.monotonic()
        while not self._stop:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            self.ticks += 1
            self.longest_gap = max(self.longest_gap, now - last)
            self.threads = max(self.threads, threading.active_count())
            last = now

    async def around(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` while watching the loop."""
        task = asyncio.create_task(self.run())
        await asyncio.sleep(0)
        try:
            return await awaitable
        finally:
            self._stop = True
            await task


async def rate(
    operations: int, concurrency: int, call: Callable[[int], Awaitable[Any]]
) -> tuple[float, float, int, float]:
    """``(operations/s, longest loop gap in s, most threads, client CPU s per operation)`` for
    ``operations`` calls by ``concurrency`` coroutines."""
    watch = LoopWatch()
    counter = iter(range(operations))

    async def worker() -> None:
        for index in counter:
            await call(index)

    async def all_workers() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, time.process_time() - cpu

    elapsed, cpu = await watch.around(all_workers())
    return operations / elapsed, watch.longest_gap, watch.threads, cpu / operations


async def one_round(url: str, operations: int, concurrency: int) -> dict[str, float]:
    import flowgen

    from . import apps

    async with flowgen.AsyncEngine(url) as engine:
        warm = [await engine.start(apps.three_steps) for _ in range(20)]
        await engine.send_event(warm[0].run_id, "warm")
        run_ids: list[str] = []

        async def start(_index: int) -> None:
            run_ids.append((await engine.start(apps.three_steps)).run_id)

        async def send(index: int) -> None:
            await engine.send_event(run_ids[index % len(run_ids)], "poke", {"n": index})

        starts, start_gap, start_threads, start_cpu = await rate(operations, concurrency, start)
        sends, send_gap, send_threads, send_cpu = await rate(operations, concurrency, send)
    return {
        "starts_per_s": starts,
        "sends_per_s": sends,
        "start_loop_gap_ms": start_gap * 1000,
        "send_loop_gap_ms": send_gap * 1000,
        "threads": float(max(start_threads, send_threads)),
        "start_cpu_us": start_cpu * 1e6,
        "send_cpu_us": send_cpu * 1e6,
    }


def measure(
    repeat: int, operations: int, concurrency: int, log: Callable[[str], None]
) -> dict[str, list[float]]:
    """Every sample of every figure."""
    from .redis_server import RedisServer

    samples: dict[str, list[float]] = {}
    with RedisServer() as server:
        for round_number in range(1, repeat + 1):
            figures = asyncio.run(one_round(server.url, operations, concurrency))
            for key, value in figures.items():
                samples.setdefault(key, []).append(value)
            log(
                f"round {round_number}: {figures['starts_per_s']:,.0f} starts/s, "
                f"{figures['sends_per_s']:,.0f} sends/s, longest loop gap "
                f"{max(figures['start_loop_gap_ms'], figures['send_loop_gap_ms']):.0f} ms, "
                f"{figures['threads']:.0f} threads"
            )
            server.client().flushdb()
    return samples


def table(samples: dict[str, list[float]], operations: int, concurrency: int) -> str:
    med = {key: statistics.median(values) for key, values in samples.items()}
    rows = [
        (f"await engine.start(...), {concurrency} coroutines", med["starts_per_s"], "/s"),
        (f"await engine.send_event(...), {concurrency} coroutines", med["sends_per_s"], "/s"),
        ("longest event-loop gap during the starts", med["start_loop_gap_ms"], "ms"),
        ("longest event-loop gap during the sends", med["send_loop_gap_ms"], "ms"),
        ("client CPU per start (all threads of the process)", med["start_cpu_us"], "µs"),
        ("client CPU per send", med["send_cpu_us"], "µs"),
        ("most threads in the process", med["threads"], ""),
    ]
    lines = [f"{operations:,} operations per figure, median of {len(samples['starts_per_s'])}", "-" * 78]
    lines += [f"{label:<60} {value:>10,.0f} {unit}" for label, value, unit in rows]
    spread = {k: (max(v) - min(v)) / statistics.median(v) for k, v in samples.items() if k.endswith("_per_s")}
    if len(samples["starts_per_s"]) > 1:
        lines.append("spread ((max - min) / median): " + ", ".join(f"{k} {v:.0%}" for k, v in spread.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.asyncio_client", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument(
        "--operations",
        type=int,
        default=OPERATIONS,
        help=f"starts, then sends, per repetition (default {OPERATIONS})",
    )
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help=f"coroutines making them (default {CONCURRENCY})"
    )
    parser.add_argument("--output", help="also write the samples as JSON to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.operations < 1 or args.concurrency < 1:
        parser.error("--repeat, --operations and --concurrency must be at least 1")
    samples = measure(
        args.repeat, args.operations, args.concurrency, lambda line: print(line, file=sys.stderr)
    )
    print(table(samples, args.operations, args.concurrency))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(
                {"operations": args.operations, "concurrency": args.concurrency, "samples": samples},
                file,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
