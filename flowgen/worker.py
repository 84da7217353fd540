"""Worker processes: ``flowgen worker MODULE... --url redis://... --processes N --threads M``.

Each worker process imports the user's modules (which declare the workflows and steps),
opens an :class:`~flowgen.Engine` on the URL and runs a Dramatiq worker for flowgen's actors
plus the background services (timers, reconciler, lease renewal). With ``--processes`` above 1
a supervisor starts that many worker processes, forwards SIGINT/SIGTERM to them, and restarts
one that dies unexpectedly (a killed worker's runs are taken over by the others meanwhile).

SIGTERM or SIGINT stops a worker gracefully: it takes no new messages, lets the runs it is
advancing finish their current step and park or complete, and puts prefetched messages back.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("flowgen.worker")

RESTART_DELAY = 1.0


def import_modules(modules: Sequence[str]) -> None:
    """Import the modules that declare workflows and steps (the current directory is importable)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        importlib.import_module(module)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
    )


GC_THRESHOLD = (20_000, 20, 50)
"""Collector thresholds of worker processes (CPython's defaults are 700, 10, 10)."""


def tune_gc() -> None:
    """Make the cyclic garbage collector cheaper in a long-running worker process.

    Every advance allocates thousands of short-lived objects (journal entries, commands,
    decoded values) and CPython's default thresholds run a young collection every 700 net
    allocations, with full collections scanning every object the process imported. Freezing
    what exists after start-up moves it out of the collector's reach, and a higher first
    threshold collects young garbage in larger, rarer passes: about 2-3% less worker CPU per
    workflow in the benchmark (docs/performance.md), for a few MB more young garbage at most.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def run_worker_process(
    modules: Sequence[str],
    url: str,
    *,
    threads: int,
    queues: Sequence[str] | None = None,
    engine_options: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
    prefetch: int | None = None,
) -> int:
    """Run one worker in this process until SIGTERM/SIGINT (or ``stop`` is set).

    ``prefetch`` is how many messages the process fetches ahead of its threads (default: the
    transport's, see :class:`flowgen.transports.dramatiq.DramatiqTransport`).
    """
    from .engine import Engine

    import_modules(modules)
    engine = Engine(url, **(engine_options or {}))
    if engine.embedded:
        raise SystemExit("flowgen worker needs a redis:// URL; an embedded engine runs its own threads")
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        logger.info("received %s, stopping after the current steps", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    from .redis_checks import report_redis_configuration

    report_redis_configuration(engine)
    tune_gc()
    if prefetch is not None:
        from .transports.dramatiq import DramatiqTransport

        if isinstance(engine.transport, DramatiqTransport):
            engine.transport.prefetch = prefetch
    handle = engine.worker(threads=threads, queues=queues)
    logger.info(
        "worker started: %d thread(s), url %s, workflows %s", threads, url, sorted(engine.registry.workflows)
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
        engine.close()
        logger.info("worker stopped")
    return 0


def supervise(argv_for_child: list[str], processes: int) -> int:
    """Run ``processes`` worker processes, forwarding signals and restarting crashed ones."""
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()

    def spawn(slot: int) -> None:
        child = subprocess.Popen([sys.executable, "-m", "flowgen", *argv_for_child])
        children[slot] = child
        logger.info("started worker process %d (pid %d)", slot, child.pid)

    def forward(signum: int, _frame: Any) -> None:
        stopping.set()
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for slot in range(processes):
        spawn(slot)
    while True:
        alive = False
        for slot, child in list(children.items()):
            code = child.poll()
            if code is None:
                alive = True
            elif not stopping.is_set():
                logger.error(
                    "worker process %d (pid %d) exited with %s; restarting it", slot, child.pid, code
                )
                time.sleep(RESTART_DELAY)
                spawn(slot)
                alive = True
        if not alive:
            break
        time.sleep(0.2)
    codes = [child.returncode for child in children.values()]
    return 0 if all(code in (0, -signal.SIGTERM, -signal.SIGINT) for code in codes) else 1
