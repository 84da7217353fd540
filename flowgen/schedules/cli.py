"""``flowgen schedules ...``: list, get, create, update, pause, resume, delete, trigger and sync schedules.

Each subcommand opens the engine like the other commands (``--url``, ``-m MODULE`` to import
the modules declaring workflows first) and prints JSON. Errors end in one
``flowgen: error: ...`` line (see :func:`flowgen.cli.main`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .spec import CATCHUPS, OVERLAPS

SETTING_OPTIONS = ("cron", "every", "timezone", "overlap", "catchup", "max_lateness", "tick_arg")


def _number_or_text(text: str) -> float | str:
    """``--every 900`` is seconds; ``--every '15 minutes'`` is text for ``parse_duration``."""
    try:
        return float(text)
    except ValueError:
        return text


def _settings(args: argparse.Namespace, json_argument: Callable[..., Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for option in SETTING_OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            settings[option] = _number_or_text(value) if option in ("every", "max_lateness") else value
    if args.args is not None:
        settings["args"] = tuple(json_argument(args.args, "--args", list, []))
    if args.kwargs is not None:
        settings["kwargs"] = json_argument(args.kwargs, "--kwargs", dict, {})
    return settings


def _summary(info: Any) -> dict[str, Any]:
    last = info.runs[0] if info.runs else None
    return {
        "name": info.name,
        "workflow": info.workflow,
        "when": info.when,
        "paused": info.paused,
        "undeclared": info.undeclared,
        "next_tick": info.next_ticks[0].isoformat() if info.next_ticks else None,
        "last_run": None if last is None else {"run_id": last.run_id, "status": last.status},
        "started": info.started,
        "skipped": info.skipped,
        "missed": info.missed,
    }


def add_schedules_parser(
    sub: Any,
    with_url: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    engine: Callable[[argparse.Namespace], Any],
    json_argument: Callable[..., Any],
    show: Callable[[Any], None],
) -> None:
    """Add ``flowgen schedules`` and its subcommands to the ``flowgen`` parser."""
    parser = sub.add_parser("schedules", help="manage schedules (cron and interval workflows)")
    commands = parser.add_subparsers(dest="schedules_command", required=True)

    def command(name: str, help: str, run: Callable[[argparse.Namespace], Any]) -> argparse.ArgumentParser:
        p = with_url(commands.add_parser(name, help=help))
        p.set_defaults(handler=lambda args: run(args) or 0)
        return p

    def settings_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--cron", help="a cron expression: minute hour day month weekday, in --timezone")
        p.add_argument("--every", help="an interval, such as '15 minutes' or 900 (seconds)")
        p.add_argument("--timezone", help="an IANA time zone for --cron (default UTC)")
        p.add_argument("--args", help="a JSON array of positional arguments")
        p.add_argument("--kwargs", help="a JSON object of keyword arguments")
        p.add_argument("--overlap", choices=OVERLAPS)
        p.add_argument("--catchup", choices=CATCHUPS)
        p.add_argument("--max-lateness", dest="max_lateness", help="how late a tick may run (default 60s)")
        p.add_argument("--tick-arg", dest="tick_arg", help="pass the tick to the workflow as this keyword")

    def do_list(args: argparse.Namespace) -> None:
        for info in engine(args).schedules.list():
            show(_summary(info))

    def do_get(args: argparse.Namespace) -> None:
        show(engine(args).schedules.get(args.name, ticks=args.ticks, runs=args.runs).to_json())

    def do_create(args: argparse.Namespace) -> None:
        settings = _settings(args, json_argument)
        show(
            engine(args).schedules.create(args.name, args.workflow, paused=args.paused, **settings).to_json()
        )

    def do_update(args: argparse.Namespace) -> None:
        show(engine(args).schedules.update(args.name, **_settings(args, json_argument)).to_json())

    def do_pause(args: argparse.Namespace) -> None:
        show(_summary(engine(args).schedules.pause(args.name, note=args.note)))

    def do_resume(args: argparse.Namespace) -> None:
        show(_summary(engine(args).schedules.resume(args.name)))

    def do_delete(args: argparse.Namespace) -> None:
        engine(args).schedules.delete(args.name)
        print(f"deleted {args.name}")

    def do_trigger(args: argparse.Namespace) -> None:
        print(engine(args).schedules.trigger(args.name).run_id)

    def do_sync(args: argparse.Namespace) -> None:
        report = engine(args).schedules.register_declared(prune=args.prune)
        show(
            {
                field: getattr(report, field)
                for field in ("created", "updated", "unchanged", "undeclared", "deleted", "failed")
            }
        )

    command("list", "list schedules", do_list)
    get = command("get", "show a schedule: next ticks, latest runs, counts", do_get)
    get.add_argument("name")
    get.add_argument("--ticks", type=int, default=5, help="how many next ticks to show")
    get.add_argument("--runs", type=int, default=10, help="how many latest runs to show")
    create = command("create", "create a schedule (import its workflow with -m MODULE)", do_create)
    create.add_argument("name")
    create.add_argument("workflow")
    create.add_argument("--paused", action="store_true", help="create it paused")
    settings_options(create)
    update = command("update", "change some settings of a schedule", do_update)
    update.add_argument("name")
    settings_options(update)
    pause = command("pause", "pause a schedule", do_pause)
    pause.add_argument("name")
    pause.add_argument("--note", default="", help="why it is paused")
    command("resume", "resume a paused schedule", do_resume).add_argument("name")
    command("delete", "delete a schedule (its runs go on)", do_delete).add_argument("name")
    command("trigger", "start a run of a schedule now", do_trigger).add_argument("name")
    sync = command("sync", "store the schedules the -m modules declare (what workers do at start)", do_sync)
    sync.add_argument(
        "--prune", action="store_true", help="delete declared-in-code schedules no longer declared"
    )
