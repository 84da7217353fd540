"""``python -m benchmarks.engine_work``: the engine's own work per workflow, counted, not timed.

The throughput benchmark measures wall-clock rates on a shared machine; this measures what one
process does for N 3-step workflows, in units a loaded machine cannot change:

* ``runner N``: N runs through ``flowgen.testing.Runner`` (memory store, inline transport);
* ``redis N``: N runs advanced directly by the runtime (``engine.runtime.advance``) against a
  private ``redis-server``, no Dramatiq: the step-boundary path of a worker, commit scripts
  included. It also prints Redis's ``INFO commandstats`` per run;
* ``sqlite N``: N runs through the embedded engine on a fresh SQLite file
  (``Engine("sqlite:///...")``, its 8 worker threads), started one by one and then awaited, as
  ``python -m benchmarks.embedded`` does: starting, advancing and waiting, every thread
  counted. Each call opens its own engine (so its threads are traced), which is in the count:
  take the difference of two counts for the work per workflow.

``--opcodes OUT.json`` counts the Python bytecodes each function executes (``sys.settrace`` with
opcode events: deterministic, slow) and writes them per function. For CPU instructions, run the
same command under valgrind twice and subtract (start-up cancels out)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m benchmarks.engine_work redis 100
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m benchmarks.engine_work redis 300
    # instructions per workflow = (Collected(300) - Collected(100)) / 200

Set ``BENCH_REDIS_WRAP="valgrind --tool=callgrind --callgrind-out-file=FILE"`` to count the
``redis-server``'s instructions instead. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from benchmarks.redis_server import RedisServer

Load = Callable[[int], None]


def runner_load() -> tuple[Load, Callable[[], None]]:
    from benchmarks import apps
    from flowgen.testing import Runner

    def load(count: int) -> None:
        with Runner() as runner:
            for _ in range(count):
                runner.start(apps.three_steps)
            runner.run_until_idle()

    return load, lambda: None


def redis_load() -> tuple[Load, Callable[[], None]]:
    os.environ.setdefault("FLOWGEN_UNSAFE_REDIS", "ignore")
    import subprocess

    import flowgen
    from benchmarks import apps

    server = RedisServer()
    wrap = os.environ.get("BENCH_REDIS_WRAP", "").split()
    if wrap:  # start the same command line under the wrapper
        original = subprocess.Popen

        def wrapped(command: list[str], *args: Any, **kwargs: Any) -> Any:
            return original([*wrap, *command], *args, **kwargs)

        subprocess.Popen = wrapped  # type: ignore[misc]
        try:
            server.start(timeout=120)
        finally:
            subprocess.Popen = original  # type: ignore[misc]
    else:
        server.start()
    client = server.client()
    engine = flowgen.Engine(server.url)

    def load(count: int) -> None:
        ids = [engine.start(apps.three_steps).run_id for _ in range(count)]
        for run_id in ids:
            engine.runtime.advance(run_id)
        assert all(engine.get(run_id).status().status == "completed" for run_id in ids[-3:])

    def close() -> None:
        engine.close()
        if wrap:
            client.shutdown(nosave=True)  # valgrind writes its counts when the server exits
            assert server.process is not None
            server.process.wait(120)
        server.stop()

    load.client = client  # type: ignore[attr-defined]
    return load, close


def sqlite_load() -> tuple[Load, Callable[[], None]]:
    import tempfile
    from pathlib import Path

    import flowgen
    from benchmarks import apps

    directory = tempfile.TemporaryDirectory()
    files = iter(range(1_000_000))

    def load(count: int) -> None:
        # A fresh engine per call: its worker threads start inside the call, so --opcodes
        # (threading.settrace) counts them too. Its open and close are in every count:
        # subtract two counts (e.g. 400 and 200 runs) for the work per workflow.
        url = f"sqlite:///{Path(directory.name) / f'work{next(files)}.sqlite3'}"
        with flowgen.Engine(url) as engine:
            handles = [engine.start(apps.three_steps) for _ in range(count)]
            assert all(handle.result(timeout=600) == 3 for handle in handles)

    return load, directory.cleanup


def count_opcodes(load: Load, count: int) -> dict[str, list[int]]:
    """Run ``load(count)`` counting the bytecodes (and calls) of each function, in every thread
    started meanwhile too; ``{"path:function": [bytecodes, calls]}``."""
    opcodes: collections.Counter[tuple[str, str]] = collections.Counter()
    calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            opcodes[(frame.f_code.co_filename, frame.f_code.co_name)] += 1
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        calls[(frame.f_code.co_filename, frame.f_code.co_name)] += 1
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return local

    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        load(count)
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    return {
        f"{path.replace(root, '')}:{name}": [number, calls[(path, name)]]
        for (path, name), number in opcodes.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engine_work", description=__doc__.split("\n")[0]
    )
    parser.add_argument("load", choices=["runner", "redis", "sqlite"])
    parser.add_argument("runs", type=int, help="3-step workflows to run (after a warm-up of 20)")
    parser.add_argument("--opcodes", metavar="OUT.json", help="count Python bytecodes per function")
    options = parser.parse_args(argv)
    load, close = {"runner": runner_load, "redis": redis_load, "sqlite": sqlite_load}[options.load]()
    try:
        load(20)  # imports, scripts loaded, caches warm
        client = getattr(load, "client", None)
        if client is not None:
            client.config_resetstat()
        if options.opcodes:
            counts = count_opcodes(load, options.runs)
            with open(options.opcodes, "w") as out:
                json.dump({"runs": options.runs, "counts": counts}, out)
            total = sum(number for number, _ in counts.values()) / options.runs
            print(f"{total:,.0f} Python bytecodes per workflow")
        else:
            load(options.runs)
        if client is not None:
            for name, stats in sorted(client.info("commandstats").items()):
                print(f"{name:28s} {stats['calls'] / options.runs:6.2f} calls per workflow")
    finally:
        close()


if __name__ == "__main__":
    main()
