"""What `flowgen worker tests.apps.versioning_worker_v2` runs: version 2 of tests/apps/versioning_v2.py."""

from __future__ import annotations

import flowgen
from tests.apps.versioning_v2 import CHILD, PARENT, PARENT_BY_NAME, WORKFLOWS

for _workflow in [*WORKFLOWS, CHILD, PARENT, PARENT_BY_NAME]:
    flowgen.registry.add_workflow(_workflow)
