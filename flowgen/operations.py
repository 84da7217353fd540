"""The client operations of an engine (start, send an event, control, restart, retry, status), written once.

Each operation is a *plan*: a generator that does the CPU work itself (binding and encoding the
arguments, checking the answers, raising the documented errors) and yields its I/O as effects,

* :class:`StoreOp` — call a method of the store contract (``create_runs``, ``send_event``,
  ``control``, ...), the reply is what it returns (or the error it raises, thrown into the plan);
* :class:`Enqueue` — send "advance run X" messages through the transport;
* :class:`CreateRuns` — create runs and send the first message of those created: one script
  call on Redis with flowgen's own broker (:mod:`flowgen.transports.start_enqueue`), else
  ``create_runs`` then an enqueue.

:meth:`flowgen.Engine.start` and the rest run these plans with :func:`drive` (plain calls);
:class:`flowgen.AsyncEngine` runs the very same plans with its awaited I/O
(:mod:`flowgen.aio.native`), so the two clients cannot drift apart: same arguments, same
idempotency and conflict rules, same errors.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from . import slots
from .errors import RunFinishedError, RunIdConflictError, RunStateError
from .flow_start import FLOW_OPTIONS, delayed
from .names import check_event_id, check_event_type
from .plans import run
from .reserved import check_not_scheduled
from .search import check_tags
from .status import RunStatus
from .stores.base import ControlResult, NewRun, RunRecord, Store
from .stores.failures import Reason, store_error
from .transports.base import Transport

if TYPE_CHECKING:
    from .client import RunInfo
    from .decorators import Workflow
    from .engine import Engine
    from .inspection import RunInspection
    from .observability.observer import Observers

T = TypeVar("T")

MAX_BATCH = 1000
"""The most runs one ``start_many`` call starts."""


@attrs.frozen
class StoreOp:
    """Effect: call ``store.<method>(*args, **kwargs)``."""

    method: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class TransportOp:
    """Effect: call ``transport.<method>(*args)`` (a read, such as ``unconsumed``)."""

    method: str
    args: tuple[Any, ...]


@attrs.frozen
class Enqueue:
    """Effect: send one "advance" message per run id."""

    run_ids: tuple[str, ...]


@attrs.frozen
class CreateRuns:
    """Effect: ``store.create_runs(runs, now, grace)``, then one "advance" message for each run it
    created whose ``send`` flag is set (never for a run that existed); the result is
    ``create_runs``'s. Where the store and transport allow, both happen in one round trip
    (:func:`flowgen.transports.start_enqueue.start_plan`)."""

    runs: tuple[NewRun, ...]
    now: float
    grace: float
    send: tuple[bool, ...]

    def created(self, results: Sequence[tuple[bool, RunRecord]]) -> list[str]:
        """The ids to send a message for, once ``create_runs`` returned ``results``."""
        return [
            run.run_id for run, flag, (created, _) in zip(self.runs, self.send, results, strict=True) if flag and created
        ]


Effect = StoreOp | TransportOp | Enqueue | CreateRuns
Operation = Generator[Effect, Any, T]
"""A client operation: yields effects, receives their results, returns its own."""


def store(method: str, *args: Any, **kwargs: Any) -> Generator[Effect, Any, Any]:
    """``result = yield from store("method", ...)`` inside an operation."""
    return (yield StoreOp(method, args, kwargs))


def enqueue(run_ids: Sequence[str]) -> Generator[Effect, Any, None]:
    """``yield from enqueue([...])`` inside an operation (nothing is sent for no ids)."""
    if run_ids:
        yield Enqueue(tuple(run_ids))


def create_runs(
    runs: Sequence[NewRun], now: float, grace: float, send: Sequence[bool]
) -> Generator[Effect, Any, list[tuple[bool, RunRecord]]]:
    """``results = yield from create_runs(...)`` inside an operation (see :class:`CreateRuns`)."""
    results: list[tuple[bool, RunRecord]] = yield CreateRuns(tuple(runs), now, grace, tuple(send))
    return results


def drive(
    operation: Operation[T],
    target: Store,
    send: Callable[[Sequence[str]], None],
    transport: Transport | None = None,
) -> T:
    """Run ``operation`` with blocking calls: ``target``'s methods, ``send`` for enqueues, ``transport``'s reads."""

    def perform(effect: Effect) -> Any:
        if isinstance(effect, StoreOp):
            return getattr(target, effect.method)(*effect.args, **effect.kwargs)
        if isinstance(effect, CreateRuns):
            return create_and_send(effect, target, send, transport)
        if isinstance(effect, TransportOp):
            assert transport is not None, f"this operation needs the transport ({effect.method})"
            return getattr(transport, effect.method)(*effect.args)
        send(list(effect.run_ids))
        return None

    return run(operation, perform)


def create_and_send(
    effect: CreateRuns, target: Store, send: Callable[[Sequence[str]], None], transport: Transport | None
) -> list[tuple[bool, RunRecord]]:
    """Perform :class:`CreateRuns` with blocking calls: one script call where ``target`` and
    ``transport`` allow it, else ``create_runs`` and then ``send``."""
    from .transports.start_enqueue import start_now

    folded = start_now(target, transport, effect.runs, effect.now, effect.grace, effect.send)
    if folded is not None:
        return folded
    results = target.create_runs(effect.runs, effect.now, effect.grace)
    created = effect.created(results)
    if created:
        send(created)
    return results


def control(
    run_id: str, action: str, now: Callable[[], float], grace: float, observers: Observers | None = None
) -> Operation[ControlResult]:
    """Pause, resume, cancel or terminate a run; cancellations cascade to its child runs.

    Runs the request makes ready (and parents a termination wakes) are enqueued. A run this
    request terminated is reported to ``observers`` (the store's script decided it: the status
    before was not ``cancelled``, so exactly one caller reports it; a worker advancing the run
    is fenced off and reports nothing).
    """
    result: ControlResult = yield from store("control", run_id, action, now(), grace)
    if action == "terminate" and result.before != RunStatus.CANCELLED and observers:
        yield from report_terminated(run_id, now, observers)
    wake = ([run_id] if result.wake else []) + ([result.parent] if result.parent else [])
    yield from enqueue(wake + list(result.woken))
    if action in ("cancel", "terminate"):
        for child in (yield from store("children", run_id)):
            try:
                yield from control(child, action, now, grace, observers)
            except RunFinishedError:
                continue
    return result


def report_terminated(run_id: str, now: Callable[[], float], observers: Observers) -> Operation[None]:
    """Report the end of a run terminated by ``cancel(force=True)``, read back for what the fact names."""
    from .observability import facts

    record = yield from store("get_run", run_id)
    if record is not None and record.status == RunStatus.CANCELLED:
        finished = record.finished if record.finished is not None else now()
        observers.run_ended(
            facts.run_ended(record, RunStatus.CANCELLED, finished, record.journal_length, record.error)
        )


def check_same(new: NewRun, record: RunRecord) -> None:
    """Raise ``RunIdConflictError`` unless the existing ``record`` is the run ``new`` would start."""
    if record.workflow != new.workflow or record.fingerprint != new.fingerprint:
        raise RunIdConflictError(
            f"run id {new.run_id!r} is already used by a run of {record.workflow!r} "
            f"{'with other arguments' if record.workflow == new.workflow else ''}; starting it again "
            "with the same workflow and arguments returns that run, anything else needs another run id"
        )


@attrs.frozen
class StartedMany:
    """What a ``start_many`` operation did (run ids; each engine wraps them in its own handles)."""

    run_ids: list[str]
    created: list[str]
    existing: list[str]
    conflicts: list[str]


def read_record(engine: RunInspection, run_id: str) -> Operation[RunRecord]:
    """The run's record, or ``RunNotFoundError``."""
    record = yield from store("get_run", run_id)
    if record is None:
        raise store_error(Reason.MISSING, run_id)
    assert isinstance(record, RunRecord)
    return record


def start(
    engine: Engine, workflow: Workflow | str, args: Sequence[Any], kwargs: dict[str, Any]
) -> Operation[str]:
    """Start one run (see :meth:`Engine.start`); returns its run id."""
    run_id = kwargs.pop("run_id", None)
    checked_tags = check_tags(kwargs.pop("tags", None))
    check_not_scheduled(run_id)
    flow_options = {name: kwargs.pop(name) for name in FLOW_OPTIONS if name in kwargs}
    new = engine._new_run(workflow, args, kwargs, run_id, **flow_options)
    # Without tags the first message goes with the create (one round trip on Redis); tags are
    # set before the run is enqueued, so its worker and its listings see them.
    send_now = not checked_tags and not delayed(new)
    results = yield from create_runs([new], engine.clock.now(), engine.settings.grace, [send_now])
    created, record = results[0]
    if not created:
        check_same(new, record)
    if checked_tags:
        yield from store("set_tags", new.run_id, checked_tags)
        if created and not delayed(new):
            yield from enqueue([new.run_id])
    return new.run_id


def start_many(
    engine: Engine,
    workflow: Workflow[..., Any] | str,
    calls: Sequence[tuple[Sequence[Any], dict[str, Any] | None, str | None]],
) -> Operation[StartedMany]:
    """Start up to :data:`MAX_BATCH` runs in a few round trips (see :meth:`Engine.start_many`)."""
    if len(calls) > MAX_BATCH:
        raise ValueError(
            f"start_many takes at most {MAX_BATCH} runs per call, got {len(calls)}; split the batch"
        )
    for _, _, run_id in calls:
        check_not_scheduled(run_id)
    news = [engine._new_run(workflow, args, dict(kwargs or {}), run_id) for args, kwargs, run_id in calls]
    seen: set[str] = set()
    for new in news:
        if new.run_id in seen:
            raise ValueError(f"run id {new.run_id!r} appears twice in the batch")
        seen.add(new.run_id)
    sends = [not delayed(new) for new in news]
    results = yield from create_runs(news, engine.clock.now(), engine.settings.grace, sends)
    created = [new.run_id for new, (was_created, _) in zip(news, results, strict=True) if was_created]
    existing = [new.run_id for new, (was_created, _) in zip(news, results, strict=True) if not was_created]
    conflicts = [
        new.run_id
        for new, (was_created, record) in zip(news, results, strict=True)
        if not was_created and (record.workflow != new.workflow or record.fingerprint != new.fingerprint)
    ]
    return StartedMany([new.run_id for new in news], created, existing, conflicts)


def send_event(engine: Engine, run_id: str, type: str, payload: Any, event_id: str | None) -> Operation[bool]:
    """Deliver an event to a run's inbox (see :meth:`Engine.send_event`)."""
    check_event_type(type)
    event_id = uuid.uuid4().hex if event_id is None else check_event_id(event_id)
    payload_text = engine.serializer.encode(
        payload, run_id=run_id, slot=slots.event(type, event_id), what=f"the payload of event {type!r}"
    )
    result = yield from store(
        "send_event", run_id, type, payload_text, event_id, engine.clock.now(), engine.settings.grace
    )
    if result.wake:
        yield from enqueue([run_id])
    if engine.observers:
        engine.observers.event_sent(run_id, type, result.delivered)
    delivered: bool = result.delivered
    return delivered


def status(engine: RunInspection, run_id: str) -> Operation[RunInfo]:
    """The run's :class:`RunInfo` (its record, tags, flow state and unconsumed queues read through effects)."""
    record = yield from read_record(engine, run_id)
    tags = (yield from store("tags_of", [run_id]))[run_id]
    info = yield from run_info(engine, record, tags)
    return info


def run_info(engine: RunInspection, record: RunRecord, tags: dict[str, str]) -> Operation[RunInfo]:
    """:meth:`Engine.run_info` of a record, with what it reads (flow state, queues consumed) as effects."""
    from .runtime.branch_steps import queues_waited_on  # the runtime package imports this module

    flow = None if record.is_finished else (yield from store("flow_status", record.run_id))
    queues = queues_waited_on(record, engine.registry)
    unconsumed = (yield TransportOp("unconsumed", (queues,))) if queues else []
    return engine.run_info(record, tags, flow=flow, unconsumed=unconsumed)


def listing(
    engine: RunInspection, status: RunStatus | None, workflow: str | None, limit: int | None, offset: int
) -> Operation[list[RunInfo]]:
    """A page of runs, newest first, as :class:`RunInfo` (see :meth:`AsyncEngine.runs`)."""
    records = yield from store("list_runs", status=status, workflow=workflow, limit=limit, offset=offset)
    tags = yield from store("tags_of", [record.run_id for record in records])
    infos = []
    for record in records:
        infos.append((yield from run_info(engine, record, tags[record.run_id])))
    return infos


def control_run(engine: Engine, run_id: str, action: str) -> Operation[RunInfo]:
    """Pause, resume, cancel or terminate the run, then its status."""
    yield from control(run_id, action, engine.clock.now, engine.settings.grace, engine.observers)
    info = yield from status(engine, run_id)
    return info


def restart(engine: Engine, run_id: str) -> Operation[None]:
    """Run the workflow again from the beginning (see :meth:`Engine.restart`)."""
    yield from read_record(engine, run_id)
    for child in (yield from store("children", run_id)):
        try:
            yield from control(child, "terminate", engine.clock.now, engine.settings.grace, engine.observers)
        except RunFinishedError:
            continue
    yield from store("reset", run_id, "restart", engine.clock.now(), engine.settings.grace)
    yield from enqueue([run_id])


def retry(engine: Engine, run_id: str) -> Operation[None]:
    """Resume a failed run from the failed step (see :meth:`Engine.retry`)."""
    record = yield from read_record(engine, run_id)
    if record.status != RunStatus.FAILED:
        raise store_error(Reason.NOT_FAILED, run_id, status=record.status)
    entries = yield from store("read_journal", run_id)
    if entries and entries[-1].kind == "compensate":
        raise RunStateError(
            f"run {run_id!r} already ran its compensations after failing; retrying would not undo them. "
            "Use restart() to run it again from the beginning"
        )
    keep = len(entries) - 1 if entries and not entries[-1].ok else len(entries)
    yield from store("reset", run_id, "retry", engine.clock.now(), engine.settings.grace, truncate_to=keep)
    yield from enqueue([run_id])


def journal(engine: RunInspection, run_id: str) -> Operation[list[dict[str, Any]]]:
    """The run's journal as readable dictionaries (see :meth:`Engine.journal`)."""
    generation = (yield from read_record(engine, run_id)).generation
    entries = yield from store("read_journal", run_id)
    return [engine._readable(run_id, generation, entry) for entry in entries]


def export(engine: RunInspection, run_id: str) -> Operation[dict[str, Any]]:
    """The run as a JSON-compatible document (see :meth:`Engine.export`)."""
    from .inspection import EXPORT_FORMAT

    record = yield from read_record(engine, run_id)
    entries = yield from store("read_journal", run_id)
    return {
        "format": EXPORT_FORMAT,
        "run_id": record.run_id,
        "workflow": record.workflow,
        "status": record.status,
        "generation": record.generation,
        "args": record.args,
        "entries": [entry.to_dict() for entry in entries],
        "open": json.loads(record.open) if record.open else None,
    }


def history(engine: RunInspection, run_id: str) -> Operation[list[dict[str, Any]]]:
    """The run's archived generations, oldest first (see :meth:`Engine.history`)."""
    yield from read_record(engine, run_id)
    generations: list[dict[str, Any]] = yield from store("history", run_id)
    return generations
