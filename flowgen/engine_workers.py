"""How an :class:`~flowgen.Engine` advances runs in its own process: worker threads, the
background services (timers, reconciler, sweeper, schedules), lease renewal and async steps.

A mixin of the engine (the engine's construction decides *whether* it advances runs; this module
is *how*), kept apart so the engine's module stays about starting, reading and controlling runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .aio.runner import attach as attach_async_steps
from .aio.runner import detach as detach_async_steps
from .clock import WallClock
from .errors import ConfigurationError
from .leases import LeaseKeeper
from .names import check_queue_name
from .runtime import Runtime
from .runtime.wakeups import Wakeups
from .services import Services
from .stores.base import LOST_QUEUE
from .validation import check_count

if TYPE_CHECKING:
    import dramatiq

    from .clock import Clock
    from .decorators import Registry
    from .observability.observer import Observers
    from .runtime import Settings
    from .schedules import Schedules
    from .serialization import Serializer
    from .stores.base import Store
    from .transports.base import Stop, Transport

logger = logging.getLogger("flowgen.engine")


class WorkerHandle:
    """Worker threads of this process advancing runs for an engine; stop them with :meth:`stop`.

    Stopping is graceful: the runtime is told to drain first (runs in progress finish the step
    they are in, journal it and are handed back to be continued by another worker), then the
    threads stop, then lease renewal.
    """

    def __init__(self, engine: Any, stoppers: list[Any]) -> None:
        self.engine = engine
        self._stoppers = stoppers

    def stop(self) -> None:
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception:
                logger.exception("stopping a worker component failed")
        self._stoppers = []

    def __enter__(self) -> WorkerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EngineWorkers:
    """Worker threads and background services of an engine (see the module docstring)."""

    store: Store
    transport: Transport
    clock: Clock
    registry: Registry
    settings: Settings
    observers: Observers
    threads: int
    timer_interval: float
    reconcile_interval: float
    async_step_limit: int
    embedded: bool
    _app_broker: bool
    _leases: LeaseKeeper | None
    _closers: list[Stop]

    @property
    def runtime(self) -> Runtime:
        """The runtime that advances runs in this process."""
        if self._runtime is None:
            self._leases = LeaseKeeper(self.store, self.settings.lease_ttl, self.clock.now)
            self._runtime = Runtime(
                store=self.store,
                serializer=self.serializer,
                registry=self.registry,
                clock=self.clock,
                settings=self.settings,
                enqueue=self.transport.enqueue,
                enqueue_branch=self.transport.enqueue_branch,
                leases=self._leases,
                observers=self.observers,
            )
        return self._runtime

    _runtime: Runtime | None
    serializer: Serializer

    @property
    def schedules(self) -> Schedules:
        """The engine's schedules (:attr:`flowgen.Engine.schedules` overrides this)."""
        raise NotImplementedError

    def _schedule_service(self) -> Callable[[], None]:
        """Register the schedules declared in code and start the thread that fires due ticks; return its stop."""
        from .schedules.service import ScheduleService

        try:
            schedules = self.schedules
        except TypeError as error:  # a custom store that keeps no schedules
            logger.warning("schedules do not fire in this process: %s", error)
            return lambda: None
        try:
            schedules.register_declared()
        except Exception:
            logger.exception(
                "registering the schedules declared in code failed; the declared ones may be stale"
            )
        service = ScheduleService(schedules, self.timer_interval)
        service.start()
        return service.stop

    def _services(self) -> Services:
        """The background services of this process; the runtime tells them of the timers it writes."""
        services = Services(
            self.store,
            self.transport.enqueue,
            self.clock,
            grace=self.settings.grace,
            backlog=self.transport.backlog,
            timer_interval=self.timer_interval,
            reconcile_interval=self.reconcile_interval,
            reenqueued=self.observers.reenqueued,
            requeue_lost=self._requeue_lost(),
        )
        self.runtime.timer_set = services.timer_set
        return services

    def _requeue_lost(self) -> Callable[[], int] | None:
        """What requeues a dead worker's fetched messages (a worker counts as dead after ``lease_ttl``)."""
        requeue = getattr(self.transport, "requeue_lost", None)
        if requeue is None:
            return None
        return functools.partial(requeue, self.settings.lease_ttl)

    def _background(self, threads: int) -> tuple[Stop, Stop]:
        """Start lease renewal, async steps, the background services and schedules of a worker of ``threads``.

        Returns ``(stop_services, stop_after_workers)``: the first before the worker threads
        stop, the second (waits for async steps in flight, then stops lease renewal) after.
        """
        self.runtime  # noqa: B018 - builds the runtime and its lease keeper
        assert self._leases is not None
        self._leases.start()
        stop_async_steps = self._async_steps(threads)
        services = self._services()
        services.start()
        stop_schedules = self._schedule_service()
        leases = self._leases
        stop_wakeups = self._precise_wakeups(threads)

        def stop_services() -> None:
            try:
                stop_schedules()
            finally:
                stop_wakeups()
                services.stop()

        def stop_after_workers() -> None:
            try:
                stop_async_steps()
            finally:
                leases.stop()

        return stop_services, stop_after_workers

    def _step_queues(self) -> set[str]:
        return {step.queue for step in self.registry.steps.values() if step.queue}

    def _boot_app_worker(self, threads: int) -> tuple[Stop, Stop]:
        """What a Dramatiq worker of the app broker does at boot: check Redis, start the services."""
        from .redis_checks import report_redis_configuration

        report_redis_configuration(self)
        self.runtime.draining.clear()  # a worker stopped earlier in this process drained it
        return self._background(threads)

    def _attach(self, broker: dramatiq.Broker) -> None:
        """Add the middleware that runs flowgen's services in the app broker's workers."""
        from .transports.app_broker import FlowgenMiddleware, attach

        middleware = FlowgenMiddleware(self._boot_app_worker, self.runtime.drain, self._step_queues)
        self._closers.append(attach(broker, middleware))

    def _start_local_worker(self) -> WorkerHandle:
        self.runtime  # noqa: B018 - builds the runtime and its lease keeper
        assert self._leases is not None
        self._leases.start()
        self.runtime.continue_woken = True  # these threads advance every run
        stop_consuming = self.transport.consume(self.threads)
        services = self._services()
        services.start()
        stop_schedules = self._schedule_service()
        stop_wakeups = self._precise_wakeups(self.threads)
        # Runs that were moving when a previous process stopped resume now (or when their
        # old lease expires); sleeping runs wake through their timers.
        # Every ready run is enqueued, whatever its grace: the messages a previous process
        # queued were in its memory, so they are gone with it (a run another live process has
        # queued gets a second message, a no-op).
        self.transport.enqueue(self.store.reconcile(self.clock.now(), 100_000, self.settings.grace, LOST_QUEUE))
        return WorkerHandle(
            self,
            [
                self._leases.stop,
                self._async_steps(self.threads),
                stop_consuming,
                stop_wakeups,
                services.stop,
                stop_schedules,
                self.runtime.drain,
            ],
        )

    def _precise_wakeups(self, threads: int) -> Callable[[], None]:
        """Wake runs parked for a moment on a limit at their time (:mod:`flowgen.runtime.wakeups`),
        handed to this process's ``threads`` worker threads when they are all busy; returns the
        stopper. Only on the wall clock: under another clock the timers alone wake runs."""
        runtime = self.runtime
        if type(runtime.clock) is not WallClock:
            return lambda: None
        wakeups = runtime.wakeups = Wakeups(runtime.enqueue, runtime.clock.now, threads)
        wakeups.start()

        def stop() -> None:
            runtime.wakeups = None
            wakeups.stop()

        return stop

    def _async_steps(self, threads: int) -> Callable[[], None]:
        """Run async steps on the step loop; returns the stopper that waits for those in flight."""
        runner = attach_async_steps(self.runtime, self.async_step_limit, threads)
        return functools.partial(detach_async_steps, self.runtime, runner)

    def worker(self, threads: int = 8, queues: Sequence[str] | None = None) -> WorkerHandle:
        """Start Dramatiq worker threads in this process (Redis engines); returns a handle to stop them.

        ``flowgen worker`` does this in dedicated processes; this is for tests, notebooks and
        single-process deployments. ``queues``: the queues to consume (default: the engine's own
        queue and the ``queue=`` of every step registered in this process).
        """
        if self.embedded:
            raise ConfigurationError("an embedded engine already advances runs on its own threads")
        check_count(threads, "threads")
        for queue in queues or ():
            check_queue_name(queue)
        if self._app_broker:
            # The broker's FlowgenMiddleware starts and stops the services with the Dramatiq
            # worker (after_worker_boot / before_worker_shutdown).
            return WorkerHandle(self, [self.transport.consume(threads, queues, declare=self._step_queues())])
        self.runtime.draining.clear()  # a worker stopped earlier in this process drained it
        stop_services, stop_after_workers = self._background(threads)
        # Runs a branch woke continue in its thread only where the advance queue is consumed.
        self.runtime.continue_woken = not queues or getattr(self.transport, "queue", None) in queues
        stop_consuming = self.transport.consume(threads, queues, declare=self._step_queues())
        return WorkerHandle(self, [stop_after_workers, stop_consuming, stop_services, self.runtime.drain])
