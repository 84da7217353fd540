"""Every engine setting is checked at construction, with a message naming it (issue 13 item 10).

``nan`` compares false with everything (a lease that is never expired nor live), ``inf`` never
expires, and zero or negative intervals make background threads spin: all refused up front.
"""

from __future__ import annotations

from typing import Any

import pytest

import flowgen

BAD_SECONDS = [float("inf"), float("nan"), -1.0, "10", True, None, 10**29]


def _engine(**options: Any) -> flowgen.Engine:
    return flowgen.Engine("memory://", start_workers=False, **options)


@pytest.mark.parametrize("value", [*BAD_SECONDS, 0, 0.0])
@pytest.mark.parametrize("name", ["lease_ttl", "reconcile_interval", "timer_interval"])
def test_a_positive_seconds_setting_refuses_bad_values_naming_itself(name: str, value: Any) -> None:
    with pytest.raises(flowgen.ConfigurationError, match=name):
        _engine(**{name: value})


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_grace_refuses_negative_and_non_finite_values(value: Any) -> None:
    with pytest.raises(flowgen.ConfigurationError, match="grace"):
        _engine(grace=value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, "7d"])
def test_retention_refuses_bad_values_and_says_none_keeps_forever(value: Any) -> None:
    with pytest.raises(flowgen.ConfigurationError, match=r"retention \(None keeps finished runs forever\)"):
        _engine(retention=value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("threads", 0),
        ("threads", -2),
        ("threads", 1.5),
        ("threads", True),
        ("journal_warn", 0),
        ("journal_limit", 0),
        ("journal_limit", 10.0),
        ("cache_size", -1),
        ("max_payload_bytes", 0),
    ],
)
def test_a_count_setting_refuses_bad_values_naming_itself(name: str, value: Any) -> None:
    with pytest.raises(flowgen.ConfigurationError, match=f"{name} must be a whole number"):
        _engine(**{name: value})


def test_the_prefix_must_be_a_non_empty_string() -> None:
    with pytest.raises(flowgen.ConfigurationError, match="prefix"):
        _engine(prefix="")


def test_accepted_edge_values_are_kept() -> None:
    with _engine(grace=0, retention=0, cache_size=0, lease_ttl=0.5, threads=1) as engine:
        assert engine.settings.grace == 0.0 and engine.settings.lease_ttl == 0.5
        assert engine.settings.cache_size == 0 and engine.threads == 1
    with _engine(retention=None):
        pass


def test_the_worker_threads_of_a_redis_engine_are_checked_before_anything_starts() -> None:
    # No server is needed: the check comes before the first connection.
    with flowgen.Engine("redis://127.0.0.1:1/0", start_workers=False) as engine:
        with pytest.raises(flowgen.ConfigurationError, match="threads"):
            engine.worker(threads=0)
        with pytest.raises(flowgen.InvalidNameError, match="queue"):
            engine.worker(threads=1, queues=["bad queue"])
