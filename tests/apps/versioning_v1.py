"""Version 1 of the workflows of docs/versioning.md; version 2 is tests/apps/versioning_v2.py.

The workflows are not registered here: one test process holds both versions (the Runner tests
swap one for the other with ``Runner.deploy``); ``versioning_worker_v1`` registers them for a
``flowgen worker``. Every workflow waits for the event ``go`` so that runs are in flight when
the code changes.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import flowgen
from tests.apps.versioning_steps import audit, charge, reserve, ship


def add_step(n: int) -> Generator[Any, Any, list[Any]]:
    reserved = yield from reserve(n)
    yield from flowgen.wait_for_event("go")
    shipped = yield from ship(n)
    return [reserved, shipped]


def remove_step(n: int) -> Generator[Any, Any, list[Any]]:
    reserved = yield from reserve(n)
    audited = yield from audit(n)
    yield from flowgen.wait_for_event("go")
    shipped = yield from ship(n)
    return [reserved, audited, shipped]


def change_args(n: int) -> Generator[Any, Any, str]:
    charged = yield from charge(n)
    yield from flowgen.wait_for_event("go")
    return charged


@flowgen.step(name="versioning.send_mail", retries=0)
def send_mail(n: int) -> str:
    return f"mail {n}"


def rename_v1(n: int) -> Generator[Any, Any, list[Any]]:
    first = yield from send_mail(n)
    yield from flowgen.wait_for_event("go")
    return [first]


WORKFLOWS = [
    flowgen.Workflow(add_step, name="versioning.add_step"),
    flowgen.Workflow(remove_step, name="versioning.remove_step"),
    flowgen.Workflow(change_args, name="versioning.change_args"),
    flowgen.Workflow(rename_v1, name="versioning.rename"),
]
BY_NAME = {workflow.name: workflow for workflow in WORKFLOWS}
