"""Run every example of docs/testing.md, so the page stays true.

Each code block of the page is preceded by a line ``File `NAME`:`` naming the file it stands
for. This test writes every block to that file in a fresh directory and runs
pytest there in a subprocess (a fresh process, so the page's workflows and steps register in an
empty registry, and the ``flowgen_runner`` fixture comes through the installed plugin entry
point as it does for users). Every test function of the page must pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
BLOCK = re.compile(
    r"^File `(?P<name>[^`]+)`:\n\n```(?P<lang>\w+)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL
)
FENCE = re.compile(r"^```(\w+)$", re.MULTILINE)
RUNNABLE = ("python", "json")


def _blocks() -> list[tuple[str, str, str]]:
    text = PAGE.read_text(encoding="utf-8")
    return [(m.group("name"), m.group("lang"), m.group("body")) for m in BLOCK.finditer(text)]


def test_every_python_and_json_block_names_its_file() -> None:
    text = PAGE.read_text(encoding="utf-8")
    fences = [lang for lang in FENCE.findall(text) if lang in RUNNABLE]
    assert len(_blocks()) == len(fences), (
        "every ```python and ```json block of docs/testing.md needs a line File `NAME`: and an "
        "empty line right above it, so this test runs it"
    )


def test_the_page_covers_the_three_ways_and_replay_checks() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for heading in (
        "## 1. Drive the generator",
        "## 2. The runner",
        "## 3. End to end with a worker",
        "## Replay checks in CI",
    ):
        assert heading in text


@pytest.mark.timeout(300)
def test_docs_testing_examples_pass(tmp_path: Path) -> None:
    blocks = _blocks()
    expected = 0
    for name, _lang, body in blocks:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert not path.exists(), f"two blocks of docs/testing.md write {name}"
        path.write_text(body, encoding="utf-8")
        if Path(name).name.startswith("test_") and name.endswith(".py"):
            expected += len(re.findall(r"^(?:async )?def test_", body, re.MULTILINE))
    assert expected >= 10

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
    )

    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report
    assert re.search(rf"\b{expected} passed\b", completed.stdout), report
