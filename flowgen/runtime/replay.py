"""Rebuilding a run's workflow generator from its record and journal (the advance's replay, and a
completed child's for its parent's saga, :mod:`.child_sagas`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .. import slots
from ..decoding import decode_call, recorded
from ..decorators import Registry
from ..errors import FlowgenError
from ..interpreter import Decision, Replayer
from ..journal import Entry
from ..serialization import Serializer
from ..signatures import bind_call
from ..status import RunStatus
from ..stores.base import RunRecord
from .view import ChildHistory

if TYPE_CHECKING:
    from .runtime import Runtime


def replay(
    registry: Registry,
    serializer: Serializer,
    record: RunRecord,
    journal: Iterable[Entry],
    parked: tuple[int, str, str] | None = None,
) -> tuple[Replayer, Decision]:
    """Start the workflow of ``record`` with its arguments and feed it ``journal``.

    ``parked`` is ``(position, kind, name)`` of the run's open entry, if any (see
    :attr:`flowgen.interpreter.Replayer.parked`).

    Returns the replayer (its :attr:`~flowgen.interpreter.Replayer.history` holds every command
    yielded) and the decision that follows the journal.

    Raises:
        FlowgenError: the workflow is unknown, its arguments do not decode, a journaled value
            does not verify, or the code no longer yields what the journal recorded.
        TypeError: the arguments do not fit the workflow function.
    """
    workflow = registry.workflow(record.workflow)
    args, kwargs = decode_call(serializer, record.args, run_id=record.run_id, slot=slots.ARGS)
    try:
        generator = workflow(*args, **kwargs)
    except TypeError:
        # A run started where its code was not known (by name, without the module imported)
        # was stored unchecked: say which workflow, parameter and call, as a start would have.
        bind_call(workflow, args, kwargs)
        raise
    replayer = Replayer(generator, parked=parked)
    generation = record.generation
    try:
        decision = replayer.replay(
            recorded(serializer, record.run_id, generation, entry) for entry in journal
        )
    except BaseException:
        replayer.close()  # run its ``finally`` blocks now, not whenever it is collected
        raise
    return replayer, decision


def read_child(runtime: Runtime, run_id: str) -> ChildHistory:
    """Read the child run ``run_id`` and, if it completed, replay its journal (for a saga).

    A child that cannot be replayed any more is reported with the reason, not raised: the
    parent's saga records that compensation as failed and runs the others.
    """
    store = runtime.store
    record = store.get_run(run_id)
    if record is None or record.status != RunStatus.COMPLETED:
        return ChildHistory(record)
    journal = store.read_journal(run_id, 0)
    try:
        replayer, _ = replay(runtime.registry, runtime.serializer, record, journal)
    except (FlowgenError, TypeError) as error:
        return ChildHistory(record, journal, (), f"{type(error).__name__}: {error}")
    replayer.close()
    return ChildHistory(record, journal, tuple(replayer.history))
