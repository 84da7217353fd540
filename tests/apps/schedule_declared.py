"""A module that declares a schedule in code, for worker processes (see :mod:`tests.apps.schedule_apps`).

The interval comes from ``$FLOWGEN_TEST_EVERY`` (default 1 s), so a test can start a worker
whose code declares the schedule with other settings.
"""

from __future__ import annotations

import os

import flowgen
from tests.apps.schedule_apps import quick

flowgen.schedule(
    "declared-quick",
    quick,
    every=float(os.environ.get("FLOWGEN_TEST_EVERY", "1")),
    overlap="allow_all",
    catchup="all",
)
