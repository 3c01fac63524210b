"""Braze answers and queued events, as the unit tests build them."""

from __future__ import annotations

from typing import Any

from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.usecases.queue_batch import QueueRecord

OK = BrazeResponse(201, {"message": "success"})
THROTTLED = BrazeResponse(429, "", {"X-RateLimit-Reset": "0"})


def event(key: str, user: str, *, first_seen: float = 0.0, seq: int = 0, **attributes: Any) -> PendingEvent:
    body = {"partner": "RudderStack", "attributes": [{"external_id": user, **attributes}]}
    return PendingEvent(key, f"u:{user}", [BrazeRequest("/users/track", body)], first_seen, seq=seq)


def records(*events: PendingEvent) -> list[QueueRecord]:
    return [QueueRecord(f"sqs-{e.key}", f"receipt-{e.key}", e.to_message()) for e in events]
