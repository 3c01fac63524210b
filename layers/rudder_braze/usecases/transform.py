"""The whole domain path for a body of events: parse → validate → map (→ pack). Used by the CLI and the Lambdas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rudder_braze.braze.requests import TRACK, BrazeRequest
from rudder_braze.config import BrazeSettings
from rudder_braze.delivery.dedup import DUPLICATE_USER, Fingerprints, deduplicate_requests
from rudder_braze.delivery.packing import pack
from rudder_braze.errors import EventError
from rudder_braze.mapping.transform import transform_event
from rudder_braze.rudderstack.events import read_events
from rudder_braze.rudderstack.filtering import filtered_reason
from rudder_braze.rudderstack.validation import validate_event
from rudder_braze.rudderstack.values import is_unicode


@dataclass(slots=True)
class EventResult:
    """The outcome for one input event: its Braze requests, or why it was rejected."""

    index: int
    message_id: str | None
    event_type: str | None
    requests: list[BrazeRequest] | None = None
    error: EventError | None = None
    # Set when an accepted event needs nothing sent (a fully de-duplicated identify): RudderStack's reason.
    filtered: str | None = None

    @property
    def key(self) -> str:
        """The id the delivery path tracks this event by: its messageId, or its position when it has none."""
        return self.message_id if self.message_id is not None else f"index:{self.index}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "messageId": self.message_id}
        if self.error is not None:
            out.update(status=self.error.status, error=self.error.reason, path=self.error.path)
        else:
            if self.filtered is not None:
                out["filtered"] = self.filtered
            out["requests"] = [
                {"method": "POST", "path": request.path, "body": request.body} for request in self.requests or ()
            ]
        return out


def process_event(index: int, event: Any, settings: BrazeSettings) -> EventResult:
    """Filter, validate and map one event; never raises for a bad event."""
    raw_id = event.get("messageId") if isinstance(event, dict) else None
    # An id that is not Unicode text cannot be written into an answer, a log line or a key: the event goes by its
    # position (and is refused by validation).
    message_id = raw_id if isinstance(raw_id, str) and raw_id and is_unicode(raw_id) else None
    raw_type = event.get("type") if isinstance(event, dict) else None
    raw_type = raw_type if isinstance(raw_type, str) and is_unicode(raw_type) else None
    reason = filtered_reason(event, settings)
    if reason is not None:  # RudderStack drops it before validating it for the destination
        return EventResult(index, message_id, raw_type, [], filtered=reason)
    try:
        kind = validate_event(event)
        return EventResult(index, message_id, kind, requests=transform_event(event, settings))
    except EventError as error:
        return EventResult(index, message_id, raw_type, error=error)


def deduplicate_result(result: EventResult, fingerprints: dict[str, Fingerprints]) -> None:
    """Strip unchanged attributes from an accepted event's requests, updating ``fingerprints`` as RudderStack does.

    A track keeps its events and purchases when its attributes are all duplicates; an identify whose attributes
    are all duplicates keeps only its identify merge and is marked as filtered.
    """
    requests = deduplicate_requests(result.requests or [], fingerprints)
    if result.event_type == "identify" and not any(r.path == TRACK for r in requests):
        result.filtered = DUPLICATE_USER
    result.requests = requests


def transform_events(
    events: list[Any], settings: BrazeSettings, fingerprints: dict[str, Fingerprints] | None = None
) -> list[EventResult]:
    """Validate and map events in order; with ``supportDedup`` and a fingerprint store, drop unchanged attributes."""
    results = [process_event(index, event, settings) for index, event in enumerate(events)]
    if settings.support_dedup and fingerprints is not None:
        for result in results:
            if result.requests is not None:
                deduplicate_result(result, fingerprints)
    return results


def transform_many(
    data: str | bytes, settings: BrazeSettings, fingerprints: dict[str, Fingerprints] | None = None
) -> list[EventResult]:
    """Every event of a body (any accepted shape), each with its requests or its error, in input order."""
    return transform_events(read_events(data), settings, fingerprints)


def pack_results(results: list[EventResult], settings: BrazeSettings) -> list[BrazeRequest]:
    """Pack the accepted events' requests as the delivery path does: to Braze's limits (the rule comes from the
    settings), each user's attributes coalesced, identical identify merges once."""
    accepted = [(result.key, result.requests) for result in results if result.requests is not None]
    return pack(accepted, settings.track_batch_rule, coalesce=True)


def transform_batch(
    data: str | bytes, settings: BrazeSettings, fingerprints: dict[str, Fingerprints] | None = None
) -> tuple[list[BrazeRequest], list[EventResult]]:
    """Packed requests for the accepted events, and the rejected events."""
    results = transform_many(data, settings, fingerprints)
    return pack_results(results, settings), [result for result in results if result.error is not None]
