"""What counts as documented in flowgen's public API (used by the docs build and its tests).

Kept free of Sphinx so the test suite can check the rule without the ``docs`` extra.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

FIX_MARK = "Fix:"


def is_error(obj: Any) -> bool:
    """Whether ``obj`` is an exception class."""
    return inspect.isclass(obj) and issubclass(obj, BaseException)


def public_names(module: ModuleType) -> list[str]:
    """The names a module exports (its ``__all__``)."""
    return list(getattr(module, "__all__", ()))


def paragraphs(obj: Any) -> list[str]:
    """The paragraphs of an object's docstring, each on one line."""
    doc = inspect.getdoc(obj) or ""
    return [" ".join(part.split()) for part in doc.split("\n\n") if part.strip()]


def fix_of(error: type[BaseException]) -> str | None:
    """The ``Fix:`` paragraph of an error's own docstring (not inherited), without the mark."""
    own = inspect.cleandoc(error.__dict__.get("__doc__") or "")
    for paragraph in (" ".join(part.split()) for part in own.split("\n\n")):
        if paragraph.startswith(FIX_MARK):
            return paragraph[len(FIX_MARK) :].strip()
    return None


def undocumented(module_name: str) -> Iterator[str]:
    """Every public name of ``module_name`` that lacks documentation, as ``module.name``."""
    module = importlib.import_module(module_name)
    for name in public_names(module):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj)):
            continue
        own_doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        if not (own_doc or "").strip():
            yield f"{module_name}.{name}"
        if is_error(obj) and fix_of(obj) is None:
            yield f"{module_name}.{name} (its docstring has no 'Fix:' paragraph)"
        if inspect.isclass(obj):
            for member_name, member in vars(obj).items():
                if member_name.startswith("_"):
                    continue
                target = member.fget if isinstance(member, property) else member
                if isinstance(target, (staticmethod, classmethod)):
                    target = target.__func__
                if inspect.isfunction(target) and not inspect.getdoc(target):
                    yield f"{module_name}.{name}.{member_name}"
