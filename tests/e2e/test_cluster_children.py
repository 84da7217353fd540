"""Child runs on a Redis Cluster: the default ids share the parent's shard; a foreign explicit id
fails the child branch with RunPlacementError (which the parent can catch), nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest

import flowgen

pytestmark = [pytest.mark.redis, pytest.mark.redis_cluster]


@flowgen.workflow(name="cluster.child")
def _child(n: int) -> Any:
    yield from flowgen.now()
    return n * 10


@flowgen.workflow(name="cluster.parent")
def _parent(n: int, child_id: str | None) -> Any:
    try:
        return (yield flowgen.child(_child, n, run_id=child_id))
    except flowgen.RunPlacementError as error:
        return f"refused: {error}"


def _advance_all(engine: flowgen.Engine, run_ids: list[str]) -> None:
    """Advance runs in this process (no worker) until each has finished."""
    for _ in range(10):
        pending = [
            run_id for run_id in run_ids if engine.status(run_id).status not in ("completed", "failed")
        ]
        if not pending:
            return
        for run_id in pending:
            engine.runtime.advance(run_id)
            for child in engine.store.children(run_id):
                engine.runtime.advance(child)


def test_children_share_their_parents_shard_and_a_foreign_id_is_refused(redis_cluster_url: str) -> None:
    with flowgen.Engine(redis_cluster_url) as engine:
        store: Any = engine.store
        default = engine.start(_parent, 1, None, run_id="p-default")
        under = engine.start(_parent, 2, "p-under/invoice", run_id="p-under")
        foreign = next(
            f"x{n}" for n in range(200) if store.shards.base_of(f"x{n}") != store.shards.base_of("p-bad")
        )
        bad = engine.start(_parent, 3, foreign, run_id="p-bad")
        _advance_all(engine, [default.run_id, under.run_id, bad.run_id])
        assert default.result(timeout=5) == 10
        assert under.result(timeout=5) == 20
        refused = bad.result(timeout=5)
        assert refused.startswith(f"refused: child run id {foreign!r} is in another shard")
        assert engine.store.get_run(foreign) is None
        (child,) = engine.store.children("p-default")
        assert child.startswith("p-default/") and store.shards.base_of(child) == store.shards.base_of(
            "p-default"
        )
