"""A module in the style linters push for: names used only in annotations imported under
``TYPE_CHECKING`` (tests/testing/test_schemas.py). They do not exist at run time, so these
annotations cannot be evaluated; the schemas next to them must still apply."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import flowgen

if TYPE_CHECKING:
    from collections.abc import Generator


@dataclasses.dataclass
class Box:
    size: int


@flowgen.step(name="typecheck.weigh", retries=0)
def weigh(box: Box) -> Box:
    return {"size": box.size * 2}  # type: ignore[return-value]


@flowgen.workflow(name="typecheck.pack")
def pack(box: Box, later: Parcel) -> Generator[Any, Any, list[Any]]:
    weighed = yield from weigh({"size": box.size})  # type: ignore[arg-type]
    return [type(box).__name__, type(later).__name__, type(weighed).__name__, weighed.size]


assert pack.interface.parameters == {"box": Box}  # used during the import (as a schedule would be)


@dataclasses.dataclass
class Parcel:
    """Defined after the workflow that names it: resolved when the workflow is first used."""

    label: str
