"""The names flowgen accepts, checked in one place: run ids, workflow and step names, queues, event types and ids.

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

from .errors import InvalidEventError, InvalidNameError, InvalidRunIdError

MAX_NAME = 200

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@/+=\-]{1,200}")
WORKFLOW_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.<>\-/]{1,200}")
STEP_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:<>\-/]{1,200}")
QUEUE_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9._\-]{0,199}")
"""Dramatiq's rule for queue names (letters, digits, ``.``, ``_``, ``-``), with flowgen's length limit."""

DRAMATIQ_QUEUE_SUFFIXES = (".DQ", ".XQ")
"""Dramatiq names a queue's delay queue ``<queue>.DQ`` and its dead letters ``<queue>.XQ``."""


def _whole(pattern: re.Pattern[str], value: object, error: type[Exception], what: str, rule: str) -> str:
    """Return ``value`` if all of it matches ``pattern``; else raise ``error`` naming it and the rule."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise error(f"invalid {what} {value!r}: {rule}")
    return value


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if flowgen accepts it, else raise :class:`InvalidRunIdError`."""
    rule = f"use 1 to {MAX_NAME} characters among letters, digits and . _ : @ / + = -"
    return _whole(RUN_ID_PATTERN, run_id, InvalidRunIdError, "run id", rule)


def check_workflow_name(name: str) -> str:
    """Return ``name`` if it can name a workflow, else raise :class:`InvalidNameError`."""
    rule = f"use 1 to {MAX_NAME} letters, digits and . _ - / < >"
    if isinstance(name, str) and ":" in name:
        rule += " (':' separates the parts of flowgen's Redis keys)"
    return _whole(WORKFLOW_NAME_PATTERN, name, InvalidNameError, "workflow name", rule)


def check_step_name(name: str) -> str:
    """Return ``name`` if it can name a step, else raise :class:`InvalidNameError`."""
    rule = f"use 1 to {MAX_NAME} letters, digits and . _ - : / < >"
    return _whole(STEP_NAME_PATTERN, name, InvalidNameError, "step name", rule)


def check_queue_name(name: str) -> str:
    """Return ``name`` if it can name a Dramatiq queue, else raise :class:`InvalidNameError`."""
    rule = f"start with a letter or '_', then up to {MAX_NAME - 1} letters, digits and . _ -"
    _whole(QUEUE_NAME_PATTERN, name, InvalidNameError, "queue name", rule)
    if name.endswith(DRAMATIQ_QUEUE_SUFFIXES):
        raise InvalidNameError(
            f"invalid queue name {name!r}: Dramatiq uses names ending in .DQ and .XQ for the delay and "
            "dead-letter queues of other queues"
        )
    return name


MAX_EVENT_TYPE_LENGTH = 200
"""Longest event type accepted (types name Redis keys: ``<prefix>:{<run>}:inbox:<type>``)."""
MAX_EVENT_ID_LENGTH = 200
"""Longest event id accepted (ids are kept per run to refuse duplicates)."""


def _check_event_name(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"{what} must be a non-empty string, got {value!r:.80}")
    if len(value) > limit:
        raise InvalidEventError(
            f"{what} {value[:40]!r}... is {len(value)} characters long, over the limit of {limit} "
            "characters; name events with short identifiers and put data in the payload"
        )
    return value


def check_event_type(value: object) -> str:
    """Return ``value`` if it can be an event type, else raise :class:`InvalidEventError`."""
    return _check_event_name(value, "an event type", MAX_EVENT_TYPE_LENGTH)


def check_event_id(value: object) -> str:
    """Return ``value`` if it can be an event id, else raise :class:`InvalidEventError`."""
    return _check_event_name(value, "an event id", MAX_EVENT_ID_LENGTH)
