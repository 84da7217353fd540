"""``python -m benchmarks.schedules``: how late schedule ticks fire, with many schedules at once.

The question is the p99 **timer lateness** of ticks with 1,000 schedules firing every minute.
Ten minutes of wall time per figure is too long for a noisy shared machine, so the phase
compresses time without changing what lateness depends on: interval ticks are aligned to the
epoch, so all 1,000 schedules tick **in the same second**, every interval. Lateness is then set
by how fast the workers drain a burst of 1,000 due schedules (claim, create 1,000 runs, write
1,000 states), which does not depend on the interval as long as a burst drains before the next
one. The phase runs 1,000 schedules with ``every=5s`` for 30 s (six bursts, 6,000 ticks): the
same bursts as ``every=60s``, twelve times as often, so the harsher case.

Two lateness figures per tick: **created** (the run exists: the schedule's timer fired) and
**woke** (the run's workflow is running: it journals ``flowgen.now()`` first, as
``bench.sleeper(0)`` does). The baseline, measured in the same run on the same workers, is the
lateness of flowgen's own durable timers with the same burst: 1,000 sleeping runs due at the
same instant (``woke - due``), three times. The report also checks that every tick of every
schedule ran once (no gap, no duplicate).

Usage: ``python -m benchmarks.schedules [--schedules 1000] [--every 5] [--duration 30]
[--processes 2] [--threads 4] [--rounds 3]``; it starts its own ``redis-server`` and ``flowgen worker`` s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from typing import Any

import flowgen
from flowgen import slots

from . import apps
from .measure import percentile, wait_for
from .redis_server import RedisServer
from .workers import WorkerGroup, start_flowgen

NAME = "bench-{:04d}"
BASELINE_ROUNDS = 3


def _woke(engine: flowgen.Engine, run_id: str) -> float:
    record = engine.store.get_run(run_id)
    assert record is not None and record.output is not None, run_id
    return float(engine.serializer.decode(record.output, run_id=run_id, slot=slots.output(0)))


def _finished(engine: flowgen.Engine, run_ids: list[str]) -> bool:
    return all((r := engine.store.get_run(run_id)) is not None and r.is_finished for run_id in run_ids)


def baseline(engine: flowgen.Engine, group: WorkerGroup, runs: int, rounds: int) -> list[float]:
    """Lateness of ``runs`` durable sleep timers due at one instant, ``rounds`` times."""
    late: list[float] = []
    for _ in range(rounds):
        due = math.ceil(time.time()) + 3.0
        ids: list[str] = []
        while len(ids) < runs:
            batch = min(1000, runs - len(ids))
            calls = [((due - time.time(),), None, None)] * batch
            ids += engine.start_many(apps.sleeper, calls).created
        wait_for(lambda ids=ids: _finished(engine, ids), 120, "the sleepers to wake", group.check_alive, 0.2)
        for run_id in ids:
            entry = engine.store.read_journal(run_id)[0]
            late.append(_woke(engine, run_id) - float(entry.info["due"]))
    return late


def run(
    schedules: int, every: float, duration: float, processes: int, threads: int, rounds: int = BASELINE_ROUNDS
) -> dict[str, Any]:
    """Run the baseline and the schedule phase; return their figures (seconds)."""
    with RedisServer() as server:
        server.start()
        client = server.client()
        group = start_flowgen(server.url, client, processes, threads)
        try:
            group.wait_ready()
            engine = flowgen.Engine(server.url)
            timers = baseline(engine, group, schedules, rounds)
            for index in range(schedules):
                engine.schedules.create(
                    NAME.format(index),
                    apps.sleeper,
                    every=every,
                    args=(0,),
                    overlap="allow_all",
                    catchup="all",
                )
            end = time.time() + duration
            wait_for(lambda: time.time() >= end, duration + 5, "the phase to end", group.check_alive, 0.2)
            for index in range(schedules):
                engine.schedules.pause(NAME.format(index))
            created: list[float] = []
            woke: list[float] = []
            by_burst: dict[float, list[float]] = {}
            gaps = 0
            ids: list[str] = []
            for index in range(schedules):
                ticks = engine.schedules.store.runs(NAME.format(index), 1000)
                seconds = sorted(tick for _, tick in ticks)
                gaps += sum(1 for a, b in itertools.pairwise(seconds) if abs(b - a - every) > 1e-6)
                ids += [run_id for run_id, _ in ticks]
            wait_for(
                lambda: _finished(engine, ids), 120, "the scheduled runs to finish", group.check_alive, 0.2
            )
            for index in range(schedules):
                for run_id, tick in engine.schedules.store.runs(NAME.format(index), 1000):
                    record = engine.store.get_run(run_id)
                    assert record is not None, run_id
                    created.append(record.created - tick)
                    woke.append(_woke(engine, run_id) - tick)
                    by_burst.setdefault(tick, []).append(record.created - tick)
            engine.close()
        finally:
            group.stop()
    return {
        "schedules": schedules,
        "every": every,
        "duration": duration,
        "processes": processes,
        "threads": threads,
        "ticks": len(created),
        "bursts": len(by_burst),
        "gaps": gaps,
        "tick_created_p50": percentile(created, 0.5),
        "tick_created_p99": percentile(created, 0.99),
        "tick_woke_p50": percentile(woke, 0.5),
        "tick_woke_p99": percentile(woke, 0.99),
        "timer_woke_p50": percentile(timers, 0.5),
        "timer_woke_p99": percentile(timers, 0.99),
        "tick_vs_timer_p99": percentile(woke, 0.99) / percentile(timers, 0.99),
        "burst_created_p99": [round(percentile(late, 0.99), 3) for _, late in sorted(by_burst.items())],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.schedules", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=BASELINE_ROUNDS, help="bursts of the timer baseline")
    args = parser.parse_args(argv)
    figures = run(args.schedules, args.every, args.duration, args.processes, args.threads, args.rounds)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
