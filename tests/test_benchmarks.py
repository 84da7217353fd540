"""The benchmark runs end to end at its tiny size and reports every figure of issue 7.

Speed is the benchmark's business, not the test suite's: this checks that ``python -m
benchmarks`` starts its own Redis and workers, measures everything, prints the table and
writes the JSON, never how fast anything was.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TINY_STEPS = (3, 10, 30)
EXPECTED = [
    # the baseline
    "raw.throughput",
    "raw.throughput_tuned",
    # (a) throughput
    "flowgen.throughput",
    "flowgen.throughput_vs_tuned",
    "flowgen.start_rate",
    "flowgen.worker_cpu_us",
    "flowgen.redis_cpu_us",
    # (b) latency, idle and under load
    "flowgen.latency_idle_p50",
    "flowgen.latency_idle_p99",
    "flowgen.latency_load_p50",
    "flowgen.latency_load_p99",
    # (c) cost per step
    *[f"flowgen.step_cost.{k}" for k in TINY_STEPS],
    "flowgen.step_cost.ratio",
    *[f"flowgen.dispatched_step_cost.{k}" for k in TINY_STEPS],
    "flowgen.dispatched_step_cost.ratio",
    # (d) sleepers
    "flowgen.sleeping_bytes",
    "flowgen.worker_rss_low",
    "flowgen.worker_rss_high",
    "flowgen.worker_rss_growth",
    "flowgen.lateness_p50",
    "flowgen.lateness_p99",
    # (e) completed runs and retention
    "flowgen.completed_bytes",
    "flowgen.retention_kept_bytes",
    "flowgen.retention_after_bytes",
    "flowgen.retention_keys_left",
    "flowgen.retention_seconds",
    # (f) a queue several grace periods long
    "flowgen.backlog_rate",
    "flowgen.backlog_reenqueued",
    # issue 15: flow control
    "flow.unlimited_throughput",
    "flow.limited_throughput",
    "flow.limit_ratio",
    "flow.rate_achieved",
    "flow.rate_over_span",
    "flow.rate_steady",
    "flow.rate_busiest_window",
    "flow.priority_jump_seconds",
    "flow.priority_jump_ahead",
    # (g) dramatiq CLI workers on an app's plain broker vs flowgen worker
    "app_broker.own_throughput",
    "app_broker.throughput",
    # issue 22: short timers, recovery after kill -9, dispatched against inline steps
    "flowgen.short_timer_lateness_p50",
    "flowgen.short_timer_lateness_p99",
    "flowgen.recovery_redis_p50",
    "flowgen.recovery_redis_max",
    "flowgen.recovery_sqlite_p50",
    "flowgen.recovery_sqlite_max",
    "flowgen.dispatched_vs_inline",
    "flowgen.alternating_inline_step",
    "flowgen.alternating_dispatched_step",
    # (h) the embedded engine on SQLite (issue 22; the peers phase is skipped at the tiny size)
    "embedded.rate",
    "embedded.cpu_us",
    "embedded.latency_idle_p50",
    "embedded.latency_idle_p99",
]
WITH_BASELINE = [
    "flowgen.throughput",
    "flowgen.latency_idle_p50",
    "flowgen.latency_idle_p99",
    "flowgen.latency_load_p50",
    "flowgen.latency_load_p99",
    *[f"flowgen.step_cost.{k}" for k in TINY_STEPS],
    "flowgen.sleeping_bytes",
    "flowgen.worker_rss_high",
    "flowgen.completed_bytes",
    "app_broker.throughput",
]
WITH_TARGET = [
    "flowgen.throughput",
    "flowgen.latency_idle_p50",
    "flowgen.step_cost.ratio",
    "flowgen.lateness_p99",
    "flowgen.worker_rss_growth",
    "flowgen.retention_after_bytes",
    "flowgen.retention_keys_left",
    "flowgen.short_timer_lateness_p99",
    "flowgen.recovery_redis_max",
    "flowgen.recovery_sqlite_max",
    "flowgen.dispatched_vs_inline",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """Run the whole benchmark once at its tiny size; return its JSON document and its table."""
    output = tmp_path_factory.mktemp("bench") / "results.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWGEN_")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--size",
            "tiny",
            "--repeat",
            "1",
            "--output",
            str(output),
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert completed.returncode == 0, f"benchmark failed:\n{completed.stdout}\n{completed.stderr}"
    return json.loads(output.read_text()), completed.stdout


def test_benchmark_reports_every_figure_of_the_issue(tiny_run: tuple[dict, str]) -> None:
    doc, _table = tiny_run
    figures = doc["figures"]
    missing = [key for key in EXPECTED if key not in figures]
    assert not missing, f"figures missing from the results: {missing}"
    for key in EXPECTED:
        figure = figures[key]
        assert len(figure["samples"]) >= 1, key
        assert math.isfinite(figure["value"]), key
    assert "errors" not in doc["extra"], doc["extra"].get("errors")


def test_benchmark_figures_carry_their_baseline_ratio_and_target(tiny_run: tuple[dict, str]) -> None:
    doc, _table = tiny_run
    figures = doc["figures"]
    for key in WITH_BASELINE:
        assert figures[key]["baseline"] is not None and figures[key]["ratio"] is not None, key
    for key in WITH_TARGET:
        assert figures[key]["target"] and figures[key]["met"] in (True, False), key


def test_benchmark_measures_positive_rates_and_sizes(tiny_run: tuple[dict, str]) -> None:
    doc, _table = tiny_run
    figures = doc["figures"]
    for key in (
        "raw.throughput",
        "flowgen.throughput",
        "flowgen.latency_idle_p50",
        "flowgen.completed_bytes",
        "flowgen.sleeping_bytes",
        "flowgen.worker_rss_low",
        f"flowgen.step_cost.{TINY_STEPS[-1]}",
    ):
        assert figures[key]["value"] > 0, key
    assert figures["flowgen.lateness_p99"]["value"] >= 0


def test_benchmark_prints_one_table_and_records_the_run(tiny_run: tuple[dict, str]) -> None:
    doc, table = tiny_run
    lines = table.strip().splitlines()
    assert lines[0].split()[:3] == ["figure", "flowgen", "raw"]
    assert len(lines) == len(doc["figures"]) + 2  # header, rule, one row per figure
    assert doc["command"].startswith("python -m benchmarks")
    assert doc["repeat"] == 1 and doc["size"]["name"] == "tiny"
    assert doc["machine"]["cpus"] and doc["machine"]["redis_server"]
    assert doc["settings"]["processes"] == 2


def _run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args...`` from the checkout; fail with its stderr if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("load", ["runner", "redis"])
def test_engine_work_counts_the_bytecodes_of_each_function(load: str, tmp_path: Path) -> None:
    out = tmp_path / "opcodes.json"
    done = _run_module("benchmarks.engine_work", load, "5", "--opcodes", str(out))
    assert "Python bytecodes per workflow" in done.stdout
    counts = json.loads(out.read_text())
    assert counts["runs"] == 5
    advance = counts["counts"]["flowgen/runtime/advance.py:_flush"]
    assert advance[0] > 0 and advance[1] == 15  # three commits per 3-step workflow
    if load == "redis":
        assert "cmdstat_evalsha" in done.stdout


def test_worker_work_drains_queued_runs_and_counts_the_worker_threads_bytecodes(tmp_path: Path) -> None:
    out = tmp_path / "opcodes.json"
    done = _run_module("benchmarks.worker_work", "6", "--threads", "2", "--opcodes", str(out))
    assert "6 workflows drained" in done.stdout
    counts = json.loads(out.read_text())["counts"]
    # Counted in the Dramatiq worker threads, not in the thread that started them.
    assert counts["flowgen/runtime/advance.py:_flush"][1] == 18  # three commits per workflow
    assert any(name.endswith("dramatiq/worker.py:process_message") for name in counts)


def test_the_achieved_rate_is_count_per_period_for_any_pattern_that_uses_every_token() -> None:
    from benchmarks.flow import achieved

    even = [i / 200 for i in range(2000)]
    bursts = [float(k) for k in range(10) for _ in range(200)]
    assert achieved(even) == pytest.approx(200) and achieved(bursts) == pytest.approx(200)
    assert achieved([k * 1.02 for k in range(10) for _ in range(200)]) == pytest.approx(196.46, abs=0.01)
    late = [*bursts[:200], *(at + 0.5 for at in bursts[200:])]  # the second window half a second late
    assert achieved(late) == pytest.approx(2000 / 10.5)
