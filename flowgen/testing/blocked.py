"""Blocked runs in words: what a runner's run waits for, and the error ``result()`` raises for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from ..journal import LeafState, OpenEntry
from ..stores.base import RunRecord, Store
from .clock import RunnerClock
from .errors import RunBlockedError


class WaitDescriber:
    """Describes, from the store, what runs wait for, with times relative to the runner's clock."""

    def __init__(self, store: Store, clock: RunnerClock) -> None:
        self.store = store
        self.clock = clock

    def describe(self, record: RunRecord, depth: int = 0) -> str:
        """Describe what a run waits for, in words (``""`` for a finished run)."""
        if record.is_finished:
            return ""
        if record.status in ("queued", "running"):
            return (
                f"for nothing: it is {record.status} but no message will advance it, because flowgen "
                "failed while advancing it (see the error logged by flowgen.runtime)"
            )
        if record.open is None:
            return f"for nothing in particular (it is {record.status})"
        entry = OpenEntry.from_json(record.open)
        branches = [
            self._describe_branch(state, depth) for state in entry.leaves.values() if state.outcome is None
        ]
        where = f"at position {entry.position}"
        if entry.kind in ("all_of", "any_of"):
            return f"{where} on {entry.name}, for: " + "; ".join(branches)
        return f"{where} for " + (branches[0] if branches else entry.name)

    def _describe_branch(self, state: LeafState, depth: int) -> str:
        if state.kind == "sleep":
            return f"a {state.name} until {self.when(state.due)}"
        if state.kind == "event":
            timeout = (
                f", timing out at {self.when(state.due)}" if state.due is not None else ", with no timeout"
            )
            return f"event {state.name!r}{timeout}"
        if state.kind == "step":
            tried = len(state.attempts)
            if state.next_at is not None:
                retry_at = self.when(state.next_at)
                return f"step {state.name!r} to be retried at {retry_at} (after {tried} failed attempt(s))"
            return f"step {state.name!r} (attempt {tried + 1})"
        if state.kind == "child":
            child = self.store.get_run(state.child) if state.child else None
            if child is None:
                return f"child run of {state.name!r}"
            inner = self.describe(child, depth + 1) if depth < 3 else ""
            detail = f"{child.status}: {inner}" if inner else child.status
            return f"child run {child.run_id!r} of {state.name!r} ({detail})"
        return f"{state.kind} {state.name!r}"

    def when(self, due: float | None) -> str:
        """A due time in words: the moment and how far it is from the runner's virtual now."""
        if due is None:
            return "never"
        moment = datetime.fromtimestamp(due, timezone.utc).isoformat()
        delta = due - self.clock.now()
        relative = f"in {_human(delta)}" if delta >= 0 else f"{_human(-delta)} ago"
        return f"{moment}, {relative} of virtual time"

    def blocked_error(self, record: RunRecord, wanted: Sequence[str] = ()) -> RunBlockedError:
        """The error ``result()`` raises for a run of the runner that has not finished."""
        waiting_on = self.describe(record)
        run = f"run {record.run_id!r} of workflow {record.workflow!r}"
        if wanted:
            head = f"{run} is {record.status}, not {'/'.join(wanted)}"
        else:
            head = f"{run} has not finished ({record.status})"
        message = (
            f"{head}: it waits {waiting_on}. Under flowgen.testing.Runner nothing happens by waiting: "
            "move virtual time with runner.advance(...) or deliver the event with run.send_event(...)"
        )
        return RunBlockedError(message, record.run_id, record.status, waiting_on)


def _human(seconds: float) -> str:
    """Format a non-negative span of seconds as ``"7d 2h"``, ``"5m 30s"`` or ``"0.5s"``."""
    remaining = seconds
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if remaining >= size:
            count = int(remaining // size)
            parts.append(f"{count}{unit}")
            remaining -= count * size
    if remaining or not parts:
        parts.append(f"{remaining:g}s")
    return " ".join(parts[:2])
