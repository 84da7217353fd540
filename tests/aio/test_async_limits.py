"""Async steps under step limits and rate limits, on the Runner, SQLite and Redis: inline, as
all_of branches and as queue= steps, at most 2 attempts of a Limit(2) step are in their body at
once on the step loop, and a wait for a slot or a token spends no attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apps import async_flow_apps as apps

from .conftest import Env


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    apps.reset()
    yield


def _bound(env: Env) -> None:
    """The limit held; on engines that run async steps concurrently, it also bound."""
    assert apps.IN_BODY["max"] == (2 if env.concurrent else 1)


def test_inline_async_attempts_hold_their_slot_while_they_await(env: Env) -> None:
    runs = [env.start(apps.inline, index) for index in range(6)]
    assert sorted(env.result(run) for run in runs) == list(range(6))
    _bound(env)
    assert all(len(env.engine.journal(run.run_id)[0]["attempts"]) == 1 for run in runs)


def test_async_branches_of_all_of_run_at_most_2_at_once(env: Env) -> None:
    run = env.start(apps.fan, 6)
    assert env.result(run) == [0, 1, 2, 3, 4, 5]
    _bound(env)
    (entry,) = env.engine.journal(run.run_id)
    assert all(len(leaf["attempts"]) == 1 for leaf in entry["leaves"].values())


def test_a_limited_async_queue_step_runs_at_most_2_at_once(env: Env) -> None:
    runs = [env.start(apps.queued, index) for index in range(6)]
    assert sorted(env.result(run) for run in runs) == list(range(6))
    _bound(env)


def test_rate_limited_async_branches_wait_for_their_tokens(env: Env) -> None:
    run = env.start(apps.paced_fan, 8)
    assert env.result(run) == list(range(8))
    (entry,) = env.engine.journal(run.run_id)
    leaves = entry["leaves"].values()
    assert all(len(leaf["attempts"]) == 1 for leaf in leaves)
    starts = sorted(leaf["attempts"][0]["started"] for leaf in leaves)
    assert starts[5] - starts[0] >= 1.0  # 5 a second: the sixth start waited for a token
