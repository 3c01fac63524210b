"""Events and shortcuts the mapping tests share."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.config import load_settings
from rudder_braze.errors import EventError
from rudder_braze.mapping.transform import transform_event

DEFAULT = load_settings({})
TS = "2024-06-01T12:00:00.000Z"


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": "m-1", "timestamp": TS, **fields}


def track_body(message: dict[str, Any], settings: Any = DEFAULT) -> dict[str, Any]:
    requests = transform_event(message, settings)
    assert [r.path for r in requests] == ["/users/track"]
    return requests[0].body


def attributes_of(traits: dict[str, Any], settings: Any = DEFAULT) -> dict[str, Any]:
    body = track_body(event("identify", userId="u1", traits=traits), settings)
    attributes: dict[str, Any] = body["attributes"][0]
    return attributes


def rejection(message: dict[str, Any], settings: Any = DEFAULT) -> EventError:
    with pytest.raises(EventError) as caught:
        transform_event(message, settings)
    return caught.value
