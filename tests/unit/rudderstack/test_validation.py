"""Schema errors name the event type, the JSON path and the reason; the hot-path validator agrees with jsonschema."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rudder_braze
from rudder_braze.errors import EventError
from rudder_braze.rudderstack.validation import (
    COMPILED_PACKAGE,
    EVENT_TYPES,
    fast_validator,
    record_validator,
    validate_event,
    write_compiled,
)
from tests import strategies


@pytest.mark.parametrize(
    ("event", "reason", "path"),
    [
        ({"type": "track", "userId": "u"}, "track: $.event is required", "$.event"),
        ({"type": "track", "event": ""}, "track: $.event must not be empty", "$.event"),
        ({"type": "identify", "traits": []}, "identify: $.traits must be an object or null, not an array", "$.traits"),
        (
            {"type": "page", "context": {"traits": "x"}},
            "page: $.context.traits must be an object or null, not a string",
            "$.context.traits",
        ),
        (
            {"type": "group", "userId": {"a": 1}},
            "group: $.userId must be a string or a number or null, not an object",
            "$.userId",
        ),
        (
            {"type": "alias", "context": {"externalId": [1]}},
            "alias: $.context.externalId[0] must be an object, not a number",
            "$.context.externalId[0]",
        ),
        ({"type": "foo"}, "Message type foo is not supported", "$.type"),
        ({"userId": "u"}, "is required", "$.type"),
        ([1], "an event must be a JSON object, not an array", "$"),
    ],
)
def test_errors_say_what_is_wrong_and_where(event: Any, reason: str, path: str) -> None:
    with pytest.raises(EventError) as caught:
        validate_event(event)
    assert (caught.value.reason, caught.value.path) == (reason, path)


@pytest.mark.parametrize("kind", ["identify", "TRACK", "Page", "screen", "group", "alias"])
def test_type_is_case_insensitive(kind: str) -> None:
    assert validate_event({"type": kind, "event": "E"}) == kind.lower()


# Values that exercise the schemas' types: strings, numbers, booleans, nulls, arrays, objects.
values = strategies.json_values(text_size=3, max_leaves=8, finite=False)
field_names = st.sampled_from(
    [
        "messageId",
        "userId",
        "anonymousId",
        "timestamp",
        "originalTimestamp",
        "traits",
        "integrations",
        "context",
        "event",
        "name",
        "groupId",
        "previousId",
        "properties",
    ]
)
context_values = st.fixed_dictionaries(
    {}, optional={"traits": values, "externalId": st.lists(values, max_size=2) | values}
)
events = st.builds(
    lambda kind, fields, context: {"type": kind, **fields, **({"context": context} if context is not None else {})},
    st.sampled_from(EVENT_TYPES),
    st.dictionaries(field_names, values, max_size=6),
    st.none() | context_values,
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_compiled_validator_accepts_and_rejects_exactly_what_jsonschema_does(event: dict[str, Any]) -> None:
    name = event["type"]
    assert accepts(fast_validator(name), event) == record_validator(name).is_valid(event), json.dumps(event)


def accepts(validator: Callable[[Any], Any], event: Any) -> bool:
    try:
        validator(event)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def built_validators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Callable[[Any], Any]]]:
    """The validators as the layer build writes them, imported from a temporary copy of the package."""
    root = tmp_path_factory.mktemp("layer")
    write_compiled(root / "compiled_schemas")
    rudder_braze.__path__.append(str(root))
    try:
        yield {name: importlib.import_module(f"{COMPILED_PACKAGE}.{name}").validate for name in EVENT_TYPES}
    finally:
        rudder_braze.__path__.remove(str(root))
        for module in [m for m in sys.modules if m.startswith(COMPILED_PACKAGE)]:
            del sys.modules[module]


def test_built_validators_do_not_import_fastjsonschema(built_validators: dict[str, Any]) -> None:
    for validator in built_validators.values():
        source = Path(validator.__code__.co_filename).read_text(encoding="utf-8")
        assert "import fastjsonschema" not in source and "from fastjsonschema" not in source


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events)
def test_built_validators_accept_and_reject_exactly_what_jsonschema_does(
    built_validators: dict[str, Callable[[Any], Any]], event: dict[str, Any]
) -> None:
    name = event["type"]
    assert accepts(built_validators[name], event) == record_validator(name).is_valid(event), json.dumps(event)
