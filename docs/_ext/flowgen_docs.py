"""Sphinx extension of flowgen's site: the generated API reference, the error tree, and the
check that every public name is documented.

* ``.. flowgen-api:: flowgen`` documents every name of a module's ``__all__`` (classes,
  functions, then the rest), so a name added to ``__all__`` appears in the reference without
  editing a page; errors are left to the error tree.
* ``.. flowgen-errors::`` draws the tree of :class:`flowgen.FlowgenError` subclasses that
  ``flowgen`` exports, each with its meaning (the docstring's first paragraph) and its fix (the
  docstring's ``Fix:`` paragraph).
* At start-up, a public name of ``flowgen`` or ``flowgen.testing`` without a docstring, a public
  method or property of such a class without one, or an exported error without a ``Fix:``
  paragraph is a warning, which the strict build (``-W``) turns into a failure.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from public_api import fix_of, is_error, paragraphs, public_names, undocumented

logger = logging.getLogger(__name__)

CHECKED_MODULES = ("flowgen", "flowgen.testing")


def _check_documented(app: Sphinx) -> None:
    for module_name in CHECKED_MODULES:
        for missing in undocumented(module_name):
            logger.warning("public name without a docstring: %s", missing)


class ApiDirective(SphinxDirective):
    """``.. flowgen-api:: module`` — autodoc entries for every name of ``module.__all__``."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        import flowgen

        classes, functions, data, reexported = [], [], [], []
        for name in public_names(module):
            obj = getattr(module, name)
            if module_name != "flowgen" and getattr(flowgen, name, None) is obj:
                reexported.append(name)  # documented once, under flowgen
                continue
            if is_error(obj) and module_name == "flowgen":
                continue  # flowgen's errors are on the error tree's page
            if inspect.isclass(obj):
                classes.append(name)
            elif inspect.isfunction(obj):
                functions.append(name)
            else:
                data.append(name)
        lines = [f".. currentmodule:: {module_name}", ""]
        if reexported:
            names = ", ".join(f":class:`flowgen.{name}`" for name in reexported)
            lines += [f"Also importable from here: {names}.", ""]
        errors = [name for name in classes if is_error(getattr(module, name))]
        classes = [name for name in classes if name not in errors]
        for title, names, directive in (
            ("Classes", classes, "autoclass"),
            ("Errors", errors, "autoexception"),
            ("Functions", functions, "autofunction"),
            ("Values", data, "autodata"),
        ):
            if not names:
                continue
            lines += [f".. rubric:: {title}", ""]
            for name in names:
                lines += [f".. {directive}:: {name}", ""]
                if directive == "autodata":
                    lines += ["   :annotation:", ""]
        return self._parse(lines)

    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), 0, container)
        return list(container.children)


class ErrorTreeDirective(SphinxDirective):
    """``.. flowgen-errors::`` — the exported error classes as a tree with meaning and fix."""

    def run(self) -> list[nodes.Node]:
        import flowgen

        exported = {getattr(flowgen, name) for name in flowgen.__all__ if is_error(getattr(flowgen, name))}
        lines: list[str] = [".. currentmodule:: flowgen", ""]
        self._branch(flowgen.FlowgenError, exported, 0, lines)
        lines += [".. rubric:: The error classes", ""]
        for error in sorted(exported, key=lambda e: (e is not flowgen.FlowgenError, e.__name__)):
            lines += [f".. autoexception:: {error.__name__}", "   :members:", ""]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), 0, container)
        return list(container.children)

    def _branch(self, error: type, exported: set[type], depth: int, lines: list[str]) -> None:
        indent = "   " * depth
        text = paragraphs(error)
        meaning = text[0] if text else ""
        fix = fix_of(error)
        builtin_bases = [
            base.__name__
            for base in error.__bases__
            if base.__module__ == "builtins" and base is not Exception
        ]
        also = f" (also a ``{'``, ``'.join(builtin_bases)}``)" if builtin_bases else ""
        lines.append(f"{indent}- :class:`{error.__name__}`{also}: {meaning}")
        if fix:
            lines += ["", f"{indent}  *Fix:* {fix}"]
        lines.append("")
        children = sorted(
            (sub for sub in error.__subclasses__() if sub in exported and _parent(sub, exported) is error),
            key=lambda sub: sub.__name__,
        )
        for child in children:
            self._branch(child, exported, depth + 1, lines)


def _parent(error: type, exported: set[type]) -> type | None:
    """The first base of ``error`` that is itself an exported flowgen error (its tree parent)."""
    for base in error.__mro__[1:]:
        if base in exported:
            return base
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("flowgen-api", ApiDirective)
    app.add_directive("flowgen-errors", ErrorTreeDirective)
    app.connect("builder-inited", _check_documented)
    return {"parallel_read_safe": True, "version": "1"}
