"""``python -m benchmarks.asyncio_steps``: async steps awaiting I/O, on ONE worker process with 4 threads.

Issue 17's target: 1,000 runs of a one-step workflow whose async step awaits
``asyncio.sleep(0.2)`` complete in at most 1.5 s on one worker process with 4 threads (bound to
threads, they would take at least 1,000 x 0.2 / 4 = 50 s), and the same with a real local HTTP
server that answers in 200 ms.

Each figure is the time from the ``start_many`` calls that start the 1,000 runs (the worker
already idle and consuming) to the journaled finish of the last run, median of ``--repeat``
repetitions. Baselines measured in the same run, on the same machine:

* the **thread-bound** baseline: the same wait in a sync step (``time.sleep(0.2)``), measured
  with ``--sync-runs`` runs (40 by default: 1,000 would take 50 s) and scaled to 1,000;
* the **HTTP server alone**: 1,000 concurrent requests from this driver (one
  ``aiohttp.ClientSession``) straight to the server, no flowgen.

It starts its own ``redis-server`` on a free port and its own ``flowgen worker
benchmarks.apps --processes 1 --threads 4`` and HTTP server (``benchmarks.slow_http``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from .measure import PREFIX, wait_for
from .redis_server import RedisServer, free_port
from .workers import ROOT, WorkerGroup, start_flowgen

RUNS = 1000
DELAY = 0.2
TARGET = 1.5
THREADS = 4


def finished_times(client: redis.Redis, run_ids: Sequence[str]) -> list[float]:
    pipe = client.pipeline(transaction=False)
    for run_id in run_ids:
        pipe.hget(f"{PREFIX}:{{{run_id}}}:meta", "finished")
    return [float(value) for value in pipe.execute() if value]


def time_runs(
    engine: Any, client: redis.Redis, group: WorkerGroup, workflow: Any, args: tuple[Any, ...], runs: int
) -> float:
    """Start ``runs`` runs (1,000 per ``start_many``); seconds from the first call to the last finish."""
    started = time.time()
    ids: list[str] = []
    for offset in range(0, runs, 1000):
        ids += engine.start_many(workflow, [(args, None, None)] * min(1000, runs - offset)).created

    def all_finished() -> bool:
        return len(finished_times(client, ids)) == len(ids)

    wait_for(all_finished, 120, f"{runs} runs of {workflow.name} to finish", group.check_alive, interval=0.01)
    return max(finished_times(client, ids)) - started


async def direct_requests(url: str, count: int) -> float:
    """Seconds for ``count`` concurrent GETs straight to the server (the HTTP baseline)."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def get() -> int:
            async with http.get(url) as response:
                await response.read()
                return int(response.status)

        await asyncio.gather(*(get() for _ in range(min(count, 50))))  # warm: as warm as the worker's session
        started = time.time()
        statuses = await asyncio.gather(*(get() for _ in range(count)))
        elapsed = time.time() - started
    assert all(status == 200 for status in statuses)
    return elapsed


def start_http_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.slow_http", "--port", str(port), "--delay", str(delay)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert server.stdout is not None
    if server.stdout.readline().strip() != "ready":
        raise RuntimeError("the HTTP server did not start")
    return server, f"http://127.0.0.1:{port}/"


def measure(repeat: int, runs: int, sync_runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Every sample of the three figures and their baselines."""
    import flowgen

    from . import apps

    samples: dict[str, list[float]] = {
        "async_sleep": [],
        "async_http": [],
        "sync_sleep_scaled": [],
        "http_direct": [],
    }
    with RedisServer() as server:
        client = server.client()
        http_server, http_url = start_http_server(DELAY)
        group = start_flowgen(server.url, client, 1, THREADS)
        try:
            group.wait_ready()
            with flowgen.Engine(server.url) as engine:
                # Warm-up: the step loop, the HTTP client's connections, the scripts' SHAs.
                time_runs(engine, client, group, apps.async_sleep, (0.01,), 50)
                time_runs(engine, client, group, apps.async_http, (http_url,), 50)
                for round_number in range(1, repeat + 1):
                    samples["async_sleep"].append(
                        time_runs(engine, client, group, apps.async_sleep, (DELAY,), runs)
                    )
                    samples["async_http"].append(
                        time_runs(engine, client, group, apps.async_http, (http_url,), runs)
                    )
                    samples["http_direct"].append(asyncio.run(direct_requests(http_url, runs)))
                    sync = time_runs(engine, client, group, apps.sync_sleep, (DELAY,), sync_runs)
                    samples["sync_sleep_scaled"].append(sync * runs / sync_runs)
                    log(
                        f"round {round_number}: asyncio.sleep {samples['async_sleep'][-1]:.3f} s, "
                        f"HTTP {samples['async_http'][-1]:.3f} s (server alone {samples['http_direct'][-1]:.3f} s), "
                        f"sync steps {sync:.2f} s for {sync_runs} runs"
                    )
        finally:
            group.stop()
            http_server.terminate()
            http_server.wait(10)
            client.close()
    return samples


def table(samples: dict[str, list[float]], runs: int, sync_runs: int) -> str:
    med = {key: statistics.median(values) for key, values in samples.items()}
    rows = [
        (
            f"{runs:,} runs, async step awaits asyncio.sleep(0.2)",
            med["async_sleep"],
            f"<= {TARGET} s",
            med["async_sleep"] <= TARGET,
        ),
        (
            f"{runs:,} runs, async step GETs a server answering in 200 ms",
            med["async_http"],
            f"<= {TARGET} s",
            med["async_http"] <= TARGET,
        ),
        (f"  baseline: {runs:,} GETs straight to the server", med["http_direct"], "", None),
        (
            f"  baseline: sync step time.sleep(0.2), {sync_runs} runs scaled to {runs:,}",
            med["sync_sleep_scaled"],
            ">= 50 s expected",
            None,
        ),
    ]
    lines = [f"{'figure':<66} {'seconds':>9}  {'target':<17} met", "-" * 100]
    for label, value, target, met in rows:
        shown = "" if met is None else ("yes" if met else "NO")
        lines.append(f"{label:<66} {value:>9.3f}  {target:<17} {shown}")
    spread = {key: (max(v) - min(v)) / statistics.median(v) for key, v in samples.items() if len(v) > 1}
    if spread:
        lines.append("spread ((max - min) / median): " + ", ".join(f"{k} {v:.0%}" for k, v in spread.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.asyncio_steps", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each figure (default 3)")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per figure (default {RUNS})")
    parser.add_argument(
        "--sync-runs", type=int, default=40, help="runs of the thread-bound baseline (default 40)"
    )
    parser.add_argument("--output", help="also write the samples as JSON to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.runs < 1 or args.sync_runs < 1:
        parser.error("--repeat, --runs and --sync-runs must be at least 1")
    samples = measure(args.repeat, args.runs, args.sync_runs, lambda line: print(line, file=sys.stderr))
    print(table(samples, args.runs, args.sync_runs))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump({"runs": args.runs, "sync_runs": args.sync_runs, "samples": samples}, file, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
