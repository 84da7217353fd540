"""The names flowgen accepts: run ids (and, later, the other names users choose)."""

from __future__ import annotations

import re

from .errors import InvalidRunIdError

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@/+=\-]{1,200}$")


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if flowgen accepts it, else raise :class:`InvalidRunIdError`."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: use 1 to 200 characters among letters, digits and . _ : @ / + = -"
        )
    return run_id
