"""Build each Redis script from the shared Lua library and its own file, with only what it uses.

Redis runs a script's whole text at every call, so every ``local function`` of the library
prepended to it is a new closure (with its upvalues) at every call, used or not: with
``_lib.lua`` and ``_flow.lua`` in front of every script that was about a fifth of the Redis
CPU of a 3-step workflow. :func:`link` keeps of the library the top-level definitions the
script refers to, directly or through the definitions it keeps, in the library's order.

The library is cut into top-level **definitions**: a line at column 0 starting with ``local``
opens one, which runs until the next such line (the comment lines just above a definition
belong to it). Its names are what it declares (``local function name`` or ``local a, b =``);
what it uses is every identifier in its code (full-line comments left out). The first
definition (``local P`` and the line that puts the shard base in front of ``ARGV``) is always
kept. A name mentioned where no code uses it (in a string, after code on a line) only keeps a
definition that is not needed: the link never drops one that is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCAL_FUNCTION = re.compile(r"local\s+function\s+([A-Za-z_][A-Za-z0-9_]*)")
_LOCAL_NAMES = re.compile(r"local\s+([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)")


@dataclass(frozen=True)
class Definition:
    """One top-level definition of the library: its text, the names it declares, those it uses."""

    text: str
    names: frozenset[str]
    uses: frozenset[str]


def _code_identifiers(text: str) -> frozenset[str]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return frozenset(_IDENTIFIER.findall(code))


def _declared(line: str) -> frozenset[str]:
    function = _LOCAL_FUNCTION.match(line)
    if function:
        return frozenset([function.group(1)])
    names = _LOCAL_NAMES.match(line)
    if names is None:
        raise ValueError(f"cannot read the names a library line declares: {line!r}")
    return frozenset(name.strip() for name in names.group(1).split(","))


def definitions(library: str) -> list[Definition]:
    """Cut ``library`` into its top-level definitions, in order (see the module docstring)."""
    blocks: list[tuple[list[str], frozenset[str]]] = []
    comments: list[str] = []
    for line in library.splitlines():
        if line.startswith("local "):
            blocks.append(([*comments, line], _declared(line)))
            comments = []
        elif line.startswith("--") or not line.strip():
            comments.append(line)
        elif blocks:
            blocks[-1][0].extend([*comments, line])
            comments = []
        else:
            raise ValueError(f"library code before its first definition: {line!r}")
    return [
        Definition("\n".join(lines), names, _code_identifiers("\n".join(lines))) for lines, names in blocks
    ]


def link(library: Sequence[Definition], script: str) -> str:
    """``script`` with, in front of it, the library's first definition and those it needs."""
    wanted = set(_code_identifiers(script))
    keep = [False] * len(library)
    keep[0] = True
    wanted |= library[0].uses
    changed = True
    while changed:  # a kept definition's uses are wanted too (the library is a few dozen long)
        changed = False
        for index, definition in enumerate(library):
            if not keep[index] and definition.names & wanted:
                keep[index] = True
                wanted |= definition.uses
                changed = True
    kept = [definition.text for index, definition in enumerate(library) if keep[index]]
    return "\n".join([*kept, script])
