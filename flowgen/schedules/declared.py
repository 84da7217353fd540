"""Schedules declared in code: ``flowgen.schedule(...)`` next to the workflow.

A declaration is checked at once (the same checks as ``engine.schedules.create``) and kept in
a :class:`Declarations` set (the process-wide :data:`declarations` unless given another); it
stores nothing. Workers register the declared schedules when they start
(:meth:`flowgen.schedules.Schedules.register_declared`): a new one is created, one declared with
other settings updates the stored schedule, and a stored schedule that was declared in code
but is no longer declared in the worker's code is **reported** (a warning, and ``undeclared``
in ``get``/``list``/the CLI), not silently kept and not deleted either: a worker that imports
only some modules must not delete the others' schedules. ``flowgen schedules delete`` (or
``register_declared(prune=True)``) removes it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..decorators import Registry, Workflow
from ..decorators import registry as default_registry
from ..serialization import Serializer
from .errors import ScheduleError
from .spec import DEFAULT_MAX_LATENESS, build_spec


@attrs.frozen
class Declaration:
    """A schedule as declared in code: its name, workflow and settings (checked)."""

    name: str
    workflow: Workflow | str
    settings: dict[str, Any] = attrs.field(eq=False)
    fingerprint: str = ""


class Declarations:
    """A set of declared schedules, by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Declaration] = {}

    def schedule(
        self,
        name: str,
        workflow: Workflow | str,
        *,
        cron: str | None = None,
        every: Any = None,
        timezone: str = "UTC",
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        overlap: str = "skip",
        catchup: str = "skip",
        max_lateness: Any = DEFAULT_MAX_LATENESS,
        tick_arg: str | None = None,
        registry: Registry | None = None,
    ) -> Declaration:
        """Declare a schedule in code; workers register it when they start (``flowgen.schedule``).

        Args:
            name: the schedule's name (letters, digits, ``.``, ``_``, ``-``); its runs are
                ``schedule:<name>:<tick>``.
            workflow: the ``@flowgen.workflow`` (or its registered name) each tick runs.
            cron: a cron expression (``"0 2 * * *"``), evaluated in ``timezone``; or
            every: an interval (``"15 minutes"``, seconds, a timedelta), at least 1 second.
            timezone: an IANA time zone for ``cron`` (``"Europe/Paris"``; default ``"UTC"``).
            args / kwargs: the workflow's arguments (checked against its signature now).
            overlap: ``skip`` (default), ``buffer_one``, ``buffer_all``, ``cancel_other``, ``allow_all``.
            catchup: ``skip`` (default), ``latest`` or ``all``: what late ticks do.
            max_lateness: how late a tick may fire and still count as on time (default 60 s).
            tick_arg: pass the tick (an aware datetime) to the workflow as this keyword argument.
            registry: where the workflow is looked up (default: the global registry).

        Raises:
            ScheduleError: a bad setting, naming the value; nothing is declared.
        """
        settings: dict[str, Any] = {
            "cron": cron,
            "every": every,
            "timezone": timezone,
            "args": tuple(args) if isinstance(args, (list, tuple)) else args,
            "kwargs": dict(kwargs) if isinstance(kwargs, Mapping) else kwargs,
            "overlap": overlap,
            "catchup": catchup,
            "max_lateness": max_lateness,
            "tick_arg": tick_arg,
        }
        spec = build_spec(
            name,
            workflow,
            registry=registry or default_registry,
            serializer=Serializer(),
            origin="code",
            **settings,
        )
        declaration = Declaration(name, workflow, settings, spec.to_json())
        with self._lock:
            earlier = self._by_name.get(name)
            if earlier is not None and earlier.fingerprint != declaration.fingerprint:
                raise ScheduleError(
                    f"schedule {name!r} is declared twice with different settings in this process; "
                    "give one of them another name"
                )
            self._by_name[name] = declaration
        return declaration

    def forget(self, name: str) -> None:
        """Drop a declaration (tests; a schedule removed from code simply is not declared)."""
        with self._lock:
            self._by_name.pop(name, None)

    def all(self) -> list[Declaration]:
        with self._lock:
            return [self._by_name[name] for name in sorted(self._by_name)]


declarations = Declarations()
"""The schedules declared in this process with :func:`flowgen.schedule`."""


schedule = declarations.schedule
"""``flowgen.schedule(...)``: declare a schedule in :data:`declarations` (see :meth:`Declarations.schedule`)."""
