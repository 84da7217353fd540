"""The flow-control phase of ``python -m benchmarks`` (issue 15).

* **limit overhead**: throughput of 3-step runs under a per-key run limit that never binds
  (``Limit(1_000_000, key=...)`` over 100 keys) against the same runs with no limit, measured
  in alternation in the same run; the ratio is the figure (target: at most 10% slower).
* **rate**: ``RateLimit(200, per="1s")`` on a step, runs started all at once: the achieved rate
  of attempt starts, and the most starts in any one-second window (target: within 5% of 200/s,
  never above 200 in a window) twice: of the starts **the store recorded** (read from its window
  while the phase runs: the times the guarantee is about, see flowgen/stores/flow_rates.py), and
  of the step bodies' own clock readings (later than their grant by a thread switch, more on a
  busy machine). The achieved rate is ``N`` starts over the time from the first start to when
  the limit would let the next one start: the ``(N - 200)``-th start plus 1 s (:func:`achieved`;
  exactly 200/s for any pattern that uses every token on time, even or in bursts; at most
  200 / 1.02 = 196/s here, the store's margin). Reported too, the earlier formula: ``N`` over
  (last - first + 1 s), which counts one second more than an even stream takes (an even 200/s
  stream of 2,000 starts scores 182/s on it): a figure of how bursty the starts are, no target.

* **priority jump**: with ``queued`` 3-step runs queued (10,000 at full size) and the workers
  draining them, a run started with ``priority=100`` behind them: the seconds from its start to
  its completion (target: within 1 s), and how many runs were still queued ahead of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run import Runner

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .measure import Bench, wait_for
from .report import Figure, med


def throughput_of(bench: Bench, workflow: Any, runs: int) -> float:
    """One repetition: queue ``runs`` runs of ``workflow(index)``, start the workers, time the completions."""
    bench.fresh()
    ids: list[str] = []
    for offset in range(0, runs, 1000):
        calls = [((index,), None, None) for index in range(offset, min(runs, offset + 1000))]
        ids += bench.engine.start_many(workflow, calls).created
    group = bench.flowgen_workers()
    try:
        group.wait_ready()
        bench.wait_completed(runs, group, f"flowgen to complete every run of {workflow.name}")
    finally:
        group.stop()
    return bench.completion_rate(ids)


def busiest_window(starts: Sequence[float], width: float = 1.0) -> int:
    """The most starts in any window ``[t, t + width)`` (t a start; the maximum is at one)."""
    ordered = sorted(starts)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - width:
            first += 1
        most = max(most, last - first + 1)
    return most


RATE_WINDOW = "flowgen:fc:rate:rate:rated_noop"
"""The store's window of recorded starts of the rate-limited step (flowgen/stores/flow_rates.py)."""


class RecordedStarts:
    """Collects the starts the store records in the rate window (the times its guarantee is
    about) by reading the window every 0.25 s: it keeps more than a second of them."""

    def __init__(self, bench: Bench) -> None:
        self.client = bench.server.client()
        self.starts: dict[bytes, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.25):
            self.starts.update(self.client.zrange(RATE_WINDOW, 0, -1, withscores=True))

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        self.starts.update(self.client.zrange(RATE_WINDOW, 0, -1, withscores=True))
        self.client.close()
        return sorted(self.starts.values())


def achieved(starts: Sequence[float], count: int = 200, per: float = 1.0) -> float:
    """``len(starts)`` over the time from the first start to when a ``count``-per-``per``
    sliding window would admit the next one (``per`` after the ``count``-th latest start)."""
    ordered = sorted(starts)
    if len(ordered) <= count:
        return len(ordered) / per
    return len(ordered) / (ordered[len(ordered) - count] + per - ordered[0])


def rate(bench: Bench, runs: int) -> dict[str, float]:
    """One repetition of the rate figure: ``runs`` one-step runs through a 200/s rate limit."""
    bench.fresh()
    for offset in range(0, runs, 1000):
        bench.engine.start_many(bench.apps.rated, [((), None, None)] * min(1000, runs - offset))
    recorded = RecordedStarts(bench)
    group = bench.flowgen_workers()
    try:
        group.wait_ready()
        try:
            bench.wait_completed(runs, group, "flowgen to complete every rate-limited run")
        except TimeoutError as error:
            raise TimeoutError(f"{error}; {rate_state(bench)}") from error
    finally:
        group.stop()
        granted = recorded.stop()
    starts = sorted(float(raw) for raw in bench.client.lrange("bench:rated:starts", 0, -1))
    # the earlier formula (see the module docstring): one second more than an even stream takes
    over_span = len(starts) / (starts[-1] - starts[0] + 1.0)
    # and in steady state: the median of the starts per whole second, first and last seconds left out
    per_second = [0] * (int(starts[-1] - starts[0]) + 1)
    for at in starts:
        per_second[int(at - starts[0])] += 1
    inner = sorted(per_second[1:-1]) or per_second
    steady = float(inner[len(inner) // 2])
    return {
        "achieved": achieved(starts),
        "over_span": over_span,
        "steady": steady,
        "busiest": float(busiest_window(granted)),
        "busiest_body": float(busiest_window(starts)),
        "recorded": float(len(granted)),
        "attempts": float(len(starts)),
    }


def rate_state(bench: Bench) -> str:
    """What the rate-limited runs are doing (for a phase that did not finish)."""
    client, now = bench.client, time.time()
    statuses = {
        s: client.zcard(f"flowgen:status:{s}")
        for s in ("queued", "running", "waiting", "completed", "failed")
    }
    waiters = client.zrange("flowgen:fc:rwait:rate:rated_noop", 0, -1, withscores=True)
    timers = client.zrange("flowgen:timers", 0, 2, withscores=True)
    return (
        f"statuses {statuses}, {client.llen('bench:rated:starts')} starts, "
        f"window {client.zcard('flowgen:fc:rate:rate:rated_noop')}, {len(waiters)} waiters "
        f"({sum(1 for _, s in waiters if s <= now)} due), next timers in {[round(s - now, 2) for _, s in timers]} s, "
        f"ready {client.zcard('flowgen:ready')}, leases {client.zcard('flowgen:leases')}"
    )


def priority_jump(bench: Bench, queued: int) -> dict[str, float]:
    """One repetition of the priority figure (see the module docstring)."""
    bench.fresh()
    bench.start_runs(bench.apps.three_steps, queued)
    group = bench.flowgen_workers()
    try:
        group.wait_ready()
        wait_for(
            lambda: bench.completed() >= min(500, queued // 10),
            120,
            "the backlog to drain",
            group.check_alive,
        )
        ahead = queued - bench.completed()
        started = time.time()
        run = bench.engine.start(bench.apps.three_steps, priority=100)
        run.result(timeout=120)
        record = bench.engine.status(run.run_id)
        assert record.finished is not None
        latency = record.finished.timestamp() - started
        bench.wait_completed(queued + 1, group, "flowgen to complete the backlog")
    finally:
        group.stop()
    return {"latency": latency, "ahead": float(ahead)}


def figures(fig: Callable[..., Figure | None], samples: dict[str, list[float]]) -> list[Figure]:
    """The phase's figures (``fig`` adds each to the table as it builds it; nothing to return)."""
    unlimited = (
        med(samples["flow.unlimited_throughput"]) if samples.get("flow.unlimited_throughput") else None
    )
    fig("flow.unlimited_throughput", "(g) 3-step workflows/s, no limit", "/s")
    fig(
        "flow.limited_throughput",
        "(g) 3-step workflows/s, per-key limit that never binds",
        "/s",
        baseline=unlimited,
        baseline_label="the same runs without a limit",
    )
    ratio = fig("flow.limit_ratio", "(g) never-binding limit vs none (per repetition)", "x", target=">= 0.90")
    if ratio is not None:
        ratio.met = ratio.value >= 0.90
    rated = fig(
        "flow.rate_achieved",
        "(g) RateLimit(200, per=1s): starts/s, first start to the next token",
        "/s",
        target="190-210",
    )
    if rated is not None:
        rated.met = 190 <= rated.value <= 210
    fig("flow.rate_over_span", "(g) RateLimit(200, per=1s): starts/s, first start to last + 1 s", "/s")
    steady = fig(
        "flow.rate_steady",
        "(g) RateLimit(200, per=1s): starts per whole second, median",
        "/s",
        target="190-210",
    )
    if steady is not None:
        steady.met = 190 <= steady.value <= 210
    busiest = fig(
        "flow.rate_busiest_window",
        "(g) RateLimit(200, per=1s): most recorded starts in any 1 s window (the guarantee)",
        "starts",
        target="<= 200",
    )
    if busiest is not None:
        busiest.met = max(samples["flow.rate_busiest_window"]) <= 200
    fig(
        "flow.rate_busiest_body_window",
        "(g) RateLimit(200, per=1s): most step bodies starting in any 1 s window",
        "starts",
    )
    jump = fig(
        "flow.priority_jump_seconds",
        "(g) priority=100 run started behind a drained queue: start to completion",
        "s",
        target="<= 1 s",
    )
    if jump is not None:
        jump.met = jump.value <= 1.0
    fig("flow.priority_jump_ahead", "(g) runs still queued ahead of it when it started", "runs")
    return []


def phase(runner: Runner) -> None:
    """The ``flow`` phase: limit overhead (alternated per repetition), the rate limit, the priority jump."""
    b, size = runner.b, runner.size
    for rep in range(runner.repeat):
        # alternate which goes first: the first measurement after a fresh start is not the same
        pair = [b.apps.three_steps_indexed, b.apps.three_steps_keyed]
        first, second = pair if rep % 2 == 0 else pair[::-1]
        rates = {wf.name: throughput_of(b, wf, size.runs) for wf in (first, second)}
        plain, keyed = rates[pair[0].name], rates[pair[1].name]
        runner.add("flow.unlimited_throughput", plain)
        runner.add("flow.limited_throughput", keyed)
        runner.add("flow.limit_ratio", keyed / plain)
        rated = rate(b, 600 if size.name == "tiny" else 2000)
        jump = priority_jump(b, size.backlog_runs)
        runner.add("flow.priority_jump_seconds", jump["latency"])
        runner.add("flow.priority_jump_ahead", jump["ahead"])
        runner.add("flow.rate_achieved", rated["achieved"])
        runner.add("flow.rate_over_span", rated["over_span"])
        runner.add("flow.rate_steady", rated["steady"])
        runner.add("flow.rate_busiest_window", rated["busiest"])
        runner.add("flow.rate_busiest_body_window", rated["busiest_body"])
        runner.log(
            f"#{rep + 1}: no limit {plain:,.0f} runs/s, never-binding per-key limit {keyed:,.0f} "
            f"runs/s = {keyed / plain:.2f}x; RateLimit(200/s): {rated['achieved']:.1f}/s achieved "
            f"({rated['over_span']:.1f}/s first to last + 1 s, {rated['steady']:.0f}/s in steady state), "
            f"at most {rated['busiest']:.0f} recorded starts in any 1 s window ({rated['recorded']:.0f} "
            f"recorded), {rated['busiest_body']:.0f} step bodies ({rated['attempts']:.0f} attempts); "
            f"priority=100 run done {jump['latency']:.2f} s after its start, {jump['ahead']:.0f} runs ahead"
        )
