"""The ``flowgen`` command: run workers, start, find, inspect and control runs, verify code.

One module per command group: :mod:`.reading` (start, status, runs, result, history, events,
send-event, export), :mod:`.control` (cancel, pause, resume, retry, restart, purge),
:mod:`.verify`, :mod:`.dashboard`, and ``worker`` here; :mod:`.common` holds the options, errors and exit statuses
they share and :mod:`.output` how they print (docs/operations.md is the reference).

Every failure a user can cause (bad input, an unknown module or run, a store that cannot be
reached, a file that cannot be written) ends the command with one line on stderr,
``flowgen: error: ...``, and a non-zero status (see :mod:`.common`). No traceback reaches the
user unless ``FLOWGEN_DEBUG=1`` asks for one.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError, FlowgenError, StoreUnavailableError
from ..observability.serving import SUPERVISED_OPTION, check_host, check_port
from ..urls import mask_url, require_redis_url
from ..validation import check_count, check_seconds
from ..versions import check_version
from . import control, dashboard, metrics, output, reading, verify
from .common import (
    FAILED,
    INTERRUPTED,
    UNAVAILABLE,
    USAGE,
    Parser,
    StoreMissingError,
    UsageError,
    add_store_options,
    engine_options,
    import_modules,
    json_argument,
    open_engine,
)

__all__ = ["FAILED", "UNAVAILABLE", "USAGE", "UsageError", "build_parser", "main"]


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


def _child_arguments(args: argparse.Namespace) -> list[str]:
    """The command line of one supervised worker process: everything but the URL (see :func:`cmd_worker`)."""
    child = ["worker", *args.module, "--processes", "1", "--threads", str(args.threads)]
    child += ["--log-level", args.log_level, "--log-format", args.log_format]
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
    from ..observability.serving import supervisor_exporter
    from ..supervisor import supervise
    from ..worker import check_modules, configure_logging, run_worker_process

    _check_worker_options(args)
    if args.metrics_port is not None:
        check_port(args.metrics_port, "--metrics-port", error=UsageError)
        args.metrics_host = check_host(args.metrics_host, "--metrics-host", error=UsageError)
        metrics.require_prometheus()
    url = args.url or os.environ.get("FLOWGEN_URL")
    if not url:
        raise UsageError("flowgen worker needs --url redis://... (or $FLOWGEN_URL)")
    try:
        require_redis_url(url, "flowgen worker")
    except ConfigurationError as error:
        raise UsageError(str(error)) from None
    configure_logging(args.log_level, args.log_format)
    if args.unsafe_redis:
        os.environ["FLOWGEN_UNSAFE_REDIS"] = args.unsafe_redis
    if args.processes > 1:
        import_modules(args.module, check=check_modules)
        # The URL may hold a password: children get it in their environment, never in argv,
        # which every user of the machine can read (ps, /proc/<pid>/cmdline).
        env = {**os.environ, "FLOWGEN_URL": url}
        if args.metrics_port is None:
            return supervise(_child_arguments(args), args.processes, env=env)
        with supervisor_exporter(url, args.metrics_host, args.metrics_port, engine_options(args)) as extra:
            return supervise(_child_arguments(args), args.processes, env={**env, **extra})
    import_modules(args.module)
    return run_worker_process(
        args.module,
        url,
        threads=args.threads,
        queues=args.queues,
        engine_options=engine_options(args),
        prefetch=args.prefetch,
        metrics=None if args.metrics_port is None else (args.metrics_host, args.metrics_port),
        metrics_supervised=args.metrics_supervised,
    )


def _add_worker(sub: Any) -> None:
    worker = sub.add_parser("worker", help="run worker processes that advance runs")
    worker.add_argument("module", nargs="+", help="modules to import (they declare the workflows)")
    worker.add_argument(
        "--url", help="a redis:// URL (default: $FLOWGEN_URL, which keeps a password out of ps)"
    )
    worker.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    worker.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    worker.add_argument("--queues", nargs="*", help="Dramatiq queues to consume (default: all declared)")
    worker.add_argument("--log-level", default="INFO", type=_log_level)
    worker.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line",
    )
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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"unknown log level {text!r}; use one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _add_schedules(sub: Any) -> None:
    """``flowgen schedules ...`` (:mod:`flowgen.schedules.cli`); its commands may create the database."""
    from ..schedules.cli import add_schedules_parser

    add_schedules_parser(
        sub,
        lambda parser: add_store_options(parser, json_output=False),
        lambda args: open_engine(args, create=True),
        json_argument,
        output.print_value,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="flowgen", description="Durable workflows on Dramatiq and Redis.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_worker(sub)
    reading.register(sub)
    control.register(sub)
    verify.register(sub)
    _add_schedules(sub)
    dashboard.register(sub)
    metrics.register(sub)
    return parser


def _fail(status: int, message: str) -> int:
    if os.environ.get("FLOWGEN_DEBUG") == "1":
        traceback.print_exc()
    print(f"flowgen: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # `flowgen result` has its own statuses: 0 completed, 1 failed or cancelled, 2 anything else.
    result_codes = getattr(args, "result_codes", False)

    def fail(status: int, message: str) -> int:
        return _fail(USAGE if result_codes else status, message)

    try:
        return int(args.handler(args))
    except UsageError as error:
        return fail(USAGE, str(error))
    except StoreMissingError as error:
        return fail(UNAVAILABLE, str(error))
    except StoreUnavailableError as error:
        return fail(UNAVAILABLE, f"{type(error).__name__}: {mask_url(str(error))}")
    except FlowgenError as error:
        return fail(FAILED, f"{type(error).__name__}: {error}")
    except (ValueError, TypeError) as error:
        # Input the API refused (arguments the workflow cannot take, a bad payload); the
        # message names it. Bad options are refused before, as usage errors (status 2).
        return fail(FAILED, str(error))
    except BrokenPipeError:
        return fail(FAILED, "output closed early (broken pipe)")
    except KeyboardInterrupt:
        return fail(INTERRUPTED, "interrupted")
    except Exception as error:
        # Not a failure the user caused: keep it to one line, but say how to see more.
        detail = mask_url(str(error))
        return fail(
            FAILED, f"unexpected {type(error).__name__}: {detail} (FLOWGEN_DEBUG=1 shows the traceback)"
        )
