"""The script the embedded tests run as a subprocess: ``python -m tests.embedded.runner MODE ...``.

Modes:

* ``order``: the no-server end to end. Opens ``flowgen.Engine()`` (the default URL) in the
  current directory, runs the five-step order workflow, sends its ``shipped`` event from the
  script, and reports the result together with every network connection the process tried.
  Connections are seen by an audit hook on ``socket.connect`` (every TCP or Unix socket
  connection of the interpreter raises that event) and by redis-py's ``connect`` being
  replaced with one that records and refuses.
* ``probe-redis``: the same detectors around a deliberate Redis connection attempt, so the
  tests can show the detectors do fire.
* ``start URL WORKFLOW RUN_ID ARGS_JSON``: start a run on an embedded engine and wait for it.
* ``resume URL RUN_ID``: open an embedded engine on the file and wait for a run started by
  another (killed) process.

The last line of output is ``RESULT <json>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

CONNECTS: list[str] = []
REDIS_CONNECTS: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        CONNECTS.append(repr(args[1]))


def _install_detectors() -> None:
    sys.addaudithook(_audit)
    import redis.connection

    def refuse(self: Any) -> None:
        REDIS_CONNECTS.append(repr(getattr(self, "port", None)))
        raise redis.ConnectionError("the embedded test forbids Redis connections")

    redis.connection.AbstractConnection.connect = refuse  # type: ignore[method-assign]


def _report(**values: Any) -> None:
    print("RESULT " + json.dumps(values), flush=True)


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "lease_ttl": args.lease_ttl,
        "grace": args.grace,
        "reconcile_interval": args.reconcile_interval,
        "timer_interval": 0.05,
    }


def run_order() -> None:
    import flowgen
    from tests.apps import embedded_apps as apps

    started = time.time()
    with flowgen.Engine() as engine:
        run = engine.start(apps.order, "o-1", 42.5, 0.5, run_id="order-o-1")
        deadline = time.monotonic() + 30
        while run.status().waiting_for != ("shipped",):
            if time.monotonic() > deadline:
                raise SystemExit(f"the run never waited for 'shipped': {run.status()}")
            time.sleep(0.02)
        run.send_event("shipped", {"carrier": "ups"})
        result = run.result(timeout=30)
        journal = [(entry["kind"], entry["name"]) for entry in run.journal()]
        url = engine.url
    _report(
        result=result,
        journal=journal,
        url=url,
        elapsed=time.time() - started,
        socket_connects=CONNECTS,
        redis_connects=REDIS_CONNECTS,
    )


def probe_redis(port: int) -> None:
    import redis

    error = ""
    try:
        redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping()
    except redis.ConnectionError as caught:
        error = str(caught)
    _report(error=error, socket_connects=CONNECTS, redis_connects=REDIS_CONNECTS)


def start(args: argparse.Namespace) -> None:
    import flowgen
    from tests.apps import embedded_apps  # noqa: F401 - registers the workflows

    with flowgen.Engine(args.url, **_engine_options(args)) as engine:
        run = engine.start(args.workflow, *json.loads(args.args), run_id=args.run_id)
        print("started", run.run_id, flush=True)
        _report(result=run.result(timeout=args.timeout), pid=os.getpid())


def resume(args: argparse.Namespace) -> None:
    import flowgen
    from tests.apps import embedded_apps  # noqa: F401 - registers the workflows

    opened = time.time()
    with flowgen.Engine(args.url, **_engine_options(args)) as engine:
        result = engine.get(args.run_id).result(timeout=args.timeout)
    _report(result=result, opened=opened, finished=time.time())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["order", "probe-redis", "start", "resume"])
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--lease-ttl", type=float, default=10.0)
    parser.add_argument("--grace", type=float, default=15.0)
    parser.add_argument("--reconcile-interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.mode in ("order", "probe-redis"):
        _install_detectors()
    if args.mode == "order":
        run_order()
    elif args.mode == "probe-redis":
        probe_redis(int(args.rest[0]))
    elif args.mode == "start":
        args.url, args.workflow, args.run_id, args.args = args.rest
        start(args)
    else:
        args.url, args.run_id = args.rest
        resume(args)


if __name__ == "__main__":
    main()
