"""Logs that say which run they are about: a context of the run being advanced, and the filter
and JSON formatter that put it on every record.

While a worker advances a run, :func:`advancing` holds the run's id, workflow and the yield
position being evaluated in a :mod:`contextvars` variable; while a step body runs, the step's
own context (:func:`flowgen.step_context`) adds the step name and attempt number.
:class:`RunContextFilter`, attached to a handler, copies them onto every record that handler
sees, flowgen's and the user's own loggers' alike (``logger.info("charged")`` inside a step
carries ``run_id``, ``workflow``, ``step``, ``attempt`` and ``position``); outside a run they
are ``None``. A step body that starts its own threads must copy the context to them
(``contextvars.copy_context().run``).

``flowgen worker --log-format json`` logs one JSON object per line with :class:`JsonFormatter`.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from .context import current_step

FIELDS = ("run_id", "workflow", "step", "attempt", "position")
"""The attributes :class:`RunContextFilter` sets on each record."""

_run: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("flowgen_run_log", default=None)


@contextmanager
def advancing(run_id: str, workflow: str | None = None) -> Iterator[dict[str, Any]]:
    """Make records logged in the block carry ``run_id`` (and ``workflow``); yields the mutable
    context, whose ``workflow`` and ``position`` the advance loop fills in as it learns them."""
    fields: dict[str, Any] = {"run_id": run_id, "workflow": workflow, "position": None}
    token = _run.set(fields)
    try:
        yield fields
    finally:
        _run.reset(token)


def set_workflow(workflow: str) -> None:
    """Record the workflow of the run being advanced, once it is read (no-op outside :func:`advancing`)."""
    fields = _run.get()
    if fields is not None:
        fields["workflow"] = workflow


def set_position(position: int) -> None:
    """Record the yield position the advance is evaluating (no-op outside :func:`advancing`).

    Kept as text, as a step's own position is (``"3"``, ``"3/1"`` for a branch)."""
    fields = _run.get()
    if fields is not None:
        fields["position"] = str(position)


def current_fields() -> dict[str, Any]:
    """The context fields of this moment (``None`` for those that do not apply)."""
    step = current_step()
    if step is not None:
        return {
            "run_id": step.run_id,
            "workflow": step.workflow,
            "step": step.step,
            "attempt": step.attempt,
            "position": step.position,
        }
    fields = _run.get()
    if fields is None:
        return dict.fromkeys(FIELDS)
    return {
        "run_id": fields["run_id"],
        "workflow": fields["workflow"],
        "step": None,
        "attempt": None,
        "position": fields["position"],
    }


class RunContextFilter(logging.Filter):
    """Set ``run_id``, ``workflow``, ``step``, ``attempt`` and ``position`` on every record.

    Attach it to a handler (``handler.addFilter(flowgen.RunContextFilter())``) so it sees the
    records of every logger, including your own. A value given with ``extra=`` is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the context attributes the record does not have yet; keep every record."""
        for name, value in current_fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``,
    the context fields (``FIELDS``, left out when ``None``), ``process``, and
    ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s%(run_label)s: %(message)s"


class TextFormatter(logging.Formatter):
    """The worker's text lines, with ``run=<id> step=<name>#<attempt> pos=<n>`` when in a run."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The record as a text line, with its run context in brackets."""
        run_id, step, attempt, position = (
            getattr(record, name, None) for name in ("run_id", "step", "attempt", "position")
        )
        parts = []
        if run_id:
            parts.append(f"run={run_id}")
        if step:
            parts.append(f"step={step}#{attempt}")
        if position is not None:
            parts.append(f"pos={position}")
        record.run_label = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def configure(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` in ``text`` or ``json``, every record with its run context."""
    handler = logging.StreamHandler()
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
