"""What `flowgen verify -m tests.apps.versioning_worker_v3` checks: version 2 with the patch of
``versioning.add_step`` retired (``ADD_STEP_V3``: ``deprecate_patch``)."""

from __future__ import annotations

import flowgen
from tests.apps.versioning_v2 import ADD_STEP_V3

flowgen.registry.add_workflow(ADD_STEP_V3)
