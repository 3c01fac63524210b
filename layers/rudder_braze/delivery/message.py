"""An accepted event on its way to Braze, and its queue message: the one format of the retry and delivery queues
(and of the progress the state table keeps of a retried event)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rudder_braze.braze.requests import BrazeRequest

QUEUE_FORMAT = 1


class QueueFormatError(ValueError):
    """A queue message this version cannot read."""


@dataclass(slots=True)
class PendingEvent:
    """One accepted event and the Braze requests it still needs. Carries no credential, ever."""

    key: str  # the event's messageId
    user: str  # ordering key: the user's updates are delivered in order
    requests: list[BrazeRequest]
    first_seen: float  # epoch seconds when the bridge accepted the event
    attempts: int = 0  # Braze deliveries tried and failed so far
    last_error: str | None = None
    seq: int = 0  # position in the body it came in: with first_seen, the order the bridge received events in
    happened_at: float | None = (
        None  # when the event happened, for ordering a user's events (rudderstack.events.happened_at)
    )

    def to_message(self) -> str:
        return json.dumps(
            {
                "v": QUEUE_FORMAT,
                "messageId": self.key,
                "user": self.user,
                "requests": [{"path": r.path, "body": r.body} for r in self.requests],
                "attempts": self.attempts,
                "firstSeen": self.first_seen,
                "lastError": self.last_error,
                "seq": self.seq,
                "happenedAt": self.happened_at,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_message(cls, text: str) -> PendingEvent:
        try:
            data = json.loads(text)
            if data.get("v") != QUEUE_FORMAT:
                raise QueueFormatError(f"queue message format {data.get('v')!r} is not {QUEUE_FORMAT}")
            return cls(
                key=str(data["messageId"]),
                user=str(data["user"]),
                requests=[BrazeRequest(r["path"], r["body"]) for r in data["requests"]],
                first_seen=float(data["firstSeen"]),
                attempts=int(data.get("attempts", 0)),
                last_error=data.get("lastError"),
                seq=int(data.get("seq", 0)),
                happened_at=None if data.get("happenedAt") is None else float(data["happenedAt"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise QueueFormatError(f"unreadable queue message: {exc}") from None


def trace_fields(event: PendingEvent) -> dict[str, Any]:
    """What the bridge's state keeps of an event for ``rudder-braze trace``: when it was received, the Braze paths
    of its requests, the attempts made and the last error. Never a payload value."""
    return {
        "receivedAt": round(event.first_seen, 3),
        "paths": sorted({request.path for request in event.requests}),
        "attempts": event.attempts,
        "lastError": event.last_error,
    }
