"""The schedules page and its API: each schedule's timing, next ticks, latest runs and counts,
with pause, resume and trigger (see docs/schedules.md for what they do)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..engine import Engine
from ..errors import FlowgenError
from .api import ApiError, endpoint, json_body
from .pages import error_page, flowgen_error, render

SCHEDULE_ACTIONS = ("pause", "resume", "trigger")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def apply_schedule_action(engine: Engine, name: str, action: str) -> str:
    """Pause, resume or trigger schedule ``name``; returns what happened, for the page."""
    if action == "pause":
        engine.schedules.pause(name)
        return "paused"
    if action == "resume":
        engine.schedules.resume(name)
        return "resumed"
    if action == "trigger":
        return f"triggered: run {engine.schedules.trigger(name).run_id}"
    raise ApiError("not_found", f"unknown schedule action {action!r}; one of {', '.join(SCHEDULE_ACTIONS)}")


async def schedules_page(request: Request) -> Response:
    """Every schedule with its timing, state and counts."""
    try:
        schedules = await run_in_threadpool(_engine(request).schedules.list)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(
        request, "schedules.html", schedules=schedules, message=request.query_params.get("message", "")
    )


async def schedule_page(request: Request) -> Response:
    """One schedule: next ticks, buffered ticks, latest runs and their outcomes."""
    name = request.path_params["name"]
    try:
        schedule = await run_in_threadpool(_engine(request).schedules.get, name)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(
        request,
        "schedule.html",
        schedule=schedule,
        actions=SCHEDULE_ACTIONS,
        message=request.query_params.get("message", ""),
    )


async def schedule_action(request: Request) -> Response:
    """Pause, resume or trigger from the schedule's page (the ``action`` field)."""
    name = request.path_params["name"]
    form = await request.form()
    action = str(form.get("action") or "")
    if action not in SCHEDULE_ACTIONS:
        return error_page(request, f"unknown action {action!r}; one of {', '.join(SCHEDULE_ACTIONS)}", 400)
    try:
        outcome = await run_in_threadpool(apply_schedule_action, _engine(request), name, action)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    target = f"{request.scope.get('root_path', '')}/schedules/{quote(name)}?{urlencode({'message': outcome})}"
    return RedirectResponse(target, status_code=303)


@endpoint
async def list_schedules(request: Request) -> JSONResponse:
    """``GET /schedules``: every schedule."""
    schedules = await run_in_threadpool(_engine(request).schedules.list)
    return JSONResponse({"schedules": [schedule.to_json() for schedule in schedules]})


@endpoint
async def get_schedule(request: Request) -> JSONResponse:
    """``GET /schedules/{name}``: one schedule with its next ticks and latest runs."""
    schedule = await run_in_threadpool(_engine(request).schedules.get, request.path_params["name"])
    return JSONResponse(schedule.to_json())


@endpoint
async def control_schedule(request: Request) -> JSONResponse:
    """``POST /schedules/{name}/{pause|resume|trigger}``: returns the schedule after the action."""
    await json_body(request)
    name = request.path_params["name"]
    engine = _engine(request)
    await run_in_threadpool(apply_schedule_action, engine, name, request.path_params["action"])
    schedule = await run_in_threadpool(engine.schedules.get, name)
    return JSONResponse(schedule.to_json())


page_routes = [
    Route("/schedules", schedules_page, methods=["GET"]),
    Route("/schedules/{name}/action", schedule_action, methods=["POST"]),
    Route("/schedules/{name}", schedule_page, methods=["GET"]),
]
api_routes = [
    Route("/schedules", list_schedules, methods=["GET"]),
    Route("/schedules/{name}/{action}", control_schedule, methods=["POST"]),
    Route("/schedules/{name}", get_schedule, methods=["GET"]),
]
