"""The measurements: each returns one sample per repetition; the driver keeps the medians.

Both sides are measured the same way:

* **throughput**: ``runs`` 3-step workflow runs (``engine.start_many``, 1,000 per call) or
  ``runs`` raw no-op messages (the same pipelined ``dispatch`` script calls) are queued
  *before* the workers start; the rate is ``(runs - 1) / (last completion - first
  completion)``, so worker start-up is not counted on either side.
* **latency**: sequential probes, each started after a short idle gap: ``engine.start`` then
  ``run.result()`` for flowgen, a ``ping`` message answered on a Redis list for raw Dramatiq;
  "under load" runs the same probes while :mod:`benchmarks.load` keeps the system at half its
  measured throughput.
* **memory**: Redis ``used_memory`` before and after, divided by the number of runs (or
  messages); worker memory is the resident set size of each worker process.
"""

from __future__ import annotations

import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import psutil
import redis

from .config import Size
from .redis_server import RedisServer, settle_memory
from .workers import ROOT, WorkerGroup, start_flowgen, start_raw, worker_env

PREFIX = "flowgen"
FLOWGEN_QUEUE = "flowgen-dramatiq:flowgen"
RAW_QUEUE = "dramatiq:bench"
LONG_SLEEP = 3600.0
REENQUEUED = re.compile(r"reconciler: enqueued (\d+) ready run")
"""The reconciler's log line (``flowgen.services``) and the count it carries."""


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank, so p99 of 100 is the 99th)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(fraction * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    check: Callable[[], None] | None = None,
    interval: float = 0.005,
) -> None:
    """Poll ``condition`` until true; raise after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class CpuMeter:
    """CPU used by our processes (Redis, workers, this driver) and by everything else on the machine.

    The machine is shared; "foreign" CPU (other processes) during a measurement is the best
    indicator of how much that measurement was disturbed, so it is recorded with the figures.
    The CPU seconds our own processes spent per workflow (or message) is the figure least
    moved by that noise.
    """

    def __init__(self, groups: dict[str, Sequence[int]]) -> None:
        self.groups: dict[str, list[psutil.Process]] = {}
        for name, pids in {**groups, "driver": [os.getpid()]}.items():
            self.groups[name] = []
            for pid in pids:
                try:
                    self.groups[name].append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    continue
        self.started = time.monotonic()
        self.machine = self._machine()
        self.before = {name: self._cpu(processes) for name, processes in self.groups.items()}

    @staticmethod
    def _machine() -> float:
        times = psutil.cpu_times()
        return float(
            times.user
            + times.nice
            + times.system
            + getattr(times, "irq", 0)
            + getattr(times, "softirq", 0)
            + getattr(times, "steal", 0)
        )

    @staticmethod
    def _cpu(processes: Sequence[psutil.Process]) -> float:
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def read(self) -> dict[str, float]:
        """CPU seconds of each group since the start, and the cores other processes used on average."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        spent = {name: self._cpu(processes) - self.before[name] for name, processes in self.groups.items()}
        machine = self._machine() - self.machine
        return {**spent, "elapsed": elapsed, "foreign": max(0.0, machine - sum(spent.values())) / elapsed}

    def per_item_us(self, spent: dict[str, float], items: int, done_before: int) -> dict[str, float]:
        """CPU microseconds per item of each group, over the items done after the meter started.

        The meter starts once every worker process is ready, and on a loaded machine the first
        process can finish items while the last one boots: those ``done_before`` items are left
        out of the count, so their CPU (spent before the meter started) is not spread over them.
        When none was left (a tiny run on a crowded machine), each group's CPU since its
        processes started is used instead: it includes start-up, so the figure is an upper bound.
        """
        measured = items - done_before
        if measured > 0:
            return {name: 1e6 * spent[name] / measured for name in self.groups}
        return {name: 1e6 * self._cpu(processes) / items for name, processes in self.groups.items()}


@attrs.define
class Settings:
    """Worker settings shared by both sides of every comparison."""

    processes: int = 2
    threads: int = 8
    flowgen_args: tuple[str, ...] = ()
    unix_socket: bool = False


class Bench:
    """Runs the measurements against one private Redis server."""

    def __init__(
        self, server: RedisServer, size: Size, settings: Settings, log: Callable[[str], None]
    ) -> None:
        self.server = server
        self.url = server.url
        self.size = size
        self.settings = settings
        self.log = log
        self.client: redis.Redis = server.client()
        self.rng = random.Random(7)
        # benchmarks.raw_app builds its broker at import, from this variable: one Bench per process.
        os.environ["FLOWGEN_BENCH_REDIS_URL"] = self.url
        import flowgen

        from . import apps, raw_app

        self.flowgen = flowgen
        self.apps = apps
        self.raw = raw_app
        self.engine = flowgen.Engine(self.url)

    def close(self) -> None:
        self.engine.close()
        self.client.close()

    # -- worker groups --------------------------------------------------------------------

    def raw_workers(self, prefetch: int | None = None) -> WorkerGroup:
        s = self.settings
        return start_raw(self.url, self.client, s.processes, s.threads, prefetch)

    def flowgen_workers(
        self, extra: Sequence[str] = (), env: dict[str, str] | None = None, module: str = "benchmarks.apps"
    ) -> WorkerGroup:
        s = self.settings
        return start_flowgen(
            self.url, self.client, s.processes, s.threads, [*s.flowgen_args, *extra], env=env, module=module
        )

    def fresh(self) -> None:
        """Empty the database (Lua scripts stay cached, so memory deltas do not include them)."""
        self.client.flushall()

    # -- throughput -------------------------------------------------------------------------

    def raw_counts(self) -> tuple[int, float, float]:
        """(messages run, first start, last start) over all raw worker processes."""
        total, firsts, lasts = 0, [], []
        for key in self.client.scan_iter(f"{self.raw.STATS_PREFIX}*"):
            fields = self.client.hgetall(key)
            if not fields:
                continue
            total += int(fields[b"count"])
            firsts.append(float(fields[b"first"]))
            lasts.append(float(fields[b"last"]))
        return total, min(firsts, default=0.0), max(lasts, default=0.0)

    def raw_throughput(self, runs: int, prefetch: int | None = None) -> dict[str, float]:
        """One repetition: queue ``runs`` no-op messages, start the workers, time first to last."""
        self.fresh()
        started = time.perf_counter()
        self.raw.enqueue_many(self.raw.noop, [()] * runs)
        enqueue_rate = runs / (time.perf_counter() - started)
        group = self.raw_workers(prefetch)
        try:
            group.wait_ready()
            meter = CpuMeter({"redis": [self.server.pid], "workers": group.worker_pids()})
            done_before = self.raw_counts()[0]
            wait_for(
                lambda: self.raw_counts()[0] >= runs,
                60 + runs / 100,
                "raw Dramatiq to run every message",
                group.check_alive,
                interval=0.01,
            )
            cpu = meter.read()
            per_item = meter.per_item_us(cpu, runs, done_before)
            _count, first, last = self.raw_counts()
            rss = group.rss()
        finally:
            group.stop()
        return {
            "rate": (runs - 1) / max(last - first, 1e-9),
            "enqueue_rate": enqueue_rate,
            "rss": statistics.mean(rss) if rss else 0.0,
            "foreign_cpu": cpu["foreign"],
            "worker_cpu_us": per_item["workers"],
            "redis_cpu_us": per_item["redis"],
        }

    def raw_queued_memory(self, messages: int) -> float:
        """Redis bytes per queued (not yet consumed) raw Dramatiq message."""
        self.fresh()
        before = settle_memory(self.client)
        self.raw.enqueue_many(self.raw.noop, [()] * messages)
        after = settle_memory(self.client)
        self.fresh()
        return (after - before) / messages

    def start_runs(
        self, workflow: Any, count: int, args: tuple[Any, ...] = (), engine: Any = None
    ) -> list[str]:
        """Start ``count`` runs with ``engine.start_many``, 1,000 per call; return their ids."""
        engine = engine or self.engine
        ids: list[str] = []
        for offset in range(0, count, 1000):
            batch = min(1000, count - offset)
            ids += engine.start_many(workflow, [(args, None, None)] * batch).created
        return ids

    def completed(self) -> int:
        return int(self.client.zcard(f"{PREFIX}:status:completed"))

    def finished_times(self, run_ids: Sequence[str]) -> list[float]:
        pipe = self.client.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hget(f"{PREFIX}:{{{run_id}}}:meta", "finished")
        return [float(value) for value in pipe.execute() if value]

    def wait_completed(self, runs: int, group: WorkerGroup, what: str) -> None:
        """Wait until ``runs`` runs completed, failing early if the workers exit."""
        wait_for(lambda: self.completed() >= runs, 60 + runs / 50, what, group.check_alive, interval=0.01)

    def completion_rate(self, run_ids: Sequence[str]) -> float:
        """Runs completed per second from the first completion to the last (start-up not counted)."""
        times = self.finished_times(run_ids)
        return (len(times) - 1) / max(max(times) - min(times), 1e-9)

    def flowgen_throughput(
        self,
        runs: int,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
        module: str = "benchmarks.apps",
    ) -> dict[str, float]:
        """One repetition: queue ``runs`` 3-step runs, start the workers, time first to last completion.

        Also reads Redis memory per completed run (default retention keeps finished runs).
        ``extra``, ``env`` and ``module``: the workers' extra arguments, environment and module.
        """
        self.fresh()
        before = settle_memory(self.client)
        started = time.perf_counter()
        ids = self.start_runs(self.apps.three_steps, runs)
        start_rate = runs / (time.perf_counter() - started)
        group = self.flowgen_workers(extra, env, module)
        try:
            group.wait_ready()
            meter = CpuMeter({"redis": [self.server.pid], "workers": group.worker_pids()})
            done_before = self.completed()
            self.wait_completed(runs, group, "flowgen to complete every run")
            cpu = meter.read()
            per_item = meter.per_item_us(cpu, runs, done_before)
            rss = group.rss()
        finally:
            group.stop()
        rate = self.completion_rate(ids)
        after = settle_memory(self.client)
        return {
            "rate": rate,
            "start_rate": start_rate,
            "rss": statistics.mean(rss) if rss else 0.0,
            "completed_bytes": (after - before) / runs,
            "foreign_cpu": cpu["foreign"],
            "worker_cpu_us": per_item["workers"],
            "redis_cpu_us": per_item["redis"],
        }

    def flowgen_backlog(self, runs: int, grace: float) -> dict[str, float]:
        """One repetition: ``runs`` queued at once, drained by workers with a short ``grace``.

        Every run waits in the queue longer than ``grace``: the reconciler must tell a run
        still queued from a lost one. Returns the drain rate and how many runs the reconciler
        enqueued again (read from its log lines).
        """
        self.fresh()
        # The starting engine sets when the reconciler first looks at a run: use the same grace.
        with self.flowgen.Engine(self.url, grace=grace, start_workers=False) as engine:
            ids = self.start_runs(self.apps.three_steps, runs, engine=engine)
        group = self.flowgen_workers(["--grace", repr(grace), "--log-level", "INFO"])
        try:
            group.wait_ready()
            self.wait_completed(runs, group, "flowgen to drain the backlog")
            log = group.log_text()
        finally:
            group.stop()
        return {
            "rate": self.completion_rate(ids),
            "reenqueued": float(sum(int(m) for m in REENQUEUED.findall(log))),
        }

    # -- latency ----------------------------------------------------------------------------

    def _gap(self) -> None:
        low, high = self.size.probe_gap
        if high > 0:
            time.sleep(self.rng.uniform(low, high))

    def flowgen_probe(self) -> float:
        started = time.perf_counter()
        run = self.engine.start(self.apps.three_steps)
        run.result(timeout=60)
        return time.perf_counter() - started

    def raw_probe(self) -> float:
        reply = f"bench:reply:{self.rng.random()}"
        started = time.perf_counter()
        self.raw.ping.send(reply)
        answer = self.client.blpop([reply], timeout=60)
        if answer is None:
            raise TimeoutError("raw Dramatiq did not answer a ping within 60s")
        return time.perf_counter() - started

    def probes(self, probe: Callable[[], float], count: int) -> list[float]:
        samples = []
        for _ in range(count):
            self._gap()
            samples.append(probe())
        return samples

    def with_load(
        self, kind: str, rate: float, body: Callable[[], Any], warmup: float = 1.0
    ) -> tuple[Any, str]:
        """Run ``body`` while a :mod:`benchmarks.load` process sends ``rate`` per second.

        Returns what ``body`` returned and what the load generator reported.
        """
        command = [sys.executable, "-m", "benchmarks.load", kind, self.url, f"{rate:.1f}", "3600"]
        load = subprocess.Popen(
            command, cwd=ROOT, env=worker_env(self.url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            time.sleep(warmup)
            if load.poll() is not None:
                raise RuntimeError(
                    f"the load generator exited early: {load.communicate()[0].decode(errors='replace')}"
                )
            result = body()
        finally:
            load.terminate()
            output, _ = load.communicate(timeout=60)
        if load.returncode != 0:
            raise RuntimeError(f"the load generator failed: {output.decode(errors='replace')}")
        return result, output.decode(errors="replace").strip()

    def drain(self, queue: str, check: Callable[[], None]) -> None:
        """Wait until the Dramatiq queue is empty (the previous load has been consumed)."""
        wait_for(lambda: self.client.llen(queue) == 0, 300, f"queue {queue} to drain", check, interval=0.05)

    # -- per-step cost ----------------------------------------------------------------------

    def step_cost(self, workflow: Any, k: int, runs: int) -> float:
        """Seconds per step: the mean start-to-result time of ``runs`` runs of ``k`` steps, over ``k``."""
        total = 0.0
        for _ in range(runs):
            started = time.perf_counter()
            self.engine.start(workflow, k).result(timeout=600)
            total += time.perf_counter() - started
        return total / runs / k

    # -- sleepers -----------------------------------------------------------------------------

    def waiting(self) -> int:
        return int(self.client.zcard(f"{PREFIX}:status:waiting"))

    def start_sleepers(self, count: int, seconds: float, group: WorkerGroup) -> list[str]:
        """Start ``count`` sleepers, 1,000 at a time, never letting the queue grow past a few thousand."""
        ids: list[str] = []
        while len(ids) < count:
            while self.client.llen(FLOWGEN_QUEUE) > 4000:
                group.check_alive()
                time.sleep(0.02)
            batch = min(1000, count - len(ids))
            ids += self.engine.start_many(self.apps.sleeper, [((seconds,), None, None)] * batch).created
        return ids

    def lateness(self, run_ids: Sequence[str]) -> list[float]:
        """Seconds between each sleeper's due time (journaled) and when it woke (its output)."""
        from flowgen import slots
        from flowgen.journal import Entry

        pipe = self.client.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.lindex(f"{PREFIX}:{{{run_id}}}:journal", 0)
            pipe.hget(f"{PREFIX}:{{{run_id}}}:meta", "output")
        replies = pipe.execute()
        late = []
        for index, run_id in enumerate(run_ids):
            entry_text, output = replies[2 * index], replies[2 * index + 1]
            due = float(Entry.from_json(entry_text).info["due"])
            woke = float(self.engine.serializer.decode(output.decode(), run_id=run_id, slot=slots.output(0)))
            late.append(woke - due)
        return late
