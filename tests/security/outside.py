"""Types defined outside every module that registers workflows or steps.

The tests import this module themselves, so the classes exist in the process; they are still
not on flowgen's allow-list until ``flowgen.register_type`` puts them there.
"""

from __future__ import annotations

import dataclasses
import enum


@dataclasses.dataclass(frozen=True)
class Parcel:
    weight: int


class Size(enum.Enum):
    SMALL = "s"


class OutsideError(Exception):
    """An exception class of a module nobody registered."""


@dataclasses.dataclass(frozen=True)
class Registered:
    """Registered by the tests with ``flowgen.register_type``."""

    label: str


class RegisteredError(Exception):
    """Registered by the tests with ``flowgen.register_type``."""
