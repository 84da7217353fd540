"""``python -m benchmarks.scaling``: what Redis does per workflow, on one node and on a 3-master cluster.

The figures docs/scaling.md checks its model against, measured on a private ``redis-server`` and
on a private local cluster (3 masters, no replicas, persistence off on both):

* per 3-step workflow, advanced by the runtime directly (``engine.runtime.advance``, no
  Dramatiq, as ``benchmarks.engine_work`` does): Redis commands, script calls, bytes in and
  out, and **Redis CPU** (``used_cpu_sys + used_cpu_user`` of every master, per workflow), with
  the share each master carried;
* memory (``used_memory``) per completed run (kept for its retention) and per sleeping run;
* wall-clock workflows/s with ``--threads`` client threads (on a shared 2-core machine this says
  little about a cluster, whose nodes share those cores: the CPU per node is the figure that
  scales).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

from benchmarks.redis_server import RedisServer


def _masters(url: str) -> list[redis.Redis]:
    if url.startswith("redis+cluster://"):
        ports = [int(node.rsplit(":", 1)[1]) for node in url.split("://", 1)[1].split(",")]
        clients = [redis.Redis(port=port) for port in ports]
        return [client for client in clients if client.info("replication")["role"] == "master"]
    return [redis.Redis.from_url(url)]


def _totals(masters: list[redis.Redis]) -> list[dict[str, float]]:
    out = []
    for client in masters:
        info = client.info()
        calls = sum(v["calls"] for k, v in client.info("commandstats").items() if k != "cmdstat_info")
        out.append(
            {
                "cpu": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
                "memory": float(info["used_memory"]),
                "bytes": float(info["total_net_input_bytes"]) + float(info["total_net_output_bytes"]),
                "commands": float(calls),
                "scripts": float(
                    sum(
                        v["calls"]
                        for k, v in client.info("commandstats").items()
                        if k in ("cmdstat_evalsha", "cmdstat_eval")
                    )
                ),
            }
        )
    return out


def _delta(before: list[dict[str, float]], after: list[dict[str, float]], field: str) -> list[float]:
    return [b[field] - a[field] for a, b in zip(before, after, strict=True)]


def measure(url: str, runs: int, sleepers: int, threads: int) -> dict[str, Any]:
    """The figures of one deployment (``url``: a single Redis or a cluster)."""
    import flowgen
    from benchmarks import apps

    masters = _masters(url)
    with flowgen.Engine(url) as engine:
        broker: Any = engine.transport.broker  # type: ignore[attr-defined]

        def totals() -> list[dict[str, float]]:
            # no worker consumes the start messages here: drop them, so memory is the runs' own
            broker.flush(engine.transport.queue)  # type: ignore[attr-defined]
            return _totals(masters)

        def one(_index: int) -> None:
            engine.runtime.advance(engine.start(apps.three_steps).run_id)

        for index in range(20):  # warm-up: scripts loaded, caches warm
            one(index)
        before = totals()
        began = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(runs)))
        elapsed = time.monotonic() - began
        after = totals()
        cpu = _delta(before, after, "cpu")
        # what the nodes spend doing nothing (cron, cluster bus) over as long, not the workflows'
        idle_before, pause = _totals(masters), min(elapsed, 5.0)
        time.sleep(pause)
        idle = sum(_delta(idle_before, _totals(masters), "cpu")) / pause * elapsed
        figures: dict[str, Any] = {
            "workflows_per_s": runs / elapsed,
            "redis_cpu_us_per_workflow": sum(cpu) / runs * 1e6,
            "net_of_idle_cpu_us": (sum(cpu) - idle) / runs * 1e6,
            "cpu_share_per_master": [round(c / sum(cpu), 3) if sum(cpu) else 0.0 for c in cpu],
            "commands_per_workflow": sum(_delta(before, after, "commands")) / runs,
            "scripts_per_workflow": sum(_delta(before, after, "scripts")) / runs,
            "bytes_per_workflow": sum(_delta(before, after, "bytes")) / runs,
            "memory_per_completed_run": sum(_delta(before, after, "memory")) / runs,
        }
        before = totals()
        with ThreadPoolExecutor(threads) as pool:
            list(
                pool.map(
                    lambda _i: engine.runtime.advance(engine.start(apps.sleeper, 86400.0).run_id),
                    range(sleepers),
                )
            )
        after = totals()
        figures["memory_per_sleeping_run"] = sum(_delta(before, after, "memory")) / sleepers
        figures["memory_share_per_master"] = [
            round(m / sum(_delta(before, after, "memory")), 3) for m in _delta(before, after, "memory")
        ]
    for client in masters:
        client.close()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="3-step workflows per measurement")
    parser.add_argument("--sleepers", type=int, default=2000, help="sleeping runs for the memory figure")
    parser.add_argument("--threads", type=int, default=4, help="client threads advancing runs")
    parser.add_argument(
        "--repeat", type=int, default=3, help="measurements of each deployment (medians shown)"
    )
    options = parser.parse_args(argv)
    os.environ.setdefault("FLOWGEN_UNSAFE_REDIS", "ignore")
    from tests.redis_cluster import LocalCluster

    results: dict[str, list[dict[str, Any]]] = {"single": [], "cluster": []}
    for _ in range(options.repeat):
        server = RedisServer().start()
        try:
            results["single"].append(measure(server.url, options.runs, options.sleepers, options.threads))
        finally:
            server.stop()
        cluster = LocalCluster(
            Path(tempfile.mkdtemp(prefix="flowgen-bench-cluster-")), replicas=0, persistence=False
        )
        cluster.start()
        try:
            results["cluster"].append(measure(cluster.url, options.runs, options.sleepers, options.threads))
        finally:
            cluster.stop()
    for name, measured in results.items():
        print(f"{name} (median of {len(measured)}):")
        for field in measured[0]:
            values = [m[field] for m in measured]
            shown = (
                values[len(values) // 2]
                if isinstance(values[0], list)
                else round(statistics.median(values), 1)
            )
            print(f"  {field:28} {shown}")


if __name__ == "__main__":
    main()
