"""Request bodies and files → a list of RudderStack events.

Accepted shapes: one event object (RudderStack's Webhook destination), a JSON array of events (its HTTP Webhook
destination batches up to 100), the HTTP API envelope ``{"batch": [...]}``, and JSON Lines (one event per line).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
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


def content_key(event: Any) -> str:
    """An idempotency key for an event that has no messageId: a digest of its content, so that a re-sent copy of
    the same payload is recognised as the same event."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    # surrogatepass: a lone surrogate must not stop the digest; validation refuses the event with its path.
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fill_server_fields(event: dict[str, Any], received_at: datetime) -> None:
    """What RudderStack's gateway and processor add before a destination sees an event, for SDKs and servers that
    call the bridge directly: a messageId (here from the content, see :func:`content_key`), ``receivedAt``, and the
    time fields by rudder-server's rule: a parseable ``timestamp`` is kept; otherwise it is
    ``receivedAt - (sentAt - originalTimestamp)``, where a missing ``sentAt`` or ``originalTimestamp`` counts as
    ``receivedAt`` (and is filled in with it), so only a client's clock skew is corrected, never its delay."""
    if not isinstance(event.get("messageId"), str) or not event["messageId"]:
        event["messageId"] = content_key(event)
    event.setdefault("receivedAt", _iso(received_at))
    sent = _parse_time(event.get("sentAt"))
    original = _parse_time(event.get("originalTimestamp"))
    if original is None:
        event["originalTimestamp"] = _iso(received_at)
    if sent is None:
        event["sentAt"] = _iso(received_at)
    if _parse_time(event.get("timestamp")) is None:
        event["timestamp"] = _iso(received_at - ((sent or received_at) - (original or received_at)))


# How far before its arrival an event's own clock may place it among its user's events: longer than an SDK keeps
# events before flushing them (the Node SDK: 10 s), short enough that a wrong clock moves an event only this much.
CLOCK_WINDOW_SECONDS = 30.0


def happened_at(event: dict[str, Any], arrived: float) -> float:
    """When an event happened, for ordering one user's events: its sender's clock (``originalTimestamp``, else
    ``timestamp``), kept within :data:`CLOCK_WINDOW_SECONDS` before the event reached RudderStack or the bridge
    (``receivedAt``, else ``arrived``). An SDK whose flushes overlap (the Node SDK's do) gets its calls' order back,
    whichever request arrived first; for a sender whose events arrive in order, the order stays as it was."""
    received = _parse_time(event.get("receivedAt"))
    arrival = received.timestamp() if received is not None else arrived
    stamped = _parse_time(event.get("originalTimestamp")) or _parse_time(event.get("timestamp"))
    own = stamped.timestamp() if stamped is not None else arrival
    return max(arrival - CLOCK_WINDOW_SECONDS, min(arrival, own))
