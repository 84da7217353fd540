"""``python -m benchmarks``: measure flowgen against raw Dramatiq in one run, print one table.

Every figure is measured ``--repeat`` times and the median is reported, next to the raw
Dramatiq figure it is compared with (measured in the same run, on the same Redis, with the
same worker processes and threads) and the target from issue 7. Results are written as JSON to
``benchmarks/results/<timestamp>.json`` (or ``--output``).

Phases (``--only`` runs a subset): ``throughput``, ``latency``, ``steps``, ``retention``,
``sleepers``, ``backlog`` (issue 7's figures; docs/performance.md says what each measures),
``observability`` (:mod:`benchmarks.observability`), ``app_broker`` (:mod:`benchmarks.app_broker`),
``flow`` (flow control, :mod:`benchmarks.flow`), ``peers`` and ``embedded`` (BullMQ Workflows,
the SQLite engine, DBOS: :mod:`benchmarks.peers`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import capacity, observability, peers, timing_phases
from . import flow as flow_phase
from .config import SIZES, Size
from .measure import FLOWGEN_QUEUE, RAW_QUEUE, Bench, Settings, percentile
from .redis_server import RedisServer
from .report import Figure, document, med, table, write_json

PHASES = (
    "throughput",
    "latency",
    "steps",
    "retention",
    "sleepers",
    "backlog",
    "observability",
    "app_broker",
    "flow",
    *timing_phases.PHASES,
    "peers",
    "embedded",
)
TUNED_PREFETCH = 64
"""Prefetch of the "tuned" raw Dramatiq baseline (Dramatiq's default is 2 per thread)."""
LOAD_FRACTION = 0.5
"""The "under load" figures run at this fraction of the throughput measured in the same run."""
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


class Runner:
    """Runs the phases, keeps every sample, and builds the figures."""

    def __init__(self, bench: Bench | None, size: Size, repeat: int, log: Callable[[str], None]) -> None:
        self.bench = bench
        self.size = size
        self.repeat = repeat
        self.log = log
        self.samples: dict[str, list[float]] = {}
        self.extra: dict[str, Any] = {}

    @property
    def b(self) -> Bench:
        """The bench the phases measure with (rendering an old file has none)."""
        if self.bench is None:
            raise RuntimeError("this runner only renders figures; it has no bench to measure with")
        return self.bench

    def add(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(float(value))

    def has(self, key: str) -> bool:
        return bool(self.samples.get(key))

    def m(self, key: str) -> float:
        return med(self.samples[key])

    # -- phases ---------------------------------------------------------------------------

    def app_broker(self) -> None:
        from . import app_broker

        app_broker.measure(self)

    def peers(self) -> None:
        peers.measure_peers(self)

    def embedded(self) -> None:
        peers.measure_embedded(self)

    def throughput(self) -> None:
        """Raw Dramatiq (defaults, then tuned prefetch) and flowgen, interleaved repetition by repetition.

        Interleaving makes each flowgen repetition run next to its own baseline, so a change
        in the machine's background load moves both; ratios are taken per repetition.
        """
        b, size = self.b, self.size
        if size.name != "tiny":
            self.log("warm-up")
            b.raw_throughput(min(size.runs, 500))
            b.flowgen_throughput(min(size.runs, 500))
        for rep in range(self.repeat):
            raw = b.raw_throughput(size.runs)
            tuned = b.raw_throughput(size.runs, prefetch=TUNED_PREFETCH)
            flow = b.flowgen_throughput(size.runs)
            self.add("raw.throughput", raw["rate"])
            self.add("raw.enqueue_rate", raw["enqueue_rate"])
            self.add("raw.worker_rss", raw["rss"])
            self.add("raw.throughput_tuned", tuned["rate"])
            self.add("flowgen.throughput", flow["rate"])
            self.add("flowgen.throughput_ratio", flow["rate"] / raw["rate"])
            self.add("flowgen.throughput_ratio_tuned", flow["rate"] / tuned["rate"])
            self.add("flowgen.start_rate", flow["start_rate"])
            self.add("flowgen.completed_bytes", flow["completed_bytes"])
            for name, result in (("raw", raw), ("raw_tuned", tuned), ("flowgen", flow)):
                self.extra.setdefault("foreign_cpu", {}).setdefault(name, []).append(
                    round(result["foreign_cpu"], 3)
                )
                prefix = "flowgen" if name == "flowgen" else name.replace("raw_tuned", "raw.tuned")
                self.add(f"{prefix}.worker_cpu_us", result["worker_cpu_us"])
                self.add(f"{prefix}.redis_cpu_us", result["redis_cpu_us"])
            self.add("raw.queued_bytes", b.raw_queued_memory(size.queued_messages))
            self.log(
                f"#{rep + 1}: raw {raw['rate']:,.0f} msg/s "
                f"(prefetch {TUNED_PREFETCH}: {tuned['rate']:,.0f}), "
                f"flowgen {flow['rate']:,.0f} workflows/s = {flow['rate'] / raw['rate']:.2f}x; "
                f"other processes used {raw['foreign_cpu']:.2f}/{tuned['foreign_cpu']:.2f}/"
                f"{flow['foreign_cpu']:.2f} cores; "
                f"CPU per item (workers+Redis): raw {raw['worker_cpu_us']:.0f}+{raw['redis_cpu_us']:.0f} us, "
                f"tuned {tuned['worker_cpu_us']:.0f}+{tuned['redis_cpu_us']:.0f} us, "
                f"flowgen {flow['worker_cpu_us']:.0f}+{flow['redis_cpu_us']:.0f} us; "
                f"{flow['completed_bytes']:.0f} B per completed run"
            )

    def latency(self) -> None:
        b, size = self.b, self.size
        raw_rate = self.m("raw.throughput") if self.has("raw.throughput") else 2000.0
        flowgen_rate = self.m("flowgen.throughput") if self.has("flowgen.throughput") else 1000.0
        b.fresh()
        group = b.raw_workers()
        try:
            group.wait_ready()
            b.probes(b.raw_probe, 5)
            for _ in range(self.repeat):
                samples = b.probes(b.raw_probe, size.probes)
                self.add("raw.latency_idle_p50", percentile(samples, 0.5))
                self.add("raw.latency_idle_p99", percentile(samples, 0.99))
            for _ in range(self.repeat):
                samples, report = b.with_load(
                    "raw", LOAD_FRACTION * raw_rate, lambda: b.probes(b.raw_probe, size.probes)
                )
                self.add("raw.latency_load_p50", percentile(samples, 0.5))
                self.add("raw.latency_load_p99", percentile(samples, 0.99))
                self.extra.setdefault("raw_load", []).append(report)
                b.drain(RAW_QUEUE, group.check_alive)
        finally:
            group.stop()
        self.log(
            f"raw Dramatiq latency: idle p50 {1000 * self.m('raw.latency_idle_p50'):.1f} ms, "
            f"under load p50 {1000 * self.m('raw.latency_load_p50'):.1f} ms"
        )
        b.fresh()
        group = b.flowgen_workers()
        try:
            group.wait_ready()
            b.probes(b.flowgen_probe, 5)
            for _ in range(self.repeat):
                samples = b.probes(b.flowgen_probe, size.probes)
                self.add("flowgen.latency_idle_p50", percentile(samples, 0.5))
                self.add("flowgen.latency_idle_p99", percentile(samples, 0.99))
            for _ in range(self.repeat):
                samples, report = b.with_load(
                    "flowgen", LOAD_FRACTION * flowgen_rate, lambda: b.probes(b.flowgen_probe, size.probes)
                )
                self.add("flowgen.latency_load_p50", percentile(samples, 0.5))
                self.add("flowgen.latency_load_p99", percentile(samples, 0.99))
                self.extra.setdefault("flowgen_load", []).append(report)
                b.drain(FLOWGEN_QUEUE, group.check_alive)
        finally:
            group.stop()
        self.log(
            f"flowgen latency: idle p50 {1000 * self.m('flowgen.latency_idle_p50'):.1f} ms, "
            f"under load p50 {1000 * self.m('flowgen.latency_load_p50'):.1f} ms"
        )

    def steps(self) -> None:
        b, size = self.b, self.size
        b.fresh()
        group = b.flowgen_workers()
        try:
            group.wait_ready()
            b.step_cost(b.apps.k_steps, 3, 5)
            for _ in range(self.repeat):
                for k in size.steps:
                    runs = max(1, size.step_budget // k)
                    self.add(f"flowgen.step_cost.{k}", b.step_cost(b.apps.k_steps, k, runs))
                    self.add(
                        f"flowgen.dispatched_step_cost.{k}",
                        b.step_cost(b.apps.k_dispatched, k, max(1, runs // 4)),
                    )
                b.fresh()
        finally:
            group.stop()
        for k in size.steps:
            self.log(
                f"flowgen {k} steps: {1000 * self.m(f'flowgen.step_cost.{k}'):.3f} ms/step inline, "
                f"{1000 * self.m(f'flowgen.dispatched_step_cost.{k}'):.3f} ms/step dispatched"
            )

    def retention(self) -> None:
        capacity.retention(self)

    def sleepers(self) -> None:
        capacity.sleepers(self)

    def backlog(self) -> None:
        capacity.backlog(self)

    # -- figures ----------------------------------------------------------------------------

    def observability(self) -> None:
        observability.phase(self)

    def flow(self) -> None:
        """Flow control (benchmarks/flow.py): limit overhead, alternated per repetition; rate limit."""
        flow_phase.phase(self)

    def figures(self) -> list[Figure]:
        size = self.size
        figures: list[Figure] = []
        s = self.samples

        def fig(key: str, label: str, unit: str, scale: float = 1.0, **kw: Any) -> Figure | None:
            if key not in s:
                return None
            values = [v * scale for v in s[key]]
            figure = Figure(key=key, label=label, unit=unit, value=med(values), samples=values, **kw)
            figures.append(figure)
            return figure

        raw = self.m("raw.throughput") if self.has("raw.throughput") else None
        if raw is not None:
            fig(
                "raw.throughput",
                "baseline: raw Dramatiq no-op messages/s",
                "/s",
                note="Dramatiq defaults (prefetch 2 per thread), same processes and threads as flowgen",
            )
            fig(
                "raw.throughput_tuned",
                f"raw Dramatiq no-op messages/s, prefetch {TUNED_PREFETCH}",
                "/s",
                note="tuned raw Dramatiq, for reference",
            )
        flow = fig(
            "flowgen.throughput",
            f"(a) 3-step workflows/s ({size.runs:,} runs)",
            "/s",
            baseline=raw,
            baseline_label="raw no-op msgs/s",
            target=">= 0.50x raw",
            note="ratio: the median of per-repetition ratios (each flowgen repetition next to its baseline)",
        )
        if flow is not None and raw:
            flow.ratio = self.m("flowgen.throughput_ratio")
            flow.met = flow.ratio >= 0.5
            if self.has("raw.throughput_tuned"):
                tuned = self.m("raw.throughput_tuned")
                figures.append(
                    Figure(
                        key="flowgen.throughput_vs_tuned",
                        label=f"(a) 3-step workflows/s vs raw prefetch {TUNED_PREFETCH}",
                        unit="/s",
                        value=flow.value,
                        samples=flow.samples,
                        baseline=tuned,
                        baseline_label=f"raw no-op msgs/s, prefetch {TUNED_PREFETCH}",
                        ratio=self.m("flowgen.throughput_ratio_tuned"),
                        note="informational: the same workflows against a tuned raw Dramatiq",
                    )
                )
        for part, words in (("worker", "worker"), ("redis", "Redis")):
            fig(
                f"flowgen.{part}_cpu_us",
                f"(a) {words} CPU per 3-step workflow",
                "us",
                baseline=self.m(f"raw.{part}_cpu_us") if self.has(f"raw.{part}_cpu_us") else None,
                baseline_label=f"raw {words} CPU per no-op message (Dramatiq defaults)",
                note="CPU seconds of the worker processes (or redis-server) over the run, per workflow",
            )
        fig(
            "flowgen.start_rate",
            "start_many runs/s (driver, 1,000 per call)",
            "/s",
            baseline=self.m("raw.enqueue_rate") if self.has("raw.enqueue_rate") else None,
            baseline_label="raw pipelined enqueues/s",
        )
        self._ratio(figures)

        for which, words in (("idle", "idle"), ("load", f"under load ({LOAD_FRACTION:.0%} of throughput)")):
            for q in ("p50", "p99"):
                key = f"flowgen.latency_{which}_{q}"
                base_key = f"raw.latency_{which}_{q}"
                figure = fig(
                    key,
                    f"(b) start-to-result {q}, {words}",
                    "ms",
                    scale=1000.0,
                    baseline=self.m(base_key) * 1000 if self.has(base_key) else None,
                    baseline_label="raw Dramatiq ping round trip",
                )
                if figure is not None and which == "idle" and q == "p50":
                    figure.target = "<= 15 ms"
                    figure.met = figure.value <= 15.0
        self._ratio(figures)

        per_message_ms = 1000.0 / raw if raw else None
        shortest, longest = min(size.steps), max(size.steps)
        for variant, words in (("step_cost", "inline"), ("dispatched_step_cost", "dispatched")):
            for k in size.steps:
                figure = fig(
                    f"flowgen.{variant}.{k}",
                    f"(c) cost per step, {k} {words} steps",
                    "ms",
                    scale=1000.0,
                    baseline=per_message_ms,
                    baseline_label="raw ms per no-op message (1 / throughput)",
                )
                if figure is not None and per_message_ms:
                    figure.ratio = figure.value / per_message_ms
            key_long, key_short = f"flowgen.{variant}.{longest}", f"flowgen.{variant}.{shortest}"
            if self.has(key_long) and self.has(key_short):
                ratio = self.m(key_long) / self.m(key_short)
                figures.append(
                    Figure(
                        key=f"flowgen.{variant}.ratio",
                        label=f"(c) {words} cost per step, {longest} vs {shortest} steps",
                        unit="x",
                        value=ratio,
                        samples=[a / b for a, b in zip(s[key_long], s[key_short], strict=True)],
                        ratio=ratio,
                        target="<= 1.5x" if variant == "step_cost" else "",
                        met=(ratio <= 1.5) if variant == "step_cost" else None,
                        note="the same ratio for each repetition; value is the ratio of the medians",
                    )
                )
            if len(size.steps) >= 3:
                middle = sorted(size.steps)[-2]
                key_middle = f"flowgen.{variant}.{middle}"
                if self.has(key_long) and self.has(key_middle):
                    growth = self.m(key_long) / self.m(key_middle)
                    figures.append(
                        Figure(
                            key=f"flowgen.{variant}.growth",
                            label=f"(c) {words} cost per step, {longest} vs {middle} steps",
                            unit="x",
                            value=growth,
                            samples=[a / b for a, b in zip(s[key_long], s[key_middle], strict=True)],
                            ratio=growth,
                            note="above 1: the cost of a step grows with the length of the workflow",
                        )
                    )

        queued = self.m("raw.queued_bytes") if self.has("raw.queued_bytes") else None
        fig(
            "flowgen.sleeping_bytes",
            f"(d) Redis memory per sleeping run ({size.sleepers:,} sleepers)",
            "B",
            baseline=queued,
            baseline_label="raw bytes per queued message",
            target="stated",
        )
        raw_rss = self.m("raw.worker_rss") / capacity.MB if self.has("raw.worker_rss") else None
        fig(
            "flowgen.worker_rss_low",
            "(d) worker RSS, 1,000 sleepers" if size.sleepers >= 10_000 else "(d) worker RSS, few sleepers",
            "MB",
            baseline=raw_rss,
            baseline_label="raw Dramatiq worker RSS",
        )
        high = fig(
            "flowgen.worker_rss_high",
            f"(d) worker RSS, {size.sleepers:,} sleepers",
            "MB",
            baseline=raw_rss,
            baseline_label="raw Dramatiq worker RSS",
        )
        if high is not None and self.has("flowgen.worker_rss_low"):
            low = self.m("flowgen.worker_rss_low")
            figures.append(
                Figure(
                    key="flowgen.worker_rss_growth",
                    label="(d) worker RSS, many vs few sleepers",
                    unit="x",
                    value=high.value / low,
                    samples=[high.value / low],
                    ratio=high.value / low,
                    target="flat (<= 1.10x)",
                    met=high.value / low <= 1.10,
                )
            )
        late = fig(
            "flowgen.lateness_p99",
            f"(d) 1 s sleeper lateness p99 (among {size.sleepers:,})",
            "s",
            target="<= 1 s",
        )
        if late is not None:
            late.met = late.value <= 1.0
        fig("flowgen.lateness_p50", "(d) 1 s sleeper lateness p50", "s")

        fig(
            "flowgen.completed_bytes",
            "(e) Redis memory per completed 3-step run (kept)",
            "B",
            baseline=queued,
            baseline_label="raw bytes per queued message",
            target="stated",
        )
        kept = fig(
            "flowgen.retention_kept_bytes",
            "(e) per completed run, short retention, before expiry",
            "B",
            baseline=queued,
            baseline_label="raw bytes per queued message",
        )
        after = fig(
            "flowgen.retention_after_bytes",
            "(e) per completed run, short retention, after expiry",
            "B",
            target="~0 (<= 2% of kept)",
            note="used_memory after minus before, over the runs: within measurement noise of zero",
        )
        if after is not None and kept is not None:
            after.met = after.value <= 0.02 * kept.value
        left = fig(
            "flowgen.retention_keys_left", "(e) flowgen keys left after expiry and sweep", "keys", target="0"
        )
        if left is not None:
            left.met = left.value == 0
        fig(
            "flowgen.retention_seconds",
            "(e) wait for expiry and sweep after the last run",
            "s",
            note="includes the retention itself (extra.retention_seconds_setting)",
        )

        grace = self.extra.get("backlog_grace_setting")
        fig(
            "flowgen.backlog_rate",
            f"(f) 3-step workflows/s, {size.backlog_runs:,} queued, grace {grace} s",
            "/s",
            baseline=raw,
            baseline_label="raw no-op msgs/s",
            note=f"workers run with --grace about 1/{capacity.BACKLOG_GRACE_PARTS} of the drain time",
        )
        fig(
            "flowgen.backlog_reenqueued",
            "(f) runs re-enqueued by the reconciler, per run",
            "per run",
            note="a queued run is not lost: each re-enqueue is a wasted message",
        )
        observability.figures(fig)
        figures += flow_phase.figures(fig, self.samples)
        figures += timing_phases.figures(fig, self.samples)
        self._ratio(figures)
        from . import app_broker

        figures += app_broker.figures(self)
        figures += peers.figures(self)
        return figures

    @staticmethod
    def _ratio(figures: Sequence[Figure]) -> None:
        for figure in figures:
            if figure.ratio is None and figure.baseline:
                figure.ratio = figure.value / figure.baseline


def render(path: str) -> str:
    """Rebuild the figures of an earlier results file from its samples, and return the table."""
    import json

    with open(path, encoding="utf-8") as file:
        doc = json.load(file)
    runner = Runner(
        None,
        Size(
            **{
                **doc["size"],
                "steps": tuple(doc["size"]["steps"]),
                "probe_gap": tuple(doc["size"]["probe_gap"]),
            }
        ),
        doc["repeat"],
        lambda _text: None,
    )
    runner.samples = {key: list(values) for key, values in doc["extra"]["samples"].items()}
    return table(runner.figures())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="how big (default: full)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each figure (default 3)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes on each side (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process (default 8)")
    parser.add_argument("--only", nargs="+", choices=PHASES, help="run only these phases")
    parser.add_argument(
        "--flowgen-arg",
        action="append",
        default=[],
        help="extra argument for `flowgen worker` (repeatable), e.g. --flowgen-arg=--prefetch=16",
    )
    parser.add_argument(
        "--unix-socket",
        action="store_true",
        help="connect everything to Redis over a Unix socket instead of TCP on 127.0.0.1",
    )
    parser.add_argument("--output", help="JSON file to write (default benchmarks/results/<timestamp>.json)")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    parser.add_argument(
        "--render", metavar="JSON", help="print the table of an earlier results file and exit"
    )
    return parser.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> tuple[dict[str, Any], str]:
    """Run the benchmark; return the JSON document and the table."""
    args = parse_args(argv)
    size = SIZES[args.size]
    settings = Settings(
        processes=args.processes,
        threads=args.threads,
        flowgen_args=tuple(args.flowgen_arg),
        unix_socket=args.unix_socket,
    )
    started = time.time()

    def log(text: str) -> None:
        if not args.quiet:
            print(f"[{time.time() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    phases = args.only or PHASES
    with RedisServer(unix_socket=args.unix_socket) as server:
        bench = Bench(server, size, settings, log)
        runner = Runner(bench, size, args.repeat, log)
        try:
            for phase in PHASES:
                if phase in phases:
                    log(f"phase {phase}")
                    try:
                        if phase in timing_phases.PHASES:
                            timing_phases.run(phase, runner)
                        else:
                            getattr(runner, phase)()
                    except Exception as error:  # report what was measured; say what failed
                        log(f"phase {phase} failed: {type(error).__name__}: {error}")
                        runner.extra.setdefault("errors", {})[phase] = f"{type(error).__name__}: {error}"
        finally:
            bench.close()
    figures = runner.figures()
    command = "python -m benchmarks " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    doc = document(
        figures,
        command=command.strip(),
        size=size,
        repeat=args.repeat,
        settings=settings,
        started=started,
        extra={"samples": runner.samples, **runner.extra},
    )
    path = args.output or os.path.join(
        RESULTS, time.strftime("%Y%m%d-%H%M%S", time.localtime(started)) + ".json"
    )
    write_json(doc, path)
    text = table(figures)
    log(f"results written to {path}")
    return doc, text


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into an exception, so the ``finally`` blocks stop the workers and Redis."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(args.render))
        return 0
    _stop_on_sigterm()
    doc, text = run(argv)
    print(text)
    errors = doc["extra"].get("errors")
    for phase, error in (errors or {}).items():
        print(f"phase {phase} failed: {error}", file=sys.stderr)
    return 1 if errors else 0
