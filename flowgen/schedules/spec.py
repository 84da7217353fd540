"""A schedule's settings (:class:`ScheduleSpec`) and its checks: nothing bad is ever stored.

A spec is what a declaration (``flowgen.schedule(...)``) or ``engine.schedules.create(...)``
says; it is stored as JSON beside the schedule's state (:mod:`.state`). Every check happens
here, before anything is written: the name, the workflow (registered), cron or interval, time
zone, overlap and catch-up policies, ``max_lateness``, and that the arguments fit the
workflow's signature and can be encoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from ..decorators import Registry, Workflow
from ..durations import parse_duration
from ..schemas import SchemaError
from ..serialization import Serializer
from ..signatures import bind_call
from .errors import ScheduleError
from .records import record_from_json, record_json
from .timing import MIN_EVERY, check_cron, zone

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

OVERLAPS = ("skip", "buffer_one", "buffer_all", "cancel_other", "allow_all")
"""What a tick does while an earlier run of its schedule is still in progress (docs/schedules.md)."""

CATCHUPS = ("skip", "latest", "all")
"""What happens to ticks that fire later than ``max_lateness`` (after downtime)."""

DEFAULT_MAX_LATENESS = 60.0

SCHEDULE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
"""Schedule names go into run ids (``schedule:<name>:<tick>``) and keys: no ``:``."""

ORIGINS = ("code", "api")
"""Where a schedule was declared: ``flowgen.schedule(...)`` in code, or the API/CLI at run time."""


def check_schedule_name(name: object) -> str:
    """Return ``name`` if it can name a schedule, else raise :class:`ScheduleError`."""
    if not isinstance(name, str) or not SCHEDULE_NAME_PATTERN.fullmatch(name):
        raise ScheduleError(
            f"invalid schedule name {name!r}: use 1 to 100 letters, digits and . _ - "
            "(it becomes part of its runs' ids, schedule:<name>:<tick>)"
        )
    return name


def args_owner(name: str) -> str:
    """The pseudo run id a schedule's arguments are encoded (and sealed) for."""
    return f"schedule:{name}"


@attrs.frozen
class ScheduleSpec:
    """What a schedule is: its workflow and arguments, when it ticks, and its policies.

    Attributes:
        args: the encoded ``{"args": [...], "kwargs": {...}}`` (sealed for ``schedule:<name>``
            on an engine with a ``secret_key``).
        every: the interval in seconds (``cron`` is then ``None``).
        tick_arg: the keyword argument the workflow receives its tick in (an aware datetime in
            the schedule's time zone), or ``None``.
        origin: ``"code"`` (declared with ``flowgen.schedule``) or ``"api"``.
    """

    name: str
    workflow: str
    args: str
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    overlap: str = "skip"
    catchup: str = "skip"
    max_lateness: float = DEFAULT_MAX_LATENESS
    tick_arg: str | None = None
    origin: str = "api"

    @property
    def tz(self) -> ZoneInfo:
        from zoneinfo import ZoneInfo  # not at the top: see .timing

        return ZoneInfo(self.timezone)

    @property
    def when(self) -> str:
        """The timing in words: ``cron '0 2 * * *' in Europe/Paris`` or ``every 900s``."""
        return f"cron {self.cron!r} in {self.timezone}" if self.cron is not None else f"every {self.every:g}s"

    def to_json(self) -> str:
        return record_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> ScheduleSpec:
        return record_from_json(cls, text)

    def same_settings(self, other: ScheduleSpec) -> bool:
        """Whether two specs describe the same schedule (the origin aside)."""
        return attrs.evolve(self, origin="") == attrs.evolve(other, origin="")

    def same_timing(self, other: ScheduleSpec) -> bool:
        return (self.cron, self.every, self.timezone) == (other.cron, other.every, other.timezone)


def _workflow(workflow: Workflow | str, registry: Registry, name: str) -> Workflow:
    if isinstance(workflow, Workflow):
        registered = registry.workflows.get(workflow.name)
        if registered is None:
            raise ScheduleError(
                f"schedule {name!r} names workflow {workflow.name!r}, which is not registered in this process's "
                "registry; decorate it with @flowgen.workflow (in a module the workers import)"
            )
        return registered
    if not isinstance(workflow, str) or workflow not in registry.workflows:
        raise ScheduleError(
            f"schedule {name!r} names workflow {workflow!r}, which is not registered; import the module that "
            "declares it (flowgen schedules ... -m MODULE) or pass the @flowgen.workflow function itself"
        )
    return registry.workflows[workflow]


def _check_signature(
    workflow: Workflow, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], tick_arg: str | None
) -> None:
    call_kwargs = dict(kwargs)
    if tick_arg is not None:
        if not isinstance(tick_arg, str) or not tick_arg.isidentifier():
            raise ScheduleError(
                f"tick_arg must be the name of a keyword argument of the workflow, got {tick_arg!r}"
            )
        if tick_arg in call_kwargs:
            raise ScheduleError(
                f"schedule {name!r} passes its tick as {tick_arg!r} and kwargs also has {tick_arg!r}; drop one"
            )
        call_kwargs[tick_arg] = datetime(2026, 1, 1, tzinfo=timezone.utc)  # what a tick passes: a datetime
    try:
        bind_call(workflow, args, call_kwargs)
    except (TypeError, SchemaError) as error:
        raise ScheduleError(f"the arguments of schedule {name!r} do not fit: {error}") from None


def build_spec(
    name: str,
    workflow: Workflow | str,
    *,
    registry: Registry,
    serializer: Serializer,
    cron: str | None = None,
    every: Any = None,
    timezone: str = "UTC",
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    overlap: str = "skip",
    catchup: str = "skip",
    max_lateness: Any = DEFAULT_MAX_LATENESS,
    tick_arg: str | None = None,
    origin: str = "api",
) -> ScheduleSpec:
    """Check a schedule's settings and return its spec; raise :class:`ScheduleError` naming the bad value.

    Nothing is stored by this function; callers store the spec only once it is built.
    """
    check_schedule_name(name)
    found = _workflow(workflow, registry, name)
    if (cron is None) == (every is None):
        raise ScheduleError(
            f"schedule {name!r} needs exactly one of cron='...' (such as '0 2 * * *') or every='...' "
            f"(such as '15 minutes'); got cron={cron!r}, every={every!r}"
        )
    tz = zone(timezone)
    interval: float | None = None
    if cron is not None:
        check_cron(cron, tz)
    else:
        try:
            interval = parse_duration(every, what="every")
        except ValueError as error:
            raise ScheduleError(f"schedule {name!r}: {error}") from None
        if interval < MIN_EVERY:
            raise ScheduleError(
                f"every must be at least {MIN_EVERY:g} second for schedule {name!r}, got {every!r}"
            )
    if overlap not in OVERLAPS:
        raise ScheduleError(f"overlap must be one of {', '.join(OVERLAPS)}, got {overlap!r}")
    if catchup not in CATCHUPS:
        raise ScheduleError(f"catchup must be one of {', '.join(CATCHUPS)}, got {catchup!r}")
    try:
        lateness = parse_duration(max_lateness, what="max_lateness")
    except ValueError as error:
        raise ScheduleError(f"schedule {name!r}: {error}") from None
    if origin not in ORIGINS:
        raise ScheduleError(f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise ScheduleError(f"args must be a tuple or list of positional arguments, got {args!r:.100}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ScheduleError(f"kwargs must be a dict of keyword arguments, got {kwargs!r:.100}")
    call_kwargs = dict(kwargs or {})
    _check_signature(found, name, args, call_kwargs, tick_arg)
    encoded = serializer.encode(
        {"args": list(args), "kwargs": call_kwargs},
        run_id=args_owner(name),
        slot="args",
        what=f"the arguments of schedule {name!r}",
    )
    return ScheduleSpec(
        name=name,
        workflow=found.name,
        args=encoded,
        cron=cron,
        every=interval,
        timezone=timezone,
        overlap=overlap,
        catchup=catchup,
        max_lateness=lateness,
        tick_arg=tick_arg,
        origin=origin,
    )
