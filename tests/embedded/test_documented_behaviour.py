"""What docs/embedded.md, README.md and flowgen/services.py say, checked (issue 13 item 15).

Each test pins a statement the docs were corrected to: the first step of an advance is not
recorded as started, later ones are; the sweeper runs on SQLite in engines with workers only;
only runs that may wake within 60 seconds keep their generator in worker memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from flowgen.decorators import Registry, Step, Workflow
from flowgen.journal import OpenEntry

SEEN: dict[str, Any] = {}


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    SEEN.clear()

    def observe(label: str) -> str:
        # What the store holds while this step's body runs: the open entry, if written.
        context = flowgen.step_context()
        record = SEEN["engine"].store.get_run(context.run_id)
        SEEN[label] = OpenEntry.from_json(record.open) if record.open else None
        return label

    step = registry.add_step(Step(observe, name="documented.observe", retries=0))

    def two_steps() -> Generator[Any, Any, list[str]]:
        return [(yield step("first")), (yield step("second"))]

    def nap(seconds: float) -> Generator[Any, Any, str]:
        yield flowgen.sleep(seconds)
        return "woke"

    registry.add_workflow(Workflow(two_steps, name="documented.two_steps"))
    registry.add_workflow(Workflow(nap, name="documented.nap"))
    return registry


@pytest.fixture
def engine(tmp_path: Path, registry: Registry) -> Iterator[flowgen.Engine]:
    with flowgen.Engine(f"sqlite:///{tmp_path / 'runs.db'}", registry=registry, retention=0.5) as engine:
        SEEN["engine"] = engine
        yield engine


def _running(open_entry: OpenEntry | None, position: int) -> bool:
    """Whether the store shows an attempt started and not finished at ``position``."""
    if open_entry is None or open_entry.position != position:
        return False
    return any(leaf.running_attempt() is not None for leaf in open_entry.leaves.values())


def test_the_first_step_of_an_advance_is_not_recorded_as_started_the_next_one_is(
    engine: flowgen.Engine,
) -> None:
    run = engine.start("documented.two_steps", run_id="two")
    assert run.result(timeout=30) == ["first", "second"]

    assert not _running(SEEN["first"], 0), "the first step's start is not written"
    assert _running(SEEN["second"], 1), "the second step's start is written before it runs"


def test_the_sweeper_deletes_expired_runs_from_a_sqlite_file(engine: flowgen.Engine) -> None:
    assert any(thread.name == "flowgen-sweeper" for thread in threading.enumerate())
    run = engine.start("documented.nap", 0.0, run_id="expires")
    assert run.result(timeout=30) == "woke"

    deadline = time.monotonic() + 30
    while engine.store.get_run("expires") is not None:
        assert time.monotonic() < deadline, "the sweeper never deleted the expired run"
        time.sleep(0.05)


def test_a_client_engine_runs_no_sweeper(tmp_path: Path, registry: Registry) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    with flowgen.Engine(f"sqlite:///{tmp_path / 'client.db'}", registry=registry, start_workers=False):
        started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert "flowgen-sweeper" not in started


@pytest.mark.parametrize(("seconds", "cached"), [(30.0, 1), (120.0, 0)])
def test_only_runs_that_may_wake_within_a_minute_keep_their_generator_in_memory(
    engine: flowgen.Engine, seconds: float, cached: int
) -> None:
    run = engine.start("documented.nap", seconds, run_id=f"nap-{seconds}")
    run.wait_for_status("waiting", timeout=30)
    assert len(engine.runtime.cache) == cached
