"""Redis's work per 3-step workflow, counted: commands, scripts, CPU and instructions.

Runs N 3-step no-op workflows (``benchmarks.apps.three_steps``: start, then
``engine.runtime.advance`` of each, no Dramatiq worker) against a private ``redis-server`` and
prints per workflow: the calls and microseconds of every command (``INFO commandstats``; the
commands a Lua script issues are counted there too), of every script (``SLOWLOG`` at 0 µs: each
``EVALSHA`` by its SHA, named), and the ``redis-server``'s CPU (``used_cpu_user + sys``).

It runs against whatever code ``flowgen`` and ``benchmarks`` import as, so the same file
measures an older checkout: run it from that checkout with ``PYTHONPATH`` set to it::

    cd /path/to/old && PYTHONPATH=$PWD python /path/to/this/benchmarks/redis_work.py 2000
    python benchmarks/redis_work.py 2000 --callgrind  # instructions of each script call

``--callgrind`` runs the server under valgrind, dumping the instructions of every
``EVALSHA`` (``--dump-before/--dump-after=evalShaCommand``), and prints the median per script
call and the mean (which counts the Lua garbage collector's steps, paid on some calls only, for
what every call allocated); N should be small (30 to 300): each call is one dump file.
Instruction counts do not move with the machine's load, the microseconds do. The priority lane is looked at by time (at most 50 times
a second per process), not per workflow, so its looks are turned off here.

``--workers P`` measures the whole path instead: the N runs are started while ``P`` real
``flowgen worker benchmarks.apps`` processes (8 threads each) advance them through Dramatiq, as
in the throughput benchmark, so the broker's fetches and acks, heartbeats and lease renewals are
in the counts too (and the lane's looks, which this mode leaves on). ``--queued`` starts the runs
before the workers and counts only their drain, as the throughput benchmark's figure does.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("FLOWGEN_UNSAFE_REDIS", "ignore")
sys.path.insert(0, os.getcwd())  # the checkout measured: flowgen and benchmarks from there

ADVANCE = ("acquire", "commit 1", "commit 2", "commit 3 (finishing)")


def _workload(url: str, runs: int, slowlog: bool) -> dict[str, Any]:
    import redis

    import flowgen
    from benchmarks import apps

    try:
        import flowgen.runtime.lane as lane  # absent before flow control

        lane.LANE_INTERVAL = 1e9  # type: ignore[misc]
    except ImportError:
        pass
    client = redis.Redis.from_url(url)
    engine = flowgen.Engine(url)

    def load(count: int) -> None:
        ids = [engine.start(apps.three_steps).run_id for _ in range(count)]
        for run_id in ids:
            engine.runtime.advance(run_id)
        assert all(engine.get(run_id).status().status == "completed" for run_id in ids[-3:])

    def cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"] + info["used_cpu_sys"])

    try:
        load(20)  # scripts loaded, caches warm
        names = {script.sha: name for name, script in engine.store._scripts.items()}
        if slowlog:
            client.config_set("slowlog-log-slower-than", 0)
            client.config_set("slowlog-max-len", 1_000_000)
        client.slowlog_reset()
        client.config_resetstat()
        before = cpu()
        load(runs)
        spent = cpu() - before
        commands = client.info("commandstats")
        scripts: dict[str, list[float]] = {}
        for entry in client.execute_command("SLOWLOG", "GET", "-1") if slowlog else []:
            args = entry[3]
            if args[0].decode().lower() == "evalsha":
                name = names.get(args[1].decode(), "dramatiq " + args[1].decode()[:8])
                calls, usec = scripts.get(name, [0, 0])
                scripts[name] = [calls + 1, usec + entry[2]]
    finally:
        engine.close()
    return {
        "runs": runs,
        "redis_cpu_us": spent * 1e6 / runs,
        "commands": {k.removeprefix("cmdstat_"): [v["calls"] / runs, v["usec"] / runs] for k, v in commands.items()},
        "scripts": {name: [calls / runs, usec / runs] for name, (calls, usec) in scripts.items()},
    }


def _with_workers(url: str, runs: int, processes: int, queued: bool) -> dict[str, Any]:
    import redis

    import flowgen
    from benchmarks import apps
    from benchmarks.workers import start_flowgen

    client = redis.Redis.from_url(url)
    engine = flowgen.Engine(url)
    if queued:  # as the throughput benchmark: the runs wait in the queue, the counts are the drain's
        for _ in range(runs):
            engine.start(apps.three_steps)
        info = client.info("cpu")
        before = float(info["used_cpu_user"] + info["used_cpu_sys"])
        client.config_resetstat()
    group = start_flowgen(url, client, processes, 8)
    try:
        group.wait_ready()
        if not queued:
            for _ in range(20):  # warm-up
                engine.start(apps.three_steps)
            _until_completed(client, 20)
            info = client.info("cpu")
            before = float(info["used_cpu_user"] + info["used_cpu_sys"])
            client.config_resetstat()
            for _ in range(runs):
                engine.start(apps.three_steps)
        _until_completed(client, runs if queued else 20 + runs)
        info = client.info("cpu")
        spent = float(info["used_cpu_user"] + info["used_cpu_sys"]) - before
        commands = client.info("commandstats")
    finally:
        group.stop()
        engine.close()
    return {
        "runs": runs,
        "redis_cpu_us": spent * 1e6 / runs,
        "commands": {k.removeprefix("cmdstat_"): [v["calls"] / runs, v["usec"] / runs] for k, v in commands.items()},
        "scripts": {},
    }


def _until_completed(client: Any, count: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while client.zcard("flowgen:status:completed") < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} runs completed within {timeout}s")
        time.sleep(0.05)


def _server(wrap: list[str], directory: str) -> tuple[subprocess.Popen[bytes], str]:
    from benchmarks.redis_server import free_port

    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", directory, "--protected-mode", "no", "--loglevel", "warning"]
    process = subprocess.Popen([*wrap, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    deadline = time.monotonic() + 120
    while True:
        try:
            redis.Redis(port=port).ping()
            return process, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _script_instructions(directory: str, runs: int) -> dict[str, float]:
    """Median instructions per call of each script, from the dumps taken after each EVALSHA."""
    after: list[int] = []
    for path in sorted(glob.glob(os.path.join(directory, "cg.*")), key=lambda p: int(p.rsplit(".", 1)[1])):
        trigger = None
        with open(path) as dump:
            for line in dump:
                if line.startswith("desc: Trigger"):
                    trigger = line
                elif line.startswith("totals:"):
                    if trigger and "dump-after" in trigger:
                        after.append(int(line.split()[1]))
                    break
    # the measured runs' calls come last: per run a create and its enqueue, then per run the advance's
    starts, advances = after[-6 * runs : -4 * runs], after[-4 * runs :]
    groups = {"create": starts[0::2], "dramatiq enqueue": starts[1::2]}
    groups.update({name: advances[index::4] for index, name in enumerate(ADVANCE)})
    medians = {name: statistics.median(values) for name, values in groups.items()}
    # the mean counts the Lua garbage collector's steps, which fall on some calls only: what a
    # script allocates (closures, tables, strings) is paid again there, so it is the CPU figure
    medians.update({f"{name} (mean)": statistics.fmean(values) for name, values in groups.items()})
    return medians


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=int, help="3-step workflows (after a warm-up of 20)")
    parser.add_argument("--no-slowlog", action="store_true", help="no per-script SLOWLOG (its cost is in the CPU)")
    parser.add_argument("--callgrind", action="store_true", help="instructions per script call (valgrind)")
    parser.add_argument("--workers", type=int, metavar="P", help="advance through P real worker processes")
    parser.add_argument("--queued", action="store_true", help="with --workers: start the runs first, count the drain")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    options = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="flowgen-redis-work-")
    wrap = []
    if options.callgrind:
        wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/cg"]
        wrap += ["--dump-before=evalShaCommand", "--dump-after=evalShaCommand"]
    process, url = _server(wrap, directory)
    try:
        if options.workers:
            result = _with_workers(url, options.runs, options.workers, options.queued)
        else:
            result = _workload(url, options.runs, slowlog=not options.no_slowlog and not options.callgrind)
    finally:
        import redis

        redis.Redis.from_url(url).shutdown(nosave=True)
        process.wait(300)
    if options.callgrind:
        result["script_instructions"] = _script_instructions(directory, options.runs)
    shutil.rmtree(directory, ignore_errors=True)
    if options.json:
        print(json.dumps(result))
        return
    print(f"redis-server CPU per workflow: {result['redis_cpu_us']:.0f} us")
    for name, (calls, usec) in sorted(result["scripts"].items()):
        print(f"script  {name:22s} {calls:6.2f} calls {usec:8.1f} us")
    for name, (calls, usec) in sorted(result["commands"].items()):
        print(f"command {name:22s} {calls:6.2f} calls {usec:8.1f} us")
    for name, count in result.get("script_instructions", {}).items():
        print(f"instructions per call  {name:22s} {count:12,.0f}")


if __name__ == "__main__":
    main()
