"""The pytest plugin is found through its entry point and gives every test a fresh runner."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from flowgen.testing import Runner

USER_TESTS = """
import flowgen
import pytest


@flowgen.step(name="plugin_check.greet", retries=0)
def greet(name):
    return "hello " + name


@flowgen.workflow(name="plugin_check.hello")
def hello(name):
    text = yield greet(name)
    yield flowgen.sleep("1 day")
    return text


SEEN = []


def test_first(flowgen_runner):
    SEEN.append(flowgen_runner)
    flowgen_runner.mock(greet, returns="mocked")
    run = flowgen_runner.start(hello, "ada", run_id="shared-id")
    flowgen_runner.advance("1 day")
    assert run.result() == "mocked"


def test_second_gets_a_fresh_runner(flowgen_runner):
    assert SEEN and flowgen_runner is not SEEN[0]
    assert flowgen_runner.runs() == []
    assert flowgen_runner.calls() == []
    run = flowgen_runner.start(hello, "bob", run_id="shared-id")
    flowgen_runner.advance("1 day")
    assert run.result() == "hello bob"
"""


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.name == "flowgen" and ep.value == "flowgen.testing.plugin" for ep in entry_points)


def test_fixture_is_available_to_user_tests_and_fresh_per_test(tmp_path: Path) -> None:
    (tmp_path / "test_user_workflows.py").write_text(USER_TESTS, encoding="utf-8")

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user_workflows.py"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout


def test_fixture_in_this_session_is_a_runner(flowgen_runner: Runner) -> None:
    assert isinstance(flowgen_runner, Runner)
    assert flowgen_runner.runs() == []
