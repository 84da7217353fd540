"""What one idle start-to-result probe costs, counted: Redis calls, and CPU per process group.

``python -m benchmarks.idle_counts --count 300`` runs idle 3-step probes (``engine.start(...)``
then ``run.result()``, a pause before each, as the latency phase does) against ``flowgen worker``
processes (2 x 8 threads) on a private Redis, and prints per probe: the calls of every command
``INFO commandstats`` counts (scripts' own calls included, every process's background work too),
the CPU microseconds of Redis, of the worker processes and of this client (the time their
threads ran, from ``/proc/<pid>/task/*/schedstat``), and the
wall-clock quantiles. The counts and CPU times move much less with the machine's load than the
wall clock does (issue 22, wt-idle: docs/performance.md).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import redis

from .measure import CpuMeter, percentile


def commandstats(client: redis.Redis) -> dict[str, int]:
    """``{command: calls}`` of ``INFO commandstats``."""
    info: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(fields["calls"]) for name, fields in info.items()}


def on_cpu_ns(pids: Sequence[int]) -> int:
    """Nanoseconds the processes' threads have run on a CPU (``/proc/<pid>/task/*/schedstat``):
    exact, where psutil's times move in 10 ms ticks."""
    total = 0
    for pid in pids:
        for task in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(task) as stat:
                    total += int(stat.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def measure(bench: Any, group: Any, count: int, gap: float) -> dict[str, Any]:
    """Probe ``count`` times; return per-probe counts, CPU and wall-clock quantiles."""
    client = redis.Redis.from_url(bench.server.url)
    for _ in range(10):  # warm: scripts loaded, connections open, generators cached
        bench.engine.start(bench.apps.three_steps).result(timeout=60)
    before = commandstats(client)
    meter = CpuMeter({"redis": [bench.server.pid], "workers": group.worker_pids()})
    groups = {"redis": [bench.server.pid], "workers": group.worker_pids(), "driver": [os.getpid()]}
    on_cpu = {name: on_cpu_ns(pids) for name, pids in groups.items()}
    samples = []
    for _ in range(count):
        time.sleep(gap)
        started = time.perf_counter()
        bench.engine.start(bench.apps.three_steps).result(timeout=60)
        samples.append(1000 * (time.perf_counter() - started))
    spent = meter.read()
    ran = {name: (on_cpu_ns(pids) - on_cpu[name]) / 1000 / count for name, pids in groups.items()}
    after = commandstats(client)
    client.close()
    calls = {
        name: (after[name] - before.get(name, 0)) / count
        for name in after
        if after[name] > before.get(name, 0)
    }
    return {
        "calls": calls,
        "cpu_us": ran,
        "foreign_cores": spent["foreign"],
        "p50": percentile(samples, 0.5),
        "p99": percentile(samples, 0.99),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from .config import SIZES
    from .measure import Bench, Settings
    from .redis_server import RedisServer

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.idle_counts", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--count", type=int, default=300, help="probes (default 300)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--gap", type=float, default=0.02, help="idle seconds before each probe")
    args = parser.parse_args(argv)
    with RedisServer() as server:
        bench = Bench(
            server, SIZES["small"], Settings(processes=args.processes, threads=args.threads), lambda _t: None
        )
        group = bench.flowgen_workers()
        try:
            group.wait_ready()
            result = measure(bench, group, args.count, args.gap)
        finally:
            group.stop()
            bench.close()
    calls = result["calls"]
    print(
        f"per probe, {args.count} probes: " + ", ".join(f"{name} {calls[name]:.2f}" for name in sorted(calls))
    )
    cpu = result["cpu_us"]
    print(
        "CPU us per probe: "
        + ", ".join(f"{name} {cpu[name]:.0f}" for name in ("redis", "workers", "driver"))
        + f"; other processes {result['foreign_cores']:.2f} cores"
    )
    print(f"wall clock: p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
