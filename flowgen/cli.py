"""The ``flowgen`` command: run workers, start and inspect runs, send events, export journals.

Every failure a user can cause (bad input, an unknown module or run, a store that cannot be
reached, a file that cannot be written) ends the command with one line on stderr,
``flowgen: error: ...``, and a non-zero status: 2 for a command line that cannot be used, 1 for
an operation that failed. No traceback reaches the user unless ``FLOWGEN_DEBUG=1`` asks for one
(see docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .errors import ConfigurationError, FlowgenError
from .observability.serving import SUPERVISED_OPTION, check_host, check_port
from .serialization import dumps_json
from .status import RunStatus
from .urls import mask_url, require_redis_url
from .validation import check_count, check_seconds
from .versions import check_version

URL_HELP = "engine URL (default: $FLOWGEN_URL, else sqlite:///flowgen.sqlite3)"

USAGE = 2
"""Exit status of a command line that cannot be used (argparse's own)."""

FAILED = 1
"""Exit status of an operation that failed."""


class UsageError(Exception):
    """A command line that parsed but cannot be used (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in flowgen's one-line form instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"flowgen: error: {message} (see `{self.prog} --help`)\n")


JSON_KINDS: dict[type, str] = {
    list: "a JSON array, such as '[1, \"two\"]'",
    dict: "a JSON object, such as '{\"n\": 1}'",
    object: "any JSON value, such as '{\"carrier\": \"DHL\"}' or '42'",
}
JSON_NAMES = {list: "array", dict: "object", str: "string", int: "number", float: "number", bool: "boolean"}


def _json_argument(text: str | None, option: str, kind: type, default: Any) -> Any:
    """Parse a JSON option whose value must be a ``kind`` (``list``, ``dict`` or ``object``: anything).

    ``--args '{"n": 1}'`` would otherwise unpack into ``["n"]`` and ``--args '"12"'`` into
    ``["1", "2"]``: the shape is checked, not coerced.
    """
    if text is None:
        return default
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{option} is not valid JSON ({error}); it takes {JSON_KINDS[kind]}") from None
    if not isinstance(value, kind):
        found = "null" if value is None else JSON_NAMES.get(type(value), type(value).__name__)
        raise UsageError(f"{option} takes {JSON_KINDS[kind]}, got a JSON {found}: {text!r}")
    return value


def _import_modules(modules: Sequence[str], check: Callable[[Sequence[str]], None] | None = None) -> None:
    """Import ``modules`` (or only ``check`` that they exist); a failure is one line for the user."""
    from .worker import import_modules

    try:
        (check or import_modules)(modules)
    except ImportError as error:
        raise UsageError(f"cannot import {error.name or 'a module'!r}: {error}") from None


def _engine(args: argparse.Namespace) -> Any:
    from .engine import Engine

    _import_modules(getattr(args, "module", None) or [])
    return Engine(args.url, start_workers=False, **_engine_options(args))


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Engine`` keyword arguments the command line sets (options left out keep their defaults)."""
    options: dict[str, Any] = {}
    secret = os.environ.get("FLOWGEN_SECRET_KEY")
    if secret:
        options["secret_key"] = secret
    for option in ("serializer", "lease_ttl", "grace", "reconcile_interval", "version", "async_step_limit"):
        if getattr(args, option, None) is not None:
            options[option] = getattr(args, option)
    if getattr(args, "retention", None) is not None:
        options["retention"] = None if args.retention < 0 else args.retention
    return options


def _check_worker_options(args: argparse.Namespace) -> None:
    """Refuse worker settings that cannot work, naming the option (before anything starts)."""
    check_count(args.processes, "--processes", error=UsageError)
    check_count(args.threads, "--threads", error=UsageError)
    if args.prefetch is not None:
        check_count(args.prefetch, "--prefetch", error=UsageError)
    if args.lease_ttl is not None:
        check_seconds(args.lease_ttl, "--lease-ttl", error=UsageError)
    if args.async_step_limit is not None:
        check_count(args.async_step_limit, "--async-steps", error=UsageError)
    if args.grace is not None:
        check_seconds(args.grace, "--grace", allow_zero=True, error=UsageError)
    if args.reconcile_interval is not None:
        check_seconds(args.reconcile_interval, "--reconcile-interval", error=UsageError)
    if args.version is not None:
        try:
            check_version(args.version)
        except ConfigurationError as error:
            raise UsageError(f"--version: {error}") from None


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


def _child_arguments(args: argparse.Namespace) -> list[str]:
    """The command line of one supervised worker process: everything but the URL (see :func:`cmd_worker`)."""
    child = ["worker", *args.module, "--processes", "1", "--threads", str(args.threads)]
    child += ["--log-level", args.log_level]
    if args.queues:
        child += ["--queues", *args.queues]
    for option, value in (
        ("--serializer", args.serializer),
        ("--lease-ttl", args.lease_ttl),
        ("--grace", args.grace),
        ("--reconcile-interval", args.reconcile_interval),
        ("--prefetch", args.prefetch),
        ("--version", args.version),
    ):
        if value is not None:
            child += [option, str(value)]
    if args.retention is not None:
        child += ["--retention", "none" if args.retention < 0 else repr(args.retention)]
    if args.metrics_port is not None:
        child.append(SUPERVISED_OPTION)  # the supervisor serves; its children only record
    return child


def cmd_worker(args: argparse.Namespace) -> int:
    from .observability.serving import supervisor_exporter
    from .supervisor import supervise
    from .worker import check_modules, configure_logging, run_worker_process

    _check_worker_options(args)
    if args.metrics_port is not None:
        check_port(args.metrics_port, "--metrics-port", error=UsageError)
        args.metrics_host = check_host(args.metrics_host, "--metrics-host", error=UsageError)
        _require_prometheus()
    url = args.url or os.environ.get("FLOWGEN_URL")
    if not url:
        raise UsageError("flowgen worker needs --url redis://... (or $FLOWGEN_URL)")
    try:
        require_redis_url(url, "flowgen worker")
    except ConfigurationError as error:
        raise UsageError(str(error)) from None
    configure_logging(args.log_level)
    if args.unsafe_redis:
        os.environ["FLOWGEN_UNSAFE_REDIS"] = args.unsafe_redis
    if args.processes > 1:
        _import_modules(args.module, check=check_modules)
        # The URL may hold a password: children get it in their environment, never in argv,
        # which every user of the machine can read (ps, /proc/<pid>/cmdline).
        env = {**os.environ, "FLOWGEN_URL": url}
        if args.metrics_port is None:
            return supervise(_child_arguments(args), args.processes, env=env)
        with supervisor_exporter(url, args.metrics_host, args.metrics_port, _engine_options(args)) as extra:
            return supervise(_child_arguments(args), args.processes, env={**env, **extra})
    _import_modules(args.module)
    return run_worker_process(
        args.module,
        url,
        threads=args.threads,
        queues=args.queues,
        engine_options=_engine_options(args),
        prefetch=args.prefetch,
        metrics=None if args.metrics_port is None else (args.metrics_host, args.metrics_port),
        metrics_supervised=args.metrics_supervised,
    )


def cmd_metrics(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .observability.serving import run_exporter

    check_port(args.port, "--port", error=UsageError)
    args.host = check_host(args.host, "--host", error=UsageError)
    _require_prometheus()
    stop = threading.Event()

    def request_stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    url = args.url or os.environ.get("FLOWGEN_URL")
    print(
        f"serving the state gauges of {mask_url(url or 'the default store')} on http://{args.host}:{args.port}/metrics"
    )
    sys.stdout.flush()
    run_exporter(url, args.host, args.port, stop, _engine_options(args))
    return 0


def _require_prometheus() -> None:
    import importlib.util

    if importlib.util.find_spec("prometheus_client") is None:
        raise UsageError("metrics need prometheus-client: pip install 'dramatiq-flowgen[metrics]'")


def cmd_start(args: argparse.Namespace) -> int:
    call_args = _json_argument(args.args, "--args", list, [])
    call_kwargs = _json_argument(args.kwargs, "--kwargs", dict, {})
    engine = _engine(args)
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
        "cancellation": info.cancellation,
        "version": info.version,
        "unconsumed_queues": list(info.unconsumed_queues),
        "schedule": info.schedule,
        "tick": None if info.tick is None else info.tick.isoformat(),
    }


def cmd_status(args: argparse.Namespace) -> int:
    engine = _engine(args)
    _print(_info(engine.get(args.run_id).status()))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    check_count(args.limit, "--limit", error=UsageError)
    engine = _engine(args)
    for info in engine.runs(status=args.status, workflow=args.workflow, limit=args.limit):
        _print(_info(info))
    return 0


def cmd_send_event(args: argparse.Namespace) -> int:
    if not args.type:
        raise UsageError("the event type must not be empty")
    payload = _json_argument(args.payload, "--payload", object, None)
    engine = _engine(args)
    delivered = engine.send_event(args.run_id, args.type, payload, event_id=args.event_id)
    print("delivered" if delivered else "duplicate (already delivered)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    engine = _engine(args)
    exported = engine.export(args.run_id)
    text = json.dumps(exported, indent=2, sort_keys=True)
    if args.output == "-":
        print(text)
        return 0
    path = args.output or f"{args.run_id.replace('/', '_')}.journal.json"
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    except OSError as error:
        raise ConfigurationError(f"cannot write the export to {path!r}: {error.strerror or error}") from None
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flowgen", description="Durable workflows on Dramatiq and Redis.")
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run worker processes that advance runs")
    worker.add_argument("module", nargs="+", help="modules to import (they declare the workflows)")
    worker.add_argument(
        "--url", help="a redis:// URL (default: $FLOWGEN_URL, which keeps a password out of ps)"
    )
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
    worker.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics of all the worker's processes on this port"
    )
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address metrics listen on (default 127.0.0.1)"
    )
    worker.add_argument(SUPERVISED_OPTION, action="store_true", help=argparse.SUPPRESS)
    worker.add_argument(
        "--async-steps",
        dest="async_step_limit",
        type=int,
        help="async def step attempts each process awaits at once on its step loop (default 1000)",
    )
    worker.add_argument(
        "--version",
        help="the code version runs started by these workers record (default: the package's version)",
    )
    worker.set_defaults(handler=cmd_worker)

    metrics = sub.add_parser("metrics", help="serve a store's state gauges to Prometheus")
    metrics.add_argument("--url", help=URL_HELP)
    metrics.add_argument("--port", type=int, default=9191, help="port to listen on (default 9191)")
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    metrics.set_defaults(handler=cmd_metrics)

    def with_url(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--url", help=URL_HELP)
        p.add_argument("-m", "--module", action="append", help="import this module first (repeatable)")
        p.add_argument("--serializer", choices=("json", "pickle"))
        return p

    start = with_url(sub.add_parser("start", help="start a run"))
    start.add_argument("workflow")
    start.add_argument("--args", help="a JSON array of positional arguments, such as '[1, \"two\"]'")
    start.add_argument("--kwargs", help="a JSON object of keyword arguments, such as '{\"n\": 1}'")
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

    from .schedules.cli import add_schedules_parser

    add_schedules_parser(sub, with_url, _engine, _json_argument, _print)

    from .web.server import add_parser as add_dashboard_parser

    add_dashboard_parser(sub, URL_HELP).set_defaults(handler=cmd_dashboard)
    return parser


def cmd_dashboard(args: argparse.Namespace) -> int:
    from .web.server import serve

    url = args.url or os.environ.get("FLOWGEN_URL") or "sqlite:///flowgen.sqlite3"
    return serve(lambda: _engine(args), url, args.host, args.port, args.read_only)


def _fail(status: int, message: str) -> int:
    if os.environ.get("FLOWGEN_DEBUG") == "1":
        traceback.print_exc()
    print(f"flowgen: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except UsageError as error:
        return _fail(USAGE, str(error))
    except FlowgenError as error:
        return _fail(FAILED, f"{type(error).__name__}: {error}")
    except (ValueError, TypeError) as error:
        # Input the API refused (an empty event type, a bad limit); the message names it.
        return _fail(FAILED, str(error))
    except KeyboardInterrupt:
        return _fail(130, "interrupted")
    except Exception as error:
        # Not a failure the user caused: keep it to one line, but say how to see more.
        detail = mask_url(str(error))
        return _fail(
            FAILED, f"unexpected {type(error).__name__}: {detail} (FLOWGEN_DEBUG=1 shows the traceback)"
        )
