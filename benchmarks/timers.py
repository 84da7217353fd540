"""Lateness of short timers (issue 22, target 5): waits shorter than the timer poll interval.

``bench.sleeper`` runs sleep a random 10-900 ms, started at a steady pace so that their timers
fall due spread over time, and each journals when it woke; lateness is that time less the
journaled due time. The timer poll interval stays 100 ms: a timer is fired at its due time by
the process that parked the run on it (the poll is the safety net), so lateness is what is left
of sending the message and a worker resuming the run.

``python -m benchmarks.timers`` measures on Redis (``flowgen worker`` processes) and embedded
(SQLite, in this process); ``python -m benchmarks --only timers`` measures Redis within the
full benchmark. Target: p99 <= 10 ms for timers due within the next second.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from .measure import percentile

SHORTEST, LONGEST = 0.01, 0.9
TARGET_MS = 10.0
PACE = 100.0
"""Sleepers started per second."""


def start_paced(engine: Any, workflow: Any, count: int, rng: random.Random) -> list[str]:
    """Start ``count`` sleepers of random short durations at :data:`PACE` per second."""
    ids = []
    began = time.perf_counter()
    for index in range(count):
        ahead = began + index / PACE - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        ids.append(engine.start(workflow, rng.uniform(SHORTEST, LONGEST)).run_id)
    return ids


def lateness(engine: Any, run_ids: Sequence[str]) -> list[float]:
    """Seconds between each sleeper's journaled due time and the time it woke (its result)."""
    late = []
    for run_id in run_ids:
        woke = float(engine.result(run_id, timeout=60))
        late.append(woke - float(engine.journal(run_id)[0]["info"]["due"]))
    return late


def phase(runner: Any) -> None:
    """The ``timers`` phase of ``python -m benchmarks``: short timers on Redis workers."""
    b = runner.b
    b.fresh()
    group = b.flowgen_workers()
    try:
        group.wait_ready()
        for rep in range(runner.repeat):
            ids = start_paced(b.engine, b.apps.sleeper, runner.size.late_sleepers, random.Random(rep))
            late = lateness(b.engine, ids)
            runner.add("flowgen.short_timer_lateness_p50", percentile(late, 0.5))
            runner.add("flowgen.short_timer_lateness_p99", percentile(late, 0.99))
    finally:
        group.stop()
    runner.log(
        f"short timers: lateness p50 {1000 * runner.m('flowgen.short_timer_lateness_p50'):.1f} ms, "
        f"p99 {1000 * runner.m('flowgen.short_timer_lateness_p99'):.1f} ms"
    )


def figures(fig: Callable[..., Any]) -> None:
    """The phase's rows of the table."""
    for quantile in ("p50", "p99"):
        figure = fig(
            f"flowgen.short_timer_lateness_{quantile}",
            f"(t) timer lateness {quantile}, sleeps of 10-900 ms (poll every 100 ms)",
            "ms",
            1000.0,
            target="<= 10 ms" if quantile == "p99" else "",
        )
        if figure is not None and quantile == "p99":
            figure.met = figure.value <= TARGET_MS


def embedded(count: int) -> list[float]:
    """Lateness of ``count`` short sleepers on an embedded SQLite engine in this process."""
    import flowgen

    from . import apps

    with (
        tempfile.TemporaryDirectory(prefix="flowgen-timers-") as directory,
        flowgen.Engine(f"sqlite:///{directory}/timers.sqlite3") as engine,
    ):
        return lateness(engine, start_paced(engine, apps.sleeper, count, random.Random(1)))


def redis_side(count: int, processes: int, threads: int) -> list[float]:
    """Lateness of ``count`` short sleepers on ``flowgen worker`` processes and a private Redis."""
    from .config import SIZES
    from .measure import Bench, Settings
    from .redis_server import RedisServer

    with RedisServer() as server:
        bench = Bench(server, SIZES["small"], Settings(processes=processes, threads=threads), lambda _t: None)
        group = bench.flowgen_workers()
        try:
            group.wait_ready()
            return lateness(
                bench.engine, start_paced(bench.engine, bench.apps.sleeper, count, random.Random(1))
            )
        finally:
            group.stop()
            bench.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.timers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--timers", type=int, default=1000, help="sleepers per store (default 1000)")
    parser.add_argument("--store", choices=("redis", "sqlite", "both"), default="both")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    results = {}
    if args.store in ("redis", "both"):
        results["redis"] = redis_side(args.timers, args.processes, args.threads)
    if args.store in ("sqlite", "both"):
        results["sqlite"] = embedded(args.timers)
    for name, late in results.items():
        print(
            f"{name}: {len(late)} timers of 10-900 ms, lateness p50 {1000 * percentile(late, 0.5):.1f} ms, "
            f"p99 {1000 * percentile(late, 0.99):.1f} ms, max {1000 * max(late):.1f} ms (target p99 <= 10 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
