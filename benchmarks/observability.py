"""The ``observability`` phase: 3-step throughput with flowgen's metrics and tracing off and on.

Per repetition, interleaved (so the machine's background load moves all of them), each
repetition starting with the next variant (so none always runs after the same one):

* ``off``: ``FLOWGEN_TRACING=0``, no ``--metrics-port``;
* ``metrics``: ``--metrics-port`` (the supervisor's exporter, workers in multiprocess mode),
  scraped every second during the measurement as Prometheus would;
* ``tracing``: ``FLOWGEN_TRACING=1`` with the OpenTelemetry SDK installed in the workers
  (``benchmarks.apps_traced``: batch processor, spans dropped);
* ``otel_api_only``: the default when ``opentelemetry-api`` is installed but no SDK is
  configured (tracing on, every span a no-op).

The figures are each variant's rate over ``off``'s in the same repetition. The API-only variant
does no work per run (no tracer provider: no fact is built), so its ratio is an A/A control: how
far two identical configurations differ on this machine in this run.
``FLOWGEN_BENCH_OBSERVABILITY="off metrics"`` runs only the variants it names (``off`` always).
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

VARIANTS = ("off", "metrics", "tracing", "otel_api_only")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Scraper:
    """Scrapes a metrics endpoint every ``interval`` seconds in a thread, as Prometheus would."""

    def __init__(self, port: int, interval: float = 1.0) -> None:
        self.port, self.interval = port, interval
        self.stop = threading.Event()
        self.scrapes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                    response.read()
                self.scrapes += 1
            except OSError:
                continue  # not listening yet

    def __enter__(self) -> _Scraper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def measure(bench: Any, runs: int, variant: str) -> dict[str, float]:
    """One repetition of one variant."""
    if variant == "off":
        return dict(bench.flowgen_throughput(runs, env={"FLOWGEN_TRACING": "0"}))
    if variant == "metrics":
        port = _free_port()
        with _Scraper(port):
            return dict(
                bench.flowgen_throughput(
                    runs, extra=["--metrics-port", str(port)], env={"FLOWGEN_TRACING": "0"}
                )
            )
    if variant == "tracing":
        return dict(
            bench.flowgen_throughput(runs, env={"FLOWGEN_TRACING": "1"}, module="benchmarks.apps_traced")
        )
    return dict(bench.flowgen_throughput(runs, env={"FLOWGEN_TRACING": "1"}))


def phase(runner: Any) -> None:
    """Run the phase on a :class:`benchmarks.run.Runner` (its bench, size, repeat and samples)."""
    bench, size = runner.b, runner.size
    chosen = os.environ.get("FLOWGEN_BENCH_OBSERVABILITY", "").split() or VARIANTS
    variants = ["off", *(variant for variant in VARIANTS if variant in chosen and variant != "off")]
    for rep in range(runner.repeat):
        # Each repetition starts with another variant: a variant never always follows the same one.
        order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
        results = {variant: measure(bench, size.runs, variant) for variant in order}
        off = results["off"]
        for variant, result in results.items():
            runner.add(f"observability.{variant}", result["rate"])
            runner.add(f"observability.{variant}_cpu_us", result["worker_cpu_us"])
            if variant != "off":
                runner.add(f"observability.{variant}_ratio", result["rate"] / off["rate"])
                if off["worker_cpu_us"] > 0:  # 0 only if no CPU could be read at all
                    runner.add(
                        f"observability.{variant}_cpu_ratio", result["worker_cpu_us"] / off["worker_cpu_us"]
                    )
        runner.log(
            f"#{rep + 1}: "
            + ", ".join(
                f"{variant} {result['rate']:,.0f}/s {result['worker_cpu_us']:.0f} us CPU/workflow"
                for variant, result in results.items()
            )
        )


def figures(fig: Callable[..., Any]) -> None:
    """Add the phase's figures through the runner's ``fig`` (nothing if the phase did not run)."""
    fig("observability.off", "(g) 3-step workflows/s, metrics and tracing off", "/s")
    metrics = fig(
        "observability.metrics_ratio",
        "(g) throughput with --metrics-port (scraped every second), over off",
        "x",
        target=">= 0.90",
    )
    if metrics is not None:
        metrics.met = metrics.value >= 0.90
    fig(
        "observability.tracing_ratio",
        "(g) throughput with tracing on (OpenTelemetry SDK, batch processor), over off",
        "x",
    )
    fig(
        "observability.otel_api_only_ratio",
        "(g) throughput with opentelemetry-api installed and no SDK (the default), over off",
        "x",
    )
    fig("observability.off_cpu_us", "(g) worker CPU per workflow, metrics and tracing off", "us")
    for variant, label in (
        ("metrics", "--metrics-port"),
        ("tracing", "tracing on (SDK)"),
        ("otel_api_only", "API only"),
    ):
        fig(
            f"observability.{variant}_cpu_ratio",
            f"(g) worker CPU per workflow with {label}, over off",
            "x",
            note="less sensitive to the machine's other load than throughput",
        )
