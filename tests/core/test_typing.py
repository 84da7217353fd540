"""The typed API, checked by the real ``mypy --strict``: one file that must pass (its
``assert_type`` lines pin the types), one whose deliberately wrong lines must each be reported.

Both files are in tests/typing_checks/; they are type-checked here, never imported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "tests" / "typing_checks"


def _mypy(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(cache),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(path.relative_to(ROOT)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_typed_usage_file_passes_mypy_strict(tmp_path: Path) -> None:
    checked = _mypy(CHECKS / "typed_usage.py", tmp_path / "cache")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_deliberately_wrong_line_is_reported_and_nothing_else(tmp_path: Path) -> None:
    path = CHECKS / "wrong_usage.py"
    expected = {
        number: line.split("# wrong:", 1)[1].strip()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "# wrong:" in line
    }
    assert len(expected) >= 5
    checked = _mypy(path, tmp_path / "cache")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    reported: dict[int, list[str]] = {}
    for line in checked.stdout.splitlines():
        match = re.match(r"tests/typing_checks/wrong_usage\.py:(\d+): error: (.*)", line)
        if match:
            reported.setdefault(int(match.group(1)), []).append(match.group(2))
        else:
            assert ": note:" in line, f"an error outside the wrong lines: {line}"
    assert set(reported) == set(expected), checked.stdout
    for number, message in expected.items():
        assert any(message in error for error in reported[number]), (number, message, reported[number])
