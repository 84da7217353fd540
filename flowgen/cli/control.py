"""The commands that change runs: cancel, pause, resume, retry, restart (one run, several, or
every run a filter selects, with a count and a confirmation), and purge."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..errors import FlowgenError, StoreUnavailableError
from ..search import build_query
from ..status import FINISHED, RunStatus
from . import output
from .common import (
    FAILED,
    OK,
    UsageError,
    add_filter_options,
    add_store_options,
    confirm,
    filters,
    has_filters,
    open_engine,
)

UNFINISHED = [status.value for status in RunStatus if status not in FINISHED]

ACTIONS: dict[str, tuple[str, list[str] | None, str]] = {
    # command: (past tense, the statuses a filter selects by default, help)
    "cancel": ("cancelled", UNFINISHED, "cancel runs (cleanup code runs; --force: end at once)"),
    "pause": ("paused", UNFINISHED, "pause runs after their current step"),
    "resume": ("resumed", ["paused"], "resume paused runs"),
    "retry": ("retried", ["failed"], "resume failed runs from the step that failed"),
    "restart": ("restarted", None, "run workflows again from the beginning, under the same run ids"),
}


def _apply(engine: Any, command: str, force: bool) -> Callable[[str], Any]:
    if command == "cancel":
        return lambda run_id: engine.cancel(run_id, force=force)
    method: Callable[[str], Any] = getattr(engine, command)
    return method


def _targets(args: argparse.Namespace, engine: Any, default_statuses: list[str] | None) -> list[str]:
    if args.run_ids and has_filters(args):
        raise UsageError("name runs by id or select them with filters (--workflow, --status, ...), not both")
    if args.run_ids:
        return list(dict.fromkeys(args.run_ids))
    selection = filters(args)
    if selection["status"] is None:
        selection["status"] = default_statuses
    query = build_query(**selection, limit=args.limit)
    return list(engine._select(query))


def cmd_control(args: argparse.Namespace) -> int:
    done, default_statuses, _ = ACTIONS[args.command]
    if not args.run_ids and not has_filters(args):
        raise UsageError(
            f"flowgen {args.command} needs run ids, or filters that select runs (--workflow, --status, --tag, "
            "--older-than, ...)"
        )
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be a whole number >= 1, got {args.limit}")
    engine = open_engine(args)
    targets = _targets(args, engine, default_statuses)
    if not args.run_ids:
        if not targets:
            print(f"no runs match; nothing was {done}", file=sys.stderr)
            if args.json:
                output.emit({"action": args.command, "selected": 0, "results": []})
            return OK
        confirm(f"{args.command} {{count}} run(s)", len(targets), args.yes)
    act = _apply(engine, args.command, getattr(args, "force", False))
    results: list[dict[str, Any]] = []
    for run_id in targets:
        try:
            act(run_id)
            info = engine.status(run_id)
            results.append({"run_id": run_id, "ok": True, "status": str(info.status), "error": None})
        except StoreUnavailableError:
            raise  # not this run's problem: nothing further can be done (exit status 3)
        except FlowgenError as error:
            results.append(
                {"run_id": run_id, "ok": False, "status": None, "error": f"{type(error).__name__}: {error}"}
            )
    failures = [item for item in results if not item["ok"]]
    if args.json:
        output.emit({"action": args.command, "selected": len(targets), "results": results})
    else:
        for item in results:
            if item["ok"]:
                print(f"{item['run_id']}: {done} (now {output.paint(item['status'], item['status'])})")
            else:
                print(f"flowgen: error: {item['run_id']}: {item['error']}", file=sys.stderr)
        if len(targets) > 1:
            print(f"{len(results) - len(failures)} of {len(targets)} run(s) {done}", file=sys.stderr)
    return FAILED if failures else OK


def cmd_purge(args: argparse.Namespace) -> int:
    if not args.older_than:
        raise UsageError("flowgen purge needs --older-than DURATION, such as 30d")
    # --older-than means the finish time here: the other filters are read without it.
    selection = filters(argparse.Namespace(**{**vars(args), "older_than": None}))
    engine = open_engine(args)
    try:
        candidates = engine.purge(
            args.older_than,
            dry_run=True,
            workflow=selection["workflow"],
            status=selection["status"],
            tags=selection["tags"],
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.dry_run:
        if args.json:
            output.emit({"dry_run": True, "runs": candidates, "count": len(candidates)})
        else:
            for run_id in candidates:
                print(run_id)
            print(
                f"{len(candidates)} finished run(s) would be purged (dry run: nothing deleted)",
                file=sys.stderr,
            )
        return OK
    confirm("purge {count} finished run(s) and everything stored about them", len(candidates), args.yes)
    before = engine.clock.now() - _seconds(args.older_than)
    deleted = engine.store.purge_runs(candidates, before) if candidates else []
    if args.json:
        output.emit({"dry_run": False, "runs": deleted, "count": len(deleted)})
    else:
        print(f"purged {len(deleted)} finished run(s)")
    return OK


def _seconds(text: str) -> float:
    from ..durations import parse_duration

    return parse_duration(text, what="--older-than")


def register(sub: Any) -> None:
    """Add this module's commands to the ``flowgen`` parser."""
    for command, (_, default_statuses, help_text) in ACTIONS.items():
        parser = add_store_options(sub.add_parser(command, help=help_text))
        parser.add_argument(
            "run_ids", nargs="*", metavar="RUN_ID", help="runs to act on (or select them with filters)"
        )
        add_filter_options(parser)
        default = "any status" if default_statuses is None else ", ".join(default_statuses)
        parser.add_argument(
            "--limit", type=int, help=f"act on at most this many selected runs (filters select: {default})"
        )
        parser.add_argument(
            "-y", "--yes", action="store_true", help="do not ask before acting on selected runs"
        )
        if command == "cancel":
            parser.add_argument("--force", action="store_true", help="end the runs at once, without cleanup")
        parser.set_defaults(handler=cmd_control)

    purge = add_store_options(sub.add_parser("purge", help="delete finished runs older than a duration"))
    purge.add_argument("--older-than", metavar="DURATION", help="finished more than DURATION ago (30d)")
    purge.add_argument("--workflow")
    purge.add_argument(
        "--status", action="append", help="completed, failed or cancelled (default: all three)"
    )
    purge.add_argument("--tag", action="append", metavar="KEY=VALUE")
    purge.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask before deleting")
    purge.set_defaults(
        handler=cmd_purge,
        parent=None,
        created_after=None,
        created_before=None,
        finished_after=None,
        finished_before=None,
    )
