"""Workflows the CLI tests start and the workers they run advance."""

from __future__ import annotations

import logging
import os
from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.workflow(name="cli.echo")
def echo(*args: Any, **kwargs: Any) -> Generator[Any, Any, dict[str, Any]]:
    """Return the arguments it was started with (after one journaled command)."""
    yield flowgen.now()
    return {"args": list(args), "kwargs": kwargs}


@flowgen.workflow(name="cli.waits")
def waits() -> Generator[Any, Any, Any]:
    return (yield flowgen.wait_for_event("go"))


log = logging.getLogger("tests.apps.cli_apps")


@flowgen.step(name="cli.double")
def double(n: int) -> int:
    log.info("doubling %s", n)  # a user's own log line inside a step: it carries the run context
    return n * 2


@flowgen.step(name="cli.refuse", retries=flowgen.Retry(limit=1, delay=0.01))
def refuse(reason: str) -> None:
    raise RuntimeError(f"refused: {reason}")


@flowgen.workflow(name="cli.steps")
def steps(n: int) -> Generator[Any, Any, int]:
    """Two steps, then the result."""
    first = yield double(n)
    return (yield double(first))


@flowgen.workflow(name="cli.fails")
def fails(reason: str) -> Generator[Any, Any, None]:
    """A step that fails both its attempts, so the run fails."""
    yield double(1)
    yield refuse(reason)


@flowgen.workflow(name="cli.sleeps")
def sleeps() -> Generator[Any, Any, str]:
    """Sleeps a day (a run to find waiting, pause, cancel)."""
    yield double(1)
    yield flowgen.sleep("1 day")
    return "woke"


@flowgen.workflow(name="cli.evolving")
def evolving() -> Generator[Any, Any, str]:
    """Waits for an event after a step; with $CLI_APPS_VARIANT=2 it calls another step first
    (the incompatible edit ``flowgen verify`` must catch)."""
    if os.environ.get("CLI_APPS_VARIANT") == "2":
        yield refuse("new code")
    else:
        yield double(1)
    return (yield flowgen.wait_for_event("go"))
