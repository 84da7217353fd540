"""Workflows whose steps fail, for the end-to-end failure tests."""

from __future__ import annotations

import flowgen


@flowgen.step(retries=0)
def validate(x: int) -> int:
    raise ValueError(f"bad input {x}")


@flowgen.step(retries=0)
def lookup(key: str) -> str:
    raise KeyError(key)


@flowgen.workflow(name="e2e.catches")
def catches():
    try:
        yield validate(3)
    except ValueError as error:
        return {"caught": type(error).__name__, "message": str(error)}
    return {"caught": None}


@flowgen.workflow(name="e2e.uncaught")
def uncaught():
    yield lookup("missing")
