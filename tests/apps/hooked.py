"""Hooks registered the way a worker gets them: ``flowgen.on`` in a module the worker imports.

Each call is recorded in the ledger Redis (``test:hooks``: one list element per call, with the
event, the run id, the status or step, and the pid of the process that called it).
"""

from __future__ import annotations

import json
import os

import redis

import flowgen
from tests.apps.observed import awaiting, obs_double, obs_explode, obs_increment, observed  # noqa: F401 - the worker runs them

CALLS = "test:hooks"


def _record(event: str):
    def callback(fact) -> None:
        client = redis.Redis.from_url(os.environ["FLOWGEN_TEST_LEDGER_URL"])
        detail = getattr(fact, "status", None) or getattr(fact, "step", None)
        client.rpush(CALLS, json.dumps([event, fact.run_id, detail, os.getpid()]))
        client.close()

    return callback


for _event in ("run.completed", "run.failed", "step.failed"):
    flowgen.on(_event, _record(_event))
