"""``engine.schedules``: create, update, pause, resume, delete, trigger, list and get schedules.

Every change is a read-modify-write with a compare-and-set on the schedule's revision
(:meth:`~.store.ScheduleStore.put`), retried when a tick fired or someone else changed it
meanwhile, so changes made from any process at any time are never lost. Settings are checked
(:func:`~.spec.build_spec`) before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from .. import slots
from ..client import Run
from .declared import Declarations, declarations
from .errors import ScheduleConflictError, ScheduleError, ScheduleExistsError, ScheduleNotFoundError
from .firing import Firing, manual_run_id, parse_run_id
from .spec import DEFAULT_MAX_LATENESS, ScheduleSpec, args_owner, build_spec, check_schedule_name
from .state import ScheduleState
from .store import ScheduleStore, StoredSchedule, schedules_of
from .timing import next_tick, ticks_after
from .views import ScheduledRun, ScheduleInfo

if TYPE_CHECKING:
    from ..engine import Engine

logger = logging.getLogger("flowgen.schedules")

SETTINGS = (
    "workflow",
    "cron",
    "every",
    "timezone",
    "args",
    "kwargs",
    "overlap",
    "catchup",
    "max_lateness",
    "tick_arg",
)
"""What ``create`` takes and ``update`` may change."""

ATTEMPTS = 50


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


@attrs.frozen
class RegisterReport:
    """What :meth:`Schedules.register_declared` did, by schedule name."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    undeclared: list[str]
    deleted: list[str]
    failed: list[str] = attrs.field(factory=list)
    """Declarations this engine could not register (logged with the reason)."""


class Schedules:
    """The schedules of an engine (``engine.schedules``); see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store: ScheduleStore = schedules_of(engine.store)
        self.firing = Firing(engine, self.store)

    # -- reading ----------------------------------------------------------------------------

    def _stored(self, name: str) -> StoredSchedule:
        check_schedule_name(name)
        stored = self.store.get(name)
        if stored is None:
            raise ScheduleNotFoundError(
                f"no schedule named {name!r}; `flowgen schedules list` shows the existing ones"
            )
        return stored

    def get(self, name: str, *, ticks: int = 5, runs: int = 10) -> ScheduleInfo:
        """Return the schedule's settings, next ``ticks`` tick times, latest ``runs`` runs and counts.

        Raises:
            ScheduleNotFoundError: no schedule has that name.
        """
        return self._info(self._stored(name), ticks, runs)

    def _info(self, stored: StoredSchedule, ticks: int, runs: int) -> ScheduleInfo:
        spec = ScheduleSpec.from_json(stored.spec)
        state = ScheduleState.from_json(stored.state)
        tz = spec.tz
        upcoming: list[datetime] = []
        if not state.paused and state.next_tick is not None and ticks > 0:
            upcoming.append(datetime.fromtimestamp(state.next_tick, tz))
            for tick in ticks_after(state.next_tick, cron=spec.cron, every=spec.every, tz=tz):
                if len(upcoming) >= ticks:
                    break
                upcoming.append(datetime.fromtimestamp(tick, tz))
        latest = []
        for run_id, tick in self.store.runs(spec.name, runs):
            record = self.engine.store.get_run(run_id)
            error = None
            if record is not None and record.error:
                kind = str(record.error.get("type", "")).replace(":", ".")
                error = f"{kind}: {record.error.get('message', '')}"
            parsed = parse_run_id(run_id)
            latest.append(
                ScheduledRun(
                    run_id,
                    datetime.fromtimestamp(tick, tz),
                    None if record is None else record.status,
                    error,
                    bool(parsed and parsed.manual),
                )
            )
        return ScheduleInfo(
            name=spec.name,
            workflow=spec.workflow,
            when=spec.when,
            cron=spec.cron,
            every=spec.every,
            timezone=spec.timezone,
            overlap=spec.overlap,
            catchup=spec.catchup,
            max_lateness=spec.max_lateness,
            tick_arg=spec.tick_arg,
            origin=spec.origin,
            paused=state.paused,
            note=state.note,
            undeclared=state.undeclared,
            next_ticks=tuple(upcoming),
            last_tick=None if state.last_tick is None else datetime.fromtimestamp(state.last_tick, tz),
            buffered=tuple(datetime.fromtimestamp(tick, tz) for tick in state.buffer),
            runs=tuple(latest),
            started=state.started,
            skipped=state.skipped,
            missed=state.missed,
            created=_utc(state.created),
            updated=_utc(state.updated),
        )

    # -- changing ---------------------------------------------------------------------------

    def _build(self, name: str, settings: dict[str, Any], origin: str) -> ScheduleSpec:
        return build_spec(
            name, registry=self.engine.registry, serializer=self.engine.serializer, origin=origin, **settings
        )

    def _write(self, stored: StoredSchedule | None, spec: ScheduleSpec, state: ScheduleState) -> bool:
        due = None if state.paused else state.next_tick
        if state.buffer and not state.paused:
            due = state.buffer[0] if due is None else min(due, state.buffer[0])
        expected = 0 if stored is None else stored.revision
        now = self.engine.clock.now()
        return self.store.put(spec.name, expected, spec.to_json(), state.to_json(), due, now) is not None

    def create(
        self,
        name: str,
        workflow: Any,
        *,
        paused: bool = False,
        note: str = "",
        cron: str | None = None,
        every: Any = None,
        timezone: str = "UTC",
        args: Any = (),
        kwargs: Any = None,
        overlap: str = "skip",
        catchup: str = "skip",
        max_lateness: Any = DEFAULT_MAX_LATENESS,
        tick_arg: str | None = None,
    ) -> ScheduleInfo:
        """Create a schedule (the settings are :func:`flowgen.schedule`'s); its first tick is the first after now.

        Raises:
            ScheduleError: a bad setting (nothing stored).
            ScheduleExistsError: a schedule with that name exists (use :meth:`update`).
        """
        settings = {
            "workflow": workflow, "cron": cron, "every": every, "timezone": timezone, "args": args,
            "kwargs": kwargs, "overlap": overlap, "catchup": catchup, "max_lateness": max_lateness,
            "tick_arg": tick_arg,
        }  # fmt: skip
        spec = self._build(name, settings, "api")
        return self._create(spec, paused=paused, note=note)

    def _create(self, spec: ScheduleSpec, *, paused: bool = False, note: str = "") -> ScheduleInfo:
        now = self.engine.clock.now()
        state = ScheduleState(
            next_tick=next_tick(now, cron=spec.cron, every=spec.every, tz=spec.tz),
            created=now,
            updated=now,
            paused=paused,
            note=note,
        )
        if not self._write(None, spec, state):
            raise ScheduleExistsError(
                f"a schedule named {spec.name!r} already exists; change it with update() "
                f"(`flowgen schedules update {spec.name}`) or delete it first"
            )
        logger.info("schedule %r created: %s runs %r", spec.name, spec.when, spec.workflow)
        return self.get(spec.name)

    def _change(
        self,
        name: str,
        change: Callable[
            [StoredSchedule, ScheduleSpec, ScheduleState], tuple[ScheduleSpec, ScheduleState] | None
        ],
    ) -> None:
        for _ in range(ATTEMPTS):
            stored = self._stored(name)
            spec = ScheduleSpec.from_json(stored.spec)
            state = ScheduleState.from_json(stored.state)
            changed = change(stored, spec, state)
            if changed is None:
                return
            new_spec, new_state = changed
            new_state.updated = self.engine.clock.now()
            if self._write(stored, new_spec, new_state):
                return
        raise ScheduleConflictError(f"schedule {name!r} kept changing while it was being updated; try again")

    def current_settings(self, name: str) -> dict[str, Any]:
        """The settings of a stored schedule, as ``create`` takes them (arguments decoded)."""
        return self._settings(ScheduleSpec.from_json(self._stored(name).spec))

    def _settings(self, spec: ScheduleSpec) -> dict[str, Any]:
        call = self.engine.serializer.decode(spec.args, run_id=args_owner(spec.name), slot=slots.ARGS)
        return {
            "workflow": spec.workflow, "cron": spec.cron, "every": spec.every, "timezone": spec.timezone,
            "args": tuple(call["args"]), "kwargs": dict(call["kwargs"]), "overlap": spec.overlap,
            "catchup": spec.catchup, "max_lateness": spec.max_lateness, "tick_arg": spec.tick_arg,
        }  # fmt: skip

    def update(self, name: str, **changes: Any) -> ScheduleInfo:
        """Change some settings of a schedule (the keywords of :meth:`create`, but ``paused``).

        Giving ``cron`` drops ``every`` and the other way round. A change of timing (cron,
        interval, time zone) moves the next tick to the first of the new timing after now;
        other changes keep it.

        Raises:
            ScheduleError: a bad setting or an unknown keyword (nothing stored).
            ScheduleNotFoundError: no such schedule.
        """
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise TypeError(f"update() got unknown settings {unknown}; it takes {', '.join(SETTINGS)}")
        self._stored(name)

        def apply(
            stored: StoredSchedule, spec: ScheduleSpec, state: ScheduleState
        ) -> tuple[ScheduleSpec, ScheduleState]:
            settings = {**self._settings(spec), **changes}
            if "cron" in changes and "every" not in changes:
                settings["every"] = None
            if "every" in changes and "cron" not in changes:
                settings["cron"] = None
            return self._replace(spec, self._build(name, settings, spec.origin), state)

        self._change(name, apply)
        return self.get(name)

    def _replace(
        self, old: ScheduleSpec, new: ScheduleSpec, state: ScheduleState
    ) -> tuple[ScheduleSpec, ScheduleState]:
        if not old.same_timing(new):
            state.next_tick = next_tick(self.engine.clock.now(), cron=new.cron, every=new.every, tz=new.tz)
        return new, state

    def pause(self, name: str, note: str = "") -> ScheduleInfo:
        """Stop the schedule's ticks (runs in progress go on); ``note`` says why."""

        def apply(
            stored: StoredSchedule, spec: ScheduleSpec, state: ScheduleState
        ) -> tuple[ScheduleSpec, ScheduleState]:
            state.paused, state.note = True, note
            return spec, state

        self._change(name, apply)
        return self.get(name)

    def resume(self, name: str) -> ScheduleInfo:
        """Resume a paused schedule: it ticks again from the first tick after now.

        Ticks that fell while it was paused are not run (nor counted as missed).
        """

        def apply(
            stored: StoredSchedule, spec: ScheduleSpec, state: ScheduleState
        ) -> tuple[ScheduleSpec, ScheduleState] | None:
            if not state.paused:
                return None
            state.paused, state.note = False, ""
            state.next_tick = next_tick(self.engine.clock.now(), cron=spec.cron, every=spec.every, tz=spec.tz)
            return spec, state

        self._change(name, apply)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Delete a schedule; runs it started go on (and keep their ids)."""
        for _ in range(ATTEMPTS):
            stored = self._stored(name)
            if self.store.put(name, stored.revision, None, "", None, self.engine.clock.now()) is not None:
                logger.info("schedule %r deleted", name)
                return
        raise ScheduleConflictError(f"schedule {name!r} kept changing while it was being deleted; try again")

    def trigger(self, name: str) -> Run:
        """Start a run of the schedule now, outside its ticks (``schedule:<name>:<now>:manual``).

        A manual run is not subject to the overlap policy (it is what was asked for), but the
        ticks that follow see it as a run in progress.
        """
        spec = ScheduleSpec.from_json(self._stored(name).spec)
        now = self.engine.clock.now()
        run_id = manual_run_id(spec, now)
        self.firing.start(spec, now, run_id, now)
        self.store.add_runs(name, [(run_id, now)])

        def track(
            stored: StoredSchedule, spec: ScheduleSpec, state: ScheduleState
        ) -> tuple[ScheduleSpec, ScheduleState]:
            state.open_runs.append(run_id)  # so that the ticks after it see it in progress
            return spec, state

        self._change(name, track)
        return Run(self.engine, run_id)

    def fire_due(self, now: float | None = None) -> int:
        """Fire the ticks due now (what every worker's schedule service does); return the schedules claimed."""
        return self.firing.fire_due(now)

    def next_due(self) -> float | None:
        """When the earliest schedule is due to be claimed, or ``None``."""
        return self.store.next_due()

    # -- declared in code -------------------------------------------------------------------

    def register_declared(
        self, declared: Declarations | None = None, *, prune: bool = False
    ) -> RegisterReport:
        """Store the schedules declared in code (workers call this when they start).

        New declarations are created, changed ones update the stored schedule (its pause and
        counts are kept), and stored schedules declared in code earlier but not any more are
        reported (a warning, ``undeclared=True``), or deleted with ``prune=True``.
        """
        report = RegisterReport([], [], [], [], [])
        wanted = {d.name: d for d in (declared or declarations).all()}
        for name, declaration in wanted.items():
            try:
                spec = self._build(name, {"workflow": declaration.workflow, **declaration.settings}, "code")
            except ScheduleError as error:
                # Declared in a process with another registry or serializer than this engine's.
                logger.error("schedule %r declared in code cannot be registered here: %s", name, error)
                report.failed.append(name)
                continue
            if self.store.get(name) is None:
                try:
                    self._create(spec)
                    report.created.append(name)
                    continue
                except ScheduleExistsError:
                    pass  # another worker registered it first: compare below
            changed: list[bool] = []

            def apply(
                stored: StoredSchedule,
                old: ScheduleSpec,
                state: ScheduleState,
                spec: ScheduleSpec = spec,
                changed: list[bool] = changed,
            ) -> tuple[ScheduleSpec, ScheduleState] | None:
                same = old.same_settings(spec) and old.origin == "code"
                if same and not state.undeclared:
                    return None
                changed.append(not same)
                state.undeclared = False
                return self._replace(old, spec, state)

            self._change(name, apply)
            (report.updated if any(changed) else report.unchanged).append(name)
            if any(changed):
                logger.info("schedule %r updated from its declaration in code: %s", name, spec.when)
        for stored in self.store.all():
            spec = ScheduleSpec.from_json(stored.spec)
            if spec.origin != "code" or spec.name in wanted:
                continue
            if prune:
                self.delete(spec.name)
                report.deleted.append(spec.name)
                continue
            logger.warning(
                "schedule %r was declared in code but is not declared in this worker's modules; it keeps "
                "running: delete it with `flowgen schedules delete %s` (or import the module declaring it)",
                spec.name,
                spec.name,
            )
            report.undeclared.append(spec.name)

            def mark(
                stored: StoredSchedule, old: ScheduleSpec, state: ScheduleState
            ) -> tuple[ScheduleSpec, ScheduleState] | None:
                if state.undeclared:
                    return None
                state.undeclared = True
                return old, state

            self._change(spec.name, mark)
        return report

    # -- listing (last: the method named ``list`` would shadow the type in later annotations) --

    def list(self) -> list[ScheduleInfo]:
        """Return every schedule, by name (with its next tick and latest run)."""
        return [self._info(stored, 1, 1) for stored in self.store.all()]
