"""Version 2 of the workflows of tests/apps/versioning_v1.py: one change story each.

* ``add_step``: an ``audit`` step before the wait, behind ``patched("audit-before-wait")``;
* ``remove_step``: the ``audit`` step removed, behind ``patched("drop-audit")``;
* ``change_args``: a new workflow parameter with a default, and a new step argument (no patch:
  replay compares step names, not arguments, and keeps the journaled result);
* ``rename``: the workflow and step functions renamed, their stable names kept.

``add_step_v3`` is the step after: ``deprecate_patch`` once no run predating the patch is left.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import flowgen
from tests.apps.versioning_steps import audit, charge, reserve, ship


def add_step(n: int) -> Generator[Any, Any, list[Any]]:
    reserved = yield from reserve(n)
    audited = None
    if (yield from flowgen.patched("audit-before-wait")):
        audited = yield from audit(n)
    yield from flowgen.wait_for_event("go")
    shipped = yield from ship(n)
    return [reserved, shipped, audited]


def add_step_v3(n: int) -> Generator[Any, Any, list[Any]]:
    reserved = yield from reserve(n)
    yield from flowgen.deprecate_patch("audit-before-wait")
    audited = yield from audit(n)
    yield from flowgen.wait_for_event("go")
    shipped = yield from ship(n)
    return [reserved, shipped, audited]


def remove_step(n: int) -> Generator[Any, Any, list[Any]]:
    reserved = yield from reserve(n)
    audited = None
    if not (yield from flowgen.patched("drop-audit")):
        audited = yield from audit(n)
    yield from flowgen.wait_for_event("go")
    shipped = yield from ship(n)
    return [reserved, audited, shipped]


def change_args(n: int, currency: str = "EUR") -> Generator[Any, Any, str]:
    charged = yield from charge(n, currency)
    yield from flowgen.wait_for_event("go")
    return charged


def _notify(n: int) -> str:
    return f"mail {n}"


notify = flowgen.Step(_notify, name="versioning.send_mail", retries=0)
"""``send_mail`` of version 1, renamed; its stable name is what the journal holds."""


def welcome(n: int) -> Generator[Any, Any, list[Any]]:
    first = yield from notify(n)
    yield from flowgen.wait_for_event("go")
    second = yield from notify(n + 1)
    return [first, second]


WORKFLOWS = [
    flowgen.Workflow(add_step, name="versioning.add_step"),
    flowgen.Workflow(remove_step, name="versioning.remove_step"),
    flowgen.Workflow(change_args, name="versioning.change_args"),
    flowgen.Workflow(welcome, name="versioning.rename"),
]
BY_NAME = {workflow.name: workflow for workflow in WORKFLOWS}
ADD_STEP_V3 = flowgen.Workflow(add_step_v3, name="versioning.add_step")


def _child(n: int) -> Generator[Any, Any, int]:
    yield from flowgen.now()
    return n * 10


CHILD = flowgen.Workflow(_child, name="versioning.child")


def _parent(n: int) -> Generator[Any, Any, int]:
    # an explicit child id under the parent's ("versioned-<n>"): on a Redis Cluster a child the
    # parent waits for must share its parent's root id (docs/scaling.md)
    return (yield from flowgen.child(CHILD, n, run_id=f"versioned-{n}/child"))


PARENT = flowgen.Workflow(_parent, name="versioning.parent")
"""A run that starts a child: the child records the version of the worker that starts it."""


def _parent_by_name(n: int, *extra: int) -> Generator[Any, Any, Any]:
    try:
        return (yield from flowgen.child("versioning.child", n, *extra))
    except TypeError as error:
        return f"refused: {error}"


PARENT_BY_NAME = flowgen.Workflow(_parent_by_name, name="versioning.parent_by_name")
"""Starts ``versioning.child`` by name: bound where the worker has its code (docs/versioning.md)."""
