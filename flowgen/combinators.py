"""Decide the outcome of ``all_of`` / ``any_of`` from the outcomes of their branches (pure).

A **branch** is a command inside an ``all_of``/``any_of`` that is not itself one; a *member* here
is one of the commands a combinator was given (a branch, or a nested combinator). The same
function runs live (on the branch outcomes available now) and on replay (on the branch outcomes
and ``any_of`` winners recorded in the closed entry), so replay gives the same values in the same
order whatever order the branches finished in.

Rules:

* ``all_of`` succeeds when every member has succeeded; its value is the list of member values
  in declared order. It fails as soon as any member has failed (for a step: after its retries
  are exhausted), with **the error of the member that failed first** (earliest recorded finish
  time, ties broken by declared order). Members still running are abandoned: a step keeps
  running to the end of its attempt, but its outcome is ignored (the runtime, not this rule,
  waits for a running member step that has a compensation, so a saga can undo it:
  :mod:`flowgen.runtime.parallel`).
* ``any_of`` resolves with the first member to finish, success or failure; its value is
  ``(index, value)`` and a failure raises that member's error. Among members finished by the
  same evaluation, the earliest finish time wins, then declared order. Losers are cancelled:
  their late outcomes are ignored and an event they waited for stays in the inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .commands import AllOf, AnyOf, member_path


@attrs.frozen
class LeafResult:
    """A decoded branch outcome and when it happened."""

    ok: bool
    value: Any = None
    error: BaseException | None = None
    finished: float = 0.0


@attrs.frozen
class Resolution:
    """A decided combinator (or branch): its result and the branches whose outcomes it used."""

    result: LeafResult
    used: frozenset[str]


def resolve(
    command: Any, results: Mapping[str, LeafResult], winners: dict[str, int], prefix: str = ""
) -> Resolution | None:
    """Return the resolution of ``command`` given branch ``results`` by path, or ``None`` while pending.

    ``winners`` maps an ``any_of``'s path to the index of its winning member; entries found
    there are obeyed (replay) and new decisions are written into it (live).
    """
    if not isinstance(command, (AllOf, AnyOf)):
        result = results.get(prefix)
        return None if result is None else Resolution(result, frozenset({prefix}))

    members = [
        resolve(member, results, winners, member_path(prefix, index))
        for index, member in enumerate(command.commands)
    ]

    if isinstance(command, AllOf):
        failures = [
            (m.result.finished, index, m)
            for index, m in enumerate(members)
            if m is not None and not m.result.ok
        ]
        if failures:
            _, _, first = min(failures, key=lambda item: (item[0], item[1]))
            return first
        if all(m is not None for m in members):
            done = [m for m in members if m is not None]
            used: frozenset[str] = frozenset().union(*(m.used for m in done))
            finished = max(m.result.finished for m in done)
            return Resolution(LeafResult(True, [m.result.value for m in done], None, finished), used)
        return None

    if prefix in winners:
        index = winners[prefix]
        chosen = members[index] if 0 <= index < len(members) else None
        return None if chosen is None else _any_result(index, chosen)
    finished_members = [(m.result.finished, index, m) for index, m in enumerate(members) if m is not None]
    if not finished_members:
        return None
    _, index, chosen = min(finished_members, key=lambda item: (item[0], item[1]))
    winners[prefix] = index
    return _any_result(index, chosen)


def _any_result(index: int, member: Resolution) -> Resolution:
    result = member.result
    if result.ok:
        return Resolution(LeafResult(True, (index, result.value), None, result.finished), member.used)
    return Resolution(result, member.used)
