"""Sphinx configuration of flowgen's documentation site.

Build it with ``python -m sphinx -E -W --keep-going -n -b html docs docs/_build/html`` (the
command .ci/run runs). ``-W`` makes every warning an error: a broken link between pages, a
reference to a name that does not exist, a page left out of the table of contents, a public name
of ``flowgen`` or ``flowgen.testing`` without a docstring (checked by ``_ext/flowgen_docs.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

project = "flowgen"
author = "the flowgen authors"
copyright = "2026, the flowgen authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
    "flowgen_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = "flowgen"

# Markdown: heading anchors so guides can link to sections (`page.md#a-heading`).
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

# The reference: members in source order, type hints in the description (readable signatures).
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Inherited members too (Engine's reading methods come from its base class), but not those of
# Python's own bases.
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "inherited-members": "BaseException,Exception,str,int,float,tuple,dict,Enum,object",
}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Names outside flowgen that docstrings mention: no inventory is fetched (the build is offline),
# so references to the standard library and to dependencies resolve to plain text.
nitpicky = True

# flowgen's internals that public signatures and bases mention, documented in the guides rather
# than in the reference (any name below them).
_INTERNAL_MODULES = [
    # the stores, transports, runtime, serializers, clocks (docs/architecture.md)
    *"inspection serialization stores transports runtime clock status engine engine_workers testing".split(),
    *"finding search".split(),  # finding runs (docs/operations.md): the engine's base and its query
    "observability",  # flowgen's own instrumentation (docs/observability.md)
    "schedules",  # the manager, declarations, views, store (docs/schedules.md)
]
# The same internals, and type names, where a signature names them without their module.
_BARE_NAMES = [
    *"P R T T_co TypeVar ParamSpec Any Callable Iterator Generator Mapping Sequence".split(),
    *"Clock Store Transport Serializer Runtime WorkerHandle TextEnum RunInspection".split(),
    *"MAX_BATCH FINISHED Duration cancellation_of MessageLimitError".split(),
    *"Schedules Declarations Declaration TickOfRun ScheduledRun".split(),
    r"zoneinfo\.ZoneInfo",
]
nitpick_ignore_regex = [
    (r"py:.*", r"(builtins|typing|collections|datetime|logging|threading|argparse|types)\..*"),
    (r"py:.*", r"(redis|dramatiq|attrs|attr|sqlite3|cloudpickle|pytest|_pytest)(\..*)?"),
    (r"py:.*", "(" + "|".join(_BARE_NAMES) + ")"),
    (r"py:class", r"(datetime|timedelta|Path|Exception|BaseException|Enum|StrEnum|str|int|float)"),
    (r"py:class", r"(random\.Random|os\.PathLike|uuid\.UUID|~P)"),
    (r"py:.*", r"flowgen\.(" + "|".join(_INTERNAL_MODULES) + r")\.[\w.]*"),
    (r"py:class", r"flowgen\.\w+\.[A-Z]"),  # type variables
    (r"py:class", r"flowgen\.decorators\._\w+"),  # private helper types of the decorators' overloads
    # issue 18: the type variables of the typed API, and the internals its signatures mention.
    (r"py:.*", r"~?flowgen\.[\w.]+\.(R|P|T\d?)"),
    (r"py:.*", r"flowgen\.(schemas\.Signature|decorators\._Declared|versions)"),
    (r"py:class", r"flowgen\.aio\.finding\.AsyncFinding"),  # the inspection half of AsyncEngine (its methods are AsyncEngine's)
]
