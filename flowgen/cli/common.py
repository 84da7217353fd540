"""What every ``flowgen`` command shares: exit statuses, errors, options, opening the engine.

Exit statuses (docs/operations.md): 0 done; 1 the operation failed (no such run, a run in the
wrong state, a failed run's result, runs that would not replay); 2 the command line cannot be
used; 3 the store cannot be reached (Redis down, no database at a SQLite URL); 130 interrupted.
``flowgen result`` maps its own: 0 completed, 1 failed or cancelled, 2 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..durations import parse_duration
from ..search import check_statuses, parse_tag
from ..urls import resolve_url, sqlite_path, url_scheme

OK = 0
FAILED = 1
USAGE = 2
UNAVAILABLE = 3
INTERRUPTED = 130

URL_HELP = "engine URL (default: $FLOWGEN_URL, else sqlite:///flowgen.sqlite3)"


class UsageError(Exception):
    """A command line that parsed but cannot be used (exit status 2)."""


class StoreMissingError(Exception):
    """A reading command named a SQLite database that does not exist (exit status 3)."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in flowgen's one-line form instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"flowgen: error: {message} (see `{self.prog} --help`)\n")


JSON_KINDS: dict[type, str] = {
    list: "a JSON array, such as '[1, \"two\"]'",
    dict: "a JSON object, such as '{\"n\": 1}'",
    object: "any JSON value, such as '{\"carrier\": \"DHL\"}' or '42'",
}
JSON_NAMES = {list: "array", dict: "object", str: "string", int: "number", float: "number", bool: "boolean"}


def json_argument(text: str | None, option: str, kind: type, default: Any) -> Any:
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


def import_modules(modules: Sequence[str], check: Callable[[Sequence[str]], None] | None = None) -> None:
    """Import ``modules`` (or only ``check`` that they exist); a failure is one line for the user."""
    from ..worker import import_modules as do_import

    try:
        (check or do_import)(modules)
    except ImportError as error:
        raise UsageError(f"cannot import {error.name or 'a module'!r}: {error}") from None


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
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


def open_engine(args: argparse.Namespace, *, create: bool = False) -> Any:
    """The client engine of a command (no worker threads).

    Only ``create`` commands (``start``) may create a SQLite database: any other command on a
    path where none exists says so, instead of leaving an empty database behind.
    """
    from ..engine import Engine

    import_modules(getattr(args, "module", None) or [])
    url = resolve_url(args.url)
    if not create and url_scheme(url) == "sqlite":
        path = sqlite_path(url)
        if not os.path.exists(path):
            shown = path if os.path.isabs(path) else f"{path} (in {os.getcwd()})"
            raise StoreMissingError(
                f"no flowgen database at {shown}: pass --url (or set $FLOWGEN_URL) to the database "
                "your engine uses; `flowgen start` creates one"
            )
    return Engine(url, start_workers=False, **engine_options(args))


def add_store_options(
    parser: argparse.ArgumentParser, *, json_output: bool = True
) -> argparse.ArgumentParser:
    """The options of every command that opens the store: --url, -m, --serializer (and --json)."""
    parser.add_argument("--url", help=URL_HELP)
    parser.add_argument("-m", "--module", action="append", help="import this module first (repeatable)")
    parser.add_argument("--serializer", choices=("json", "pickle"))
    if json_output:
        parser.add_argument(
            "--json", action="store_true", help="print JSON (stable field names, see docs/operations.md)"
        )
    return parser


def when_argument(text: str | None, option: str) -> float | None:
    """A point in time: ISO 8601 (local time without an offset) or a duration meaning that long ago."""
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text, what=option)
    except ValueError:
        pass
    from ..search import build_query

    try:
        return build_query(created_after=text).created_after
    except ValueError:
        raise UsageError(
            f"{option} takes a time such as 2026-12-01T09:30 (local time), 2026-12-01T09:30+00:00, "
            f"or a duration meaning that long ago, such as 7d or 2h; got {text!r}"
        ) from None


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """The options that select runs (``runs`` and the bulk forms of the control commands)."""
    parser.add_argument(
        "--status", action="append", help="a status, or several separated by commas (repeatable)"
    )
    parser.add_argument("--workflow", help="runs of this workflow")
    parser.add_argument(
        "--tag",
        action="append",
        metavar="KEY=VALUE",
        help="runs carrying this tag (repeatable: all must match)",
    )
    parser.add_argument("--parent", metavar="RUN_ID", help="the child runs of this run")
    parser.add_argument(
        "--created-after", metavar="TIME", help="created at or after TIME (ISO 8601, or a duration ago: 2h)"
    )
    parser.add_argument("--created-before", metavar="TIME", help="created before TIME")
    parser.add_argument("--older-than", metavar="DURATION", help="created more than DURATION ago (7d)")
    parser.add_argument("--finished-after", metavar="TIME", help="finished at or after TIME")
    parser.add_argument("--finished-before", metavar="TIME", help="finished before TIME")


def filters(args: argparse.Namespace) -> dict[str, Any]:
    """The filters of :func:`add_filter_options` as keyword arguments of ``build_query``."""
    statuses: list[str] = []
    for text in args.status or ():
        statuses += [part.strip() for part in text.split(",") if part.strip()]
    try:
        check_statuses(statuses)
        tags = dict(parse_tag(text) for text in args.tag or ())
    except ValueError as error:
        raise UsageError(str(error)) from None
    created_before = when_argument(args.created_before, "--created-before")
    if args.older_than is not None:
        try:
            older = time.time() - parse_duration(args.older_than, what="--older-than")
        except ValueError as error:
            raise UsageError(str(error)) from None
        created_before = older if created_before is None else min(created_before, older)
    return {
        "status": statuses or None,
        "workflow": args.workflow,
        "tags": tags or None,
        "parent": args.parent,
        "created_after": when_argument(args.created_after, "--created-after"),
        "created_before": created_before,
        "finished_after": when_argument(args.finished_after, "--finished-after"),
        "finished_before": when_argument(args.finished_before, "--finished-before"),
    }


def has_filters(args: argparse.Namespace) -> bool:
    names = ("status", "workflow", "tag", "parent", "created_after", "created_before", "older_than")
    return any(getattr(args, name, None) for name in (*names, "finished_after", "finished_before"))


def confirm(question: str, count: int, yes: bool) -> None:
    """Ask before a bulk action: ``--yes`` skips; without a terminal to ask on, refuse."""
    if yes or count == 0:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question.format(count=count)}: pass --yes to confirm (no terminal to ask on)")
    print(f"{question.format(count=count)}? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was changed")
