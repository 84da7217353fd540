"""``python -m benchmarks.worker_work N``: a whole worker's instructions per workflow, counted.

:mod:`benchmarks.engine_work` counts the advance path alone (``engine.runtime.advance``, no
Dramatiq). This counts what a worker process does end to end for N queued 3-step workflows:
the Dramatiq consumer (fetch, decode, hand-off to a thread, ack), the worker threads (the
advance, the step attempts, the store's round trips) and the background threads (leases,
timers, reconciler, heartbeat) while they drain. The N runs are queued by a separate Python
process (not counted), then this process runs ``engine.worker(threads=8)`` as ``flowgen
worker`` does (same collector settings) until they are all completed (start-up cancels out in the difference)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m benchmarks.worker_work 100
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m benchmarks.worker_work 400
    # instructions per workflow = (Collected(400) - Collected(100)) / 300

Valgrind runs the process's threads one at a time, tens of times slower, and background threads
poll by the wall clock: the timer poller, schedule service and reconciler are set to poll every
30 s here so that they do not drown the count (an idle worker with the defaults costs about
9 ms of CPU per second, see docs/performance.md); lease renewal and the consumer's heartbeat
keep their defaults. Without valgrind it prints
the process's CPU time per workflow (noisy on a shared machine; use the counts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.engine_work import count_opcodes
from benchmarks.redis_server import RedisServer

QUEUE_RUNS = """
import sys, flowgen
from benchmarks import apps
engine = flowgen.Engine(sys.argv[1], start_workers=False)
count = int(sys.argv[2])
for offset in range(0, count, 1000):
    engine.start_many(apps.three_steps, [((), None, None)] * min(1000, count - offset))
engine.close()
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.worker_work", description=__doc__.split("\n")[0]
    )
    parser.add_argument("runs", type=int, help="3-step workflows to drain")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--opcodes", metavar="OUT.json", help="count Python bytecodes per function, every thread"
    )
    options = parser.parse_args(argv)
    os.environ.setdefault("FLOWGEN_UNSAFE_REDIS", "ignore")
    import flowgen
    from benchmarks import apps  # noqa: F401  (declares the workflows in this process)
    from flowgen.worker import tune_gc

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    with RedisServer() as server:
        client = server.client()
        subprocess.run([sys.executable, "-c", QUEUE_RUNS, server.url, str(options.runs)], check=True, env=env)
        # The timer poller, schedule service and reconciler poll by the wall clock, which runs
        # tens of times slower under valgrind: polled rarely here, they do not drown the count.
        engine = flowgen.Engine(server.url, timer_interval=30.0, reconcile_interval=30.0)
        tune_gc()

        def drain(count: int) -> None:
            handle = engine.worker(threads=options.threads)
            deadline = time.monotonic() + 60 + 10 * count
            try:
                while int(client.zcard("flowgen:status:completed")) < count:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{count} runs were not completed in time")
                    time.sleep(0.2)  # a poll costs this process: rarely (it runs under valgrind)
            finally:
                handle.stop()

        cpu = time.process_time()
        if options.opcodes:
            counts = count_opcodes(drain, options.runs)
            with open(options.opcodes, "w") as out:
                json.dump({"runs": options.runs, "counts": counts}, out)
        else:
            drain(options.runs)
        spent = time.process_time() - cpu
        engine.close()
        client.close()
    print(f"{options.runs} workflows drained; process CPU {1e6 * spent / options.runs:.0f} us per workflow")


if __name__ == "__main__":
    main()
