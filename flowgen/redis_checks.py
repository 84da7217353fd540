"""Check, when a worker starts, that Redis is configured so that acknowledged writes survive.

flowgen's guarantees hold only if Redis keeps what it acknowledged: with no persistence a
restart loses every journal, and an evicting ``maxmemory-policy`` (``allkeys-*``) may delete a
live run's keys under memory pressure. The worker warns about such settings, or refuses to
start when asked to (``--unsafe-redis refuse`` or ``FLOWGEN_UNSAFE_REDIS=refuse``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .errors import ConfigurationError

logger = logging.getLogger("flowgen.redis_checks")

POLICIES = ("warn", "refuse", "ignore")


def redis_configuration_problems(client: Any) -> list[str]:
    """Return what is unsafe in this Redis server's configuration (empty when all is well)."""
    config: dict[str, str] = {}
    for name in ("appendonly", "save", "maxmemory-policy", "appendfsync"):
        for key, value in client.config_get(name).items():
            config[key.decode() if isinstance(key, bytes) else key] = (
                value.decode() if isinstance(value, bytes) else value
            )
    problems = []
    appendonly = config.get("appendonly", "no") == "yes"
    if not appendonly and not config.get("save", "").strip():
        problems.append(
            "Redis has no persistence (appendonly no and no save points): a Redis restart loses every run; "
            "set `appendonly yes` (and `appendfsync everysec` or `always`)"
        )
    elif not appendonly:
        problems.append(
            "Redis persists only RDB snapshots (appendonly no): a restart loses every journal write since the "
            "last snapshot, so acknowledged steps could run again; set `appendonly yes`"
        )
    elif config.get("appendfsync", "everysec") == "no":
        problems.append(
            "appendfsync is no: the OS decides when Redis's log reaches the disk, so a machine crash can lose "
            "many seconds of acknowledged writes; use `appendfsync everysec` (at most ~1 s) or `always`"
        )
    policy = config.get("maxmemory-policy", "noeviction")
    if policy.startswith("allkeys-"):
        problems.append(
            f"maxmemory-policy is {policy}: under memory pressure Redis may evict keys of live runs; "
            "use `noeviction` (or a volatile-* policy, which only evicts finished runs kept for retention)"
        )
    return problems


def report_redis_configuration(engine: Any, policy: str | None = None) -> list[str]:
    """Warn about (or refuse) an unsafe Redis configuration; returns the problems found."""
    policy = policy or os.environ.get("FLOWGEN_UNSAFE_REDIS", "warn")
    if policy not in POLICIES:
        raise ConfigurationError(f"unsafe Redis policy must be one of {POLICIES}, got {policy!r}")
    client = getattr(engine.store, "client", None)
    if client is None or policy == "ignore":
        return []
    try:
        problems = redis_configuration_problems(client)
    except Exception as error:  # CONFIG is often disabled on managed Redis
        logger.warning("could not read the Redis configuration to check persistence and eviction: %s", error)
        return []
    if problems and policy == "refuse":
        raise ConfigurationError("refusing to start on an unsafe Redis: " + "; ".join(problems))
    for problem in problems:
        logger.warning("unsafe Redis configuration: %s", problem)
    return problems
