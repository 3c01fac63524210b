"""Each user's attributes end as the newest event set them, whatever order queue batches reach Braze in.

The delivery queue is a standard queue: concurrent deliveries can each get some of one user's events, split in any
way. Two rules keep Braze's profile right:

- one delivery at a time sends a user's events: it holds the user's *turn* in the state table while it sends, and
  a delivery that finds the turn taken moves its events of that user to the FIFO retry queue;
- the bridge remembers, per user, the position (when it happened, when it was accepted, its place in its body) of
  the event whose value Braze last took for each attribute (:data:`Written`). When an event reaches Braze after a
  newer write of one of its attributes (it waited in the retry queue while a later event went out), that attribute
  is taken out of it before it is sent, so the newer value stays.

An event's place among its user's events is when it happened by its sender's clock, within a window before it
arrived (`rudderstack.events.happened_at`), then when the bridge accepted it: an SDK whose flushes overlap
gets its calls' order back, whichever of its requests the bridge accepted first.

Only plain values are compared: identifiers, flags, nested objects and operations (``$add``, ``inc``…) go through
as they are. Events, purchases and other requests do not depend on order (they carry their own time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rudder_braze.braze.requests import TRACK
from rudder_braze.delivery.dedup import is_control
from rudder_braze.delivery.message import PendingEvent

# (when the event happened, by events.happened_at; when the bridge accepted it; its place in the body it came in)
Position = tuple[float, float, int]
Written = dict[str, Position]  # attribute name → position of the event whose value Braze last took
# A user with more attribute names than this keeps the newest ones (a state item holds at most 400 KB).
MAX_WRITTEN = 2000


@dataclass(frozen=True, slots=True)
class Turn:
    """What a delivery learns when it asks for a user's turn."""

    mine: bool  # this delivery may send the user's events now
    pending: int = 0  # the user's events waiting in the retry queue
    written: Written | None = None


def position(event: PendingEvent) -> Position:
    """Where an event stands among its user's events (older first)."""
    happened = event.happened_at if event.happened_at is not None else event.first_seen
    return (happened, event.first_seen, event.seq)


def _ordered_keys(attributes: dict[str, Any]) -> Iterator[str]:
    return (key for key, value in attributes.items() if not is_control(key, value) and not isinstance(value, dict))


def _attribute_objects(event: PendingEvent) -> Iterator[dict[str, Any]]:
    for request in event.requests:
        if request.path == TRACK:
            yield from request.body.get("attributes", ())


def drop_overwritten(events: Iterable[PendingEvent], written: dict[str, Written]) -> int:
    """Take out of each event the attribute values a newer event has already written to Braze (``written`` by
    ordering user); requests and objects left with nothing to send go too. Returns how many values went."""
    dropped = 0
    for event in events:
        newer = written.get(event.user)
        if not newer:
            continue
        at = position(event)
        for request in event.requests:
            if request.path != TRACK or "attributes" not in request.body:
                continue
            kept = []
            for attributes in request.body["attributes"]:
                stale = [key for key in _ordered_keys(attributes) if key in newer and newer[key] > at]
                for key in stale:
                    del attributes[key]
                dropped += len(stale)
                if not stale or any(True for _ in _ordered_keys(attributes)):
                    kept.append(attributes)
            if kept:
                request.body["attributes"] = kept
            else:
                del request.body["attributes"]
        event.requests = [r for r in event.requests if any(v for k, v in r.body.items() if k != "partner")]
    return dropped


def writes(sent: Sequence[PendingEvent], unsent: Sequence[PendingEvent]) -> dict[str, Written]:
    """Per user, the attribute positions Braze took in one delivery: ``sent`` are the events as they were handed
    to Braze, ``unsent`` what was left of some of them afterwards (to retry or dead-letter)."""
    left = {id(obj) for event in unsent for obj in _attribute_objects(event)}
    taken: dict[str, Written] = {}
    for event in sorted(sent, key=position):
        at = position(event)
        for attributes in _attribute_objects(event):
            if id(attributes) not in left:
                user = taken.setdefault(event.user, {})
                user.update(dict.fromkeys(_ordered_keys(attributes), at))
    return taken


def merged(before: Written | None, taken: Written) -> Written:
    """The newest position of each attribute, at most :data:`MAX_WRITTEN` of them (the oldest go first)."""
    newest = dict(before or {})
    for key, at in taken.items():
        if key not in newest or newest[key] < at:
            newest[key] = at
    if len(newest) > MAX_WRITTEN:
        newest = dict(sorted(newest.items(), key=lambda item: item[1])[-MAX_WRITTEN:])
    return newest
