"""The capacity phases of ``python -m benchmarks``: retention (memory once finished runs
expire), sleepers (many sleeping runs: Redis and worker memory, timer lateness) and backlog (a
queue several ``grace`` periods long: the reconciler must not enqueue queued runs again)."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

from .measure import LONG_SLEEP, PREFIX, percentile, wait_for
from .redis_server import settle_memory

if TYPE_CHECKING:
    from .run import Runner

BACKLOG_GRACE_PARTS = 5
"""The backlog phase's workers run with a grace this many times shorter than the drain takes."""
MB = 1024 * 1024


def retention(runner: Runner) -> None:
    b, size = runner.b, runner.size
    b.fresh()
    # Long enough that no run expires before the last one completes (so completion can be
    # counted in the status index), short enough to wait out.
    rate = runner.m("flowgen.throughput") if runner.has("flowgen.throughput") else 500.0
    retention = float(max(2, int(2 + 2 * size.retention_runs / rate)))
    runner.extra["retention_seconds_setting"] = retention
    group = b.flowgen_workers(["--retention", repr(retention)])
    try:
        group.wait_ready()
        prefix = PREFIX

        def gone() -> bool:
            return b.client.zcard(f"{prefix}:runs") == 0 and b.client.zcard(f"{prefix}:expiring") == 0

        for _ in range(runner.repeat):
            before = settle_memory(b.client)
            b.start_runs(b.apps.three_steps, size.retention_runs)
            wait_for(
                lambda: b.completed() >= size.retention_runs,
                120,
                "the retention runs to complete",
                group.check_alive,
                interval=0.01,
            )
            done = settle_memory(b.client)
            started = time.monotonic()
            wait_for(gone, 180, "finished runs to expire and be swept", group.check_alive, interval=0.1)
            runner.add("flowgen.retention_seconds", time.monotonic() - started)
            after = settle_memory(b.client)
            runner.add("flowgen.retention_kept_bytes", (done - before) / size.retention_runs)
            runner.add("flowgen.retention_after_bytes", (after - before) / size.retention_runs)
            left = sum(1 for _ in b.client.scan_iter(f"{prefix}:*", count=1000))
            runner.add("flowgen.retention_keys_left", left)
    finally:
        group.stop()
    runner.log(
        f"retention {retention:.0f} s: "
        f"{runner.m('flowgen.retention_kept_bytes'):.0f} B per run while kept, "
        f"{runner.m('flowgen.retention_after_bytes'):.1f} B per run after expiry"
    )


def sleepers(runner: Runner) -> None:
    b, size = runner.b, runner.size
    b.fresh()
    group = b.flowgen_workers()
    try:
        group.wait_ready()
        base = settle_memory(b.client)
        first = max(1, min(1000, size.sleepers // 10))
        b.start_sleepers(first, LONG_SLEEP, group)
        wait_for(
            lambda: b.waiting() >= first,
            120,
            "the first sleepers to park",
            group.check_alive,
            interval=0.02,
        )
        points = [(first, settle_memory(b.client), group.rss())]
        started = time.monotonic()
        for index in range(1, size.sleeper_checkpoints + 1):
            target = first + (size.sleepers - first) * index // size.sleeper_checkpoints
            b.start_sleepers(target - b.waiting(), LONG_SLEEP, group)
            wait_for(
                lambda target=target: b.waiting() >= target,  # type: ignore[misc]
                600,
                f"{target} sleepers to park",
                group.check_alive,
                interval=0.05,
            )
            points.append((target, settle_memory(b.client), group.rss()))
            runner.log(f"{target:,} sleepers parked ({time.monotonic() - started:.0f}s)")
        runner.extra["sleepers_rate"] = (size.sleepers - first) / (time.monotonic() - started)
        runner.extra["sleeper_points"] = [
            {"sleepers": n, "used_memory": memory, "worker_rss": rss} for n, memory, rss in points
        ]
        for (n0, m0, _), (n1, m1, _) in itertools.pairwise(points):
            runner.add("flowgen.sleeping_bytes", (m1 - m0) / (n1 - n0))
        runner.extra["redis_bytes_per_sleeper_overall"] = (points[-1][1] - base) / points[-1][0]
        low = sum(points[0][2]) / len(points[0][2])
        high = sum(points[-1][2]) / len(points[-1][2])
        runner.add("flowgen.worker_rss_low", low / MB)
        runner.add("flowgen.worker_rss_high", high / MB)
        for rep in range(runner.repeat):
            ids = b.start_sleepers(size.late_sleepers, 1.0, group)
            expected = (rep + 1) * size.late_sleepers
            wait_for(
                lambda expected=expected: b.completed() >= expected,  # type: ignore[misc]
                120,
                "the 1-second sleepers to wake",
                group.check_alive,
                interval=0.01,
            )
            late = b.lateness(ids)
            runner.add("flowgen.lateness_p50", percentile(late, 0.5))
            runner.add("flowgen.lateness_p99", percentile(late, 0.99))
            runner.add("flowgen.lateness_max", max(late))
        high_after = group.rss()
        runner.extra["worker_rss_after_lateness"] = high_after
    finally:
        group.stop()
    runner.log(
        f"sleepers: {runner.m('flowgen.sleeping_bytes'):.0f} B each in Redis, worker RSS "
        f"{runner.m('flowgen.worker_rss_low'):.1f} -> {runner.m('flowgen.worker_rss_high'):.1f} MB, "
        f"lateness p99 {runner.m('flowgen.lateness_p99'):.3f} s"
    )


def backlog(runner: Runner) -> None:
    b, size = runner.b, runner.size
    # Without a throughput phase in this run, assume a rate near this machine's (docs/performance.md).
    rate = runner.m("flowgen.throughput") if runner.has("flowgen.throughput") else 2000.0
    grace = round(max(0.2, size.backlog_runs / rate / BACKLOG_GRACE_PARTS), 2)
    runner.extra["backlog_grace_setting"] = grace
    for _ in range(runner.repeat):
        result = b.flowgen_backlog(size.backlog_runs, grace)
        runner.add("flowgen.backlog_rate", result["rate"])
        runner.add("flowgen.backlog_reenqueued", result["reenqueued"] / size.backlog_runs)
    runner.log(
        f"backlog ({size.backlog_runs:,} runs, grace {grace} s): "
        f"{runner.m('flowgen.backlog_rate'):,.0f} workflows/s, "
        f"{runner.m('flowgen.backlog_reenqueued'):.3f} re-enqueued per run"
    )
