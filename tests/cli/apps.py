"""Workflows the CLI tests start and the workers they run advance."""

from __future__ import annotations

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


@flowgen.step(name="cli.exit_zero", retries=0)
def exit_zero() -> None:
    """Leave the process at once with status 0, as a careless library might."""
    os._exit(0)


@flowgen.workflow(name="cli.exits")
def exits() -> Generator[Any, Any, None]:
    yield exit_zero()
