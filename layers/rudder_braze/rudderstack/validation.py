"""Schema validation of RudderStack events.

``jsonschema`` is the validator of record: the schemas are draft-07 files in ``schemas/`` and every error message
comes from a ``jsonschema`` validator. On the hot path the same schemas run as ``fastjsonschema`` code (the engine
of Powertools' validation utility, which implements draft-07 fully); only an event it rejects is validated again
by ``jsonschema`` to say what is wrong and where. A differential test keeps the two in agreement.

The layer build writes that code ahead of time into ``rudder_braze.compiled_schemas`` (:func:`write_compiled`), so
a cold start neither imports fastjsonschema (~17 ms) nor compiles a schema (~4 ms each); a source checkout, which
has no such package, compiles each schema on first use.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rudder_braze.errors import EventError
from rudder_braze.rudderstack.values import check_values

if TYPE_CHECKING:  # jsonschema is imported when an event is invalid, not at cold start (about 90 ms)
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

_SCHEMAS = Path(__file__).parent / "schemas"
EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
_JSON_TYPES = {"object": "an object", "array": "an array", "string": "a string", "number": "a number", "null": "null"}


def load_schema(name: str) -> dict[str, Any]:
    """The schema of one event type (``track``…), or ``batch``, as a single self-contained document."""
    specific: dict[str, Any] = json.loads((_SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    if name == "batch":
        return specific
    common = json.loads((_SCHEMAS / "common.json").read_text(encoding="utf-8"))
    return {"$schema": specific["$schema"], "title": specific["title"], "allOf": [common, specific]}


@cache
def record_validator(name: str) -> Draft7Validator:
    """The ``jsonschema`` validator of record for one schema, built once (one per call is 35 times slower)."""
    from jsonschema import Draft7Validator

    return Draft7Validator(load_schema(name))


@cache
def fast_validator(name: str) -> Callable[[Any], Any]:
    """The hot-path validator for one schema: written by the layer build, else compiled now. It raises a
    ``ValueError`` (fastjsonschema's ``JsonSchemaValueException``) for an invalid event."""
    try:
        validator: Callable[[Any], Any] = importlib.import_module(f"{COMPILED_PACKAGE}.{name}").validate
    except ModuleNotFoundError:
        import fastjsonschema

        validator = fastjsonschema.compile(load_schema(name))
    return validator


COMPILED_PACKAGE = "rudder_braze.compiled_schemas"
# The generated modules import these two names from fastjsonschema; the build points them here instead, so that
# the package (and its code generator) is not imported at run time.
_EXCEPTIONS = '''"""Validators generated from schemas/ by rudder_braze.validation.write_compiled (layer build)."""


class JsonSchemaValueException(ValueError):
    def __init__(self, message, value=None, name=None, definition=None, rule=None):
        super().__init__(message)
        self.message, self.value, self.name, self.definition, self.rule = message, value, name, definition, rule


class JsonSchemaValuesException(ValueError):
    def __init__(self, errors):
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors
'''
_EXCEPTION_NAMES = "JsonSchemaValueException, JsonSchemaValuesException"
_GENERATED_IMPORT = f"from fastjsonschema import {_EXCEPTION_NAMES}"


def write_compiled(target: Path) -> None:
    """Write the validator of every schema as Python source into ``target`` (the ``compiled_schemas`` package)."""
    import fastjsonschema

    target.mkdir(parents=True, exist_ok=True)
    (target / "__init__.py").write_text(_EXCEPTIONS, encoding="utf-8")
    for name in EVENT_TYPES:
        code = fastjsonschema.compile_to_code(load_schema(name))
        if _GENERATED_IMPORT not in code:
            raise RuntimeError(f"fastjsonschema's generated code changed: no {_GENERATED_IMPORT!r}")
        code = code.replace(_GENERATED_IMPORT, f"from {COMPILED_PACKAGE} import {_EXCEPTION_NAMES}")
        (target / f"{name}.py").write_text(code, encoding="utf-8")


def json_path(parts: Any) -> str:
    """``["context", "traits", 0]`` → ``$.context.traits[0]``."""
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def describe(error: ValidationError) -> tuple[str, str]:
    """A ``jsonschema`` error → ``(json path, reason)`` in plain words."""
    path = json_path(error.absolute_path)
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        return f"{path}.{missing}" if path != "$" else f"$.{missing}", "is required"
    if error.validator == "type":
        value = error.validator_value
        expected = [str(t) for t in value] if isinstance(value, list) else [str(value)]
        words = " or ".join(_JSON_TYPES.get(t, t) for t in expected)
        return path, f"must be {words}, not {_kind(error.instance)}"
    if error.validator == "minLength":
        return path, "must not be empty"
    if error.validator == "maxLength":
        return path, f"must be at most {error.validator_value} characters"
    return path, str(error.message)


def validate_event(event: Any) -> str:
    """Check one event against the schema of its type; return the lower-cased type or raise :class:`EventError`."""
    if not isinstance(event, dict):
        raise EventError(f"an event must be a JSON object, not {_kind(event)}", "$")
    kind = event.get("type")
    if not isinstance(kind, str):
        raise EventError("is required" if kind is None else "must be a string", "$.type")
    check_values(event)
    name = kind.lower()
    if name not in EVENT_TYPES:
        raise EventError(f"Message type {kind} is not supported", "$.type")
    try:
        fast_validator(name)(event)
    except ValueError:  # JsonSchemaValueException, generated or fastjsonschema's
        from jsonschema.exceptions import best_match

        error = best_match(record_validator(name).iter_errors(event))
        if error is None:  # the validators disagree: trust the validator of record
            return name
        path, reason = describe(error)
        raise EventError(f"{name}: {path} {reason}", path) from None
    return name


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
