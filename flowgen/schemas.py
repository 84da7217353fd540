"""Schemas: parameters, step results and event payloads validated and converted to classes.

A workflow or step parameter, or a step's return value, annotated with a **schema** (a pydantic
model, a dataclass or an attrs class) is validated and converted where it crosses a boundary:

* when a run starts (``Engine.start``, ``start_many``, ``child``, the CLI): a ``dict`` given for
  a ``Payment`` parameter becomes a ``Payment``; one that does not fit is a :class:`SchemaError`
  to the caller, naming the workflow, the parameter and the field, and nothing is created;
* when a workflow calls a step (its arguments) and when a step returns (its result: a result
  that does not fit fails the step with the validation message, without retries: it is not
  transient);
* when a run receives an event waited for with ``wait_for_event("paid", schema=Payment)``
  (a payload that does not fit raises :class:`SchemaError` into the workflow at that ``yield``).

Pydantic (the ``[pydantic]`` extra) is used when it is installed: it validates models and
dataclasses field by field, nested ones included. Without it dataclasses and attrs classes are
built from a ``dict`` with their own constructor (their own validators run), and nothing
imports pydantic. Annotations that are not schemas (``int``, ``list[str]``) are left alone.
Converted values are stored as tagged JSON (:mod:`flowgen.tagged`), so a workflow receives the
class on replay as on the first run.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .errors import NonRetryableError


class SchemaError(NonRetryableError, ValueError):
    """A value does not fit its schema (the message names where and which field).

    Raised to the caller of ``start`` for arguments, raised into the workflow for an event
    payload, and the error of a step whose result does not fit (never retried).

    Fix: read the message: it names the argument, result or event and each field that does not
    fit, with the value given; pass a value of the schema's shape (docs/typing.md).
    """


def _pydantic() -> Any:
    """The pydantic module if it is installed (imported only then), else ``None``."""
    try:
        import pydantic
    except ImportError:
        return None
    return pydantic


def is_model_class(cls: Any) -> bool:
    """Whether ``cls`` is a pydantic model class (without importing pydantic if nothing did)."""
    module = sys.modules.get("pydantic")
    return module is not None and isinstance(cls, type) and issubclass(cls, module.BaseModel)


def is_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic model instance."""
    return is_model_class(type(value))


def is_schema_class(cls: Any) -> bool:
    """Whether ``cls`` is a class flowgen validates against: a pydantic model, dataclass or attrs class."""
    return isinstance(cls, type) and (dataclasses.is_dataclass(cls) or attrs.has(cls) or is_model_class(cls))


def check_schema(schema: Any, *, what: str) -> type:
    """Return ``schema`` if it is a schema class, else raise ``TypeError`` saying what is accepted."""
    if not is_schema_class(schema):
        raise TypeError(
            f"{what}: the schema must be a class: a pydantic model, a dataclass or an attrs class, got "
            f"{schema!r}" + (" (an instance; pass its class)" if is_schema_class(type(schema)) else "")
        )
    validator_for(schema, what=what)
    return typing.cast(type, schema)


_validators: dict[type, Callable[[Any], Any]] = {}


def validator_for(cls: type, *, what: str) -> Callable[[Any], Any]:
    """Build (once per class) the function that converts a value to ``cls`` or raises.

    Raises:
        TypeError: pydantic cannot build a validator for ``cls`` (a field of a type it does
            not know), named with ``what``.
    """
    found = _validators.get(cls)
    if found is not None:
        return found
    pydantic = _pydantic()
    validate: Callable[[Any], Any]
    if is_model_class(cls):
        validate = typing.cast(Any, cls).model_validate
    elif pydantic is not None and dataclasses.is_dataclass(cls):
        try:
            validate = pydantic.TypeAdapter(cls).validate_python
        except pydantic.PydanticSchemaGenerationError as error:
            raise TypeError(
                f"{what}: pydantic cannot build a validator for {cls.__qualname__}: {error}. Give the field "
                "a type pydantic knows, or set model_config = ConfigDict(arbitrary_types_allowed=True)"
            ) from None
    else:
        validate = _constructor_validator(cls)
    _validators[cls] = validate
    return validate


def _constructor_validator(cls: type) -> Callable[[Any], Any]:
    """Without pydantic: an instance passes, a mapping is the constructor's keyword arguments."""

    def validate(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a {cls.__qualname__} or a dict of its fields, got {type(value).__name__}"
            )
        return cls(**value)

    return validate


def convert(cls: type, value: Any, where: str) -> Any:
    """Return ``value`` as a ``cls`` (validated), or raise :class:`SchemaError` naming ``where``."""
    if type(value) is cls and not is_model_class(cls):
        return value
    try:
        return validator_for(cls, what=where)(value)
    except SchemaError:
        raise
    except (ValueError, TypeError) as error:
        raise SchemaError(f"{where} does not fit {cls.__qualname__}: {_describe(error)}") from None


def _describe(error: BaseException) -> str:
    """A validation error in one paragraph: pydantic's names each field (``amount: Input should...``)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            details = errors(include_url=False)
        except TypeError:
            details = errors()
        parts = [
            f"field {'.'.join(str(item) for item in detail.get('loc', ())) or '(the value)'!r}: "
            f"{detail.get('msg', '')} (given {detail.get('input')!r:.60})"
            for detail in details
        ]
        if parts:
            return "; ".join(parts)
    return str(error)


@attrs.frozen
class Signature:
    """What flowgen knows of a function's interface: its signature and the schemas it annotates."""

    signature: inspect.Signature
    parameters: Mapping[str, type]
    result: type | None
    resolved: bool = True
    """False when an annotation named something not defined yet: read again on the next use
    (until the function's module is imported, see :func:`signature_of`)."""
    fitting: set[tuple[int, tuple[str, ...]]] = attrs.field(factory=set, eq=False)
    """Call shapes (how many positional arguments, which keywords) known to bind: binding
    depends on nothing else, so a step called in a loop is bound once (signatures.py)."""


class _Annotation:
    """One annotation of a function, on its own, for :func:`typing.get_type_hints`."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.__annotations__ = {name: annotation}


def _type_hints(fn: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """``fn``'s annotations evaluated, and whether all of them could be.

    Evaluated one by one when they cannot all be: a name imported only under ``TYPE_CHECKING``
    (``Generator`` in ``-> Generator[...]``, as linters suggest) must not hide the schema of
    another parameter. A name that fails may be defined later in its module: the caller reads
    the function again at its first use.
    """
    try:
        return typing.get_type_hints(fn), True
    except Exception:
        pass
    target = inspect.unwrap(fn)
    namespace = getattr(target, "__globals__", {})
    hints: dict[str, Any] = {}
    complete = True
    for name, annotation in getattr(target, "__annotations__", {}).items():
        try:
            hints.update(typing.get_type_hints(_Annotation(name, annotation), globalns=namespace))
        except Exception:
            complete = False
    return hints, complete


def signature_of(fn: Callable[..., Any], *, what: str, retry: bool = True) -> Signature:
    """Read ``fn``'s signature and its schema annotations (checked now: errors at declaration).

    ``retry``: whether a signature with an annotation that cannot be evaluated yet is to be read
    again at the next use (``Signature.resolved`` false). The declarations pass false once the
    function's module is imported: a name still missing then is one imported only for type
    checkers, and that annotation is left unchecked rather than evaluated at every call.
    """
    signature = inspect.signature(fn)
    hints, resolved = _type_hints(fn)
    resolved = resolved or not retry
    parameters = {
        name: check_schema(hints[name], what=f"{what}, parameter {name!r}")
        for name in signature.parameters
        if is_schema_class(hints.get(name))
    }
    returned = hints.get("return")
    result = check_schema(returned, what=f"{what}, return annotation") if is_schema_class(returned) else None
    return Signature(signature, parameters, result, resolved)


__all__ = [
    "SchemaError",
    "Signature",
    "check_schema",
    "convert",
    "is_model",
    "is_model_class",
    "is_schema_class",
    "signature_of",
    "validator_for",
]
