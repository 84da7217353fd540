"""The commands that start runs and read them: start, status, runs, result, history, events,
send-event, export."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from ..durations import format_duration
from ..errors import ConfigurationError, ResultTimeoutError, WorkflowCancelledError, WorkflowFailedError
from ..search import build_query, parse_tag
from . import output
from .common import (
    FAILED,
    OK,
    USAGE,
    UsageError,
    add_filter_options,
    add_store_options,
    filters,
    json_argument,
    open_engine,
)


def cmd_start(args: argparse.Namespace) -> int:
    call_args = json_argument(args.args, "--args", list, [])
    call_kwargs = json_argument(args.kwargs, "--kwargs", dict, {})
    try:
        tags = dict(parse_tag(text) for text in args.tag or ())
    except ValueError as error:
        raise UsageError(str(error)) from None
    engine = open_engine(args, create=True)
    run = engine.start(args.workflow, *call_args, run_id=args.run_id, tags=tags or None, **call_kwargs)
    print(run.run_id)
    if args.wait is not None:
        value = run.result(timeout=args.wait)
        if args.json:
            output.emit(value)
        else:
            print(output.value_text(value))
    return OK


def cmd_status(args: argparse.Namespace) -> int:
    info = open_engine(args).status(args.run_id)
    if args.json:
        output.emit(output.info_json(info))
    else:
        output.show_info(info)
    return OK


def _page_arguments(args: argparse.Namespace) -> dict[str, Any]:
    if args.limit < 1:
        raise UsageError(f"--limit must be a whole number >= 1, got {args.limit}")
    if args.offset < 0:
        raise UsageError(f"--offset must be a whole number >= 0, got {args.offset}")
    if args.cursor is not None and args.offset:
        raise UsageError("pass either --cursor or --offset, not both")
    return {"limit": args.limit, "offset": args.offset, "cursor": args.cursor}


def cmd_runs(args: argparse.Namespace) -> int:
    page = _page_arguments(args)
    selection = filters(args)
    try:
        build_query(**selection, **page)  # every check before the store is opened
    except ValueError as error:
        raise UsageError(str(error)) from None
    engine = open_engine(args)
    if args.count:
        counts = engine.count(**selection)
        total = sum(counts.values())
        if args.json:
            output.emit({"counts": counts, "total": total})
        else:
            output.table(
                ["status", "runs"],
                [[status, str(n)] for status, n in sorted(counts.items())] + [["total", str(total)]],
                colored=0,
            )
        return OK
    runs = engine.runs(**selection, **page)
    if args.json:
        output.emit({"runs": [output.info_json(info) for info in runs], "next_cursor": runs.next_cursor})
        return OK
    rows = [
        [
            info.run_id,
            info.workflow,
            str(info.status),
            output.local_time(info.created),
            format_duration(
                None if info.finished is None else (info.finished - info.created).total_seconds()
            ),
            output.tags_text(info.tags),
        ]
        for info in runs
    ]
    if not rows:
        print("no runs match", file=sys.stderr)
        return OK
    output.table(["run id", "workflow", "status", "created", "took", "tags"], rows, colored=2)
    if runs.next_cursor:
        again = [arg for arg in sys.argv[1:] if arg] if sys.argv[1:2] == ["runs"] else ["runs"]
        print(
            f"\nnext page: flowgen {shlex.join(_without_cursor(again))} --cursor {runs.next_cursor}",
            file=sys.stderr,
        )
    return OK


def _without_cursor(arguments: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
            continue
        if argument == "--cursor":
            skip = True
            continue
        if argument.startswith("--cursor="):
            continue
        kept.append(argument)
    return kept


def cmd_result(args: argparse.Namespace) -> int:
    """Exit 0 completed (output printed), 1 failed or cancelled (error on stderr), 2 anything else."""
    if args.timeout is not None and args.timeout < 0:
        raise UsageError(f"--timeout must be 0 or more seconds, got {args.timeout}")
    engine = open_engine(args)
    try:
        value = engine.result(args.run_id, timeout=args.timeout)
    except (WorkflowFailedError, WorkflowCancelledError) as error:
        info = engine.status(args.run_id)
        recorded = output.info_json(info)["error"]
        if args.json:
            output.emit(
                {"run_id": args.run_id, "status": str(info.status), "output": None, "error": recorded}
            )
        reason = output.error_line(recorded) if recorded else str(error)
        print(f"flowgen: run {args.run_id} {info.status}: {reason}", file=sys.stderr)
        return FAILED
    except ResultTimeoutError as error:
        print(f"flowgen: error: {error}", file=sys.stderr)
        return USAGE
    if args.json:
        output.emit({"run_id": args.run_id, "status": "completed", "output": value, "error": None})
    else:
        print(output.value_text(value))
    return OK


def _attempt_lines(attempts: list[dict[str, Any]], indent: str) -> None:
    for attempt in attempts:
        line = (
            f"{indent}attempt {attempt['number']}  {output.paint(str(attempt['status']), 'failed' if attempt['error'] else 'completed')}"
            f"  {output.local_time(attempt['started'], relative=False)}  took {format_duration(attempt['duration'])}"
        )
        print(line)
        if attempt["error"]:
            print(f"{indent}  {output.error_line(attempt['error'])}")
            for text in (attempt["error"].get("traceback") or "").rstrip().splitlines():
                print(f"{indent}  | {text}")


def _entry_lines(item: dict[str, Any], indent: str = "  ") -> None:
    head = f"{indent}#{item['position']:<3} {item['kind']:<8} {item['name']!r:<24} {output.paint(item['status'], item['status'])}"
    if item.get("started"):
        head += f"  {output.local_time(item['started'], relative=False)}"
    if item.get("duration") is not None:
        head += f"  took {format_duration(item['duration'])}"
    print(head)
    for key, label in (("due", "due"), ("deadline", "deadline")):
        if item.get(key):
            print(f"{indent}     {label} {output.local_time(item[key])}")
    if item.get("event_type") and item["kind"] == "event":
        print(
            f"{indent}     waits for event {item['event_type']!r}"
            + (f", received {item['event_id']!r}" if item.get("event_id") else "")
        )
    if item.get("child"):
        print(f"{indent}     child run {item['child']}")
    if item.get("next_attempt"):
        print(f"{indent}     next attempt {output.local_time(item['next_attempt'])}")
    _attempt_lines(item.get("attempts") or [], indent + "     ")
    if item.get("error"):
        print(f"{indent}     error: {output.error_line(item['error'])}")
        for text in (item["error"].get("traceback") or "").rstrip().splitlines():
            print(f"{indent}     | {text}")
    for branch in item.get("branches") or []:
        _entry_lines(
            {**branch, "position": branch["path"], "started": None, "duration": None}, indent + "     "
        )


def cmd_history(args: argparse.Namespace) -> int:
    view = open_engine(args).timeline(args.run_id)
    if args.json:
        output.emit(view)
        return OK
    for old in view["previous_generations"]:
        print(
            f"generation {old['generation']} (ended {old['status']}, archived by {old['ended_by']} {output.local_time(old['archived'])})"
        )
        for item in old["entries"]:
            _entry_lines(item)
        print()
    print(
        f"run {view['run_id']} of {view['workflow']}: {output.paint(view['status'], view['status'])}, generation {view['generation']}"
    )
    print(
        f"  created {output.local_time(view['created'])}"
        + (f", finished after {format_duration(view['duration'])}" if view["finished"] else "")
    )
    if not view["entries"]:
        print("  (nothing journaled yet)")
    for item in view["entries"]:
        _entry_lines(item)
    if view["error"]:
        print(f"  run error: {output.error_line(view['error'])} (traceback: flowgen status {view['run_id']})")
    return OK


def cmd_events(args: argparse.Namespace) -> int:
    events = open_engine(args).events(args.run_id)
    if args.json:
        output.emit({"run_id": args.run_id, "events": events})
        return OK
    if not events:
        print(f"no buffered events for run {args.run_id}", file=sys.stderr)
        return OK
    output.table(
        ["type", "event id", "sent", "payload"],
        [
            [e["type"], e["id"], output.local_time(e["sent"]), output.value_text(e["payload"])[:80]]
            for e in events
        ],
    )
    return OK


def cmd_send_event(args: argparse.Namespace) -> int:
    if not args.type:
        raise UsageError("the event type must not be empty")
    payload = json_argument(args.payload, "--payload", object, None)
    engine = open_engine(args)
    delivered = engine.send_event(args.run_id, args.type, payload, event_id=args.event_id)
    if args.json:
        output.emit({"run_id": args.run_id, "delivered": delivered})
    else:
        print("delivered" if delivered else "duplicate (already delivered)")
    return OK


def cmd_export(args: argparse.Namespace) -> int:
    exported = open_engine(args).export(args.run_id)
    text = json.dumps(exported, indent=2, sort_keys=True)
    if args.output == "-":
        print(text)
        return OK
    path = args.output or f"{args.run_id.replace('/', '_')}.journal.json"
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    except OSError as error:
        raise ConfigurationError(f"cannot write the export to {path!r}: {error.strerror or error}") from None
    print(path)
    return OK


def register(sub: Any) -> None:
    """Add this module's commands to the ``flowgen`` parser."""
    start = add_store_options(sub.add_parser("start", help="start a run"))
    start.add_argument("workflow")
    start.add_argument("--args", help="a JSON array of positional arguments, such as '[1, \"two\"]'")
    start.add_argument("--kwargs", help="a JSON object of keyword arguments, such as '{\"n\": 1}'")
    start.add_argument("--run-id")
    start.add_argument("--tag", action="append", metavar="KEY=VALUE", help="a searchable tag (repeatable)")
    start.add_argument("--wait", type=float, help="wait this many seconds for the result and print it")
    start.set_defaults(handler=cmd_start)

    status = add_store_options(sub.add_parser("status", help="show a run"))
    status.add_argument("run_id")
    status.set_defaults(handler=cmd_status)

    runs = add_store_options(sub.add_parser("runs", help="list or count runs, newest first"))
    add_filter_options(runs)
    runs.add_argument("--limit", type=int, default=50, help="runs per page (default 50)")
    runs.add_argument("--offset", type=int, default=0, help="matching runs to skip (prefer --cursor)")
    runs.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    runs.add_argument("--count", action="store_true", help="count the matching runs by status instead")
    runs.set_defaults(handler=cmd_runs)

    result = add_store_options(
        sub.add_parser("result", help="wait for a run and print its output (exit 0/1/2)")
    )
    result.add_argument("run_id")
    result.add_argument("--timeout", type=float, help="seconds to wait (default: as long as it takes)")
    result.set_defaults(handler=cmd_result, result_codes=True)

    history = add_store_options(sub.add_parser("history", help="a run's timeline: every step, attempt, wait"))
    history.add_argument("run_id")
    history.set_defaults(handler=cmd_history)

    events = add_store_options(sub.add_parser("events", help="a run's buffered events (its inbox)"))
    events.add_argument("run_id")
    events.set_defaults(handler=cmd_events)

    send = add_store_options(sub.add_parser("send-event", help="send an event to a run"))
    send.add_argument("run_id")
    send.add_argument("type")
    send.add_argument("--payload", help="JSON payload")
    send.add_argument("--event-id", help="makes delivery idempotent")
    send.set_defaults(handler=cmd_send_event)

    export = add_store_options(
        sub.add_parser("export", help="write a run's journal to a JSON file (for verify)"), json_output=False
    )
    export.add_argument("run_id")
    export.add_argument(
        "-o", "--output", help="file to write ('-' for stdout; default <run id>.journal.json)"
    )
    export.set_defaults(handler=cmd_export)
