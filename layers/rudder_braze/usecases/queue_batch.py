"""A batch of queue records as the delivery and retry use cases read it: each message's event once, in order, with
what earlier attempts recorded applied."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rudder_braze.delivery.message import PendingEvent, QueueFormatError
from rudder_braze.delivery.ordering import position
from rudder_braze.usecases.ports import RetryQueuePort, StateStore

log = logging.getLogger("rudder_braze")


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """The part of an SQS record the retry path needs."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1  # SQS's ApproximateReceiveCount: this receive included


@dataclass
class BatchResult:
    failed: list[str]  # SQS message ids to report as batch item failures
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


def read_records(
    records: Sequence[QueueRecord], queue: RetryQueuePort, counts: Counter[str], now: float
) -> tuple[dict[str, PendingEvent], dict[str, QueueRecord]]:
    """The events of a queue batch by messageId, in the order the bridge received them, and the record of each."""
    events: dict[str, PendingEvent] = {}
    record_of: dict[str, QueueRecord] = {}
    for record in records:
        try:
            event = PendingEvent.from_message(record.body)
        except QueueFormatError as exc:
            # Not ours, or a future format: keep it, with the reason, rather than retrying it forever.
            unreadable = PendingEvent(f"sqs:{record.message_id}", "unreadable", [], now, last_error=str(exc))
            queue.dead_letter([unreadable])
            counts["EventsDeadLettered"] += 1
            continue
        if event.key in events:
            continue  # a copy of a message already in this batch
        events[event.key] = event
        record_of[event.key] = record
    ordered = dict(sorted(events.items(), key=lambda item: position(item[1])))
    return ordered, record_of


def resume(events: dict[str, PendingEvent], state: StateStore) -> dict[str, Any]:
    """Apply what earlier attempts recorded: only the requests Braze has not accepted yet are sent again."""
    progress = state.progress(list(events))
    for key, (requests, attempts, last_error) in progress.items():
        if key in events:
            event = events[key]
            event.requests, event.attempts, event.last_error = requests, attempts, last_error or event.last_error
    return progress
