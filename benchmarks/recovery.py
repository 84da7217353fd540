"""``python -m benchmarks.recovery``: how soon a killed worker's runs move again (issue 22, target 3).

Each round kills a worker with SIGKILL while it holds runs in two states, and measures, per
run, the time from the kill to the run's step starting again in another process:

* **leased**: runs inside their step (one per worker thread); their lease must end first;
* **prefetched**: runs whose message the dead worker had fetched but no thread had started
  (Redis), or that sat in the dead process's in-memory queue (embedded); they hold no lease.

On Redis a survivor worker is already running when the doomed one is killed (the survivor of
one round is the doomed worker of the next). Runs are started by a client engine with the
default ``grace`` (15 s), as an application starts them; workers run with ``--lease-ttl``.
Embedded, the process that started the runs (an ``Engine("sqlite:///...")`` with its own
threads) is killed and a new one is started on the same file, as a restarted service would be;
the figure includes that process's start-up.

Prints, per store, p50 / p99 / max over the rounds of the slowest run of each round, next to
the target ``lease_ttl + 2 s``. ``--kills`` sets the number of rounds (50 for the note in
docs/performance.md; a few for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from .measure import percentile
from .redis_server import RedisServer
from .workers import ROOT, worker_env

LEASE_TTL = 2.0
"""The workers' ``--lease-ttl`` by default (the fault suite's, and the issue's measurement)."""
QUEUE = "flowgen-dramatiq:flowgen"
PRESENCE = "flowgen-dramatiq:__consumers__.flowgen"


class Ledger:
    """The file every attempt of ``bench.recovery``'s step writes a line to (see recovery_app)."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, "ledger.jsonl")
        self.doomed_path = os.path.join(directory, "doomed")
        open(self.path, "w").close()

    def doom(self, pid: int) -> None:
        with open(self.doomed_path, "w", encoding="utf-8") as file:
            file.write(str(pid))

    def entries(self) -> list[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as file:
            return [json.loads(line) for line in file if line.endswith("\n")]

    def env(self) -> dict[str, str]:
        return {"FLOWGEN_RECOVERY_LEDGER": self.path, "FLOWGEN_RECOVERY_DOOMED": self.doomed_path}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def moved_again(ledger: Ledger, run_ids: Sequence[str], pid: int, killed_at: float) -> dict[str, float]:
    """Seconds from the kill to each run's first attempt start in a process other than ``pid``."""
    first: dict[str, float] = {}
    wanted = set(run_ids)
    for entry in ledger.entries():
        if entry["run"] in wanted and entry["pid"] != pid and entry["at"] >= killed_at - 1:
            first[entry["run"]] = min(first.get(entry["run"], entry["at"]), entry["at"])
    return {run_id: at - killed_at for run_id, at in first.items()}


def started_in(ledger: Ledger, run_ids: Sequence[str], pid: int) -> set[str]:
    return {e["run"] for e in ledger.entries() if e["pid"] == pid} & set(run_ids)


def wait_started(ledger: Ledger, run_ids: Sequence[str], pid: int, count: int) -> None:
    """Wait until ``count`` of ``run_ids`` have started their step in process ``pid``."""
    wait_for(lambda: len(started_in(ledger, run_ids, pid)) >= count, 60, f"{count} runs to start in {pid}")


def wait_moved(ledger: Ledger, run_ids: Sequence[str], pid: int, killed_at: float) -> dict[str, float]:
    """Wait until every run moved again after the kill of ``pid``; return the seconds each took."""
    wait_for(lambda: len(moved_again(ledger, run_ids, pid, killed_at)) == len(run_ids), 120, "recovery")
    return moved_again(ledger, run_ids, pid, killed_at)


# -- Redis ------------------------------------------------------------------------------------


def waiting(client: redis.Redis, run_ids: Sequence[str]) -> set[str]:
    """The runs among ``run_ids`` with a message still in the queue (not fetched by a worker)."""
    from dramatiq.message import Message

    ids = client.lrange(QUEUE, 0, -1)
    bodies = client.hmget(f"{QUEUE}.msgs", ids) if ids else []
    return {Message.decode(body).args[0] for body in bodies if body} & set(run_ids)


def wait_fetched(client: redis.Redis, run_ids: Sequence[str]) -> None:
    wait_for(lambda: not waiting(client, run_ids), 60, "the doomed worker to fetch the queued runs")


def wait_present(client: redis.Redis, count: int) -> None:
    wait_for(lambda: client.zcard(PRESENCE) >= count, 60, f"{count} worker(s) consuming")


def start_worker(
    url: str, ledger: Ledger, threads: int, prefetch: int, lease_ttl: float
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "flowgen", "worker", "benchmarks.recovery_app", "--url", url,
        "--threads", str(threads), "--prefetch", str(prefetch), "--lease-ttl", str(lease_ttl),
        "--grace", "2", "--log-level", "WARNING",
    ]  # fmt: skip
    return subprocess.Popen(command, env=worker_env(url, ledger.env()), cwd=ROOT)


def redis_rounds(
    kills: int, threads: int, fetched: int, lease_ttl: float, log: Callable[[str], None]
) -> list[dict[str, float]]:
    import flowgen

    from . import recovery_app

    # Twice what it holds: the doorbell consumer keeps fetching while it holds at most half.
    prefetch = 2 * (threads + fetched)
    rounds = []
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="flowgen-recovery-") as directory:
        ledger = Ledger(directory)
        client = redis.Redis.from_url(server.url)
        engine = flowgen.Engine(server.url)
        doomed = start_worker(server.url, ledger, threads, prefetch, lease_ttl)
        ledger.doom(doomed.pid)
        wait_present(client, 1)
        try:
            for index in range(kills):
                leased = [f"r{index}-leased-{n}" for n in range(threads)]
                queued = [f"r{index}-queued-{n}" for n in range(fetched)]
                for run_id in leased:
                    engine.start(recovery_app.recovery, 0, run_id=run_id)
                wait_started(ledger, leased, doomed.pid, len(leased))
                for run_id in queued:
                    engine.start(recovery_app.recovery, 0, run_id=run_id)
                wait_fetched(client, queued)
                present = client.zcard(PRESENCE)
                survivor = start_worker(server.url, ledger, threads, prefetch, lease_ttl)
                wait_present(client, present + 1)
                os.kill(doomed.pid, signal.SIGKILL)
                killed_at = time.time()
                doomed.wait()
                runs = [*leased, *queued]
                times = wait_moved(ledger, runs, doomed.pid, killed_at)
                result = {
                    "leased": max(times[r] for r in leased),
                    "prefetched": max((times[r] for r in queued), default=0.0),
                }
                result["slowest"] = max(result.values())
                rounds.append(result)
                log(
                    f"redis round {index + 1}/{kills}: leased {result['leased']:.2f}s, prefetched {result['prefetched']:.2f}s"
                )
                for run_id in runs:
                    engine.result(run_id, timeout=60)
                client.zrem(PRESENCE, *client.zrange(PRESENCE, 0, -1))
                doomed = survivor
                ledger.doom(doomed.pid)
                wait_present(client, 1)
        finally:
            doomed.send_signal(signal.SIGTERM)
            doomed.wait(30)
            engine.close()
            client.close()
    return rounds


# -- embedded ---------------------------------------------------------------------------------


def start_embedded(
    path: str, ledger: Ledger, threads: int, lease_ttl: float, count: int, prefix: str
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.recovery_app",
        path,
        str(threads),
        str(lease_ttl),
        str(count),
        prefix,
    ]
    return subprocess.Popen(command, env={**worker_env(""), **ledger.env()}, cwd=ROOT, stdout=subprocess.PIPE)


def embedded_rounds(
    kills: int, threads: int, queued: int, lease_ttl: float, log: Callable[[str], None]
) -> list[dict[str, float]]:
    import flowgen

    rounds = []
    with tempfile.TemporaryDirectory(prefix="flowgen-recovery-") as directory:
        ledger = Ledger(directory)
        path = os.path.join(directory, "runs.sqlite3")
        process = None
        try:
            for index in range(kills):
                prefix = f"r{index}"
                process = start_embedded(path, ledger, threads, lease_ttl, threads + queued, prefix)
                ledger.doom(process.pid)
                runs = [f"{prefix}-{n}" for n in range(threads + queued)]
                assert process.stdout is not None
                process.stdout.readline()  # "started": every run is created (and queued in it)
                wait_started(ledger, runs, process.pid, threads)
                os.kill(process.pid, signal.SIGKILL)
                killed_at = time.time()
                process.wait()
                holders = started_in(ledger, runs, process.pid)
                restarted = start_embedded(path, ledger, threads, lease_ttl, 0, prefix)
                try:
                    times = wait_moved(ledger, runs, process.pid, killed_at)
                    with flowgen.Engine(f"sqlite:///{path}", start_workers=False) as reader:
                        for run_id in runs:
                            reader.result(run_id, timeout=60)
                finally:
                    restarted.send_signal(signal.SIGTERM)
                    restarted.wait(30)
                result = {
                    "leased": max(times[r] for r in holders),
                    "prefetched": max((times[r] for r in runs if r not in holders), default=0.0),
                }
                result["slowest"] = max(result.values())
                rounds.append(result)
                log(
                    f"embedded round {index + 1}/{kills}: leased {result['leased']:.2f}s, queued {result['prefetched']:.2f}s"
                )
        finally:
            if process is not None and process.poll() is None:
                process.kill()
    return rounds


def summary(name: str, rounds: list[dict[str, float]], lease_ttl: float) -> str:
    lines = [f"{name}: {len(rounds)} kills, lease_ttl {lease_ttl:g} s, target p99 <= {lease_ttl + 2:g} s"]
    for kind in ("leased", "prefetched", "slowest"):
        values = [r[kind] for r in rounds]
        lines.append(
            f"  {kind:<10} p50 {percentile(values, 0.5):5.2f} s   p99 {percentile(values, 0.99):5.2f} s   max {max(values):5.2f} s"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recovery", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--kills", type=int, default=10, help="rounds per store (default 10; the note uses 50)"
    )
    parser.add_argument("--store", choices=("redis", "sqlite", "both"), default="both")
    parser.add_argument("--lease-ttl", type=float, default=LEASE_TTL, help="workers' lease_ttl (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the killed worker (default 2)")
    parser.add_argument(
        "--queued", type=int, default=2, help="runs fetched but not started when it dies (default 2)"
    )
    parser.add_argument("--json", help="also write the rounds to this file")
    args = parser.parse_args(argv)
    started = time.time()

    def log(text: str) -> None:
        print(f"[{time.time() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    results: dict[str, list[dict[str, float]]] = {}
    if args.store in ("redis", "both"):
        results["redis"] = redis_rounds(
            args.kills, args.threads, args.threads + args.queued, args.lease_ttl, log
        )
    if args.store in ("sqlite", "both"):
        results["sqlite"] = embedded_rounds(args.kills, args.threads, args.queued, args.lease_ttl, log)
    for name, rounds in results.items():
        print(summary(name, rounds, args.lease_ttl))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"lease_ttl": args.lease_ttl, "rounds": results}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
