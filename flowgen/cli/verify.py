"""``flowgen verify``: would the current code still replay these runs? (the check before a deploy)

It replays, with :func:`flowgen.testing.verify_replay`, exported journal files given as
arguments, or the runs in flight in the store (those created in the last ``--since`` if given),
against the workflows of the imported modules. Exit 0 when every run replays; 1 naming every
run that would hit a ``NonDeterminismError`` (or whose workflow the modules do not declare)
when it next resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from ..durations import parse_duration
from ..errors import NonDeterminismError, WorkflowNotFoundError
from ..search import build_query
from ..status import FINISHED, RunStatus
from . import output
from .common import FAILED, OK, UsageError, add_store_options, import_modules, open_engine


def _documents(args: argparse.Namespace) -> Iterator[tuple[str, Any]]:
    """``(label, exported document or path)`` of every run to check."""
    if args.files:
        for path in args.files:
            if not os.path.isfile(path):
                raise UsageError(f"no such journal file {path!r} (write one with `flowgen export RUN_ID`)")
            yield path, path
        return
    engine = open_engine(args)
    statuses = [s.value for s in RunStatus if s not in FINISHED] if not args.all else None
    since = None
    if args.since is not None:
        try:
            since = time.time() - parse_duration(args.since, what="--since")
        except ValueError as error:
            raise UsageError(str(error)) from None
    query = build_query(status=statuses, workflow=args.workflow, created_after=since, limit=None)
    for run_id in engine.select(query):
        yield run_id, engine.export(run_id)


def cmd_verify(args: argparse.Namespace) -> int:
    from ..testing.replay import load_export, verify_replay

    if not args.module:
        raise UsageError("flowgen verify needs -m MODULE: the modules that declare the workflows to check")
    if args.files and (args.url or args.since or args.workflow or args.all):
        raise UsageError(
            "give journal files or select live runs (--url, --since, --workflow, --all), not both"
        )
    import_modules(args.module)
    secret = os.environ.get("FLOWGEN_SECRET_KEY")
    results: list[dict[str, Any]] = []
    for label, exported in _documents(args):
        try:
            document = load_export(exported)
        except (OSError, ValueError) as error:
            raise UsageError(f"{label}: {error}") from None
        item: dict[str, Any] = {
            "source": label,
            "run_id": document["run_id"],
            "workflow": document["workflow"],
        }
        try:
            checked = verify_replay(document["workflow"], document, secret_key=secret)
        except NonDeterminismError as error:
            item.update(ok=False, error=f"NonDeterminismError: {error}", position=error.position)
        except WorkflowNotFoundError as error:
            item.update(ok=False, error=f"WorkflowNotFoundError: {error}", position=None)
        else:
            item.update(ok=True, error=None, position=checked.positions)
        results.append(item)
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
