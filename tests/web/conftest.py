"""Fixtures of the dashboard tests: a real ``flowgen dashboard`` process over a real store, with
something that advances the runs, and a real headless Chromium driven by Playwright.

* ``sqlite_site``: a SQLite file, an embedded engine in this process that advances its runs, and
  ``flowgen dashboard`` serving the same file (two processes on one file, as on a laptop).
* ``redis_site``: the tests' redis-server, a real ``flowgen worker`` process, and
  ``flowgen dashboard`` on the same Redis (a production deployment in miniature).
* ``browser``: Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``), headless.

Set ``FLOWGEN_SCREENSHOTS=docs/images`` to have the browser tests save the screenshots that
docs/dashboard.md shows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowgen
import tests.apps.web_apps  # noqa: F401 - registers the workflows the dashboard tests start
from tests.conftest import ROOT, WorkerProcess, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dashboard:
    """A real ``flowgen dashboard`` process; ``base`` is its URL."""

    def __init__(
        self, store_url: str, log_path: Path, *options: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "flowgen",
            "dashboard",
            "--url",
            store_url,
            "-m",
            "tests.apps.web_apps",
        ]
        command += ["--port", str(self.port), *options]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )

        def serving() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"flowgen dashboard exited with {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"{self.base}/api/v1/openapi.json", timeout=2).status_code in (200, 401)
            except httpx.HTTPError:
                return False

        wait_until(serving, 60, "the dashboard to serve")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Site:
    """A dashboard and the engine the test uses to start and check runs on the same store."""

    def __init__(self, dashboard: Dashboard, engine: flowgen.Engine, kind: str) -> None:
        self.dashboard = dashboard
        self.engine = engine
        self.kind = kind
        self.base = dashboard.base

    def api(self) -> httpx.Client:
        """An HTTP client of the dashboard's API (no cookies: like a script)."""
        return httpx.Client(base_url=f"{self.base}/api/v1", timeout=30)

    def wait_status(self, run_id: str, *statuses: str, timeout: float = 60) -> flowgen.RunInfo:
        def reached() -> flowgen.RunInfo | None:
            info = self.engine.status(run_id)
            return info if info.status in statuses else None

        info: flowgen.RunInfo = wait_until(reached, timeout, f"run {run_id} to be {'/'.join(statuses)}")
        return info


@pytest.fixture
def web_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setenv("FLOWGEN_TEST_WEB_FLAGS", str(flags))
    return flags


@pytest.fixture
def make_sqlite_site(tmp_path: Path, web_flags: Path) -> Iterator[Callable[..., Site]]:
    """Start SQLite sites: ``make_sqlite_site(*dashboard_options, env=...)``."""
    started: list[tuple[Dashboard, flowgen.Engine]] = []

    def make(*options: str, env: dict[str, str] | None = None) -> Site:
        url = f"sqlite:///{tmp_path / f'site-{len(started)}.sqlite3'}"
        engine = flowgen.Engine(url, threads=4, reconcile_interval=0.2)
        dashboard = Dashboard(url, tmp_path / f"dashboard-{len(started)}.log", *options, env=env)
        started.append((dashboard, engine))
        return Site(dashboard, engine, "sqlite")

    yield make
    for dashboard, engine in started:
        dashboard.stop()
        engine.close()


@pytest.fixture
def sqlite_site(make_sqlite_site: Callable[..., Site]) -> Site:
    return make_sqlite_site()


@pytest.fixture
def redis_site(
    tmp_path: Path, redis_url: str, web_flags: Path, start_worker: Callable[..., WorkerProcess]
) -> Iterator[Site]:
    start_worker("tests.apps.web_apps", threads=4, env={"FLOWGEN_TEST_WEB_FLAGS": str(web_flags)})
    engine = flowgen.Engine(redis_url)
    dashboard = Dashboard(redis_url, tmp_path / "dashboard.log", env={"FLOWGEN_UNSAFE_REDIS": "ignore"})
    yield Site(dashboard, engine, "redis")
    dashboard.stop()
    engine.close()


@pytest.fixture(params=["sqlite", "redis"])
def site(request: pytest.FixtureRequest) -> Site:
    """The same test on a SQLite site and on a Redis site."""
    site: Site = request.getfixturevalue(f"{request.param}_site")
    return site


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    # Package scope: Playwright's sync API keeps an event loop running in the main thread while
    # it is open, so a test after tests/web that calls asyncio.run (tests/examples, run in
    # another order) would fail with "cannot be called from a running event loop".
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the page's script failed: {errors}"


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot for docs/dashboard.md when ``$FLOWGEN_SCREENSHOTS`` names a folder."""
    folder = os.environ.get("FLOWGEN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
