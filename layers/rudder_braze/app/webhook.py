"""The webhook's HTTP contract, independent of API Gateway and Lambda.

Routes: ``/v1/webhook`` (one event, or an array as RudderStack's HTTP Webhook destination sends),
``/v1/batch`` (``{"batch": [...]}``), ``/v1/<type>`` (RudderStack's HTTP API shapes, which its SDKs call) and
``/v1/deletions`` (users to delete from Braze: :mod:`rudder_braze.app.deletions`).

Status codes are chosen for RudderStack's retry rules: 200 delivered · 202 queued for retry (``/v1/webhook`` only:
the SDK routes answer 200, as RudderStack's gateway does, because its Python SDK resends anything but a 200) ·
400 invalid events (listed one by one; the valid events of the body are still delivered) · 401 · 403 a source
outside the allowlist · 413 too large ·
415 not JSON or an unknown ``Content-Encoding`` · 503 only when an accepted event could be neither delivered nor
queued (the sender retries; nothing is lost). Every error body carries ``code`` and ``message``, which
RudderStack's SDKs read.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rudder_braze.app.auth import Access, is_authorized
from rudder_braze.errors import InputError
from rudder_braze.limits import MAX_BODY_BYTES, MAX_EVENTS
from rudder_braze.mapping.transform import SUPPORTED_TYPES
from rudder_braze.rudderstack.body import BodyError, decode_body
from rudder_braze.rudderstack.events import events_of, fill_server_fields, loads
from rudder_braze.usecases.ingest import IngestResult

log = logging.getLogger("rudder_braze")

DELETIONS = "deletions"
_JSON_MEDIA_TYPES = ("application/json", "text/json", "text/plain")
# Codes of the answers the use case builds (the SDKs read ``code`` and ``message`` from every non-200 answer).
_SERVICE_CODES = {400: "invalid_events", 503: "retry_later"}


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A request as API Gateway hands it over, whichever the API type."""

    route: str  # webhook, batch or an event type (track…)
    headers: Mapping[str, str]
    body: bytes
    received_at: float | None = None  # when API Gateway received it (epoch seconds): the events' receivedAt
    source_ip: str | None = None


@dataclass(slots=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    result: IngestResult | None = None


def _error(status: int, code: str, message: str, **extra: Any) -> HttpAnswer:
    return HttpAnswer(status, {"code": code, "message": message, "error": message, **extra})


class _Refused(Exception):
    """The request is refused as a whole, with this answer."""

    def __init__(self, answer: HttpAnswer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _is_json_media_type(content_type: str | None) -> bool:
    if content_type is None:
        return True  # RudderStack always sends one; tolerate clients that do not
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _JSON_MEDIA_TYPES or media_type.endswith("+json")


# The routes RudderStack's SDKs call. Their senders set whatever Content-Type their HTTP library picks (the Node
# SDK's axios labels a gzip Buffer application/x-www-form-urlencoded); RudderStack's gateway reads the body as JSON
# whatever it says, and so do these routes. /v1/webhook keeps the check: RudderStack's Webhook destination always
# sends application/json, and anything else there is a misconfigured sender better told than guessed at.
def is_sdk_route(route: str) -> bool:
    """``batch`` and the event types are RudderStack's HTTP API, which its SDKs call; ``webhook`` and
    ``deletions`` are not."""
    return route not in ("webhook", DELETIONS)


def answer_for(result: IngestResult) -> tuple[int, dict[str, Any]]:
    """Status and body for what became of a body's events: 503 if some accepted events could be neither delivered
    nor queued, or another request holds some; 400 if some were invalid; 202 if some were queued; else 200. The
    body always tallies what happened to each event."""
    tally = Counter(result.outcomes.values())
    body: dict[str, Any] = {
        "received": result.received,
        "delivered": tally["delivered"],
        "queued": tally["queued"],
        "dead_lettered": tally["dead_lettered"],
        "duplicates": tally["duplicate"],
        "filtered": tally["filtered"],
        "rejected": result.rejected,
    }
    if result.unqueued:
        message = f"could not queue {len(result.unqueued)} accepted event(s) ({result.unqueued_cause}); retry later"
        return 503, {**body, "error": message, "unqueued": result.unqueued}
    if result.partial_errors:
        body["partial_errors"] = result.partial_errors
    if result.in_progress:
        return 503, {**body, "in_progress": result.in_progress,
                     "error": "some events are being processed by another request"}  # fmt: skip
    return (400 if result.rejected else 202 if tally["queued"] else 200), body


def _service_answer(route: str, result: IngestResult) -> HttpAnswer:
    """The use case's result, in this route's dialect: 200 for queued events on the SDK routes, and ``code`` and
    ``message`` on every error."""
    status, body = answer_for(result)
    if status == 202 and is_sdk_route(route):
        status = 200  # accepted and durably queued: RudderStack's gateway answers 200, and the SDKs expect it
    if status >= 400:
        rejected = body.get("rejected") or []
        message = body.get("error") or f"{len(rejected)} of {body.get('received')} events were refused; see rejected"
        body = {"code": _SERVICE_CODES.get(status, "error"), "message": message, **body}
    return HttpAnswer(status, body, result=result)


def _log_refused(route: str, body: Mapping[str, Any]) -> None:
    """One line per refused event: where and why, never the value."""
    for entry in body.get("rejected") or ():
        log.warning(
            "event refused",
            extra={"messageId": entry.get("messageId"), "route": route, "path": entry.get("path"),
                   "reason": entry.get("reason"), "index": entry.get("index")},
        )  # fmt: skip


class Ingest(Protocol):
    """The use case the webhook hands a body's events to (:class:`rudder_braze.usecases.ingest.IngestService`)."""

    def handle(
        self, events: list[Any], remaining_ms: Callable[[], int], *, sender_keeps_order: bool = False
    ) -> IngestResult: ...


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_body_bytes: int = MAX_BODY_BYTES
    max_events: int = MAX_EVENTS


class DeletionRoute(Protocol):
    """``/v1/deletions`` once the request passed the checks every route shares (:mod:`rudder_braze.app.deletions`)."""

    def handle(self, document: Any, remaining_ms: Callable[[], int]) -> HttpAnswer: ...


@dataclass(frozen=True, slots=True)
class Routes:
    """What the routes beyond the SDKs' need: the deletions route, and whether ``/v1/webhook``'s senders send each
    user's events one at a time (SendersKeepUserOrder: RudderStack's Webhook destination with event ordering on).
    The SDKs' flushes can overlap, so their routes never count on it."""

    deletions: DeletionRoute | None = None
    senders_keep_order: bool = False


class Webhook:
    def __init__(
        self,
        service: Callable[[], Ingest],
        access: Access,
        routes: Routes = Routes(),
        *,
        limits: BodyLimits = BodyLimits(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self.access = access
        self._deletions = routes.deletions
        self.senders_keep_order = routes.senders_keep_order
        self.max_body_bytes = limits.max_body_bytes
        self.max_events = limits.max_events
        self.clock = clock

    def handle(self, request: WebhookRequest, remaining_ms: Callable[[], int]) -> HttpAnswer:
        """The request's answer; its events get ``receivedAt`` from when API Gateway received it (now if unknown)."""
        try:
            self._authorize(request)
            if request.route == DELETIONS and self._deletions is not None:
                return self._deletions.handle(self._document(request), remaining_ms)
            events = self._events(request.route, self._document(request))
        except _Refused as refused:
            return refused.answer
        except InputError as exc:
            return _error(400, "invalid_body", str(exc))
        if len(events) > self.max_events:
            message = f"the body holds {len(events)} events; the limit is {self.max_events}"
            return _error(413, "too_many_events", message)
        received_at = request.received_at
        moment = datetime.fromtimestamp(received_at if received_at is not None else self.clock(), UTC)
        for event in events:
            if isinstance(event, dict):
                fill_server_fields(event, moment)
        in_order = self.senders_keep_order and request.route == "webhook"
        result = self._service().handle(events, remaining_ms, sender_keeps_order=in_order)
        answer = _service_answer(request.route, result)
        _log_refused(request.route, answer.body)
        return answer

    def _authorize(self, request: WebhookRequest) -> None:
        if not self.access.allows_source(request.source_ip):
            raise _Refused(_error(403, "forbidden", "this source address may not call the webhook"))
        if not is_authorized(_header(request.headers, "authorization"), self.access.tokens()):
            answer = _error(401, "unauthorized", "unauthorized")
            answer.headers["WWW-Authenticate"] = 'Bearer realm="rudder-braze"'
            raise _Refused(answer)

    def _document(self, request: WebhookRequest) -> Any:
        """The body's JSON document, or the answer that refuses the whole body (size, media type, encoding, JSON)."""
        route, headers, body = request.route, request.headers, request.body
        if len(body) > self.max_body_bytes:
            raise _Refused(_error(413, "payload_too_large",
                                  f"the body is {len(body)} bytes; the limit is {self.max_body_bytes}"))  # fmt: skip
        if not is_sdk_route(route) and not _is_json_media_type(_header(headers, "content-type")):
            raise _Refused(_error(415, "unsupported_media_type", "Content-Type must be application/json"))
        try:
            decoded = decode_body(body, _header(headers, "content-encoding"), self.max_body_bytes)
        except BodyError as exc:
            raise _Refused(_error(exc.status, exc.code, str(exc))) from None
        if not decoded.strip():
            message = 'the body is empty; send an event, an array of events or {"batch": [...]}'
            raise _Refused(_error(400, "empty_body", message))
        try:
            return loads(decoded)
        except InputError as exc:
            if "not valid JSON" in str(exc) or "UTF-8" in str(exc):
                raise _Refused(_error(415, "invalid_json", str(exc))) from None
            raise _Refused(_error(400, "invalid_body", str(exc))) from None

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
