"""The phases of ``python -m benchmarks`` for issue 22's timing targets, and their figures.

* ``timers``: short-timer lateness (:mod:`benchmarks.timers`);
* ``recovery``: how soon a killed worker's runs move again, on Redis and embedded
  (:mod:`benchmarks.recovery`; a few kills here, ``python -m benchmarks.recovery --kills 50``
  for the p99 the target is stated in);
* the ratio of a dispatched step's cost to an inline one's, from the ``steps`` phase.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import recovery, timers
from .measure import percentile
from .report import Figure, med

PHASES = ("timers", "recovery")
KILLS = {"tiny": 1, "small": 3, "full": 5}
DISPATCH_TARGET = 3.0


def run(name: str, runner: Any) -> None:
    """Run the phase ``name`` (one of :data:`PHASES`) for ``runner``."""
    if name == "timers":
        timers.phase(runner)
    else:
        recovery_phase(runner)


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
    inline, dispatched = samples.get("flowgen.step_cost.3"), samples.get("flowgen.dispatched_step_cost.3")
    if inline and dispatched:
        ratios = [d / i for d, i in zip(dispatched, inline, strict=True)]
        ratio = med(dispatched) / med(inline)
        added.append(
            Figure(
                key="flowgen.dispatched_vs_inline",
                label="(c) dispatched step cost / inline step cost, 3 steps",
                unit="x",
                value=ratio,
                samples=ratios,
                ratio=ratio,
                target=f"<= {DISPATCH_TARGET:g}x",
                met=ratio <= DISPATCH_TARGET,
                note="value is the ratio of the medians",
            )
        )
    return added
