"""``flowgen verify``: would the current code still replay these runs? (the check before a deploy)

A front end to :func:`flowgen.testing.verify_runs`: exported journal files given as arguments,
or the runs in flight in the store (those created in the last ``--since`` if given), replayed
against the workflows of the imported modules. Exit 0 when every run replays; 1 naming every
run that would hit a ``NonDeterminismError`` (or whose workflow the modules no longer declare)
when it next resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ..durations import parse_duration
from . import output
from .common import FAILED, OK, UsageError, add_store_options, import_modules, open_engine


def cmd_verify(args: argparse.Namespace) -> int:
    from ..testing.verify_runs import verify_runs

    if not args.module:
        raise UsageError("flowgen verify needs -m MODULE: the modules that declare the workflows to check")
    if args.files and (args.url or args.since or args.workflow or args.all):
        raise UsageError(
            "give journal files or select live runs (--url, --since, --workflow, --all), not both"
        )
    for path in args.files:
        if not os.path.isfile(path):
            raise UsageError(f"no such journal file {path!r} (write one with `flowgen export RUN_ID`)")
    since = None
    if args.since is not None:
        try:
            since = time.time() - parse_duration(args.since, what="--since")
        except ValueError as error:
            raise UsageError(str(error)) from None
    import_modules(args.module)
    engine = None if args.files else open_engine(args)
    try:
        checks = verify_runs(
            engine,
            files=args.files,
            workflow=args.workflow,
            created_after=since,
            include_finished=args.all,
            secret_key=os.environ.get("FLOWGEN_SECRET_KEY"),
        )
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from None
    results: list[dict[str, Any]] = [
        {
            "source": check.source,
            "run_id": check.run_id,
            "workflow": check.workflow,
            "ok": check.ok,
            "error": None if check.error is None else f"{type(check.error).__name__}: {check.error}",
            "position": getattr(check.error, "position", None) if check.error else check.positions,
        }
        for check in checks
    ]
    failures = [item for item in results if not item["ok"]]
    if args.json:
        output.emit({"checked": len(results), "failed": len(failures), "results": results})
    else:
        for item in results:
            if item["ok"]:
                print(f"ok       {item['run_id']} ({item['workflow']}, {item['position']} entries replayed)")
            else:
                print(
                    f"{output.paint('FAILS', 'failed')}    {item['run_id']} ({item['workflow']}): {item['error']}"
                )
        summary = f"{len(results)} run(s) checked, {len(failures)} would fail to replay"
        print(summary if results else "no runs to check", file=sys.stderr)
    return FAILED if failures else OK


def register(sub: Any) -> None:
    """Add ``verify`` to the ``flowgen`` parser."""
    verify = add_store_options(
        sub.add_parser("verify", help="check that the current code still replays journals or live runs")
    )
    verify.add_argument("files", nargs="*", metavar="JOURNAL", help="exported journal files (flowgen export)")
    verify.add_argument("--since", metavar="DURATION", help="live runs created in the last DURATION (24h)")
    verify.add_argument("--workflow", help="live runs of this workflow only")
    verify.add_argument("--all", action="store_true", help="also finished runs (default: runs in flight)")
    verify.set_defaults(handler=cmd_verify)
