"""The :class:`Engine`: start runs, send events, read results, and run workers.

``Engine(url)`` picks the store and the transport from the URL:

* ``redis://host:port/db`` (or ``rediss://``, ``unix://``): the Redis store and the Dramatiq
  transport. The engine is a client; runs advance in ``flowgen worker`` processes (or in
  :meth:`Engine.worker` threads).
* ``sqlite:///path/to/file.db``: the embedded SQLite store; the engine advances runs itself on
  threads of this process.
* ``memory://``: everything in this process's memory (nothing survives it).
* no URL: ``$FLOWGEN_URL`` if set, else ``sqlite:///flowgen.sqlite3`` in the current directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import attrs

from .client import ErrorInfo, Run, RunInfo, output_or_raise, when
from .clock import Clock, WallClock
from .decorators import Registry, Workflow
from .decorators import registry as default_registry
from .errors import (
    ConfigurationError,
    InvalidRunIdError,
    ResultTimeoutError,
    RunFinishedError,
    RunIdConflictError,
    RunStateError,
)
from .leases import LeaseKeeper
from .runtime import Runtime, Settings, encode_call, fingerprint
from .serialization import DEFAULT_MAX_PAYLOAD_BYTES, Serializer
from .services import Services
from .status import RunStatus
from .stores.base import NewRun, RunRecord, Store
from .stores.failures import Reason, store_error

logger = logging.getLogger("flowgen.engine")

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@/+=\-]{1,200}$")
DEFAULT_URL = "sqlite:///flowgen.sqlite3"
EXPORT_FORMAT = "flowgen-journal/1"


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if flowgen accepts it, else raise :class:`InvalidRunIdError`."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: use 1 to 200 characters among letters, digits and . _ : @ / + = -"
        )
    return run_id


def sqlite_path(url: str) -> str:
    """Return the file path of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or "?" in rest or "#" in rest:
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db "
            "(no host, no query string)"
        )
    path = rest[1:]
    if not path or path.endswith("/"):
        raise ConfigurationError(f"malformed SQLite URL {url!r}: it names no file")
    return path


def workflow_name(workflow: Workflow | str) -> str:
    if isinstance(workflow, Workflow):
        return workflow.name
    if isinstance(workflow, str) and workflow:
        return workflow
    raise TypeError(f"expected a @flowgen.workflow or a workflow name, got {workflow!r}")


MAX_BATCH = 1000


@attrs.frozen
class StartManyResult:
    """What :meth:`Engine.start_many` did.

    Attributes:
        runs: a handle per requested run, in the order of the calls.
        created: run ids started by this call.
        existing: run ids that already existed and were skipped.
        conflicts: the existing ones whose workflow or arguments differ from the call.
    """

    runs: list[Run]
    created: list[str]
    existing: list[str]
    conflicts: list[str]


class WorkerHandle:
    """Worker threads of this process advancing runs for an engine; stop them with :meth:`stop`.

    Stopping is graceful: the runtime is told to drain first (runs in progress finish the step
    they are in, journal it and are handed back to be continued by another worker), then the
    threads stop, then lease renewal.
    """

    def __init__(self, engine: Engine, stoppers: list[Any]) -> None:
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


class Engine:
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
        transport: Any = None,
    ) -> None:
        if serializer not in ("json", "pickle"):
            raise ConfigurationError(f"serializer must be 'json' or 'pickle', got {serializer!r}")
        self.serializer = Serializer(
            pickle=serializer == "pickle", secret_key=secret_key, max_payload_bytes=max_payload_bytes
        )
        self.settings = Settings(
            lease_ttl=lease_ttl,
            grace=grace,
            journal_warn=journal_warn,
            journal_limit=journal_limit,
            cache_size=cache_size,
        )
        self.registry = registry or default_registry
        self.clock: Clock = clock or WallClock()
        self.timer_interval = timer_interval
        self.reconcile_interval = reconcile_interval
        self.threads = threads
        self._worker: WorkerHandle | None = None
        self._runtime: Runtime | None = None
        self._leases: LeaseKeeper | None = None
        self.embedded = False
        if store is not None:
            if transport is None:
                raise ConfigurationError("Engine(store=...) also needs transport=...")
            self.url = url or "custom://"
            self.store, self.transport = store, transport
        else:
            self.url = url or os.environ.get("FLOWGEN_URL") or DEFAULT_URL
            self.store, self.transport = self._open(self.url, retention, prefix, queue)
        self.transport.bind(self.runtime)
        if self.embedded and start_workers:
            self._worker = self._start_local_worker()
        elif self.embedded:
            # Nothing in this process advances runs: mark new work as due at once, so the
            # reconciler of the process that runs the workers picks it up on its next pass.
            self.settings = attrs.evolve(self.settings, grace=0.0)

    # -- construction -----------------------------------------------------------------------

    def _open(self, url: str, retention: float | None, prefix: str, queue: str) -> tuple[Store, Any]:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in ("redis", "rediss", "unix"):
            import redis

            from .stores.redis import RedisStore
            from .transport import redis_transport

            try:
                client = redis.Redis.from_url(url, health_check_interval=30)
            except ValueError as error:
                raise ConfigurationError(f"malformed Redis URL {url!r}: {error}") from error
            return RedisStore(client=client, prefix=prefix, retention=retention), redis_transport(
                client, queue
            )
        if scheme == "sqlite":
            from .local import LocalTransport
            from .stores.sqlite import SQLiteStore

            path = sqlite_path(url)
            self.embedded = True
            return SQLiteStore(path, retention=retention), LocalTransport(self.threads)
        if scheme == "memory":
            from .local import LocalTransport
            from .stores.memory import MemoryStore

            self.embedded = True
            return MemoryStore(), LocalTransport(self.threads)
        raise ConfigurationError(
            f"unsupported engine URL {url!r}: use redis://host:port/db, sqlite:///path/to/file.db or memory://"
        )

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
            )
        return self._runtime

    def _services(self) -> Services:
        return Services(
            self.store,
            self.transport.enqueue,
            self.clock,
            grace=self.settings.grace,
            backlog=getattr(self.transport, "backlog", lambda: 0.0),
            timer_interval=self.timer_interval,
            reconcile_interval=self.reconcile_interval,
        )

    def _start_local_worker(self) -> WorkerHandle:
        self.runtime  # noqa: B018 - builds the runtime and its lease keeper
        assert self._leases is not None
        self._leases.start()
        self.transport.start()
        services = self._services()
        services.start()
        # Runs that were moving when a previous process stopped resume now (or when their
        # old lease expires); sleeping runs wake through their timers.
        self.transport.enqueue(self.store.reconcile(self.clock.now(), 100_000, self.settings.grace))
        return WorkerHandle(self, [self._leases.stop, self.transport.stop, services.stop, self.runtime.drain])

    def worker(self, threads: int = 8, queues: Sequence[str] | None = None) -> WorkerHandle:
        """Start Dramatiq worker threads in this process (Redis engines); returns a handle to stop them.

        ``flowgen worker`` does this in dedicated processes; this is for tests, notebooks and
        single-process deployments.
        """
        if self.embedded:
            raise ConfigurationError("an embedded engine already advances runs on its own threads")
        self.runtime  # noqa: B018 - builds the runtime and its lease keeper
        assert self._leases is not None
        self._leases.start()
        dramatiq_worker = self.transport.make_worker(threads, queues)
        dramatiq_worker.start()
        services = self._services()
        services.start()
        return WorkerHandle(
            self, [self._leases.stop, dramatiq_worker.stop, services.stop, self.runtime.drain]
        )

    def close(self) -> None:
        """Stop this engine's worker threads (if any) and close its connections."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def _new_run(
        self, workflow: Workflow | str, args: Sequence[Any], kwargs: dict[str, Any], run_id: str | None
    ) -> NewRun:
        name = workflow_name(workflow)
        if isinstance(workflow, Workflow) and self.registry.workflows.get(name) is not workflow:
            self.registry.add_workflow(workflow)
        run_id = check_run_id(run_id) if run_id is not None else uuid.uuid4().hex
        args_text = encode_call(self.serializer, run_id, name, args, kwargs)
        return NewRun(run_id, name, args_text, fingerprint(name, args_text), self.clock.now())

    @staticmethod
    def _check_same(new: NewRun, record: RunRecord) -> None:
        if record.workflow != new.workflow or record.fingerprint != new.fingerprint:
            raise RunIdConflictError(
                f"run id {new.run_id!r} is already used by a run of {record.workflow!r} "
                f"{'with other arguments' if record.workflow == new.workflow else ''}; starting it again "
                "with the same workflow and arguments returns that run, anything else needs another run id"
            )

    def start(self, workflow: Workflow | str, *args: Any, run_id: str | None = None, **kwargs: Any) -> Run:
        """Start a run of ``workflow`` and return its handle.

        Idempotent on ``run_id``: starting an existing run id with the same workflow and
        arguments returns that run and starts nothing.

        Raises:
            RunIdConflictError: the run id exists with another workflow or other arguments.
            InvalidRunIdError: the run id is not acceptable.
            SerializationError: the arguments cannot be encoded.
        """
        new = self._new_run(workflow, args, kwargs, run_id)
        created, record = self.store.create_run(new, self.clock.now(), self.settings.grace)
        if created:
            self.transport.enqueue([new.run_id])
        else:
            self._check_same(new, record)
        return Run(self, new.run_id)

    def start_many(
        self,
        workflow: Workflow | str,
        calls: Sequence[tuple[Sequence[Any], dict[str, Any] | None, str | None]],
    ) -> StartManyResult:
        """Start up to 1,000 runs of ``workflow`` in a few round trips.

        Args:
            calls: ``(args, kwargs, run_id)`` per run; ``kwargs`` and ``run_id`` may be ``None``.

        Returns:
            A :class:`StartManyResult`: a handle per call, in order, and which run ids were
            created, which already existed (skipped, not an error) and which of those exist with
            another workflow or other arguments.

        Raises:
            ValueError: more than :data:`MAX_BATCH` calls, or a run id repeated in the batch.
        """
        if len(calls) > MAX_BATCH:
            raise ValueError(
                f"start_many takes at most {MAX_BATCH} runs per call, got {len(calls)}; split the batch"
            )
        news = [self._new_run(workflow, args, dict(kwargs or {}), run_id) for args, kwargs, run_id in calls]
        seen: set[str] = set()
        for new in news:
            if new.run_id in seen:
                raise ValueError(f"run id {new.run_id!r} appears twice in the batch")
            seen.add(new.run_id)
        results = self.store.create_runs(news, self.clock.now(), self.settings.grace)
        created = [new.run_id for new, (was_created, _) in zip(news, results, strict=True) if was_created]
        existing = [
            new.run_id for new, (was_created, _) in zip(news, results, strict=True) if not was_created
        ]
        conflicts = [
            new.run_id
            for new, (was_created, record) in zip(news, results, strict=True)
            if not was_created and (record.workflow != new.workflow or record.fingerprint != new.fingerprint)
        ]
        if created:
            self.transport.enqueue(created)
        return StartManyResult([Run(self, new.run_id) for new in news], created, existing, conflicts)

    def get(self, run_id: str) -> Run:
        """Return the handle of an existing run.

        Raises:
            RunNotFoundError: no such run.
        """
        self.store.get_run_or_raise(run_id)
        return Run(self, run_id)

    def runs(
        self,
        status: str | None = None,
        workflow: Workflow | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunInfo]:
        """List runs, newest first, optionally by status and workflow."""
        wanted = None if status is None else RunStatus.parse(status)
        name = None if workflow is None else workflow_name(workflow)
        return [
            self.run_info(record)
            for record in self.store.list_runs(status=wanted, workflow=name, limit=limit, offset=offset)
        ]

    def send_event(self, run_id: str, type: str, payload: Any = None, *, event_id: str | None = None) -> bool:
        """Deliver an event to a run's inbox; it is buffered until the run waits for it.

        Args:
            event_id: makes delivery idempotent: re-sending the same id delivers once.

        Returns:
            False when ``event_id`` was already delivered, else True.

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run has finished.
            SerializationError / PayloadTooLargeError: the payload cannot be stored.
        """
        if not isinstance(type, str) or not type:
            raise ValueError(f"event type must be a non-empty string, got {type!r}")
        event_id = event_id or uuid.uuid4().hex
        payload_text = self.serializer.encode(
            payload, run_id=run_id, slot=f"event:{event_id}", what=f"the payload of event {type!r}"
        )
        result = self.store.send_event(
            run_id, type, payload_text, event_id, self.clock.now(), self.settings.grace
        )
        if result.wake:
            self.transport.enqueue([run_id])
        return result.delivered

    # -- control ----------------------------------------------------------------------------

    def pause(self, run_id: str) -> RunInfo:
        """Pause a run: it finishes the step it is in, then parks until :meth:`resume`.

        While it is paused, timers that fall due and events that arrive are kept; they take
        effect on resume. ``RunInfo.pause_pending`` is true until the run has parked.

        Raises:
            RunNotFoundError / RunFinishedError: no such run, or it has finished.
        """
        self.runtime.request_control(run_id, "pause")
        return self.get(run_id).status()

    def resume(self, run_id: str) -> RunInfo:
        """Resume a paused run (or withdraw a pause that is still pending).

        Raises:
            RunStateError: the run is not paused.
        """
        self.runtime.request_control(run_id, "resume")
        return self.get(run_id).status()

    def cancel(self, run_id: str, *, force: bool = False) -> RunInfo:
        """Cancel a run and, recursively, its child runs.

        Without ``force``, ``flowgen.CancelledError`` is raised into the workflow at its current
        ``yield`` (a step that is running finishes first), so ``except``/``finally`` blocks can
        run cleanup steps; the run then ends ``cancelled``. With ``force=True`` the run ends
        ``cancelled`` at once, without cleanup; a step still running finishes in its worker but
        its result is discarded.
        """
        self.runtime.request_control(run_id, "terminate" if force else "cancel")
        return self.get(run_id).status()

    def restart(self, run_id: str) -> Run:
        """Run the workflow again from the beginning under the same run id.

        The old journal is kept in the run's history (:meth:`history`); a run still in flight
        is stopped first (its children are terminated, and a worker still advancing it can no
        longer write). The new generation gets fresh idempotency keys.
        """
        self.store.get_run_or_raise(run_id)
        for child in self.store.children(run_id):
            try:
                self.runtime.request_control(child, "terminate")
            except RunFinishedError:
                continue
        self.store.reset(run_id, "restart", self.clock.now(), self.settings.grace)
        self.transport.enqueue([run_id])
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
        record = self.store.get_run_or_raise(run_id)
        if record.status != RunStatus.FAILED:
            raise store_error(Reason.NOT_FAILED, run_id, status=record.status)
        entries = self.store.read_journal(run_id)
        if entries and entries[-1].kind == "compensate":
            raise RunStateError(
                f"run {run_id!r} already ran its compensations after failing; retrying would not undo them. "
                "Use restart() to run it again from the beginning"
            )
        keep = len(entries) - 1 if entries and not entries[-1].ok else len(entries)
        self.store.reset(run_id, "retry", self.clock.now(), self.settings.grace, truncate_to=keep)
        self.transport.enqueue([run_id])
        return Run(self, run_id)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Return the archived generations of a run (restarts and retries), oldest first."""
        self.store.get_run_or_raise(run_id)
        return self.store.history(run_id)

    # -- results and inspection ---------------------------------------------------------------

    def wait_finished(self, run_id: str, timeout: float | None) -> RunRecord | None:
        """Block until the run finishes (``None`` after ``timeout`` seconds)."""
        return self.store.wait_finished(run_id, timeout)

    def output_of(self, record: RunRecord) -> Any:
        """Return a finished run's output or raise its error (see :meth:`Run.result`)."""
        output = None
        if record.output is not None:
            output = self.serializer.decode(record.output, run_id=record.run_id, slot="output")
        return output_or_raise(record, output)

    def run_info(self, record: RunRecord) -> RunInfo:
        """Build the :class:`RunInfo` of a stored record."""
        output = None
        if record.output is not None:
            output = self.serializer.decode(record.output, run_id=record.run_id, slot="output")
        created = when(record.created)
        updated = when(record.updated)
        assert created is not None and updated is not None
        return RunInfo(
            run_id=record.run_id,
            workflow=record.workflow,
            status=record.status,
            created=created,
            updated=updated,
            finished=when(record.finished),
            output=output,
            error=ErrorInfo.from_record(record.error) if record.error else None,
            parent=record.parent,
            waiting_for=record.waiting,
            pause_pending=record.pause_requested
            and record.status != RunStatus.PAUSED
            and not record.is_finished,
            journal_length=record.journal_length,
            generation=record.generation,
        )

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        """Return a run's journal as readable dictionaries (values decoded where possible)."""
        self.store.get_run_or_raise(run_id)
        readable = []
        for entry in self.store.read_journal(run_id):
            item = entry.to_dict()
            if entry.ok and entry.value is not None:
                slot = entry.info.get("slot") or str(entry.position)
                try:
                    item["value"] = self.serializer.decode(entry.value, run_id=run_id, slot=slot)
                except Exception as error:
                    item["value"] = f"<undecodable: {error}>"
            readable.append(item)
        return readable

    def export(self, run_id: str) -> dict[str, Any]:
        """Return a run's journal as a JSON-compatible document (``flowgen export`` writes it).

        ``flowgen.testing.verify_replay(workflow, exported)`` replays current code against it.
        ``open`` is the entry a run in flight is parked on (``None`` otherwise): replay must
        reach that same command for the run to resume.
        """
        record = self.store.get_run_or_raise(run_id)
        return {
            "format": EXPORT_FORMAT,
            "run_id": record.run_id,
            "workflow": record.workflow,
            "status": record.status,
            "generation": record.generation,
            "args": record.args,
            "entries": [entry.to_dict() for entry in self.store.read_journal(run_id)],
            "open": json.loads(record.open) if record.open else None,
        }

    def wait_for_status(self, run_id: str, statuses: Sequence[str], timeout: float) -> RunInfo:
        """Poll until the run is in one of ``statuses``; for scripts and tests."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.store.get_run_or_raise(run_id)
            if record.status in statuses:
                return self.run_info(record)
            if time.monotonic() >= deadline:
                raise ResultTimeoutError(
                    f"run {run_id!r} is {record.status}, not {'/'.join(statuses)}, after {timeout}s"
                )
            time.sleep(0.01)
