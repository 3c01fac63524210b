"""The webhook's HTTP contract, independent of API Gateway and Lambda.

Routes: ``/v1/webhook`` (one event, or an array as RudderStack's HTTP Webhook destination sends),
``/v1/batch`` (``{"batch": [...]}``) and ``/v1/<type>`` (RudderStack's HTTP API shapes).

Status codes are chosen for RudderStack's retry rules: 200 delivered · 202 queued for retry · 400 invalid events
(listed one by one; the valid events of the body are still delivered) · 401 · 413 too large · 415 not JSON ·
503 only when an accepted event could be neither delivered nor queued (RudderStack retries; nothing is lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rudder_braze.auth import is_authorized
from rudder_braze.errors import InputError
from rudder_braze.inputs import events_of, fill_server_fields, loads
from rudder_braze.mapping import SUPPORTED_TYPES
from rudder_braze.service import IngestResult, IngestService

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024  # RudderStack's own HTTP API limit for a batch
DEFAULT_MAX_EVENTS = 1000
_JSON_TYPES = ("application/json", "text/json", "text/plain")


@dataclass(slots=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    result: IngestResult | None = None


def _error(status: int, message: str, **extra: Any) -> HttpAnswer:
    return HttpAnswer(status, {"error": message, **extra})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _is_json_media_type(content_type: str | None) -> bool:
    if content_type is None:
        return True  # RudderStack always sends one; tolerate clients that do not
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _JSON_TYPES or media_type.endswith("+json")


class Webhook:
    def __init__(
        self,
        service: Callable[[], IngestService],
        tokens: Callable[[], list[str | None]],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_events: int = DEFAULT_MAX_EVENTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._tokens = tokens
        self.max_body_bytes = max_body_bytes
        self.max_events = max_events
        self.clock = clock

    def handle(
        self, route: str, headers: Mapping[str, str], body: bytes, remaining_ms: Callable[[], int]
    ) -> HttpAnswer:
        """``route`` is ``webhook``, ``batch`` or an event type (``track``…)."""
        if not is_authorized(_header(headers, "authorization"), self._tokens()):
            return HttpAnswer(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="rudder-braze"'})
        if len(body) > self.max_body_bytes:
            return _error(413, f"the body is {len(body)} bytes; the limit is {self.max_body_bytes}")
        if not _is_json_media_type(_header(headers, "content-type")):
            return _error(415, "Content-Type must be application/json")
        if not body.strip():
            return _error(400, 'the body is empty; send an event, an array of events or {"batch": [...]}')
        try:
            events = self._events(route, loads(body))
        except InputError as exc:
            status = 415 if "not valid JSON" in str(exc) or "UTF-8" in str(exc) else 400
            return _error(status, str(exc))
        if len(events) > self.max_events:
            return _error(413, f"the body holds {len(events)} events; the limit is {self.max_events}")
        received_at = datetime.fromtimestamp(self.clock(), UTC)
        for event in events:
            if isinstance(event, dict):
                fill_server_fields(event, received_at)
        result = self._service().handle(events, remaining_ms)
        return HttpAnswer(result.status, result.body, result=result)

    @staticmethod
    def _events(route: str, document: Any) -> list[Any]:
        if route == "webhook":
            return events_of(document)
        if route == "batch":
            if not isinstance(document, dict) or not isinstance(document.get("batch"), list):
                raise InputError('/v1/batch takes {"batch": [event, ...]}')
            return list(document["batch"])
        if route not in SUPPORTED_TYPES:
            raise InputError(f"/v1/{route} is not an event type; use one of {', '.join(sorted(SUPPORTED_TYPES))}")
        if not isinstance(document, dict):
            raise InputError(f"/v1/{route} takes one event object")
        declared = document.get("type")
        if declared is not None and (not isinstance(declared, str) or declared.lower() != route):
            raise InputError(f"$.type is {declared!r} but the event was posted to /v1/{route}")
        return [{**document, "type": route}]
