"""Workflows the CLI tests start and the workers they run advance."""

from __future__ import annotations

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
