"""The phases of ``python -m benchmarks`` for issue 22's timing targets, and their figures.

* ``timers``: short-timer lateness (:mod:`benchmarks.timers`);
* ``recovery``: how soon a killed worker's runs move again, on Redis and embedded
  (:mod:`benchmarks.recovery`; a few kills here, ``python -m benchmarks.recovery --kills 50``
  for the p99 the target is stated in);
* ``dispatch_ratio``: the cost of a dispatched step (``@step(queue=...)``) over an inline one,
  3-step runs of each alternating on the same workers, so that the machine's load drifts out.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from . import recovery, timers
from .measure import percentile
from .report import Figure

PHASES = ("timers", "recovery", "dispatch_ratio")
KILLS = {"tiny": 1, "small": 3, "full": 5}
PAIRS = {"tiny": 10, "small": 100, "full": 300}
DISPATCH_TARGET = 3.0


def run(name: str, runner: Any) -> None:
    """Run the phase ``name`` (one of :data:`PHASES`) for ``runner``."""
    if name == "timers":
        timers.phase(runner)
    elif name == "recovery":
        recovery_phase(runner)
    else:
        dispatch_phase(runner)


def per_step(engine: Any, workflow: Any, k: int) -> float:
    """Seconds per step of one run of ``workflow(k)``, start to result."""
    started = time.perf_counter()
    engine.start(workflow, k).result(timeout=120)
    return (time.perf_counter() - started) / k


def dispatch_phase(runner: Any) -> None:
    """Alternate 3-step inline and 3-step dispatched runs; record the ratio of their medians."""
    b = runner.b
    b.fresh()
    group = b.flowgen_workers()
    try:
        group.wait_ready()
        for _ in range(runner.repeat):
            inline, dispatched = [], []
            for _ in range(PAIRS.get(runner.size.name, 100)):
                inline.append(per_step(b.engine, b.apps.k_steps, 3))
                dispatched.append(per_step(b.engine, b.apps.k_dispatched, 3))
            runner.add(
                "flowgen.dispatched_vs_inline", statistics.median(dispatched) / statistics.median(inline)
            )
            runner.add("flowgen.alternating_inline_step", statistics.median(inline))
            runner.add("flowgen.alternating_dispatched_step", statistics.median(dispatched))
    finally:
        group.stop()
    runner.log(
        f"dispatched / inline: {runner.m('flowgen.dispatched_vs_inline'):.2f}x "
        f"({1000 * runner.m('flowgen.alternating_dispatched_step'):.2f} vs "
        f"{1000 * runner.m('flowgen.alternating_inline_step'):.2f} ms per step)"
    )


def recovery_phase(runner: Any) -> None:
    """Kill workers (Redis) and embedded processes a few times; record the slowest run of each kill."""
    kills = KILLS.get(runner.size.name, 3)
    for store, rounds in (
        ("redis", recovery.redis_rounds(kills, 2, 2, recovery.LEASE_TTL, runner.log)),
        ("sqlite", recovery.embedded_rounds(kills, 2, 2, recovery.LEASE_TTL, runner.log)),
    ):
        slowest = [r["slowest"] for r in rounds]
        runner.add(f"flowgen.recovery_{store}_p50", percentile(slowest, 0.5))
        runner.add(f"flowgen.recovery_{store}_max", max(slowest))


def figures(fig: Callable[..., Any], samples: dict[str, list[float]]) -> list[Figure]:
    """The rows of these phases (``fig`` adds the ones read straight off samples)."""
    timers.figures(fig)
    bound = recovery.LEASE_TTL + 2
    for store in ("redis", "sqlite"):
        for stat in ("p50", "max"):
            figure = fig(
                f"flowgen.recovery_{store}_{stat}",
                f"(r) run moving again after kill -9, {store}, {stat} of the slowest run per kill",
                "s",
                target=f"<= {bound:g} s (lease_ttl {recovery.LEASE_TTL:g} + 2)" if stat == "max" else "",
            )
            if figure is not None and stat == "max":
                figure.met = figure.value <= bound
    added = []
    figure = fig(
        "flowgen.dispatched_vs_inline",
        "(c) dispatched step / inline step, 3-step runs alternating",
        "x",
        target=f"<= {DISPATCH_TARGET:g}x",
        note="each sample: the ratio of the medians of one repetition's alternating runs",
    )
    if figure is not None:
        figure.ratio = figure.value
        figure.met = figure.value <= DISPATCH_TARGET
    for key, words in (("inline", "inline"), ("dispatched", "dispatched")):
        fig(f"flowgen.alternating_{key}_step", f"(c) {words} step, 3-step runs alternating", "ms", 1000.0)
    return added
