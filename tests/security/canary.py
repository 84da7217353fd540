"""A module no test imports: decoding a value that names it must never import it.

Importing it at all is the observable: the security tests check ``sys.modules``.
"""

from __future__ import annotations

import dataclasses
import enum


class Boom(Exception):
    """An exception class a forged error record names."""


class Shade(enum.Enum):
    DARK = "dark"


@dataclasses.dataclass
class Gadget:
    name: str
