"""The HTML pages: runs, a run, workers, summary, and the forms behind their actions.

Pages are rendered on the server with Jinja2, which escapes every value (run ids, tags,
payloads, error messages and tracebacks are user data). The little JavaScript in
``static/app.js`` only refreshes fragments and asks for confirmations; every page works without it.
Forms that change state carry the CSRF value (see :mod:`.security`) and are refused in read-only
mode.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..durations import format_duration
from ..engine import Engine
from ..errors import FlowgenError
from . import listing, summary, views, workers
from .api import ACTIONS, ERROR_CODES, apply_action, code_of
from .security import CSRF_COOKIE, CSRF_FIELD

TEMPLATES = Path(__file__).resolve().parent / "templates"
BULK_LIMIT = 10_000
"""The most runs one bulk action applies to (the confirmation says so when more match)."""

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value is escaped unless a template says otherwise (none does)
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["duration"] = format_duration
environment.filters["pretty"] = views.as_json_text
environment.filters["clock"] = views.clock
environment.globals["urlencode"] = urlencode


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with what every page needs (CSRF value, read-only flag, path)."""
    security = request.app.state.security
    body = environment.get_template(template).render(
        csrf=request.cookies.get(CSRF_COOKIE) or request.scope.get("flowgen_csrf", ""),
        csrf_field=CSRF_FIELD,
        read_only=security.read_only,
        path=request.url.path,
        root=request.scope.get("root_path", ""),
        **context,
    )
    return HTMLResponse(body, status_code=status_code)


def error_page(request: Request, message: str, status_code: int) -> HTMLResponse:
    """A page that says what went wrong and links back."""
    return render(request, "error.html", status_code=status_code, message=message)


def flowgen_error(request: Request, error: Exception) -> HTMLResponse:
    """The error page for an engine error (re-raised when it is not one the API names)."""
    code = code_of(error)
    if code is None:
        raise error
    return error_page(request, str(error), ERROR_CODES[code])


async def runs_page(request: Request) -> Response:
    """The runs table with filters, counts by status and bulk actions."""
    engine = _engine(request)
    try:
        filters = listing.Filters.from_query(request.query_params, request.query_params.getlist("tag"))
        page = await run_in_threadpool(listing.page, engine, filters)
        counts = await run_in_threadpool(listing.counts, engine, listing.Filters(workflow=filters.workflow))
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(
        request,
        "runs.html",
        filters=filters,
        page=page,
        counts=counts,
        now=time.time(),
        message=request.query_params.get("message", ""),
        actions=ACTIONS,
    )


async def runs_rows(request: Request) -> Response:
    """The runs table's rows alone, for the page's live refresh."""
    engine = _engine(request)
    try:
        filters = listing.Filters.from_query(request.query_params, request.query_params.getlist("tag"))
        page = await run_in_threadpool(listing.page, engine, filters)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(request, "run_rows.html", page=page, now=time.time())


async def run_page(request: Request) -> Response:
    """One run: state, why it is not moving, timeline, inputs/output, errors, events, generations."""
    run_id = request.path_params["run_id"]
    try:
        context = await run_in_threadpool(_run_context, _engine(request), run_id)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(
        request, "run.html", message=request.query_params.get("message", ""), actions=ACTIONS, **context
    )


async def run_live(request: Request) -> Response:
    """The live part of a run's page (state, reasons, timeline), for its refresh."""
    run_id = request.path_params["run_id"]
    try:
        context = await run_in_threadpool(_run_context, _engine(request), run_id)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(request, "run_live.html", **context)


def _run_context(engine: Engine, run_id: str) -> dict[str, Any]:
    info = engine.status(run_id)
    now = time.time()
    record = engine.store.get_run_or_raise(run_id)
    open_entry = json.loads(record.open) if record.open else None
    journal = engine.journal(run_id)
    return {
        "info": info,
        "now": now,
        "duration": views.run_duration(info, now),
        "reasons": views.why_not_moving(engine, info, now),
        "timeline": views.timeline(journal, open_entry, now),
        "inputs": views.inputs(engine, run_id),
        "events": engine.events(run_id),
        "generations": engine.history(run_id),
        "children": engine.store.children(run_id),
    }


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


def _back(url: str, message: str) -> RedirectResponse:
    separator = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{separator}{urlencode({'message': message})}", status_code=303)


async def run_action(request: Request) -> Response:
    """A control action from a run's page (``action`` and ``force`` fields)."""
    run_id = request.path_params["run_id"]
    form = await _form(request)
    action = form.get("action", "")
    if action not in ACTIONS:
        return error_page(request, f"unknown action {action!r}; one of {', '.join(ACTIONS)}", 400)
    force = form.get("force") == "yes"
    try:
        await run_in_threadpool(apply_action, _engine(request), run_id, action, force)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    label = "force cancel" if action == "cancel" and force else action
    return _back(f"{request.scope.get('root_path', '')}/runs/{run_id}", f"{label}: done")


async def run_send_event(request: Request) -> Response:
    """Send an event from a run's page; the payload field must be JSON (empty: no payload)."""
    run_id = request.path_params["run_id"]
    form = await _form(request)
    event_type = form.get("type", "").strip()
    if not event_type:
        return error_page(request, 'the event type is required, such as "paid"', 400)
    text = form.get("payload", "").strip()
    try:
        payload = json.loads(text) if text else None
    except ValueError as error:
        return error_page(request, f"the payload is not valid JSON: {error}", 400)
    engine = _engine(request)
    try:
        delivered = await run_in_threadpool(
            lambda: engine.send_event(run_id, event_type, payload, event_id=form.get("event_id") or None)
        )
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    outcome = "delivered" if delivered else "already delivered (same event id)"
    return _back(f"{request.scope.get('root_path', '')}/runs/{run_id}", f"event {event_type!r}: {outcome}")


async def bulk_action(request: Request) -> Response:
    """A control action on every run of the filtered set: asks to confirm, then applies it."""
    submitted = await request.form()
    form = {key: str(value) for key, value in submitted.items()}
    action = form.get("action", "")
    if action not in ACTIONS:
        return error_page(request, f"unknown action {action!r}; one of {', '.join(ACTIONS)}", 400)
    engine = _engine(request)
    tags = [str(tag) for tag in submitted.getlist("tag")]
    try:
        filters = listing.Filters.from_query({**form, "limit": str(listing.MAX_LIMIT), "cursor": ""}, tags)
        targets = await run_in_threadpool(_all_matching, engine, filters)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    if form.get("confirm") != "yes":
        return render(
            request, "confirm_bulk.html", action=action, filters=filters, count=len(targets), limit=BULK_LIMIT
        )
    done, failed = await run_in_threadpool(_apply_all, engine, targets, action)
    message = f"{action}: {done} run{'s' if done != 1 else ''} done" + (
        f", {len(failed)} refused" if failed else ""
    )
    if failed:
        message += " (" + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else "") + ")"
    query = urlencode([*filters.query(limit=listing.DEFAULT_LIMIT, cursor=None), ("message", message)])
    return RedirectResponse(f"{request.scope.get('root_path', '')}/runs?{query}", status_code=303)


def _all_matching(engine: Engine, filters: listing.Filters) -> list[str]:
    run_ids: list[str] = []
    current = filters
    while len(run_ids) < BULK_LIMIT:
        found = listing.page(engine, current)
        run_ids += [info.run_id for info in found.runs]
        if found.next_cursor is None:
            break
        current = attrs.evolve(current, cursor=found.next_cursor)
    return run_ids[:BULK_LIMIT]


def _apply_all(engine: Engine, run_ids: list[str], action: str) -> tuple[int, list[str]]:
    done, failed = 0, []
    for run_id in run_ids:
        try:
            apply_action(engine, run_id, action)
            done += 1
        except (FlowgenError, ValueError) as error:
            failed.append(f"{run_id}: {error}")
    return done, failed


async def workers_page(request: Request) -> Response:
    """Live workers (heartbeats, queues), their leases and the queue backlog."""
    engine = _engine(request)
    try:
        report = await run_in_threadpool(workers.report, engine)
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(request, "workers.html", report=report, now=time.time())


async def summary_page(request: Request) -> Response:
    """Counts by status, and throughput and failure rate over the last hour."""
    engine = _engine(request)
    try:
        report = await run_in_threadpool(summary.report, engine, time.time())
    except (FlowgenError, ValueError) as error:
        return flowgen_error(request, error)
    return render(request, "summary.html", report=report)


async def home(request: Request) -> Response:
    """``/`` goes to the runs page."""
    return RedirectResponse(f"{request.scope.get('root_path', '')}/runs", status_code=307)


routes = [
    Route("/", home),
    Route("/runs", runs_page, methods=["GET"]),
    Route("/runs/rows", runs_rows, methods=["GET"]),
    Route("/runs/bulk", bulk_action, methods=["POST"]),
    Route("/workers", workers_page, methods=["GET"]),
    Route("/summary", summary_page, methods=["GET"]),
    Route("/runs/{run_id:path}/live", run_live, methods=["GET"]),
    Route("/runs/{run_id:path}/action", run_action, methods=["POST"]),
    Route("/runs/{run_id:path}/event", run_send_event, methods=["POST"]),
    Route("/runs/{run_id:path}", run_page, methods=["GET"]),
]
