"""The names flowgen accepts, checked in one place: run ids, workflow and step names, queues, event types.

Every pattern is matched with ``fullmatch``: a ``$`` would also accept a trailing newline, so
``"x\\n"`` would be a second, different run next to ``"x"``.

Workflow names are part of Redis key names (``P:wf:<workflow>`` and
``P:wf:<workflow>:status:<status>``), so they may not contain ``:``, the separator of those
keys: otherwise a workflow named ``a:status:completed`` would share its index with the
completed runs of workflow ``a``. Refusing the character keeps every key unambiguous without
changing the key layout of existing deployments. Run ids may contain ``:`` because their keys
delimit them with braces (``P:{<run id>}:meta``), which run ids may not contain. Step names are
in no key name.
"""

from __future__ import annotations

import re

from .errors import InvalidNameError, InvalidRunIdError

MAX_NAME = 200

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@/+=\-]{1,200}")
WORKFLOW_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.<>\-/]{1,200}")
STEP_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:<>\-/]{1,200}")
QUEUE_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9._\-]{0,199}")
"""Dramatiq's rule for queue names (letters, digits, ``.``, ``_``, ``-``), with flowgen's length limit."""

DRAMATIQ_QUEUE_SUFFIXES = (".DQ", ".XQ")
"""Dramatiq names a queue's delay queue ``<queue>.DQ`` and its dead letters ``<queue>.XQ``."""


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if flowgen accepts it, else raise :class:`InvalidRunIdError`."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidRunIdError(
            f"invalid run id {run_id!r}: use 1 to 200 characters among letters, digits and . _ : @ / + = -"
        )
    return run_id


def check_workflow_name(name: str) -> str:
    """Return ``name`` if it can name a workflow, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not WORKFLOW_NAME_PATTERN.fullmatch(name):
        hint = (
            " (':' separates the parts of flowgen's Redis keys)"
            if isinstance(name, str) and ":" in name
            else ""
        )
        raise InvalidNameError(
            f"invalid workflow name {name!r}: use 1 to {MAX_NAME} letters, digits and . _ - / < >{hint}"
        )
    return name


def check_step_name(name: str) -> str:
    """Return ``name`` if it can name a step, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not STEP_NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid step name {name!r}: use 1 to {MAX_NAME} letters, digits and . _ - : / < >"
        )
    return name


def check_queue_name(name: str) -> str:
    """Return ``name`` if it can name a Dramatiq queue, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not QUEUE_NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid queue name {name!r}: start with a letter or '_', then up to {MAX_NAME - 1} letters, "
            "digits and . _ -"
        )
    if name.endswith(DRAMATIQ_QUEUE_SUFFIXES):
        raise InvalidNameError(
            f"invalid queue name {name!r}: Dramatiq uses names ending in .DQ and .XQ for the delay and "
            "dead-letter queues of other queues"
        )
    return name


def check_event_type(event_type: str) -> str:
    """Return ``event_type`` if it is a non-empty string, else raise ``ValueError``."""
    if not isinstance(event_type, str) or not event_type:
        raise ValueError(f"event type must be a non-empty string, got {event_type!r}")
    return event_type
