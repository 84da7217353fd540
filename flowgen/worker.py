"""One worker process: ``flowgen worker MODULE... --url redis://... --threads M``.

A worker process imports the user's modules (which declare the workflows and steps), opens an
:class:`~flowgen.Engine` on the URL and runs a Dramatiq worker for flowgen's actors plus the
background services (timers, reconciler, lease renewal). With ``--processes`` above 1,
:mod:`flowgen.supervisor` runs that many of them.

SIGTERM or SIGINT stops a worker gracefully: it takes no new messages, lets the runs it is
advancing finish their current step and park or complete, and puts prefetched messages back.
A supervised worker also stops that way when its supervisor is gone (even after SIGKILL), so no
worker keeps consuming with code nobody manages any more.

A worker only exits with status 0 when it was asked to stop. Code that calls ``os._exit(0)`` in
it (a step, a library) would otherwise report success to whatever manages the process
(systemd's ``Restart=on-failure``, a container runtime) and not be restarted: while the worker
runs, ``os._exit(0)`` in its process exits with :data:`EXIT_UNEXPECTED` instead.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from . import log_context
from .urls import mask_url, require_redis_url

logger = logging.getLogger("flowgen.worker")

SUPERVISOR_ENV = "FLOWGEN_SUPERVISOR_PID"
"""Set by the supervisor in its children's environment: the pid a child stops without."""

EXIT_UNEXPECTED = 70
"""The status a worker exits with when something in it called ``os._exit(0)`` (``EX_SOFTWARE``)."""

ORPHAN_CHECK = 0.5
"""Seconds between a supervised worker's checks that its supervisor still runs."""


def import_modules(modules: Sequence[str]) -> None:
    """Import the modules that declare workflows and steps (the current directory is importable)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        importlib.import_module(module)


def check_modules(modules: Sequence[str]) -> None:
    """Raise ``ModuleNotFoundError`` for a module that cannot be found, without running any of them.

    The supervisor checks before it starts worker processes that would all fail to import it.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr, each record with its run context (see :mod:`flowgen.log_context`)."""
    log_context.configure(level, log_format)


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


def _supervisor_gone(supervisor: int | None) -> bool:
    """True when this worker was started by a supervisor that is no longer its parent."""
    return supervisor is not None and os.getppid() != supervisor


@contextmanager
def exit_zero_refused() -> Iterator[None]:
    """While the block runs, ``os._exit(0)`` in this process exits with :data:`EXIT_UNEXPECTED`.

    Other statuses, and calls in processes forked from this one (``multiprocessing`` children
    end with ``os._exit``), pass through unchanged.
    """
    real_exit = os._exit
    worker_pid = os.getpid()

    def guarded_exit(status: int) -> NoReturn:
        if status == 0 and os.getpid() == worker_pid:
            os.write(
                2,
                f"flowgen worker {worker_pid}: os._exit(0) was called while the worker ran (by a step?); "
                f"exiting with status {EXIT_UNEXPECTED} so that it counts as a crash\n".encode(),
            )
            real_exit(EXIT_UNEXPECTED)
        real_exit(status)

    os._exit = guarded_exit
    try:
        yield
    finally:
        os._exit = real_exit


def _start_metrics(engine: Any, metrics: tuple[str, int] | None, supervised: bool) -> Any:
    """Record the worker's metrics (and serve them unless its supervisor does); the server or None."""
    if not supervised and metrics is None:
        return None
    from .observability import serving

    if supervised:
        serving.record_only(engine)
        return None
    assert metrics is not None
    server = serving.serve_worker(engine, *metrics)
    logger.info("serving metrics on http://%s:%d/metrics", *metrics)
    return server


def run_worker_process(
    modules: Sequence[str],
    url: str,
    *,
    threads: int,
    queues: Sequence[str] | None = None,
    engine_options: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
    prefetch: int | None = None,
    metrics: tuple[str, int] | None = None,
    metrics_supervised: bool = False,
) -> int:
    """Run one worker in this process until SIGTERM/SIGINT (or ``stop`` is set); return its exit status.

    ``prefetch`` is how many messages the process fetches ahead of its threads (default: the
    transport's, see :class:`flowgen.transports.dramatiq.DramatiqTransport`). ``metrics``:
    serve metrics on ``(host, port)``; ``metrics_supervised``: only record them, for the
    supervisor to serve (see :mod:`flowgen.observability.serving`).

    Raises:
        ConfigurationError: ``url`` is not a Redis URL (checked before anything is imported,
            opened or started), or a setting is out of range.
    """
    from .engine import Engine

    require_redis_url(url, "flowgen worker")
    import_modules(modules)
    engine = Engine(url, **(engine_options or {}))
    stop = stop or threading.Event()
    supervisor = int(os.environ[SUPERVISOR_ENV]) if os.environ.get(SUPERVISOR_ENV) else None

    def request_stop(signum: int, _frame: Any) -> None:
        logger.info("received %s, stopping after the current steps", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    from .redis_checks import report_redis_configuration

    report_redis_configuration(engine)
    metrics_server = _start_metrics(engine, metrics, metrics_supervised)
    tune_gc()
    if prefetch is not None:
        from .transports.dramatiq import DramatiqTransport

        if isinstance(engine.transport, DramatiqTransport):
            engine.transport.prefetch = prefetch
    with exit_zero_refused():
        handle = engine.worker(threads=threads, queues=queues)
        logger.info(
            "worker started: %d thread(s), url %s, workflows %s",
            threads,
            mask_url(url),
            sorted(engine.registry.workflows),
        )
        try:
            while not stop.wait(ORPHAN_CHECK):
                if _supervisor_gone(supervisor):
                    logger.warning(
                        "the supervisor (pid %s) is gone; stopping after the current steps", supervisor
                    )
                    stop.set()
        finally:
            handle.stop()
            if metrics_server is not None:
                metrics_server.shutdown()
            engine.close()
            logger.info("worker stopped")
    return 0
