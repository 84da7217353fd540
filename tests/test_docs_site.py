"""The documentation site's rules, checked without building it (the build runs in .ci/run).

``docs/_ext/public_api.py`` decides what the strict build rejects: a public name without its own
docstring, a public method without one, an exported error without a ``Fix:`` paragraph. These
tests show the rule catches each, and that flowgen's own public API passes it. Every page of
``docs/`` must also be reachable from the site's table of contents.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import public_api  # noqa: E402


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("fake_public")

    def documented() -> None:
        """I am documented."""

    def bare() -> None:
        pass

    class Thing:
        """A documented class."""

        def method(self) -> None:
            pass

        @property
        def value(self) -> int:
            """Documented."""
            return 1

    class Undocumented(Thing):
        pass

    class NoFixError(Exception):
        """An error that says what happened but not what to do."""

    class GoodError(Exception):
        """An error.

        Fix: do the right thing.
        """

    for obj in (documented, bare, Thing, Undocumented, NoFixError, GoodError):
        setattr(module, obj.__name__, obj)
    module.__all__ = ["documented", "bare", "Thing", "Undocumented", "NoFixError", "GoodError"]
    monkeypatch.setitem(sys.modules, "fake_public", module)
    return module


def test_the_rule_reports_each_kind_of_gap(fake_module: types.ModuleType) -> None:
    assert sorted(public_api.undocumented("fake_public")) == [
        "fake_public.NoFixError (its docstring has no 'Fix:' paragraph)",
        "fake_public.Thing.method",
        "fake_public.Undocumented",
        "fake_public.bare",
    ]
    assert public_api.fix_of(fake_module.GoodError) == "do the right thing."


@pytest.mark.parametrize("module", ["flowgen", "flowgen.testing"])
def test_every_public_name_of_flowgen_is_documented(module: str) -> None:
    assert list(public_api.undocumented(module)) == []


def test_every_page_is_in_the_table_of_contents() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([\w/-]+)$", index, re.MULTILINE))
    pages = {
        str(path.relative_to(DOCS).with_suffix(""))
        for pattern in ("*.md", "*.rst")
        for path in DOCS.rglob(pattern)
    }
    pages -= {"index"} | {page for page in pages if page.startswith("_build")}
    assert pages - listed == set(), "add these pages to a toctree in docs/index.md"
