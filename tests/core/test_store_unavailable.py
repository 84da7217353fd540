"""A store that cannot be reached never fails a run: the advance is given up and retried later.

Stores raise ``StoreUnavailableError`` (a ``FlowgenError``) when their backend is unreachable;
the runtime fails a run for the ``FlowgenError`` its workflow raises while replay starts, and
must not mistake an outage there for one. The memory store below loses its backend for one
read, exactly when a worker whose cached generator is out of date re-reads the journal.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import flowgen
from flowgen.decorators import Registry, Step, Workflow
from flowgen.errors import StoreUnavailableError
from flowgen.journal import Entry
from flowgen.stores.memory import MemoryStore
from flowgen.transports.local import LocalTransport


class DroppingStore(MemoryStore):
    """The memory store, whose next ``drops`` journal reads fail as an unreachable backend's would."""

    drops = 0

    def read_journal(self, run_id: str, offset: int = 0) -> list[Entry]:
        if self.drops:
            self.drops -= 1
            raise StoreUnavailableError("the store's backend is unreachable (test)")
        return super().read_journal(run_id, offset)


def _registry() -> Registry:
    registry = Registry()
    step = registry.add_step(Step(lambda n: n + 1, name="unavailable.add"))

    def flow() -> Generator[Any, Any, Any]:
        first = yield step(1)
        event = yield flowgen.wait_for_event("go", timeout=30)  # cached: it may wake within 60 s
        return [first, event]

    registry.add_workflow(Workflow(flow, name="unavailable.flow"))
    return registry


def test_an_unreachable_store_while_replay_starts_leaves_the_run_ready_not_failed() -> None:
    store = DroppingStore()
    engine = flowgen.Engine(store=store, transport=LocalTransport(1), registry=_registry())
    run = engine.start("unavailable.flow", run_id="drop-1")
    engine.runtime.advance("drop-1")
    assert run.status().status == "waiting"
    # Another worker took and gave back the run: this process's cached generator is stale, so
    # its next advance re-reads the journal.
    now = engine.clock.now()
    taken = store.acquire("drop-1", "another-worker", 10.0, now)
    assert taken is not None
    store.release("drop-1", taken.epoch)
    run.send_event("go", "payload")

    store.drops = 1
    engine.runtime.advance("drop-1")

    assert run.status().status not in ("failed", "completed"), run.status()
    engine.runtime.advance("drop-1")
    assert run.result(timeout=5) == [2, "payload"]
