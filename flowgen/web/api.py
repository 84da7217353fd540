"""The JSON HTTP API under ``/api/v1`` (its OpenAPI document is :mod:`.openapi`).

Every error is ``{"error": {"code": ..., "message": ...}}`` with a stable ``code`` (listed in
:data:`ERROR_CODES`) and an HTTP status that matches it. Engine calls are blocking; they run on
Starlette's thread pool so a long poll for a result never blocks the server's event loop.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..engine import Engine
from ..errors import (
    ConfigurationError,
    InvalidDurationError,
    InvalidEventError,
    InvalidNameError,
    InvalidRunIdError,
    PayloadTooLargeError,
    ResultTimeoutError,
    RunFinishedError,
    RunIdConflictError,
    RunNotFoundError,
    RunStateError,
    SerializationError,
    StoreUnavailableError,
    WorkflowNotFoundError,
)
from ..schedules.errors import ScheduleConflictError, ScheduleExistsError, ScheduleNotFoundError
from . import listing, views
from .openapi import openapi_document

MAX_RESULT_WAIT = 60.0
"""The longest a ``GET /runs/{id}/result?timeout=`` long poll waits, in seconds."""

ERROR_CODES: dict[str, int] = {
    "invalid_input": 400,
    "unauthorized": 401,
    "read_only": 403,
    "csrf_failed": 403,
    "run_not_found": 404,
    "schedule_not_found": 404,
    "not_found": 404,
    "run_id_conflict": 409,
    "schedule_conflict": 409,
    "run_finished": 409,
    "invalid_state": 409,
    "payload_too_large": 413,
    "json_required": 415,
    "internal": 500,
    "store_unavailable": 503,
}

# Most specific first: the first class an error is an instance of decides its code.
_ERROR_MAP: tuple[tuple[type[BaseException], str], ...] = (
    (RunNotFoundError, "run_not_found"),
    (ScheduleNotFoundError, "schedule_not_found"),
    (ScheduleExistsError, "schedule_conflict"),
    (ScheduleConflictError, "schedule_conflict"),
    (RunIdConflictError, "run_id_conflict"),
    (RunFinishedError, "run_finished"),
    (RunStateError, "invalid_state"),
    (PayloadTooLargeError, "payload_too_large"),
    (StoreUnavailableError, "store_unavailable"),
    (WorkflowNotFoundError, "invalid_input"),
    (InvalidRunIdError, "invalid_input"),
    (InvalidEventError, "invalid_input"),
    (InvalidNameError, "invalid_input"),
    (InvalidDurationError, "invalid_input"),
    (SerializationError, "invalid_input"),
    (ConfigurationError, "invalid_input"),
    (ValueError, "invalid_input"),
    (TypeError, "invalid_input"),
)


class ApiError(Exception):
    """An error the API answers with (its code decides the HTTP status)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(code: str, message: str) -> JSONResponse:
    """The JSON error body for ``code``."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=ERROR_CODES[code])


def code_of(error: BaseException) -> str | None:
    """The API error code of an engine error, or ``None`` for an unexpected one."""
    for kind, code in _ERROR_MAP:
        if isinstance(error, kind):
            return code
    return None


Handler = Callable[[Request], Awaitable[JSONResponse]]


def endpoint(handler: Handler) -> Handler:
    """Turn engine errors and :class:`ApiError` into JSON error responses."""

    async def wrapped(request: Request) -> JSONResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return error_response(error.code, error.message)
        except Exception as error:
            code = code_of(error)
            if code is None:
                raise
            return error_response(code, str(error))

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def engine_of(request: Request) -> Engine:
    """The engine the app serves."""
    engine: Engine = request.app.state.engine
    return engine


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400/415 for anything else."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ApiError("invalid_input", f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_input", f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = body.get(name, default)
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ApiError("invalid_input", f"field {name!r} must be {names}, got {type(value).__name__}")
    return value


@endpoint
async def list_runs(request: Request) -> JSONResponse:
    """``GET /runs``: a page of runs matching the filters, newest first, and the next cursor."""
    page = await run_in_threadpool(
        listing.page,
        engine_of(request),
        listing.Filters.from_query(request.query_params, request.query_params.getlist("tag")),
    )
    return JSONResponse(
        {"runs": [views.run_json(info) for info in page.runs], "next_cursor": page.next_cursor}
    )


@endpoint
async def count_runs(request: Request) -> JSONResponse:
    """``GET /counts``: the number of runs in each status (filtered by workflow)."""
    filters = listing.Filters.from_query(request.query_params, request.query_params.getlist("tag"))
    counts = await run_in_threadpool(listing.counts, engine_of(request), filters)
    return JSONResponse({"counts": counts, "total": sum(counts.values())})


@endpoint
async def start_run(request: Request) -> JSONResponse:
    """``POST /runs``: start a run (idempotent on ``run_id``)."""
    body = await json_body(request)
    workflow = _field(body, "workflow", str)
    if not workflow:
        raise ApiError("invalid_input", "field 'workflow' is required: the name of the workflow to start")
    args = _field(body, "args", list, [])
    kwargs = _field(body, "kwargs", dict, {})
    run_id = _field(body, "run_id", str)
    engine = engine_of(request)
    run = await run_in_threadpool(lambda: engine.start(workflow, *args, run_id=run_id, **kwargs))
    info = await run_in_threadpool(run.status)
    return JSONResponse(views.run_json(info), status_code=201)


@endpoint
async def get_run(request: Request) -> JSONResponse:
    """``GET /runs/{run_id}``: a run's state."""
    engine = engine_of(request)
    info = await run_in_threadpool(engine.status, request.path_params["run_id"])
    return JSONResponse(views.run_json(info))


@endpoint
async def run_journal(request: Request) -> JSONResponse:
    """``GET /runs/{run_id}/journal``: the run's journal, values decoded."""
    engine = engine_of(request)
    journal = await run_in_threadpool(engine.journal, request.path_params["run_id"])
    return JSONResponse({"entries": journal})


@endpoint
async def run_history(request: Request) -> JSONResponse:
    """``GET /runs/{run_id}/history``: the run's earlier generations (restarts, retries)."""
    engine = engine_of(request)
    history = await run_in_threadpool(engine.history, request.path_params["run_id"])
    return JSONResponse({"generations": history})


@endpoint
async def run_events(request: Request) -> JSONResponse:
    """``GET /runs/{run_id}/events``: events buffered in the run's inbox."""
    engine = engine_of(request)
    run_id = request.path_params["run_id"]
    return JSONResponse({"events": await run_in_threadpool(engine.events, run_id)})


@endpoint
async def send_event(request: Request) -> JSONResponse:
    """``POST /runs/{run_id}/events``: deliver an event ``{"type", "payload", "event_id"}``."""
    body = await json_body(request)
    event_type = _field(body, "type", str)
    if not event_type:
        raise ApiError("invalid_input", "field 'type' is required: the event type, such as \"paid\"")
    event_id = _field(body, "event_id", str)
    engine = engine_of(request)
    run_id = request.path_params["run_id"]
    delivered = await run_in_threadpool(
        lambda: engine.send_event(run_id, event_type, body.get("payload"), event_id=event_id)
    )
    return JSONResponse({"delivered": delivered})


@endpoint
async def control(request: Request) -> JSONResponse:
    """``POST /runs/{run_id}/{action}``: cancel (``{"force": true}`` to force), pause, resume,
    retry or restart a run; returns the run's state after the action."""
    body = await json_body(request)
    action = request.path_params["action"]
    run_id = request.path_params["run_id"]
    force = bool(_field(body, "force", bool, False))
    engine = engine_of(request)
    await run_in_threadpool(apply_action, engine, run_id, action, force)
    info = await run_in_threadpool(engine.status, run_id)
    return JSONResponse(views.run_json(info))


ACTIONS = ("cancel", "pause", "resume", "retry", "restart")


def apply_action(engine: Engine, run_id: str, action: str, force: bool = False) -> None:
    """Apply one control action to one run (shared by the API, the pages and bulk actions)."""
    if action == "cancel":
        engine.cancel(run_id, force=force)
    elif action == "pause":
        engine.pause(run_id)
    elif action == "resume":
        engine.resume(run_id)
    elif action == "retry":
        engine.retry(run_id)
    elif action == "restart":
        engine.restart(run_id)
    else:
        raise ApiError("not_found", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


@endpoint
async def wait_result(request: Request) -> JSONResponse:
    """``GET /runs/{run_id}/result?timeout=S``: wait up to S seconds (at most 60) for the run to
    finish; 200 with its output or error once finished, 202 with its state if it has not."""
    raw = request.query_params.get("timeout", "0")
    try:
        timeout = float(raw)
    except ValueError:
        raise ApiError("invalid_input", f"timeout must be a number of seconds, got {raw!r}") from None
    if not 0 <= timeout <= MAX_RESULT_WAIT:
        raise ApiError(
            "invalid_input", f"timeout must be between 0 and {MAX_RESULT_WAIT:g} seconds, got {raw}"
        )
    engine = engine_of(request)
    run_id = request.path_params["run_id"]
    with contextlib.suppress(ResultTimeoutError):  # not finished in time: answered with 202
        await run_in_threadpool(engine.wait_for_status, run_id, ("completed", "failed", "cancelled"), timeout)
    info = await run_in_threadpool(engine.status, run_id)
    return JSONResponse(views.run_json(info), status_code=200 if info.is_finished else 202)


async def openapi(request: Request) -> JSONResponse:
    """``GET /openapi.json``: the API's OpenAPI 3.1 document."""
    return JSONResponse(openapi_document())


routes = [
    Route("/openapi.json", openapi),
    Route("/runs", list_runs, methods=["GET"]),
    Route("/runs", start_run, methods=["POST"]),
    Route("/counts", count_runs, methods=["GET"]),
    Route("/runs/{run_id:path}/journal", run_journal, methods=["GET"]),
    Route("/runs/{run_id:path}/history", run_history, methods=["GET"]),
    Route("/runs/{run_id:path}/events", run_events, methods=["GET"]),
    Route("/runs/{run_id:path}/events", send_event, methods=["POST"]),
    Route("/runs/{run_id:path}/result", wait_result, methods=["GET"]),
    Route("/runs/{run_id:path}/{action:str}", control, methods=["POST"]),
    Route("/runs/{run_id:path}", get_run, methods=["GET"]),
]
