"""What a fresh process imports: a sync embedded engine never pulls in asyncio (issue 22).

A restarted embedded service must make progress again within ``lease_ttl`` + 2 s of a
``kill -9``; on a loaded machine its start-up CPU is what stands in the way, and asyncio (with
``ssl``, ``socket``, ``subprocess``, ``concurrent.futures``) was a fifth of it. So ``import
flowgen``, opening ``Engine("sqlite:///...")`` with worker threads and running sync steps must
leave ``asyncio`` out of ``sys.modules``; the async API still works, loaded on first use. Each
check runs in its own interpreter (this test process has imported asyncio long ago).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: a sync workflow on an embedded engine with worker threads.
SYNC_RUN = """
import json, sys
import flowgen

after_import = sorted(m for m in ("asyncio", "flowgen.aio.engine", "ssl") if m in sys.modules)

@flowgen.step(retries=0)
def double(x: int) -> int:
    return 2 * x

@flowgen.workflow(name="startup.sync")
def doubled(x: int):
    return (yield double(x))

with flowgen.Engine(f"sqlite:///{sys.argv[1]}", threads=2) as engine:
    result = engine.start(doubled, 21).result(timeout=60)
print(json.dumps({
    "after_import": after_import,
    "after_run": sorted(m for m in ("asyncio", "flowgen.aio.engine", "ssl") if m in sys.modules),
    "result": result,
}))
"""

# Runs in a fresh interpreter: the same process then uses an async step and the async API.
ASYNC_RUN = """
import json, sys
import flowgen

before = "asyncio" in sys.modules

@flowgen.step(retries=0)
async def increment(x: int) -> int:
    return x + 1

@flowgen.workflow(name="startup.async")
def incremented(x: int):
    return (yield increment(x))

with flowgen.Engine(f"sqlite:///{sys.argv[1]}", threads=2) as engine:
    result = engine.start(incremented, 41).result(timeout=60)
after_step = "asyncio" in sys.modules

from flowgen import AsyncEngine, AsyncRun, AsyncStartManyResult
from flowgen.aio.engine import AsyncEngine as Defined
from flowgen.aio import handles

async def main() -> int:
    async with flowgen.AsyncEngine(f"sqlite:///{sys.argv[1]}.async", threads=2) as aengine:
        run = await aengine.start(incremented, 1)
        assert isinstance(run, AsyncRun)
        return await run.result(timeout=60)

import asyncio
print(json.dumps({
    "before": before,
    "after_step": after_step,
    "result": result,
    "async_engine_result": asyncio.run(main()),
    "same_class": AsyncEngine is Defined and flowgen.AsyncEngine is Defined,
    "same_handles": AsyncRun is handles.AsyncRun and AsyncStartManyResult is handles.AsyncStartManyResult,
    "listed": all(n in dir(flowgen) for n in ("AsyncEngine", "AsyncRun", "AsyncStartManyResult")),
}))
"""


def _run(script: str, tmp_path: Path) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if key != "FLOWGEN_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "runs.sqlite3")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_and_a_sync_embedded_engine_never_import_asyncio(tmp_path: Path) -> None:
    report = _run(SYNC_RUN, tmp_path)
    assert report["result"] == 42
    assert report["after_import"] == []
    assert report["after_run"] == []


def test_async_steps_and_the_async_api_load_on_first_use(tmp_path: Path) -> None:
    report = _run(ASYNC_RUN, tmp_path)
    assert report["before"] is False  # import flowgen alone did not load asyncio...
    assert report["result"] == 42  # ...and an async step still runs on the embedded engine
    assert report["after_step"] is True
    assert report["async_engine_result"] == 2
    assert report["same_class"] is True
    assert report["same_handles"] is True
    assert report["listed"] is True
