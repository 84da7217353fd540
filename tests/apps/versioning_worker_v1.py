"""What `flowgen worker tests.apps.versioning_worker_v1` runs: version 1 of tests/apps/versioning_v1.py."""

from __future__ import annotations

import flowgen
from tests.apps.versioning_v1 import WORKFLOWS

for _workflow in WORKFLOWS:
    flowgen.registry.add_workflow(_workflow)
