"""Every example in ``examples/`` ships a test that runs it under the runner, and CI runs it.

CI runs ``python -m pytest``, which collects ``tests/`` (``testpaths`` in pyproject.toml). An
example's runner test is either an ordinary ``test_*.py`` module under ``tests/``, or a module
in ``tests/testing/example_runs/``, which :func:`test_example_runner_checks_pass` runs in a
fresh interpreter: the way for examples whose step and workflow names collide with names other
test modules register (flowgen's registry refuses two functions under one name per process).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"
EXAMPLE_RUNS = Path(__file__).resolve().parent / "example_runs"


def _examples() -> list[str]:
    if not EXAMPLES.is_dir():
        return []
    names = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.name.startswith(("_", ".", "test_")) or path.name == "conftest.py":
            continue
        if path.suffix == ".py" or (path.is_dir() and any(path.rglob("*.py"))):
            names.append(path.stem)
    return names


def _runner_tests_of(example: str, tests: Path = TESTS, runs: Path = EXAMPLE_RUNS) -> list[Path]:
    """Return the modules that import ``example`` and use the runner and that CI runs."""
    imports = re.compile(rf"^\s*(from|import)\s+(examples\.)?{re.escape(example)}\b", re.MULTILINE)
    candidates = [*sorted(tests.rglob("test_*.py")), *sorted(runs.glob("*.py"))]
    found = []
    for path in candidates:
        text = path.read_text(encoding="utf-8")
        if imports.search(text) and ("flowgen_runner" in text or "Runner(" in text):
            found.append(path)
    return found


def _example_runs() -> list[Path]:
    return [path for path in sorted(EXAMPLE_RUNS.glob("*.py")) if not path.name.startswith("_")]


EXAMPLE_NAMES = _examples()


@pytest.mark.skipif(not EXAMPLE_NAMES, reason="examples/ holds no example yet")
@pytest.mark.parametrize("example", EXAMPLE_NAMES or ["(none)"])
def test_example_has_a_runner_test(example: str) -> None:
    assert _runner_tests_of(example), (
        f"examples/{example} has no runner test: add a tests/ module that imports it and uses the "
        f"flowgen_runner fixture or flowgen.testing.Runner (e.g. tests/testing/example_runs/{example}.py)"
    )


@pytest.mark.parametrize("module", _example_runs(), ids=lambda path: path.stem)
def test_example_runner_checks_pass(module: Path) -> None:
    expected = len(re.findall(r"^def test_", module.read_text(encoding="utf-8"), re.MULTILINE))
    assert expected > 0, f"{module} holds no test"

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert re.search(rf"\b{expected} passed\b", completed.stdout), completed.stdout


def test_the_check_finds_only_tests_that_import_the_example_and_use_the_runner(tmp_path: Path) -> None:
    """Guard the guard, so an example without a runner test cannot slip through."""
    tests, runs = tmp_path / "tests", tmp_path / "runs"
    (tests / "examples").mkdir(parents=True)
    runs.mkdir()
    (tests / "examples" / "test_orders.py").write_text(
        "from examples.orders import order\n\ndef test_it(flowgen_runner):\n    pass\n", encoding="utf-8"
    )
    (tests / "test_plain.py").write_text("import billing\n\ndef test_it():\n    pass\n", encoding="utf-8")
    (tests / "test_other.py").write_text(
        "from examples.orders_v2 import order\nfrom flowgen.testing import Runner\nRunner()\n",
        encoding="utf-8",
    )
    (runs / "shipping.py").write_text(
        "import shipping\n\ndef test_it(flowgen_runner):\n    pass\n", encoding="utf-8"
    )

    assert _runner_tests_of("orders", tests, runs) == [tests / "examples" / "test_orders.py"]
    assert _runner_tests_of("shipping", tests, runs) == [runs / "shipping.py"]
    assert _runner_tests_of("billing", tests, runs) == []
