"""Listing pages and wait timeouts mean the same on the three stores (issue 13 item 11).

``runs(limit=...)`` used to return nothing or everything for ``limit=0`` depending on the store,
all but one run for ``limit=-1``, and read ``offset=-1`` as 0; ``result(timeout=nan)`` reached
Redis as a ``ResponseError``. Now ``limit`` is ``None`` or at least 1, ``offset`` at least 0,
and timeouts are finite seconds from 0 to 100 years, or ``ValueError`` naming the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowgen
from tests.apps import timing

KINDS = [
    "memory",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("cluster", marks=[pytest.mark.redis, pytest.mark.redis_cluster]),
]


@pytest.fixture(params=KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[flowgen.Engine]:
    """An engine that only writes (nothing advances the runs it starts)."""
    if request.param == "redis":
        url = request.getfixturevalue("single_redis_url")
    elif request.param == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        url = "memory://"
    with flowgen.Engine(url, start_workers=False) as engine:
        for n in range(3):
            engine.start(timing.sleeper, 1, run_id=f"page-{n}")
        yield engine


def _ids(engine: flowgen.Engine, **page: Any) -> list[str]:
    return sorted(info.run_id for info in engine.runs(**page))


def test_pages_of_runs_are_the_same_on_every_store(engine: flowgen.Engine) -> None:
    assert _ids(engine, limit=None) == ["page-0", "page-1", "page-2"]
    assert len(engine.runs(limit=1)) == 1
    assert len(engine.runs(limit=2, offset=2)) == 1
    assert engine.runs(limit=5, offset=3) == []
    assert _ids(engine, limit=None, offset=1) == sorted(_ids(engine, limit=2, offset=1))
    assert _ids(engine, workflow=timing.sleeper, status="queued", limit=None) == [
        "page-0",
        "page-1",
        "page-2",
    ]


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "3"])
def test_a_limit_below_one_is_refused_on_every_store(engine: flowgen.Engine, limit: Any) -> None:
    with pytest.raises(ValueError, match=r"limit \(None for no limit\) must be a whole number >= 1"):
        engine.runs(limit=limit)


@pytest.mark.parametrize("offset", [-1, None, 0.5])
def test_a_negative_offset_is_refused_on_every_store(engine: flowgen.Engine, offset: Any) -> None:
    with pytest.raises(ValueError, match="offset must be a whole number >= 0"):
        engine.runs(offset=offset)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 10**10, "5"])
def test_a_result_timeout_out_of_range_is_a_value_error_on_every_store(
    engine: flowgen.Engine, timeout: Any
) -> None:
    run = engine.get("page-0")
    with pytest.raises(ValueError, match="timeout must be"):
        run.result(timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be"):
        run.wait_for_status("completed", timeout=timeout)


def test_a_result_timeout_of_zero_checks_once(engine: flowgen.Engine) -> None:
    with pytest.raises(flowgen.ResultTimeoutError, match="queued"):
        engine.get("page-0").result(timeout=0)


def test_a_workflow_name_that_would_share_a_redis_index_is_refused(engine: flowgen.Engine) -> None:
    # On Redis the runs of workflow W in status S are indexed under P:wf:W:status:S, so a
    # workflow named "timing.sleeper:status:queued" would write into timing.sleeper's index.
    with pytest.raises(flowgen.InvalidNameError, match="':' separates"):
        engine.start(f"{timing.sleeper.name}:status:queued", run_id="intruder")
    assert "intruder" not in _ids(engine, workflow=timing.sleeper, status="queued", limit=None)
