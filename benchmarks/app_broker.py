"""The ``app_broker`` phase: flowgen on an app's plain broker under ``dramatiq`` vs ``flowgen worker``.

Both sides run the throughput measurement of :meth:`benchmarks.measure.Bench.flowgen_throughput`
(3-step workflows queued before the workers start, first to last completion), interleaved
repetition by repetition, with the same processes and threads:

* ``flowgen worker benchmarks.apps``: flowgen's own ``DoorbellRedisBroker`` (doorbell wake-up,
  batched fetches and acks);
* ``dramatiq benchmarks.app_broker_app``: the app's plain ``RedisBroker`` with Dramatiq's
  default middleware, flowgen added with ``Engine(url, broker=broker)`` (docs/dramatiq.md).

The ratio is what the Redis-specific speed-ups are worth on this workload. With
``FLOWGEN_BENCH_APP_BROKER_URL=amqp://...`` (a RabbitMQ server you started) the app's broker is
a ``RabbitmqBroker`` there instead; flowgen's store stays on the bench's Redis.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

import dramatiq

from .measure import Bench, CpuMeter
from .redis_server import settle_memory
from .report import Figure, med
from .workers import WorkerGroup, worker_env

if TYPE_CHECKING:
    from .run import Runner

NAMESPACE = "bench-app"
"""The app broker's Redis namespace (its queues and heartbeats), apart from the other sides'."""
BOOTED = "flowgen services started"
"""What each ``dramatiq`` worker process logs once flowgen's middleware has started its services."""


def app_broker_kind() -> str:
    return "RabbitmqBroker" if os.environ.get("FLOWGEN_BENCH_APP_BROKER_URL") else "RedisBroker"


def app_broker(redis_url: str) -> dramatiq.Broker:
    """The app's broker: a ``RabbitmqBroker`` if ``$FLOWGEN_BENCH_APP_BROKER_URL``, else a ``RedisBroker``."""
    amqp = os.environ.get("FLOWGEN_BENCH_APP_BROKER_URL")
    if amqp:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=amqp)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=redis_url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]


class AppWorkerGroup(WorkerGroup):
    """``dramatiq`` CLI workers of the app: ready once every process started flowgen's services."""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.log_text().count(BOOTED) < self.processes:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dramatiq workers did not start within {timeout}s:\n{self.log_text()[-4000:]}"
                )
            time.sleep(0.02)


def app_workers(bench: Bench) -> WorkerGroup:
    """Start ``dramatiq benchmarks.app_broker_app`` with the bench's processes and threads."""
    s = bench.settings
    command = [sys.executable, "-m", "dramatiq", "benchmarks.app_broker_app"]
    command += ["--processes", str(s.processes), "--threads", str(s.threads)]
    heartbeats = f"{NAMESPACE}:__heartbeats__"
    return AppWorkerGroup(
        "dramatiq-app", command, worker_env(bench.url), s.processes, heartbeats, bench.client
    )


def app_throughput(bench: Bench, runs: int) -> dict[str, float]:
    """One repetition on the app's broker: queue ``runs`` 3-step runs, start the workers, time them."""
    import flowgen

    bench.fresh()
    settle_memory(bench.client)
    broker = app_broker(bench.url)
    broker.flush_all()  # a RabbitMQ server outlives the bench's Redis: drop earlier messages
    started = time.perf_counter()
    with flowgen.Engine(bench.url, broker=broker) as engine:
        ids = bench.start_runs(bench.apps.three_steps, runs, engine=engine)
    start_rate = runs / (time.perf_counter() - started)
    broker.close()
    group = app_workers(bench)
    try:
        group.wait_ready()
        meter = CpuMeter({"redis": [bench.server.pid], "workers": group.worker_pids()})
        done_before = bench.completed()
        bench.wait_completed(runs, group, "dramatiq CLI workers to complete every run")
        cpu = meter.read()
        per_item = meter.per_item_us(cpu, runs, done_before)
        rss = group.rss()
    finally:
        group.stop()
    return {
        "rate": bench.completion_rate(ids),
        "start_rate": start_rate,
        "rss": statistics.mean(rss) if rss else 0.0,
        "foreign_cpu": cpu["foreign"],
        "worker_cpu_us": per_item["workers"],
        "redis_cpu_us": per_item["redis"],
    }


def measure(runner: Runner) -> None:
    """``flowgen worker`` and ``dramatiq`` CLI workers on a plain broker, interleaved."""
    b, size = runner.b, runner.size
    for rep in range(runner.repeat):
        own = b.flowgen_throughput(size.runs)
        app = app_throughput(b, size.runs)
        runner.add("app_broker.own_throughput", own["rate"])
        runner.add("app_broker.throughput", app["rate"])
        runner.add("app_broker.ratio", app["rate"] / own["rate"])
        runner.add("app_broker.start_rate", app["start_rate"])
        for name, result in (("own", own), ("app", app)):
            runner.add(f"app_broker.{name}_worker_cpu_us", result["worker_cpu_us"])
            runner.add(f"app_broker.{name}_redis_cpu_us", result["redis_cpu_us"])
            runner.extra.setdefault("foreign_cpu", {}).setdefault(f"app_broker.{name}", []).append(
                round(result["foreign_cpu"], 3)
            )
        runner.extra["app_broker"] = app_broker_kind()
        runner.log(
            f"#{rep + 1}: flowgen worker {own['rate']:,.0f} workflows/s, dramatiq CLI on a plain "
            f"{app_broker_kind()} {app['rate']:,.0f} workflows/s = {app['rate'] / own['rate']:.2f}x; CPU per "
            f"workflow (workers+Redis): {own['worker_cpu_us']:.0f}+{own['redis_cpu_us']:.0f} us vs "
            f"{app['worker_cpu_us']:.0f}+{app['redis_cpu_us']:.0f} us"
        )


def figures(runner: Runner) -> list[Figure]:
    """The phase's figures (none when it did not run)."""
    s: dict[str, list[float]] = runner.samples
    if not s.get("app_broker.throughput"):
        return []
    own = med(s["app_broker.own_throughput"])
    kind = runner.extra.get("app_broker", "RedisBroker")
    found: list[Figure] = [
        Figure(
            key="app_broker.own_throughput",
            label="(g) 3-step workflows/s, flowgen worker (own broker)",
            unit="/s",
            value=own,
            samples=s["app_broker.own_throughput"],
            note="DoorbellRedisBroker: doorbell wake-up, batched fetches and acks",
        ),
        Figure(
            key="app_broker.throughput",
            label=f"(g) 3-step workflows/s, dramatiq CLI on a plain {kind}",
            unit="/s",
            value=med(s["app_broker.throughput"]),
            samples=s["app_broker.throughput"],
            baseline=own,
            baseline_label="flowgen worker workflows/s (same run)",
            ratio=med(s["app_broker.ratio"]),
            note="Engine(url, broker=app broker), Dramatiq's default middleware; ratio: median per repetition",
        ),
    ]
    for part, words in (("worker", "worker"), ("redis", "Redis")):
        values: Any = s.get(f"app_broker.app_{part}_cpu_us")
        if values:
            base = med(s[f"app_broker.own_{part}_cpu_us"])
            found.append(
                Figure(
                    key=f"app_broker.{part}_cpu_us",
                    label=f"(g) {words} CPU per workflow, dramatiq CLI on a plain {kind}",
                    unit="us",
                    value=med(values),
                    samples=list(values),
                    baseline=base,
                    baseline_label=f"{words} CPU per workflow, flowgen worker",
                    ratio=med(values) / base if base else None,
                )
            )
    return found
