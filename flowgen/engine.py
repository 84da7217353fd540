"""The :class:`Engine`: start runs, send events, control runs, and run workers.

``Engine(url)`` picks the store and the transport from the URL (see :mod:`flowgen.urls`):

* ``redis://host:port/db`` (or ``rediss://``, ``unix://``): the Redis store and the Dramatiq
  transport. The engine is a client; runs advance in ``flowgen worker`` processes (or in
  :meth:`Engine.worker` threads).
* ``sqlite:///path/to/file.db``: the embedded SQLite store; the engine advances runs itself on
  threads of this process.
* ``memory://``: everything in this process's memory (nothing survives it).
* no URL: ``$FLOWGEN_URL`` if set, else ``sqlite:///flowgen.sqlite3`` in the current directory.

``Engine(url, broker=broker)`` puts flowgen inside an existing Dramatiq app: the URL names the
store only, flowgen's actors are declared on the app's ``broker`` and its ``dramatiq`` workers
advance runs (:mod:`flowgen.transports.app_broker`, docs/dramatiq.md).

Reading runs (status, results, journals, exports) is the :class:`~flowgen.inspection.RunInspection`
base class; listing, counting and purging them is ``RunFinding`` (``flowgen/finding.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, overload

import attrs
from typing_extensions import ParamSpec, TypeVar

from . import operations
from .aio.runner import DEFAULT_LIMIT as DEFAULT_ASYNC_LIMIT
from .client import Run, RunInfo
from .clock import Clock, WallClock
from .decorators import Registry, Workflow
from .decorators import registry as default_registry
from .durations import Duration
from .engine_workers import EngineWorkers, WorkerHandle
from .errors import (
    ConfigurationError,
)
from .finding import RunFinding
from .flow_start import run_flow
from .inspection import EXPORT_FORMAT, workflow_name
from .leases import LeaseKeeper
from .names import RUN_ID_PATTERN, check_queue_name, check_run_id
from .observability.surface import EngineObservability
from .operations import MAX_BATCH
from .runtime import Runtime, Settings, encode_new_call
from .serialization import DEFAULT_MAX_PAYLOAD_BYTES, Serializer
from .signatures import bind_call
from .stores.base import NewRun, Store
from .urls import DEFAULT_URL, open_backend, open_store, resolve_url, sqlite_path
from .validation import check_count, check_seconds
from .versions import check_version, code_version

__all__ = [
    "DEFAULT_URL",
    "EXPORT_FORMAT",
    "MAX_BATCH",
    "RUN_ID_PATTERN",
    "Engine",
    "StartManyResult",
    "WorkerHandle",
    "check_run_id",
    "sqlite_path",
    "workflow_name",
]
from .transports.base import Stop, Transport

if TYPE_CHECKING:
    import dramatiq

if TYPE_CHECKING:
    from .schedules import Schedules

logger = logging.getLogger("flowgen.engine")

P = ParamSpec("P")
R = TypeVar("R")
H = TypeVar("H")
T = TypeVar("T")


@attrs.frozen
class StartManyResult(Generic[H]):
    """What :meth:`Engine.start_many` (and :meth:`AsyncEngine.start_many`) did.

    One shape for both clients: ``runs`` holds the client's handles, :class:`~flowgen.Run`
    for ``Engine``, :class:`~flowgen.AsyncRun` for ``AsyncEngine``.

    Attributes:
        runs: a handle per requested run, in the order of the calls.
        created: run ids started by this call.
        existing: run ids that already existed and were skipped.
        conflicts: the existing ones whose workflow or arguments differ from the call.
    """

    runs: list[H]
    created: list[str]
    existing: list[str]
    conflicts: list[str]


class Engine(EngineWorkers, EngineObservability, RunFinding):
    """The entry point of flowgen (see the module docstring for URLs).

    Args:
        url: where runs are stored (see the module docstring).
        serializer: ``"json"`` (default) or ``"pickle"`` (cloudpickle, needs ``secret_key``).
        secret_key: the key that seals pickled values; the same on every process.
        max_payload_bytes: the largest encoded argument, result, output or event payload.
        retention: seconds a finished run is kept (Redis and SQLite; ``None`` keeps forever).
        lease_ttl: seconds a run's lease lasts without renewal; a worker that dies or freezes
            longer loses its runs to others.
        grace: seconds before a ready run that did not start is enqueued again.
        journal_warn / journal_limit: warn about / fail runs whose journal grows this long.
        threads: worker threads of an embedded engine (sqlite:// and memory://).
        start_workers: whether an embedded engine advances runs itself (default true).
        registry: where workflows and steps are looked up (default: the global registry).
        clock: the time source (tests use a virtual clock).
        prefix / queue: the Redis key prefix and the Dramatiq queue name.
        tracing: emit OpenTelemetry spans (docs/observability.md); ``None`` (default): as
            ``$FLOWGEN_TRACING`` says (``1``/``0``), else when ``opentelemetry`` is installed.
        async_step_limit: ``async def`` step attempts this process's workers run at once on
            its step loop (docs/asyncio.md).
        version: the code version runs started by this engine record (``RunInfo.version``);
            default: the version of the workflow's top-level package, if it has one (see
            :mod:`flowgen.versions`).
        broker: an app's own Dramatiq broker (``dramatiq.get_broker()``): flowgen's actors are
            declared on it and any Dramatiq worker of it (``dramatiq myapp.tasks``) advances
            runs, with flowgen's services started by a middleware (docs/dramatiq.md). ``url``
            then only names the store.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        serializer: str = "json",
        secret_key: bytes | str | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        retention: float | None = 7 * 86400,
        lease_ttl: float = 10.0,
        grace: float = 15.0,
        journal_warn: int = 2000,
        journal_limit: int = 10000,
        cache_size: int = 256,
        threads: int = 8,
        start_workers: bool = True,
        timer_interval: float = 0.1,
        reconcile_interval: float = 2.0,
        registry: Registry | None = None,
        clock: Clock | None = None,
        prefix: str = "flowgen",
        queue: str = "flowgen",
        store: Store | None = None,
        transport: Transport | None = None,
        tracing: bool | None = None,
        async_step_limit: int = DEFAULT_ASYNC_LIMIT,
        version: str | None = None,
        broker: dramatiq.Broker | None = None,
    ) -> None:
        if serializer not in ("json", "pickle"):
            raise ConfigurationError(f"serializer must be 'json' or 'pickle', got {serializer!r}")
        if retention is not None:
            retention = check_seconds(
                retention, "retention (None keeps finished runs forever)", allow_zero=True
            )
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(f"prefix must be a non-empty string, got {prefix!r}")
        self.queue = check_queue_name(queue)
        """The Dramatiq queue of flowgen's advance actor (``broker.join(engine.queue)`` in tests)."""
        self.serializer = Serializer(
            pickle=serializer == "pickle",
            secret_key=secret_key,
            max_payload_bytes=check_count(max_payload_bytes, "max_payload_bytes"),
        )
        self.settings = Settings(
            lease_ttl=check_seconds(lease_ttl, "lease_ttl"),
            grace=check_seconds(grace, "grace", allow_zero=True),
            journal_warn=check_count(journal_warn, "journal_warn"),
            journal_limit=check_count(journal_limit, "journal_limit"),
            cache_size=check_count(cache_size, "cache_size", minimum=0),
            version=check_version(version),
        )
        self.registry = registry or default_registry
        self.clock: Clock = clock or WallClock()
        self.timer_interval = check_seconds(timer_interval, "timer_interval")
        self.reconcile_interval = check_seconds(reconcile_interval, "reconcile_interval")
        self.threads = check_count(threads, "threads")
        self.async_step_limit = check_count(async_step_limit, "async_step_limit")
        self._worker: WorkerHandle | None = None
        self._runtime: Runtime | None = None
        self._leases: LeaseKeeper | None = None
        self._schedules: Schedules | None = None
        self.embedded = False
        self._init_observability(tracing)
        self._closers: list[Stop] = []
        self._app_broker = broker is not None
        if broker is not None and (store is not None or transport is not None):
            raise ConfigurationError(
                "Engine(broker=...) builds its own transport on that broker and opens the store its URL "
                "names; pass either broker= (with a URL) or store= and transport=, not both"
            )
        if store is not None:
            if transport is None:
                raise ConfigurationError("Engine(store=...) also needs transport=...")
            self.url = url or "custom://"
            self.store, self.transport = store, transport
        elif broker is not None:
            from .transports.app_broker import app_transport

            self.url = resolve_url(url)
            self.transport = app_transport(broker, queue)
            self.store = open_store(self.url, retention=retention, prefix=prefix)
        else:
            self.url = resolve_url(url)
            backend = open_backend(self.url, retention=retention, prefix=prefix, queue=queue, threads=threads)
            self.store, self.transport, self.embedded = backend.store, backend.transport, backend.embedded
        if self.embedded and not start_workers:
            # Nothing in this process advances runs: mark new work as due at once, so the
            # reconciler of the process that runs the workers picks it up on its next pass.
            # Before the runtime is built: it writes control requests with its settings' grace.
            self.settings = attrs.evolve(self.settings, grace=0.0)
        self.transport.bind(self.runtime)
        if broker is not None:
            self._attach(broker)
        if self.embedded and start_workers:
            self._worker = self._start_local_worker()

    # -- construction -----------------------------------------------------------------------

    @property
    def schedules(self) -> Schedules:
        """Manage this engine's schedules (create, update, pause, resume, delete, trigger, list, get).

        See docs/schedules.md.
        """
        if self._schedules is None:
            from .schedules import Schedules

            self._schedules = Schedules(self)
        return self._schedules

    def close(self) -> None:
        """Stop this engine's worker threads (if any) and close its connections."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.observers.close()
        for closer in self._closers:
            closer()
        self._closers = []
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def _new_run(
        self,
        workflow: Workflow | str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        run_id: str | None,
        **flow_options: Any,
    ) -> NewRun:
        name = workflow_name(workflow)
        if isinstance(workflow, Workflow) and self.registry.workflows.get(name) is not workflow:
            self.registry.add_workflow(workflow)
        code = workflow if isinstance(workflow, Workflow) else self.registry.workflows.get(name)
        given: tuple[Sequence[Any], dict[str, Any]] | None = None
        if code is not None:
            if code.interface.parameters:
                given = (args, kwargs)  # the fingerprint's, converted or not (encode_new_call)
            args, kwargs = bind_call(code, args, kwargs)
        if run_id is not None:
            run_id = check_run_id(run_id)
        now = self.clock.now()
        flow = run_flow(code, name, args, kwargs, now, **flow_options)
        if run_id is None:
            run_id = self.store.new_run_id(name, flow)  # on a Redis Cluster: in its limits' shard
        version = code_version(self.settings.version, code)
        args_text, digest = encode_new_call(self.serializer, run_id, name, args, kwargs, version, given)
        trace = self.observers.trace_context() if self.observers.trace_context is not None else None
        return NewRun(run_id, name, args_text, digest, now, trace=trace, flow=flow)

    @overload
    def start(self, workflow: Workflow[P, R], *args: P.args, **kwargs: P.kwargs) -> Run[R]: ...
    @overload
    def start(
        self,
        workflow: Workflow[..., R],
        *args: Any,
        run_id: str | None,
        tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Run[R]: ...
    @overload
    def start(
        self, workflow: Workflow[..., R], *args: Any, tags: Mapping[str, str] | None, **kwargs: Any
    ) -> Run[R]: ...
    # With a flow option (docs/flow-control.md) the arguments are checked at run time only, as
    # with run_id=: ParamSpec cannot add keywords to a workflow's own.
    @overload
    def start(
        self, workflow: Workflow[..., R], *args: Any, concurrency_key: str, **kwargs: Any
    ) -> Run[R]: ...
    @overload
    def start(self, workflow: Workflow[..., R], *args: Any, start_at: datetime, **kwargs: Any) -> Run[R]: ...
    @overload
    def start(self, workflow: Workflow[..., R], *args: Any, delay: Duration, **kwargs: Any) -> Run[R]: ...
    @overload
    def start(self, workflow: Workflow[..., R], *args: Any, timeout: Duration, **kwargs: Any) -> Run[R]: ...
    @overload
    def start(self, workflow: Workflow[..., R], *args: Any, priority: int, **kwargs: Any) -> Run[R]: ...
    @overload
    def start(
        self,
        workflow: str,
        *args: Any,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Run[Any]: ...

    def start(self, workflow: Any, *args: Any, **kwargs: Any) -> Run[Any]:
        """Start a run of ``workflow`` and return its handle.

        Idempotent on ``run_id``: starting an existing run id with the same workflow and
        arguments returns that run and starts nothing. The arguments are bound to the workflow's
        signature first (and converted to its schemas) when this process knows its code.

        Type checkers check the arguments against a ``Workflow[P, R]`` and type the handle
        ``Run[R]``; with ``run_id=``, ``tags=`` or a flow option the arguments are checked here,
        at run time, only.

        Flow control (docs/flow-control.md): ``concurrency_key`` is the key of the workflow's
        keyed limit; ``start_at`` (an aware datetime; in the past: now) or ``delay`` creates the
        run now and starts it then; ``timeout`` (default: the workflow's) raises
        ``RunTimeoutError`` into a run not finished by then; ``priority`` (0 to 100, default the
        workflow's): a prioritized run goes ahead of the queue.

        Args:
            run_id: the run's id (default: a new UUID).
            tags: searchable ``key: value`` text pairs (``engine.runs(tags={...})``, ``flowgen
                runs --tag key=value``); set by the start that creates the run (a repeated
                start of an existing run keeps the run's tags). A workflow parameter named
                ``tags`` cannot be passed by keyword to ``start``.

        Raises:
            TypeError: the arguments do not fit the workflow's signature (nothing is created).
            SchemaError: an argument does not fit its parameter's schema (nothing is created).
            RunIdConflictError: the run id exists with another workflow or other arguments.
            InvalidRunIdError: the run id is not acceptable.
            SerializationError: the arguments cannot be encoded.
            ValueError: a flow option, a key function's result or a tag is not acceptable.
            TypeError: a flow option or a key function's result has the wrong type.
        """
        return Run(self, self._drive(operations.start(self, workflow, args, kwargs)))

    def start_many(
        self,
        workflow: Workflow[..., Any] | str,
        calls: Sequence[tuple[Sequence[Any], dict[str, Any] | None, str | None]],
    ) -> StartManyResult[Run[Any]]:
        """Start up to 1,000 runs of ``workflow`` in a few round trips.

        Args:
            calls: ``(args, kwargs, run_id)`` per run; ``kwargs`` and ``run_id`` may be ``None``.

        Returns:
            A :class:`StartManyResult`: a handle per call, in order, and which run ids were
            created, which already existed (skipped, not an error) and which of those exist with
            another workflow or other arguments.

        Raises:
            ValueError: more than :data:`MAX_BATCH` calls, or a run id repeated in the batch.
            TypeError: a call does not fit the workflow's signature (every call is checked
                before any run is created).
            SchemaError: an argument of a call does not fit its parameter's schema.
        """
        done = self._drive(operations.start_many(self, workflow, calls))
        return StartManyResult(
            [Run(self, run_id) for run_id in done.run_ids], done.created, done.existing, done.conflicts
        )

    def get(self, run_id: str) -> Run:
        """Return the handle of an existing run.

        Raises:
            RunNotFoundError: no such run.
        """
        self._record(run_id)
        return Run(self, run_id)

    def send_event(self, run_id: str, type: str, payload: Any = None, *, event_id: str | None = None) -> bool:
        """Deliver an event to a run's inbox; it is buffered until the run waits for it.

        Args:
            event_id: makes delivery idempotent: re-sending the same id delivers once.

        Returns:
            False when ``event_id`` was already delivered, else True.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
            SerializationError: the payload cannot be encoded.
            PayloadTooLargeError: the payload is over ``max_payload_bytes``.
            InvalidEventError: the type or the id is empty or longer than 200 characters.
        """
        return self._drive(operations.send_event(self, run_id, type, payload, event_id))

    # -- control ----------------------------------------------------------------------------

    def pause(self, run_id: str) -> RunInfo:
        """Pause a run: it finishes the step it is in, then parks until :meth:`resume`.

        While it is paused, timers that fall due and events that arrive are kept; they take
        effect on resume. ``RunInfo.pause_pending`` is true until the run has parked.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
        """
        return self._drive(operations.control_run(self, run_id, "pause"))

    def resume(self, run_id: str) -> RunInfo:
        """Resume a paused run (or withdraw a pause that is still pending).

        Raises:
            RunStateError: the run is not paused.
        """
        return self._drive(operations.control_run(self, run_id, "resume"))

    def cancel(self, run_id: str, *, force: bool = False) -> RunInfo:
        """Cancel a run and, recursively, its child runs.

        Without ``force``, ``flowgen.CancelledError`` is raised into the workflow at its current
        ``yield`` (a step that is running finishes first), so ``except``/``finally`` blocks can
        run cleanup steps; the run then ends ``cancelled``. With ``force=True`` the run ends
        ``cancelled`` at once, without cleanup; a step still running finishes in its worker but
        its result is discarded.

        Returns the run's :class:`RunInfo`; its ``cancellation`` says what became of the
        request: ``"requested"`` until the workflow reaches a ``yield``, then ``"delivered"``,
        or ``"ignored"`` if the run completed or failed first (a cancel that arrives while the
        last step runs: the workflow has no ``yield`` left to raise it at). Cancelling a run
        that is already cancelled changes nothing and returns its info.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has already completed or failed.
        """
        return self._drive(operations.control_run(self, run_id, "terminate" if force else "cancel"))

    def restart(self, run_id: str) -> Run:
        """Run the workflow again from the beginning under the same run id.

        The old journal is kept in the run's history (:meth:`history`); a run still in flight
        is stopped first (its children are terminated, and a worker still advancing it can no
        longer write). The new generation gets fresh idempotency keys.
        """
        self._drive(operations.restart(self, run_id))
        return Run(self, run_id)

    def retry(self, run_id: str) -> Run:
        """Resume a failed run from the step that failed, keeping the results of earlier steps.

        The failed step's journal entry (the last one, if it failed) is removed and the run
        continues from there: steps that succeeded are not run again. The failed attempt is kept
        in the run's history.

        Raises:
            RunStateError: the run is not failed, or it already ran its compensations (use
                :meth:`restart`).
        """
        self._drive(operations.retry(self, run_id))
        return Run(self, run_id)
