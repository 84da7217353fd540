"""Firing ticks: claim due schedules, start one run per tick, apply the overlap policy, write back.

Any worker may fire any schedule. :meth:`Firing.fire_due` claims the due ones (the claim moves
a schedule's due time :data:`CLAIM_TTL` seconds ahead, so no one else fires it meanwhile) and,
for each, starts the runs of its due ticks under run ids derived from the schedule and the
tick (:func:`run_id_for`, created with the idempotent start), then writes the new state with a
compare-and-set on the revision it claimed. A worker that dies anywhere in between leaves the
state as it was: the next claim, after the claim lease, handles the same ticks again, finds
their runs already created, and starts nothing twice.

Overlap policies look at the schedule's latest runs (their status, read from the store):

* ``skip``: a tick while one is in progress is skipped (counted);
* ``buffer_one``: it waits for the run in progress to finish (one waits; more are skipped);
* ``buffer_all``: every such tick waits, in order (up to :data:`MAX_BUFFER`);
* ``cancel_other``: the runs in progress are cancelled and the tick waits for them to end;
* ``allow_all``: it starts regardless.

A schedule with buffered ticks is claimed again at :func:`recheck_delay` (its predecessor's
end is not signalled to schedules; see docs/schedules.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .. import slots
from ..errors import RunFinishedError, RunNotFoundError
from .spec import ScheduleSpec, args_owner
from .state import ScheduleState
from .store import ScheduleStore, StoredSchedule
from .ticks import due_ticks
from .timing import tick_text

if TYPE_CHECKING:
    from ..engine import Engine

logger = logging.getLogger("flowgen.schedules")

CLAIM_TTL = 5.0
"""Seconds a claimed schedule is left to its claimer before another worker may fire it."""

BATCH = 100
"""Schedules claimed per store call."""

MAX_BUFFER = 1000
"""The most ticks ``buffer_all`` keeps waiting; more are skipped."""

ACTIVE_WINDOW = 10
"""How many of its latest runs a tick looks at to find runs in progress."""

RUN_ID_PREFIX = "schedule:"

_RUN_ID = re.compile(
    r"schedule:(?P<name>[A-Za-z0-9_.\-]{1,100}):"
    r"(?P<tick>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?[+-]\d\d:\d\d(?::\d\d)?)(?P<manual>:manual)?"
)


def run_id_for(spec: ScheduleSpec, tick: float, *, manual: bool = False) -> str:
    """The run id of a schedule's tick: ``schedule:<name>:<tick in its time zone, ISO 8601>``."""
    return f"{RUN_ID_PREFIX}{spec.name}:{tick_text(tick, spec.tz)}{':manual' if manual else ''}"


@attrs.frozen
class TickOfRun:
    """What a scheduled run's id says: its schedule, its tick, and whether ``trigger`` started it."""

    schedule: str
    tick: datetime
    manual: bool = False


def parse_run_id(run_id: str) -> TickOfRun | None:
    """Return the schedule and tick a run id names, or ``None`` for a run no schedule started."""
    match = _RUN_ID.fullmatch(run_id)
    if match is None:
        return None
    try:
        tick = datetime.fromisoformat(match["tick"])
    except ValueError:
        return None
    return TickOfRun(match["name"], tick, bool(match["manual"]))


def recheck_delay(now: float, waiting_since: float) -> float:
    """When to look again at a buffered tick: 10% of how long it has waited, from 1 s to 60 s."""
    return min(60.0, max(1.0, (now - waiting_since) / 10))


class Firing:
    """Fires the due ticks of an engine's schedules (one per process, used by its service thread)."""

    def __init__(self, engine: Engine, store: ScheduleStore) -> None:
        self.engine = engine
        self.store = store
        self.executor: ThreadPoolExecutor | None = None
        """Fires the schedules of one claim concurrently when set (worker processes; the
        testing Runner fires them one after the other, in order)."""
        self.on_start: Callable[[str, float, float], None] | None = None
        """Called with ``(run_id, tick, now)`` for each run this process starts (benchmarks)."""

    def fire_due(self, now: float | None = None) -> int:
        """Fire every schedule due at ``now``; return how many were claimed."""
        claimed_total = 0
        while True:
            when = self.engine.clock.now() if now is None else now
            claimed = self.store.claim(when, BATCH, CLAIM_TTL)
            for stored in claimed:
                try:
                    self.fire(stored, when)
                except Exception:
                    logger.exception(
                        "firing schedule %r failed; it is fired again in %.0fs", stored.name, CLAIM_TTL
                    )
            claimed_total += len(claimed)
            if len(claimed) < BATCH:
                return claimed_total

    def _fire_logged(self, stored: StoredSchedule, now: float) -> None:
        try:
            self.fire(stored, now)
        except Exception:
            logger.exception("firing schedule %r failed; it is fired again in %.0fs", stored.name, CLAIM_TTL)

    def fire(self, stored: StoredSchedule, now: float) -> bool:
        """Handle one claimed schedule's due ticks; false when someone changed it meanwhile."""
        spec = ScheduleSpec.from_json(stored.spec)
        state = ScheduleState.from_json(stored.state)
        if state.paused:
            return (
                self.store.put(stored.name, stored.revision, stored.spec, stored.state, None, now) is not None
            )
        due = due_ticks(spec, state.next_tick, now)
        active = self._active(spec)
        started: list[tuple[str, float]] = []
        self._drain_buffer(spec, state, active, started, now)
        for tick in due.run:
            self._handle_tick(spec, state, tick, active, started, now)
        state.missed += due.missed
        if due.run or due.missed:
            state.last_tick = max([*due.run, state.last_tick or 0.0, state.next_tick or 0.0])
        state.next_tick = due.following
        # Counted from this fire's own list, not from what add_runs found new: a fire whose
        # state write was lost recorded its runs already, and the fire that redoes it counts them.
        self.store.add_runs(spec.name, started)
        state.started += len(started)
        state.updated = now
        when = state.next_tick
        if state.buffer:
            recheck = now + recheck_delay(now, state.buffer[0])
            when = recheck if when is None else min(when, recheck)
        written = self.store.put(stored.name, stored.revision, stored.spec, state.to_json(), when, now)
        if written is None:
            logger.info(
                "schedule %r changed while its ticks fired; the next claim fires them again", spec.name
            )
        return written is not None

    def _active(self, spec: ScheduleSpec) -> list[str]:
        if spec.overlap == "allow_all":
            return []
        active = []
        for run_id, _ in self.store.runs(spec.name, ACTIVE_WINDOW):
            record = self.engine.store.get_run(run_id)
            if record is not None and not record.is_finished:
                active.append(run_id)
        return active

    def _drain_buffer(
        self,
        spec: ScheduleSpec,
        state: ScheduleState,
        active: list[str],
        started: list[tuple[str, float]],
        now: float,
    ) -> None:
        while state.buffer:
            tick = state.buffer[0]
            run_id = run_id_for(spec, tick)
            if self.engine.store.get_run(run_id) is None:
                if active:
                    return
                self.start(spec, tick, run_id, now)
                active.append(run_id)
            started.append((run_id, tick))
            state.buffer.pop(0)

    def _handle_tick(
        self,
        spec: ScheduleSpec,
        state: ScheduleState,
        tick: float,
        active: list[str],
        started: list[tuple[str, float]],
        now: float,
    ) -> None:
        run_id = run_id_for(spec, tick)
        if not active or spec.overlap == "allow_all" or self.engine.store.get_run(run_id) is not None:
            # Start it; or it was started by an earlier fire whose state write was lost (its
            # worker died, or the schedule changed meanwhile): the idempotent start creates
            # nothing then, and the run is counted once, by this fire.
            self.start(spec, tick, run_id, now)
            started.append((run_id, tick))
            if run_id not in active:
                active.append(run_id)
        elif spec.overlap == "skip" or (spec.overlap == "buffer_one" and state.buffer):
            state.skipped += 1
        elif spec.overlap == "buffer_all":
            if len(state.buffer) >= MAX_BUFFER:
                state.skipped += 1
            else:
                state.buffer.append(tick)
        elif spec.overlap == "cancel_other":
            self._cancel(active)
            state.skipped += len(state.buffer)
            state.buffer = [tick]
        else:  # buffer_one with nothing waiting yet
            state.buffer.append(tick)

    def _cancel(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            try:
                self.engine.runtime.request_control(run_id, "cancel")
            except (RunFinishedError, RunNotFoundError):
                continue

    def start(self, spec: ScheduleSpec, tick: float, run_id: str, now: float) -> bool:
        """Create the run of a tick (idempotent on its run id) and enqueue it; true if created."""
        call = self.engine.serializer.decode(spec.args, run_id=args_owner(spec.name), slot=slots.ARGS)
        args: list[Any] = list(call["args"])
        kwargs: dict[str, Any] = dict(call["kwargs"])
        if spec.tick_arg is not None:
            kwargs[spec.tick_arg] = datetime.fromtimestamp(tick, spec.tz)
        new = self.engine._new_run(spec.workflow, args, kwargs, run_id)
        created, _ = self.engine.store.create_run(new, now, self.engine.settings.grace)
        if created:
            self.engine.transport.enqueue([run_id])
            if self.on_start is not None:
                self.on_start(run_id, tick, now)
        return created


def manual_run_id(spec: ScheduleSpec, now: float) -> str:
    """The run id of a run started by ``trigger`` at ``now`` (``...:manual``)."""
    return run_id_for(spec, now, manual=True)
