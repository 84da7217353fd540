"""The ``flowgen`` command: run workers, start and inspect runs, send events, export journals."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .serialization import dumps_json
from .status import RunStatus

URL_HELP = "engine URL (default: $FLOWGEN_URL, else sqlite:///flowgen.sqlite3)"


def _engine(args: argparse.Namespace, start_workers: bool = False) -> Any:
    from .engine import Engine
    from .worker import import_modules

    import_modules(getattr(args, "module", None) or [])
    return Engine(args.url, start_workers=start_workers, **_engine_options(args))


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    secret = os.environ.get("FLOWGEN_SECRET_KEY")
    if getattr(args, "serializer", None):
        options["serializer"] = args.serializer
    if secret:
        options["secret_key"] = secret
    if getattr(args, "lease_ttl", None):
        options["lease_ttl"] = args.lease_ttl
    if getattr(args, "grace", None) is not None:
        options["grace"] = args.grace
    if getattr(args, "reconcile_interval", None):
        options["reconcile_interval"] = args.reconcile_interval
    if getattr(args, "retention", None) is not None:
        options["retention"] = None if args.retention < 0 else args.retention
    return options


def _retention(text: str) -> float:
    """Parse ``--retention``: seconds, or ``none`` to keep finished runs forever (returned as -1)."""
    if text.strip().lower() in ("none", "forever"):
        return -1.0
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--retention takes seconds or 'none', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--retention must not be negative, got {text!r}")
    return value


def _print(value: Any) -> None:
    print(dumps_json(value) if not isinstance(value, str) else value)


def cmd_worker(args: argparse.Namespace) -> int:
    from .worker import configure_logging, run_worker_process, supervise

    configure_logging(args.log_level)
    if args.unsafe_redis:
        os.environ["FLOWGEN_UNSAFE_REDIS"] = args.unsafe_redis
    url = args.url or os.environ.get("FLOWGEN_URL")
    if not url:
        print("flowgen worker needs --url redis://... (or $FLOWGEN_URL)", file=sys.stderr)
        return 2
    if args.processes > 1:
        child = ["worker", *args.module, "--url", url, "--processes", "1", "--threads", str(args.threads)]
        child += ["--log-level", args.log_level]
        if args.queues:
            child += ["--queues", *args.queues]
        if args.serializer:
            child += ["--serializer", args.serializer]
        if args.lease_ttl:
            child += ["--lease-ttl", str(args.lease_ttl)]
        if args.grace is not None:
            child += ["--grace", str(args.grace)]
        if args.reconcile_interval:
            child += ["--reconcile-interval", str(args.reconcile_interval)]
        if args.retention is not None:
            child += ["--retention", "none" if args.retention < 0 else repr(args.retention)]
        if args.prefetch is not None:
            child += ["--prefetch", str(args.prefetch)]
        return supervise(child, args.processes)
    return run_worker_process(
        args.module,
        url,
        threads=args.threads,
        queues=args.queues,
        engine_options=_engine_options(args),
        prefetch=args.prefetch,
    )


def cmd_start(args: argparse.Namespace) -> int:
    engine = _engine(args)
    call_args = json.loads(args.args) if args.args else []
    call_kwargs = json.loads(args.kwargs) if args.kwargs else {}
    run = engine.start(args.workflow, *call_args, run_id=args.run_id, **call_kwargs)
    print(run.run_id)
    if args.wait is not None:
        _print(run.result(timeout=args.wait))
    return 0


def _info(info: Any) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "workflow": info.workflow,
        "status": info.status,
        "created": info.created.isoformat(),
        "updated": info.updated.isoformat(),
        "output": info.output,
        "error": None if info.error is None else {"type": info.error.type, "message": info.error.message},
        "waiting_for": list(info.waiting_for),
    }


def cmd_status(args: argparse.Namespace) -> int:
    engine = _engine(args)
    _print(_info(engine.get(args.run_id).status()))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    engine = _engine(args)
    for info in engine.runs(status=args.status, workflow=args.workflow, limit=args.limit):
        _print(_info(info))
    return 0


def cmd_send_event(args: argparse.Namespace) -> int:
    engine = _engine(args)
    payload = json.loads(args.payload) if args.payload else None
    delivered = engine.send_event(args.run_id, args.type, payload, event_id=args.event_id)
    print("delivered" if delivered else "duplicate (already delivered)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    engine = _engine(args)
    exported = engine.export(args.run_id)
    text = json.dumps(exported, indent=2, sort_keys=True)
    if args.output == "-":
        print(text)
    else:
        path = args.output or f"{args.run_id.replace('/', '_')}.journal.json"
        with open(path, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowgen", description="Durable workflows on Dramatiq and Redis.")
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run worker processes that advance runs")
    worker.add_argument("module", nargs="+", help="modules to import (they declare the workflows)")
    worker.add_argument("--url", help="a redis:// URL (default: $FLOWGEN_URL)")
    worker.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    worker.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    worker.add_argument("--queues", nargs="*", help="Dramatiq queues to consume (default: all declared)")
    worker.add_argument("--log-level", default="INFO")
    worker.add_argument(
        "--unsafe-redis", choices=("warn", "refuse", "ignore"), help="what to do on unsafe Redis settings"
    )
    worker.add_argument("--serializer", choices=("json", "pickle"))
    worker.add_argument("--lease-ttl", type=float, help="seconds a lease lasts without renewal (default 10)")
    worker.add_argument(
        "--grace",
        type=float,
        help="seconds before a ready run that did not start is enqueued again (default 15)",
    )
    worker.add_argument(
        "--reconcile-interval", type=float, help="seconds between reconciler passes (default 2)"
    )
    worker.add_argument(
        "--retention",
        type=_retention,
        help="seconds finished runs are kept before their keys expire, or 'none' to keep them (default 7 days)",
    )
    worker.add_argument(
        "--prefetch",
        type=int,
        help="messages each process fetches ahead of its threads (default: 2 per thread)",
    )
    worker.set_defaults(handler=cmd_worker)

    def with_url(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--url", help=URL_HELP)
        p.add_argument("-m", "--module", action="append", help="import this module first (repeatable)")
        p.add_argument("--serializer", choices=("json", "pickle"))
        return p

    start = with_url(sub.add_parser("start", help="start a run"))
    start.add_argument("workflow")
    start.add_argument("--args", help="JSON list of positional arguments")
    start.add_argument("--kwargs", help="JSON object of keyword arguments")
    start.add_argument("--run-id")
    start.add_argument("--wait", type=float, help="wait this many seconds for the result and print it")
    start.set_defaults(handler=cmd_start)

    status = with_url(sub.add_parser("status", help="show a run"))
    status.add_argument("run_id")
    status.set_defaults(handler=cmd_status)

    runs = with_url(sub.add_parser("runs", help="list runs"))
    runs.add_argument("--status", choices=[status.value for status in RunStatus])
    runs.add_argument("--workflow")
    runs.add_argument("--limit", type=int, default=50)
    runs.set_defaults(handler=cmd_runs)

    send = with_url(sub.add_parser("send-event", help="send an event to a run"))
    send.add_argument("run_id")
    send.add_argument("type")
    send.add_argument("--payload", help="JSON payload")
    send.add_argument("--event-id", help="makes delivery idempotent")
    send.set_defaults(handler=cmd_send_event)

    export = with_url(
        sub.add_parser("export", help="write a run's journal to a JSON file (for verify_replay)")
    )
    export.add_argument("run_id")
    export.add_argument(
        "-o", "--output", help="file to write ('-' for stdout; default <run id>.journal.json)"
    )
    export.set_defaults(handler=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .errors import FlowgenError

    try:
        return int(args.handler(args))
    except FlowgenError as error:
        print(f"flowgen: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
