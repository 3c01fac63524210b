"""Request bodies and files → a list of RudderStack events.

Accepted shapes: one event object (RudderStack's Webhook destination), a JSON array of events (its HTTP Webhook
destination batches up to 100), the HTTP API envelope ``{"batch": [...]}``, and JSON Lines (one event per line).
"""

from __future__ import annotations

import json
from typing import Any

from rudder_braze.errors import InputError


def _reject_constant(name: str) -> Any:
    raise InputError(f"{name} is not valid JSON (use null or a finite number)")


def loads(text: str | bytes) -> Any:
    """Strict JSON: UTF-8 only, no ``NaN`` / ``Infinity``, no nesting deep enough to exhaust the stack."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputError("the body is nested too deeply") from None


def events_of(document: Any) -> list[Any]:
    """The events of a parsed body: an object, an array, or ``{"batch": [...]}``."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if "batch" in document and "type" not in document:
            batch = document["batch"]
            if not isinstance(batch, list):
                raise InputError("$.batch must be an array of events")
            return batch
        return [document]
    raise InputError('the body must be an event object, an array of events or {"batch": [...]}')


def read_events(text: str | bytes) -> list[Any]:
    """Parse any accepted shape, JSON Lines included."""
    try:
        return events_of(loads(text))
    except InputError:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        lines = [line for line in raw.splitlines() if line.strip()]
        if len(lines) < 2:
            raise
    events: list[Any] = []
    for number, line in enumerate(lines, start=1):
        try:
            events.extend(events_of(loads(line)))
        except InputError as exc:
            raise InputError(f"line {number}: {exc}") from None
    return events
