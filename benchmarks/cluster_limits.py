"""``python -m benchmarks.cluster_limits``: Redis calls per step-limited or rate-limited attempt, on
one node and on a 3-master cluster (docs/scaling.md, "Limits on a cluster").

Store calls only (``take_step`` and, for a step limit, ``release_step``, with no one waiting), on
a private ``redis-server`` and a private local cluster (3 masters, no replicas, persistence
off): script calls (``EVALSHA``) and Redis commands (a script's inner commands count), from
``INFO commandstats`` summed over the masters. The counts are exact, not timings.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import redis

from benchmarks.redis_server import RedisServer
from benchmarks.scaling import _masters

T = 1_000_000.0
GATES = {
    "step limit": [["limit", "step:gpu", 4, 0]],
    "rate limit": [["rate", "rate:api", 1_000_000, 1.0]],
    "step + rate limit": [["limit", "step:gpu", 4, 0], ["rate", "rate:api|x", 1_000_000, 1.0]],
}
SKIPPED = {"cmdstat_info", "cmdstat_config", "cmdstat_cluster", "cmdstat_ping", "cmdstat_command"}


def _counts(masters: list[redis.Redis]) -> tuple[int, int]:
    scripts = commands = 0
    for master in masters:
        for name, stat in master.info("commandstats").items():
            if name in ("cmdstat_evalsha", "cmdstat_eval"):
                scripts += int(stat["calls"])
            if name not in SKIPPED:
                commands += int(stat["calls"])
    return scripts, commands


def measure(url: str, attempts: int) -> dict[str, tuple[float, float]]:
    """Per kind of gate: script calls and commands per attempt."""
    from flowgen.stores.base import NewRun
    from flowgen.urls import open_store

    store = open_store(url, retention=3600, prefix="flowgen")
    masters = _masters(url)
    results: dict[str, tuple[float, float]] = {}
    for kind, gates in GATES.items():
        ids = [f"{kind.replace(' ', '')}-{n}" for n in range(attempts)]
        store.create_runs([NewRun(run_id, "wf", "[[],{}]", "fp", T) for run_id in ids], T, 1.0)
        leases = [store.acquire(run_id, "w", 30, T) for run_id in ids]
        for master in masters:
            master.config_resetstat()
        for index, (run_id, lease) in enumerate(zip(ids, leases, strict=True)):
            assert lease is not None
            now = T + index * 0.001
            assert store.take_step(run_id, lease.epoch, gates, now, T + 30) is None
            if gates[0][0] == "limit":
                store.release_step(run_id, ["step:gpu"], now, 1.0)
        scripts, commands = _counts(masters)
        results[kind] = (scripts / attempts, commands / attempts)
    store.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster_limits", description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=200, help="attempts per kind of gate")
    options = parser.parse_args(argv)
    os.environ.setdefault("FLOWGEN_UNSAFE_REDIS", "ignore")
    from tests.redis_cluster import LocalCluster

    server = RedisServer().start()
    try:
        single = measure(server.url, options.attempts)
    finally:
        server.stop()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="flowgen-bench-cluster-")), replicas=0, persistence=False)
    cluster.start()
    try:
        spread = measure(cluster.url, options.attempts)
    finally:
        cluster.stop()
    print(f"{'per attempt':20} {'single: scripts':>16} {'commands':>9} {'cluster: scripts':>17} {'commands':>9}")
    for kind in GATES:
        print(f"{kind:20} {single[kind][0]:16.2f} {single[kind][1]:9.1f} {spread[kind][0]:17.2f} {spread[kind][1]:9.1f}")


if __name__ == "__main__":
    main()
