"""Firing ticks: claim due schedules, start one run per tick, apply the overlap policy, write back.

Any worker may fire any schedule. :meth:`Firing.fire_due` claims the due ones (the claim moves
a schedule's due time :data:`CLAIM_TTL` seconds ahead, so no one else fires it meanwhile) and,
for each, starts the runs of its due ticks under run ids derived from the schedule and the
tick (:func:`run_id_for`, created with the idempotent start), then writes the new state with a
compare-and-set on the revision it claimed. A worker that dies anywhere in between leaves the
state as it was: the next claim, after the claim lease, handles the same ticks again, finds
their runs already created, and starts nothing twice.

Overlap policies look at the schedule's runs it has not yet seen finish (``open_runs`` in its
state; their status is read from the store):

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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .. import slots
from ..errors import RunFinishedError, RunNotFoundError
from ..reserved import RESERVED_PREFIX
from ..stores.base import NewRun
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

MAX_OPEN = 100
"""The most runs in progress a schedule keeps track of for its overlap policy."""

CREATE_BATCH = 1000
"""Runs created per store call when a burst of ticks fires."""

_RUN_ID = re.compile(
    r"schedule:(?P<name>[A-Za-z0-9_.\-]{1,100}):"
    r"(?P<tick>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?[+-]\d\d:\d\d(?::\d\d)?)(?P<manual>:manual)?"
)


def run_id_for(spec: ScheduleSpec, tick: float, *, manual: bool = False) -> str:
    """The run id of a schedule's tick: ``schedule:<name>:<tick in its time zone, ISO 8601>``."""
    return f"{RESERVED_PREFIX}{spec.name}:{tick_text(tick, spec.tz)}{':manual' if manual else ''}"


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


@attrs.define
class _Plan:
    """What firing one claimed schedule decided: the runs to create and the state to write."""

    stored: StoredSchedule
    spec: ScheduleSpec
    state: ScheduleState
    starts: list[tuple[str, float]] = attrs.field(factory=list)
    due: float | None = None


class Firing:
    """Fires the due ticks of an engine's schedules (one per process, used by its service thread).

    The schedules of one claim are fired together: each is **planned** on its own (its due
    ticks, catch-up, overlap; the reads it needs), then their runs are created in one store
    call and enqueued in one batch, and their states written in one round trip. A burst of
    1,000 schedules due in the same second costs a few dozen round trips, not thousands.
    """

    def __init__(self, engine: Engine, store: ScheduleStore) -> None:
        self.engine = engine
        self.store = store
        self.executor: ThreadPoolExecutor | None = None
        """Plans the schedules of one claim concurrently when set (worker processes; the
        testing Runner plans them one after the other, in order)."""

    def fire_due(self, now: float | None = None) -> int:
        """Fire every schedule due at ``now``; return how many were claimed."""
        claimed_total = 0
        while True:
            when = self.engine.clock.now() if now is None else now
            claimed = self.store.claim(when, BATCH, CLAIM_TTL)
            if claimed:
                try:
                    self.fire_batch(claimed, when)
                except Exception:
                    logger.exception(
                        "firing %d schedule(s) failed; they are fired again in %.0fs", len(claimed), CLAIM_TTL
                    )
            claimed_total += len(claimed)
            if len(claimed) < BATCH:
                return claimed_total

    def fire(self, stored: StoredSchedule, now: float) -> bool:
        """Handle one claimed schedule's due ticks; false when someone changed it meanwhile."""
        return self.fire_batch([stored], now) == 1

    def fire_batch(self, claimed: Sequence[StoredSchedule], now: float) -> int:
        """Fire claimed schedules together; return how many states were written."""
        if self.executor is None:
            planned = [self._plan_logged(stored, now) for stored in claimed]
        else:
            planned = list(self.executor.map(lambda stored: self._plan_logged(stored, now), claimed))
        plans = [plan for plan in planned if plan is not None]
        self._create_runs(plans, now)
        self.store.add_runs_many({plan.spec.name: plan.starts for plan in plans if plan.starts})
        writes = [
            (plan.stored.name, plan.stored.revision, plan.stored.spec, plan.state.to_json(), plan.due)
            for plan in plans
        ]
        results = self.store.put_many(writes, now)
        for plan, written in zip(plans, results, strict=True):
            if written is None:
                logger.info(
                    "schedule %r changed while its ticks fired; the next claim fires them again",
                    plan.spec.name,
                )
        return sum(1 for written in results if written is not None)

    def _plan_logged(self, stored: StoredSchedule, now: float) -> _Plan | None:
        try:
            return self.plan(stored, now)
        except Exception:
            logger.exception("firing schedule %r failed; it is fired again in %.0fs", stored.name, CLAIM_TTL)
            return None

    def plan(self, stored: StoredSchedule, now: float) -> _Plan:
        """Decide what one claimed schedule does now; :meth:`fire_batch` writes what it decided.

        Reads only, but for ``cancel_other``, which asks the runs in progress to cancel here.
        """
        spec = ScheduleSpec.from_json(stored.spec)
        state = ScheduleState.from_json(stored.state)
        plan = _Plan(stored, spec, state)
        if state.paused:
            return plan
        due = due_ticks(spec, state.next_tick, now)
        active = self._active(spec, state)
        self._drain_buffer(plan, active)
        for tick in due.run:
            self._handle_tick(plan, tick, active)
        state.open_runs = [] if spec.overlap == "allow_all" else active[-MAX_OPEN:]
        state.missed += due.missed
        if due.run or due.missed:
            state.last_tick = max([*due.run, state.last_tick or 0.0, state.next_tick or 0.0])
        state.next_tick = due.following
        # Counted from this fire's own list, not from what the runs index finds new: a fire
        # whose state write was lost recorded its runs already, and the fire that redoes it
        # counts them.
        state.started += len(plan.starts)
        state.updated = now
        plan.due = state.next_tick
        if state.buffer:
            recheck = now + recheck_delay(now, state.buffer[0])
            plan.due = recheck if plan.due is None else min(plan.due, recheck)
        return plan

    def _active(self, spec: ScheduleSpec, state: ScheduleState) -> list[str]:
        """The schedule's runs still in progress, among those it has not yet seen finish."""
        if spec.overlap == "allow_all":
            return []
        active = []
        for run_id in state.open_runs:
            record = self.engine.store.get_run(run_id)
            if record is not None and not record.is_finished:
                active.append(run_id)
        return active

    def _exists(self, run_id: str) -> bool:
        return self.engine.store.get_run(run_id) is not None

    def _drain_buffer(self, plan: _Plan, active: list[str]) -> None:
        state = plan.state
        while state.buffer:
            tick = state.buffer[0]
            run_id = run_id_for(plan.spec, tick)
            if not self._exists(run_id):
                if active:
                    return
                active.append(run_id)
            plan.starts.append((run_id, tick))
            state.buffer.pop(0)

    def _handle_tick(self, plan: _Plan, tick: float, active: list[str]) -> None:
        spec, state = plan.spec, plan.state
        run_id = run_id_for(spec, tick)
        if not active or spec.overlap == "allow_all" or self._exists(run_id):
            # Start it; or it was started by an earlier fire whose state write was lost (its
            # worker died, or the schedule changed meanwhile): the idempotent start creates
            # nothing then, and the run is counted once, by this fire.
            plan.starts.append((run_id, tick))
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

    def new_run(self, spec: ScheduleSpec, tick: float, run_id: str) -> NewRun:
        """The run of a tick: the schedule's arguments (plus the tick as ``tick_arg``) for ``run_id``."""
        call = self.engine.serializer.decode(spec.args, run_id=args_owner(spec.name), slot=slots.ARGS)
        args: list[Any] = list(call["args"])
        kwargs: dict[str, Any] = dict(call["kwargs"])
        if spec.tick_arg is not None:
            kwargs[spec.tick_arg] = datetime.fromtimestamp(tick, spec.tz)
        return self.engine._new_run(spec.workflow, args, kwargs, run_id)

    def _create_runs(self, plans: Sequence[_Plan], now: float) -> None:
        """Create the runs of every plan (idempotent on their ids) and enqueue the new ones."""
        news = [self.new_run(plan.spec, tick, run_id) for plan in plans for run_id, tick in plan.starts]
        created: list[str] = []
        for first in range(0, len(news), CREATE_BATCH):
            batch = news[first : first + CREATE_BATCH]
            results = self.engine.store.create_runs(batch, now, self.engine.settings.grace)
            created += [
                new.run_id for new, (was_created, _) in zip(batch, results, strict=True) if was_created
            ]
        if created:
            self.engine.transport.enqueue(created)

    def start(self, spec: ScheduleSpec, tick: float, run_id: str, now: float) -> bool:
        """Create one run (``trigger``), idempotent on its run id, and enqueue it; true if created."""
        created, _ = self.engine.store.create_run(
            self.new_run(spec, tick, run_id), now, self.engine.settings.grace
        )
        if created:
            self.engine.transport.enqueue([run_id])
        return created


def manual_run_id(spec: ScheduleSpec, now: float) -> str:
    """The run id of a run started by ``trigger`` at ``now`` (``...:manual``)."""
    return run_id_for(spec, now, manual=True)
