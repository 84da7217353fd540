"""Run the real ``flowgen`` executable (``python -m flowgen``) as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT

Cli = Callable[..., subprocess.CompletedProcess[str]]


def cli_environment(**extra: str) -> dict[str, str]:
    """This process's environment without ``FLOWGEN_URL`` (each test says which URL it means)."""
    environment = {key: value for key, value in os.environ.items() if key != "FLOWGEN_URL"}
    environment["FLOWGEN_UNSAFE_REDIS"] = "ignore"
    environment.update(extra)
    return environment


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """``cli(*arguments, env={...}, timeout=60)``: run ``python -m flowgen`` from the repository root."""

    def run(
        *arguments: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowgen", *arguments],
            cwd=ROOT,
            env=cli_environment(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def one_error_line(result: subprocess.CompletedProcess[str], status: int | None = None) -> str:
    """Check the command failed with exactly one ``flowgen: error:`` line on stderr; return it."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flowgen: error: "), result.stderr
    if status is None:
        assert result.returncode != 0
    else:
        assert result.returncode == status, (result.returncode, result.stderr)
    return lines[0]
