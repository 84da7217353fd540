"""``python -m benchmarks.embedded``: the embedded engine on SQLite, in one process.

``Engine("sqlite:///...")`` with its default worker threads, the 3-step no-op workflow of the
throughput phase, measured the way a script that embeds flowgen sees it:

* **throughput**: ``--runs`` runs started with ``engine.start`` one by one, then every result
  awaited; the rate is runs over the time from the first start to the last result, and the
  CPU per workflow is this process's CPU time over the same span (starting, advancing and
  waiting are all in the one process, as with the embedded DBOS peer);
* **idle latency**: ``--probes`` sequential ``engine.start(...).result()`` calls, each after an
  idle gap of 5-20 ms; p50 and p99.

It prints one JSON line. The ``embedded`` phase of ``python -m benchmarks`` runs it in a fresh
process per repetition, alternating with the DBOS peer when one is configured (see
:mod:`benchmarks.peers`).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from .measure import percentile


def measure(runs: int, probes: int, threads: int) -> dict[str, float]:
    """Run both measurements on a fresh SQLite file; return the figures."""
    import flowgen

    from . import apps

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        with flowgen.Engine(url, threads=threads) as engine:
            for _ in range(20):  # imports, statement caches, threads
                engine.start(apps.three_steps).result(timeout=60)
            latencies = []
            for _ in range(probes):
                time.sleep(random.uniform(0.005, 0.02))
                started = time.perf_counter()
                engine.start(apps.three_steps).result(timeout=60)
                latencies.append(time.perf_counter() - started)
            cpu, started = time.process_time(), time.perf_counter()
            handles = [engine.start(apps.three_steps) for _ in range(runs)]
            for handle in handles:
                assert handle.result(timeout=600) == 3
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "rate": runs / elapsed,
        "cpu_us": 1e6 * cpu / runs,
        "latency_idle_p50": percentile(latencies, 0.5),
        "latency_idle_p99": percentile(latencies, 0.99),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedded", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs", type=int, default=3000, help="3-step workflows for the throughput (default 3000)"
    )
    parser.add_argument("--probes", type=int, default=200, help="idle start-to-result probes (default 200)")
    parser.add_argument("--threads", type=int, default=8, help="the engine's worker threads (default 8)")
    options = parser.parse_args(argv)
    print(json.dumps(measure(options.runs, options.probes, options.threads)), flush=True)


if __name__ == "__main__":
    main()
