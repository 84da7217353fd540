"""The change stories of docs/versioning.md on real Redis workers: runs in flight under
``flowgen worker`` processes of version 1, the workers replaced by version 2, the runs resumed.

The same stories, with the same expectations, run on the Runner in tests/testing/test_versioning.py.
"""

from __future__ import annotations

import pytest

import flowgen
from tests.apps import versioning_v1 as v1
from tests.apps import versioning_v2 as v2
from tests.conftest import wait_until
from tests.testing.test_versioning import STORIES

pytestmark = pytest.mark.redis


def _signatures(engine: flowgen.Engine, run_id: str) -> list[str]:
    return [f"{entry['kind']}:{entry['name']}" for entry in engine.journal(run_id)]


def test_every_change_story_resumes_in_flight_runs_on_workers_of_the_new_code(
    redis_url: str, start_worker
) -> None:
    old_worker = start_worker("tests.apps.versioning_worker_v1", args=["--version", "1"])
    names = sorted(STORIES)
    # Clients with a registry of their own: this process holds both versions' code.
    with flowgen.Engine(redis_url, registry=flowgen.Registry(), version="1") as engine:
        for name in names:
            engine.start(v1.BY_NAME[name], 1, run_id=f"old-{name}")

        def parked() -> bool:
            return all(engine.status(f"old-{name}").status == "waiting" for name in names)

        wait_until(parked, 60, "every old run to wait for 'go' under version 1")
        assert old_worker.stop() == 0

    start_worker("tests.apps.versioning_worker_v2", args=["--version", "2"])
    with flowgen.Engine(redis_url, registry=flowgen.Registry(), version="2") as engine:
        for name in names:
            engine.start(v2.BY_NAME[name], 2, run_id=f"new-{name}")
        for name in names:
            engine.send_event(f"old-{name}", "go")
            engine.send_event(f"new-{name}", "go")
        for name in names:
            old_journal, old_result, new_journal, new_result = STORIES[name]
            assert engine.get(f"old-{name}").result(timeout=60) == old_result, name
            assert _signatures(engine, f"old-{name}") == old_journal, name
            assert engine.status(f"old-{name}").version == "1"
            assert engine.get(f"new-{name}").result(timeout=60) == new_result, name
            assert _signatures(engine, f"new-{name}") == new_journal, name
            assert engine.status(f"new-{name}").version == "2"


def test_a_child_run_records_the_version_of_the_worker_that_starts_it(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.versioning_worker_v2", args=["--version", "worker-2"])
    with flowgen.Engine(redis_url, registry=flowgen.Registry(), version="client-2") as engine:
        run = engine.start(v2.PARENT, 4, run_id="versioned-4")
        assert run.result(timeout=60) == 40
        assert run.status().version == "client-2"
        assert engine.status("versioned-4/child").version == "worker-2"


def test_a_worker_with_the_childs_code_binds_a_child_started_by_name(redis_url: str, start_worker) -> None:
    start_worker("tests.apps.versioning_worker_v2")
    # This client knows no code: the start of the parent is stored unchecked; the worker checks
    # the child's call against versioning.child, which it has imported.
    with flowgen.Engine(redis_url, registry=flowgen.Registry()) as engine:
        refused = engine.start("versioning.parent_by_name", 4, 5, run_id="by-name-refused")
        fits = engine.start("versioning.parent_by_name", 4, run_id="by-name-fits")
        assert refused.result(timeout=60) == (
            "refused: workflow 'versioning.child' cannot be called with (4, 5): too many positional "
            "arguments; its signature is versioning.child(n: 'int') -> 'Generator[Any, Any, int]'"
        )
        assert fits.result(timeout=60) == 40
        assert sorted(info.run_id for info in engine.runs()) == [
            "by-name-fits",
            "by-name-fits/0",
            "by-name-refused",
        ]
