"""Arguments bound to a workflow's or a step's signature, and converted to its schemas.

``Engine.start``, ``start_many``, ``child``, ``start_child`` and the CLI call :func:`bind_call`
before anything is stored, so a run started with arguments its workflow cannot take is refused
at once (``TypeError`` naming the workflow, the parameter and what was given) instead of failing
later on a worker. A step call is bound the same way when the workflow makes it. Parameters
annotated with a schema (:mod:`flowgen.schemas`) are validated and converted on the way.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .schemas import Signature, convert


class Declared(Protocol):
    """A ``@flowgen.workflow`` or ``@flowgen.step``: a stable name and a signature."""

    @property
    def name(self) -> str: ...

    @property
    def interface(self) -> Signature: ...


def _given(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    parts = [f"{value!r:.60}" for value in args] + [f"{key}={value!r:.60}" for key, value in kwargs.items()]
    return f"({', '.join(parts)})"


def bind_call(
    target: Declared, args: Sequence[Any], kwargs: Mapping[str, Any], *, what: str = "workflow"
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Check that ``target`` can be called with ``args``/``kwargs``; return them converted to its schemas.

    The arguments keep their form (positional stay positional), so a run id started again with
    the same call keeps its fingerprint.

    Raises:
        TypeError: the call does not fit the signature; names ``what``, the parameter and the call.
        SchemaError: an argument does not fit the schema of its parameter (names the field).
    """
    interface = target.interface
    shape = (len(args), tuple(kwargs))
    if shape not in interface.fitting:
        try:
            interface.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(
                f"{what} {target.name!r} cannot be called with {_given(args, kwargs)}: {error}; its "
                f"signature is {target.name}{interface.signature}"
            ) from None
        interface.fitting.add(shape)
    args, kwargs = tuple(args), dict(kwargs)
    if not interface.parameters:
        return args, kwargs
    return convert_arguments(target, args, kwargs, what=what)


def convert_arguments(
    target: Declared, args: tuple[Any, ...], kwargs: dict[str, Any], *, what: str = "workflow"
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Convert the arguments whose parameter has a schema (the call is known to bind)."""
    schemas = target.interface.parameters
    if not schemas:
        return args, kwargs
    positional = [
        parameter.name
        for parameter in target.interface.signature.parameters.values()
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]

    def fit(name: str, value: Any) -> Any:
        schema = schemas.get(name)
        if schema is None:
            return value
        return convert(schema, value, f"argument {name!r} of {what} {target.name!r}")

    converted = tuple(
        fit(positional[index], value) if index < len(positional) else value
        for index, value in enumerate(args)
    )
    return converted, {name: fit(name, value) for name, value in kwargs.items()}


__all__ = ["Declared", "bind_call", "convert_arguments"]
