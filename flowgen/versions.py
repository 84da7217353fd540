"""The code version a run started under: ``Engine(version=...)``, ``flowgen worker --version``.

Each run records the version of the code that started it (``RunInfo.version``), so an operator
can tell which runs predate a change before removing a patch (docs/versioning.md). The version
is whatever the engine was given; without one it is the version of the installed distribution
named like the workflow's top-level package (``importlib.metadata``), else that package's
``__version__``, and unset when there is neither. Child
runs and ``continue_as_new`` record the version of the worker that starts them.

The version is stored in the run's call document next to its arguments; the run's
fingerprint leaves it out, so starting an existing run id again after a deploy is not a conflict.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

from .errors import ConfigurationError

MAX_VERSION = 100


def check_version(version: Any) -> str | None:
    """Return ``version`` if it is ``None`` or a usable version text, else raise ``ConfigurationError``."""
    if version is None:
        return None
    if not isinstance(version, str) or not version or len(version) > MAX_VERSION or not version.isprintable():
        raise ConfigurationError(
            f"version must be a str of 1 to {MAX_VERSION} printable characters such as '2.4.1' or a git "
            f"commit, got {version!r}"
        )
    return version


@functools.cache
def package_version(module: str) -> str | None:
    """The version of the code in ``module``: its top-level package's distribution, else its ``__version__``.

    Two cheap looks (no scan of every installed distribution, which costs a second in a large
    environment): the installed distribution named like the top-level package, then that
    package's ``__version__`` attribute when it is already imported.
    """
    import importlib.metadata  # here, not at import: 0.1 s of every process's start-up otherwise

    top = module.partition(".")[0]
    try:
        return importlib.metadata.version(top)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        pass
    version = getattr(sys.modules.get(top), "__version__", None)
    return version if isinstance(version, str) and version else None


def recorded_version(call_text: str) -> str | None:
    """The version in a stored call document (JSON, sealed or not), without building its values.

    Only shown (``RunInfo.version``), never acted on, so the seal is not needed to read it; a
    pickled call (``serializer="pickle"``) is read by :func:`flowgen.inspection` through the
    serializer instead.
    """
    text = call_text
    if text.startswith("!json1:"):
        text = text.split(":", 2)[2] if text.count(":") >= 2 else ""
    if not text.startswith("{"):
        return None
    try:
        version = json.loads(text).get("version")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def code_version(configured: str | None, workflow: Any) -> str | None:
    """The version a new run of ``workflow`` (a ``Workflow`` or ``None``) records."""
    if configured is not None:
        return configured
    module = getattr(getattr(workflow, "fn", None), "__module__", None)
    return package_version(module) if isinstance(module, str) else None


__all__ = ["check_version", "code_version", "package_version", "recorded_version"]
