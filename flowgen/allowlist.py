"""Which classes a journal value or an error record may name: flowgen's allow-list.

Tagged values (enums, dataclasses, attrs classes) and error records name their class as
``module:qualname``. Whoever can write to the store (or forge a payload) chooses that text, so
decoding never imports a module and only builds a class that is on this list:

* classes defined in a module that registers a workflow or a step (``@flowgen.workflow`` and
  ``@flowgen.step`` put their module here when they register);
* flowgen's own classes;
* exception classes of the standard library, from modules this process has already imported;
* classes registered with :func:`register_type`, wherever they are defined.

The lookup walks ``qualname`` from the module object in ``sys.modules`` and accepts the result
only if it is a class whose own ``module:qualname`` is the path asked for, so a path cannot
reach, through an allowed module, a class defined elsewhere. Encoding checks the same list, so
a class that could not be read back is refused when it is written, with the fix in the message.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import threading
from typing import Any, TypeVar

import attrs

from . import schemas
from .errors import SerializationError

T = TypeVar("T", bound=type)

KINDS = ("enum", "dataclass", "attrs", "pydantic", "exception")

_modules: set[str] = set()
_types: dict[str, type] = {}
_known: set[tuple[type, str]] = set()
"""Classes already found allowed (the list only grows, so a yes stays a yes)."""
_lock = threading.Lock()
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins"}


def class_path(cls: type) -> str:
    """Return ``module:qualname``, the form stored in tagged values and error records."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register_type(cls: T, *more: type) -> T:
    """Allow journal values and error records to name ``cls`` (and ``more``); returns ``cls``.

    Needed for enums, dataclasses, attrs classes and exceptions defined outside the modules of
    your workflows and steps (a shared ``models`` module, a library's exception). Register them
    at import time in every process that runs or reads those runs; also usable as a class
    decorator::

        @flowgen.register_type
        @dataclasses.dataclass
        class Order: ...
    """
    for item in (cls, *more):
        if not isinstance(item, type):
            raise TypeError(f"flowgen.register_type() takes classes, got {item!r}")
        with _lock:
            _types[class_path(item)] = item
    return cls


def allow_module(name: str) -> None:
    """Allow the classes defined in module ``name`` (called when it registers a workflow or step)."""
    if name not in _modules:
        with _lock:
            _modules.add(name)


def _module_allowed(module: str, kind: str) -> bool:
    if module in _modules or module == "flowgen" or module.startswith("flowgen."):
        return True
    return kind == "exception" and module.partition(".")[0] in _STDLIB


def _is_kind(cls: Any, kind: str) -> bool:
    if not isinstance(cls, type):
        return False
    if kind == "enum":
        return issubclass(cls, enum.Enum)
    if kind == "dataclass":
        return dataclasses.is_dataclass(cls)
    if kind == "attrs":
        return attrs.has(cls)
    if kind == "pydantic":
        return schemas.is_model_class(cls)
    return issubclass(cls, BaseException)


def is_allowed(cls: type, kind: str) -> bool:
    """Whether decoding may build ``cls`` for a tagged value of ``kind``."""
    if (cls, kind) in _known:
        return True
    path = class_path(cls)
    allowed = _types.get(path) is cls or (_module_allowed(cls.__module__, kind) and _lookup(path) is cls)
    if allowed:
        _known.add((cls, kind))
    return allowed


def _lookup(path: str) -> Any:
    """Find ``module:qualname`` among imported modules without importing anything, else ``None``."""
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    if obj is None or not qualname:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if not isinstance(obj, type):
            return None
    return obj if class_path(obj) == path else None


def resolve(path: Any, kind: str) -> type:
    """Return the allowed class ``path`` names, checked to be of ``kind``.

    Raises:
        SerializationError: the path is malformed, not on the allow-list, not found in this
            process or not a class of that kind.
    """
    if not isinstance(path, str) or ":" not in path:
        raise SerializationError(f"a tagged {kind} names its class as {path!r}, not 'module:qualname'")
    cls = _types.get(path)
    if cls is None:
        module = path.partition(":")[0]
        if not _module_allowed(module, kind):
            raise SerializationError(not_allowed_message(path))
        cls = _lookup(path)
        if cls is None:
            raise SerializationError(
                f"class {path!r} is not defined in this process (its module {module!r} is not imported "
                "or has no such class); import it in every process that reads the journal"
            )
    if not _is_kind(cls, kind):
        raise SerializationError(f"{path!r} is not an {kind} class; refusing to build it")
    return cls


def not_allowed_message(path: str) -> str:
    """Explain that ``path`` is not on the allow-list and how to put it there."""
    return (
        f"class {path!r} is not on flowgen's allow-list: it is not defined in a module that registers "
        "a workflow or a step, and was not registered. Call flowgen.register_type(YourClass) at import "
        "time in every process of the deployment (decoding never imports a module a value names)"
    )
