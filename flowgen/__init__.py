"""flowgen: durable workflows for Python, written as generator functions.

A workflow yields commands (step calls, sleeps, event waits, ``all_of``/``any_of``, child runs)
and never does side effects itself; steps do. Workers replay the workflow from its journal so
no journaled step ever runs twice. See the README for a tour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .actor_steps import actor_as_step, actor_step
from .allowlist import register_type
from .client import BlockedBy, ErrorInfo, Run, RunInfo
from .commands import (
    AllOf,
    AnyOf,
    ChildRun,
    Compensate,
    ContinueAsNew,
    DeterministicValue,
    Sleep,
    SleepUntil,
    StepCall,
    WaitForEvent,
    all_of,
    any_of,
    child,
    compensate,
    continue_as_new,
    now,
    random,
    sleep,
    sleep_until,
    start_child,
    uuid4,
    wait_for_event,
)
from .context import StepContext, step_context
from .decorators import DEFAULT_RETRY, Registry, Retry, Step, Workflow, registry, step, workflow
from .durations import parse_duration
from .engine import Engine, StartManyResult
from .errors import (
    CancelledError,
    ChildWorkflowError,
    CommitRefusedError,
    CompensatedError,
    ConfigurationError,
    EventTimeoutError,
    FlowgenError,
    InvalidDurationError,
    InvalidEventError,
    InvalidNameError,
    InvalidRunIdError,
    JournalLimitError,
    LeaseLostError,
    NonDeterminismError,
    NonRetryableError,
    PayloadTooLargeError,
    RegistrationError,
    ResultTimeoutError,
    RunFinishedError,
    RunIdConflictError,
    RunNotFoundError,
    RunPlacementError,
    RunStateError,
    SerializationError,
    StepCrashedError,
    StepFailedError,
    StepNotFoundError,
    StepTimeoutError,
    StoreUnavailableError,
    TamperedDataError,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowYieldError,
)
from .limits import Limit, RateLimit, RateLimited, RunTimeoutError, key_from_start
from .log_context import RunContextFilter
from .observability.hooks import on
from .patches import DeprecatedPatch, Patched, deprecate_patch, patched
from .schedules import (
    ScheduleError,
    ScheduleExistsError,
    ScheduleInfo,
    ScheduleNotFoundError,
    schedule,
    schedule_info,
)
from .schemas import SchemaError
from .search import RunPage
from .status import RunStatus
from .yieldable import Yieldable

if TYPE_CHECKING:
    # Imported on first use by __getattr__ below (they pull in asyncio); type checkers see them here.
    from .aio.engine import AsyncEngine
    from .aio.handles import AsyncRun, AsyncStartManyResult

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_RETRY",
    "AllOf",
    "AnyOf",
    "AsyncEngine",
    "AsyncRun",
    "AsyncStartManyResult",
    "BlockedBy",
    "CancelledError",
    "ChildRun",
    "ChildWorkflowError",
    "CommitRefusedError",
    "Compensate",
    "CompensatedError",
    "ConfigurationError",
    "ContinueAsNew",
    "DeprecatedPatch",
    "DeterministicValue",
    "Engine",
    "ErrorInfo",
    "EventTimeoutError",
    "FlowgenError",
    "InvalidDurationError",
    "InvalidEventError",
    "InvalidNameError",
    "InvalidRunIdError",
    "JournalLimitError",
    "LeaseLostError",
    "Limit",
    "NonDeterminismError",
    "NonRetryableError",
    "Patched",
    "PayloadTooLargeError",
    "RateLimit",
    "RateLimited",
    "RegistrationError",
    "Registry",
    "ResultTimeoutError",
    "Retry",
    "Run",
    "RunContextFilter",
    "RunFinishedError",
    "RunIdConflictError",
    "RunInfo",
    "RunNotFoundError",
    "RunPage",
    "RunPlacementError",
    "RunStateError",
    "RunStatus",
    "RunTimeoutError",
    "ScheduleError",
    "ScheduleExistsError",
    "ScheduleInfo",
    "ScheduleNotFoundError",
    "SchemaError",
    "SerializationError",
    "Sleep",
    "SleepUntil",
    "StartManyResult",
    "Step",
    "StepCall",
    "StepContext",
    "StepCrashedError",
    "StepFailedError",
    "StepNotFoundError",
    "StepTimeoutError",
    "StoreUnavailableError",
    "TamperedDataError",
    "WaitForEvent",
    "Workflow",
    "WorkflowCancelledError",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowYieldError",
    "Yieldable",
    "__version__",
    "actor_as_step",
    "actor_step",
    "all_of",
    "any_of",
    "child",
    "compensate",
    "continue_as_new",
    "deprecate_patch",
    "key_from_start",
    "now",
    "on",
    "parse_duration",
    "patched",
    "random",
    "register_type",
    "registry",
    "schedule",
    "schedule_info",
    "sleep",
    "sleep_until",
    "start_child",
    "step",
    "step_context",
    "uuid4",
    "wait_for_event",
    "workflow",
]


#: Names that were removed, with what to use instead (read by :func:`__getattr__`).
_REMOVED = {
    "StepRetriesExceededError": (
        "flowgen.StepRetriesExceededError was removed: a step whose retries run out now raises its "
        "own error into the workflow, as a step without retries does, so catch that error's type "
        "(`except CardDeclined as error:`) and read how many attempts ran from "
        "`error.flowgen_attempts` (see docs/retries.md)"
    ),
}


#: Names imported on first access, with the module that defines them: the async API imports
#: asyncio (0.1-0.2 s of CPU per process start), which a sync engine or worker never needs.
_LAZY = {
    "AsyncEngine": "flowgen.aio.engine",
    "AsyncRun": "flowgen.aio.handles",
    "AsyncStartManyResult": "flowgen.aio.handles",
}


def __getattr__(name: str) -> object:
    """Import a lazy name on first access; refuse a removed name with what to use instead.

    A lazy name is cached in the module's globals once imported, so this runs once per name. A
    removed name raises with its replacement (an ``except`` on it would never match).
    """
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _REMOVED:
        raise AttributeError(_REMOVED[name])
    raise AttributeError(f"module 'flowgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazy ones included before their first use."""
    return sorted({*globals(), *_LAZY})
