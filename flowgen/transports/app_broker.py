"""flowgen on an app's own Dramatiq broker: its actors there, its services started by a middleware.

``flowgen.Engine(url, broker=broker)`` declares flowgen's two actors (see :mod:`.dramatiq`) on
``broker`` — the app's ``RedisBroker``, ``RabbitmqBroker`` or ``StubBroker`` — and adds a
:class:`FlowgenMiddleware` to it. Any Dramatiq worker on that broker then advances runs: the
``dramatiq myapp.tasks`` command, or a ``dramatiq.Worker`` a test starts. The middleware is what
makes such a worker a complete flowgen worker:

* ``before_worker_boot`` declares the queues of steps declared with ``queue=``, so a worker
  started without ``--queues`` consumes them (Dramatiq consumes declared queues only);
* ``after_worker_boot`` starts lease renewal, the runner of ``async def`` steps and the
  background services (timer poller, reconciler, sweeper: :mod:`flowgen.services`; the schedule
  service);
* ``before_worker_shutdown`` (Dramatiq's graceful stop, on SIGTERM) tells the runtime to drain:
  each run being advanced stops after its current step, journals it and is enqueued again; the
  timer poller and reconciler stop;
* ``after_worker_shutdown`` (every worker thread has finished) waits for async steps in flight,
  then stops lease renewal, which had to outlive the steps still running.

The app's other middleware is left alone and sees flowgen's messages; flowgen's actors opt out
of the middleware that would fight its semantics through their options
(:data:`.dramatiq.ACTOR_OPTIONS`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

import dramatiq

from ..errors import ConfigurationError
from .base import Stop
from .dramatiq import ADVANCE_ACTOR, BRANCH_ACTOR, BRANCH_ACTOR_ALIASES, DramatiqTransport

logger = logging.getLogger("flowgen.transports.app_broker")

FLOWGEN_ACTORS = (ADVANCE_ACTOR, BRANCH_ACTOR, *BRANCH_ACTOR_ALIASES)

Background = Callable[[int], tuple[Stop, Stop]]
"""Starts lease renewal, async steps and the services for a worker of that many threads;
returns ``(stop_services, stop_after_workers)``."""


def app_transport(broker: object, queue: str) -> DramatiqTransport:
    """The Dramatiq transport on an app's ``broker``: flowgen's actors declared on it.

    Raises:
        ConfigurationError: ``broker`` is not a Dramatiq broker, or another open engine is on it
            already (flowgen's actors have one name per broker).
    """
    if not isinstance(broker, dramatiq.Broker):
        raise ConfigurationError(
            f"broker must be a Dramatiq broker (e.g. dramatiq.get_broker()), got {broker!r}"
        )
    taken = sorted(set(FLOWGEN_ACTORS) & set(broker.actors))
    if taken:
        raise ConfigurationError(
            f"{broker!r} already has flowgen's actors {taken} (another Engine on it is open); use one "
            "Engine per broker (engine.close() of the other one takes its actors off the broker)"
        )
    return DramatiqTransport(broker, queue)


class FlowgenMiddleware(dramatiq.Middleware):
    """Runs flowgen's background services in every Dramatiq worker of the broker it is added to.

    Args:
        background: starts lease renewal and the services of the engine.
        drain: tells the engine's runtime to stop every run after its current step.
        step_queues: the ``queue=`` of every registered step (read when a worker boots).
    """

    def __init__(
        self, background: Background, drain: Stop, step_queues: Callable[[], Collection[str]]
    ) -> None:
        self.background = background
        self.drain = drain
        self.step_queues = step_queues
        self._lock = threading.Lock()
        self._workers = 0
        self._stop_services: Stop | None = None
        self._stop_leases: Stop | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        declared = set(broker.get_declared_queues())
        for queue in sorted(set(self.step_queues()) - declared):
            broker.declare_queue(queue)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # One Worker per process under `dramatiq`; several in one process (tests) share the
        # services, started by the first and stopped with the last.
        with self._lock:
            self._workers += 1
            if self._workers > 1:
                return
            self._stop_services, self._stop_leases = self.background(worker.worker_threads)
        logger.info("flowgen services started in this Dramatiq worker (timers, reconciler, leases)")

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        with self._lock:
            if self._workers != 1:
                return  # other workers of this process still advance runs: no drain
            stop_services, self._stop_services = self._stop_services, None
        self.drain()
        if stop_services is not None:
            stop_services()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        with self._lock:
            self._workers = max(0, self._workers - 1)
            if self._workers:
                return
            stop_leases, self._stop_leases = self._stop_leases, None
        if stop_leases is not None:
            stop_leases()


def attach(broker: dramatiq.Broker, middleware: FlowgenMiddleware) -> Stop:
    """Add ``middleware`` to ``broker``; return what removes it and flowgen's actors again.

    ``Engine.close`` calls it, so that another engine can be opened on the broker later (tests
    open one per test on the same ``StubBroker``).
    """
    broker.add_middleware(middleware)

    def detach() -> None:
        if middleware in broker.middleware:
            broker.middleware.remove(middleware)
        for name in FLOWGEN_ACTORS:
            broker.actors.pop(name, None)

    return detach
