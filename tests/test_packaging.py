"""Packaging, checked with the real tools in a fresh virtual environment.

* ``pip install -e .`` gives an install type checkers can follow: ``mypy --strict`` on a user's
  module finds ``flowgen`` and its types (setuptools' import-hook finder, used before
  ``package_dir = =.``, made mypy report ``Cannot find implementation or library stub``);
* the wheel holds every module of ``flowgen`` and the Lua scripts of the Redis store.

Both build with pip's isolated build (it fetches setuptools and wheel from the package index).
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

USER_MODULE = """
from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.step
def add(a: int, b: int) -> int:
    return a + b


@flowgen.workflow
def total(n: int) -> Generator[Any, Any, int]:
    value = yield from add(n, 1)
    return value


reveal_type(flowgen.Engine("memory://").start(total, 1).result())
"""


def _run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def _pip(environment: Path) -> str:
    return str(environment / "bin" / "pip")


def test_mypy_finds_an_editable_install_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    installed = _run(_pip(environment), "install", "--no-deps", "-e", str(ROOT), cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(USER_MODULE, encoding="utf-8")

    checked = _run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        str(environment / "bin" / "python"),
        "app.py",
        cwd=project,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert 'Revealed type is "builtins.int"' in checked.stdout or 'Revealed type is "int"' in checked.stdout


def test_the_wheel_holds_every_module_and_the_lua_scripts(tmp_path: Path) -> None:
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT), cwd=tmp_path
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        path.relative_to(ROOT).as_posix()
        for pattern in ("flowgen/**/*.py", "flowgen/stores/lua/*.lua", "flowgen/py.typed")
        for path in ROOT.glob(pattern)
        if "__pycache__" not in path.parts
    }
    assert not expected - names, sorted(expected - names)
