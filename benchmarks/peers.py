"""The ``peers`` and ``embedded`` phases: flowgen against the engines users compare it with.

* **BullMQ Workflows** (TypeScript, on BullMQ and Redis): its harness lives outside this
  repository, in ``shared/peers/bullmq-workflows/`` next to the checkout (or where
  ``$FLOWGEN_BENCH_PEERS`` points); ``run.sh`` installs ``bullmq`` and ``ioredis`` with npm on
  first use. The phase needs ``node`` and ``npm`` on the ``PATH``; without them (or without the
  harness) it says so and measures flowgen alone. Each repetition runs flowgen's throughput
  measurement (phase (a): 10,000 queued 3-step runs, 2 worker processes x 8 threads) and then
  the peer's (``run.sh throughput --n N --conc 50 --procs 2``, its best configuration on two
  cores, on its own private ``redis-server``), alternating which goes first, so both see the
  same machine; ratios are per repetition. Idle latency: ``run.sh latency``.
* **Embedded**: flowgen's SQLite engine in one process (:mod:`benchmarks.embedded`) and, when
  ``$FLOWGEN_BENCH_DBOS_PYTHON`` names a Python with ``dbos`` installed (keep it in a venv of
  its own), DBOS Transact on its SQLite system database (``shared/peers/dbos/bench.py``),
  alternating, each in a fresh process.

    python -m benchmarks --only peers embedded --repeat 3
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .redis_server import RedisServer
from .report import Figure, med
from .workers import ROOT, worker_env

if TYPE_CHECKING:
    from .run import Runner


def peers_directory() -> Path | None:
    """Where the peers' harnesses are (``$FLOWGEN_BENCH_PEERS``, else ``shared/peers`` above the checkout)."""
    configured = os.environ.get("FLOWGEN_BENCH_PEERS")
    candidates = (
        [Path(configured)]
        if configured
        else [parent / "shared" / "peers" for parent in Path(ROOT).resolve().parents]
    )
    return next((path for path in candidates if path.is_dir()), None)


def _last_json(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the peer printed no JSON result: {output[-500:]!r}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def bullmq(mode: str, *args: str) -> dict[str, Any]:
    """Run the BullMQ Workflows harness once on a private Redis; return its JSON result."""
    directory = peers_directory()
    if directory is None or shutil.which("node") is None or shutil.which("npm") is None:
        raise FileNotFoundError("no node/npm or no shared/peers/bullmq-workflows harness")
    with RedisServer() as server:
        env = {**os.environ, "BMW_REDIS_PORT": str(server.port)}
        done = subprocess.run(
            ["bash", str(directory / "bullmq-workflows" / "run.sh"), mode, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
    return _last_json(done.stdout)


def measure_peers(runner: Runner) -> None:
    """flowgen (phase (a)) and BullMQ Workflows, alternating, ``runner.repeat`` times."""
    b, size = runner.b, runner.size
    if size.name == "tiny":  # the test suite's smoke run: the peer's npm install is not its business
        runner.log("peers: not measured at the tiny size")
        return
    try:
        bullmq("latency", "--samples", "5")  # installs the packages once; warms up
    except (FileNotFoundError, subprocess.SubprocessError, RuntimeError) as error:
        runner.log(f"peers: BullMQ Workflows not measured ({error})")
        runner.extra["peers_skipped"] = str(error)
        return
    for rep in range(runner.repeat):
        order = ("flowgen", "bullmq") if rep % 2 == 0 else ("bullmq", "flowgen")
        results: dict[str, dict[str, Any]] = {}
        for side in order:
            if side == "flowgen":
                results[side] = b.flowgen_throughput(size.runs)
            else:
                results[side] = bullmq("throughput", "--n", str(size.runs), "--conc", "50", "--procs", "2")
        own, peer = results["flowgen"], results["bullmq"]
        runner.add("peers.flowgen_throughput", own["rate"])
        runner.add("peers.bullmq_throughput", peer["workflows_per_s"])
        runner.add("peers.ratio", own["rate"] / peer["workflows_per_s"])
        runner.add("peers.flowgen_cpu_us", own["worker_cpu_us"] + own["redis_cpu_us"])
        runner.add("peers.bullmq_cpu_us", peer["node_cpu_us_per_wf"] + peer["redis_cpu_us_per_wf"])
        runner.log(
            f"#{rep + 1}: flowgen {own['rate']:,.0f} workflows/s, BullMQ Workflows "
            f"{peer['workflows_per_s']:,.0f}/s = {own['rate'] / peer['workflows_per_s']:.2f}x; CPU per workflow "
            f"(workers+Redis) {own['worker_cpu_us']:.0f}+{own['redis_cpu_us']:.0f} us vs "
            f"{peer['node_cpu_us_per_wf']:.0f}+{peer['redis_cpu_us_per_wf']:.0f} us"
        )
    latency = bullmq("latency", "--samples", str(3 * size.probes))
    runner.add("peers.bullmq_latency_idle_p50", latency["p50_ms"] / 1000)
    runner.add("peers.bullmq_latency_idle_p99", latency["p99_ms"] / 1000)


def _embedded(runs: int, probes: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.embedded", "--runs", str(runs), "--probes", str(probes)]
    done = subprocess.run(
        command, env=worker_env(""), cwd=ROOT, capture_output=True, text=True, timeout=1800, check=True
    )
    return _last_json(done.stdout)


def _dbos(runs: int) -> dict[str, Any] | None:
    python = os.environ.get("FLOWGEN_BENCH_DBOS_PYTHON")
    directory = peers_directory()
    if not python or directory is None:
        return None
    done = subprocess.run(
        [python, str(directory / "dbos" / "bench.py"), "--n", str(runs)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return _last_json(done.stdout)


def measure_embedded(runner: Runner) -> None:
    """flowgen on SQLite and (when configured) DBOS on SQLite, alternating."""
    size = runner.size
    dbos_runs = max(50, size.runs // 10)
    for rep in range(runner.repeat):
        peer = _dbos(dbos_runs) if rep % 2 else None
        own = _embedded(size.runs, 2 * size.probes)
        if peer is None:
            peer = _dbos(dbos_runs)
        for key in ("rate", "cpu_us", "latency_idle_p50", "latency_idle_p99"):
            runner.add(f"embedded.{key}", own[key])
        line = f"#{rep + 1}: embedded SQLite {own['rate']:,.0f} workflows/s, {own['cpu_us']:.0f} us CPU each"
        if peer is not None:
            runner.add("embedded.dbos_rate", peer["workflows_per_s"])
            runner.add("embedded.dbos_cpu_us", peer["cpu_us_per_wf"])
            runner.add("embedded.dbos_ratio", own["rate"] / peer["workflows_per_s"])
            line += f"; DBOS {peer['workflows_per_s']:,.0f}/s, {peer['cpu_us_per_wf']:.0f} us CPU each"
        runner.log(line)
    if not runner.has("embedded.dbos_rate"):
        runner.log(
            "embedded: DBOS not measured (set FLOWGEN_BENCH_DBOS_PYTHON to a Python with dbos installed)"
        )


def figures(runner: Runner) -> list[Figure]:
    """The two phases' figures (those of a phase that did not run are left out)."""
    s = runner.samples
    found: list[Figure] = []

    def add(key: str, label: str, unit: str, scale: float = 1.0, **kw: Any) -> None:
        if s.get(key):
            values = [value * scale for value in s[key]]
            found.append(Figure(key=key, label=label, unit=unit, value=med(values), samples=values, **kw))

    if s.get("peers.bullmq_throughput"):
        peer = med(s["peers.bullmq_throughput"])
        add(
            "peers.bullmq_throughput",
            "(p) BullMQ Workflows 3-step workflows/s",
            "/s",
            note="run.sh throughput --conc 50 --procs 2, its own Redis, alternating with flowgen",
        )
        add(
            "peers.flowgen_throughput",
            "(p) flowgen 3-step workflows/s, same rounds",
            "/s",
            baseline=peer,
            baseline_label="BullMQ Workflows workflows/s",
            ratio=med(s["peers.ratio"]),
            target=">= 1.5x BullMQ Workflows",
            met=med(s["peers.ratio"]) >= 1.5,
        )
        add("peers.bullmq_cpu_us", "(p) BullMQ Workflows CPU per workflow (node + Redis)", "us")
        add(
            "peers.flowgen_cpu_us",
            "(p) flowgen CPU per workflow (workers + Redis)",
            "us",
            target="<= 600 us",
            met=med(s["peers.flowgen_cpu_us"]) <= 600,
        )
        add("peers.bullmq_latency_idle_p50", "(p) BullMQ Workflows start-to-result p50, idle", "ms", 1000)
        add("peers.bullmq_latency_idle_p99", "(p) BullMQ Workflows start-to-result p99, idle", "ms", 1000)
    if s.get("embedded.rate"):
        dbos = med(s["embedded.dbos_rate"]) if s.get("embedded.dbos_rate") else None
        add(
            "embedded.rate",
            "(h) embedded SQLite 3-step workflows/s (one process)",
            "/s",
            baseline=dbos,
            baseline_label="DBOS on SQLite workflows/s" if dbos else "",
            ratio=med(s["embedded.dbos_ratio"]) if dbos else None,
            target=">= 1,000/s and >= 20x DBOS",
            met=med(s["embedded.rate"]) >= 1000 and (dbos is None or med(s["embedded.dbos_ratio"]) >= 20),
        )
        add("embedded.cpu_us", "(h) embedded CPU per workflow (start, advance, result)", "us")
        add(
            "embedded.latency_idle_p50",
            "(h) embedded start-to-result p50, idle",
            "ms",
            1000,
            target="<= 2 ms",
            met=med(s["embedded.latency_idle_p50"]) <= 0.002,
        )
        add(
            "embedded.latency_idle_p99",
            "(h) embedded start-to-result p99, idle",
            "ms",
            1000,
            target="<= 5 ms",
            met=med(s["embedded.latency_idle_p99"]) <= 0.005,
        )
        add("embedded.dbos_rate", "(h) DBOS on SQLite workflows/s", "/s")
        add("embedded.dbos_cpu_us", "(h) DBOS CPU per workflow", "us")
    return found
