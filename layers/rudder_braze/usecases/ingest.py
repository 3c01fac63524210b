"""Ingest a body of RudderStack events: validate, map, claim, then deliver now (direct mode) or put on the delivery
queue (buffered mode); queue what Braze could not take now; never lose an event. What the sender is answered is
the webhook's business (:mod:`rudder_braze.app.webhook`): this says what became of each event."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rudder_braze.config import BrazeSettings
from rudder_braze.delivery.message import PendingEvent, trace_fields
from rudder_braze.limits import MAX_QUEUED_EVENT_BYTES
from rudder_braze.parallel import in_parallel
from rudder_braze.rudderstack.events import happened_at
from rudder_braze.rudderstack.identity import user_of
from rudder_braze.usecases.ports import ClaimOutcome, DeliveryQueuePort, IdempotencyStore
from rudder_braze.usecases.sending import REAL_TIME, BrazePorts, OrderedSending, Timing, log_partial_errors
from rudder_braze.usecases.transform import EventResult, transform_events

log = logging.getLogger("rudder_braze")


# The time the bookkeeping of a body takes, in units of the time claiming its events took (measured on the local
# stack, a body of new users): taking their users' turns, or giving them back, ~1.6 each; queueing the events and
# recording their outcomes ~1.
TURNS_PER_CLAIM = 1.6
QUEUE_AND_RECORD_PER_CLAIM = 1.0


@dataclass
class IngestResult:
    """What became of each event of a body, and the counts its metrics report."""

    received: int
    # messageId → delivered, queued, dead_lettered, duplicate or filtered
    outcomes: dict[str, str] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # invalid events: index, messageId, path, reason
    in_progress: list[str] = field(default_factory=list)  # claimed by another request at this moment
    unqueued: list[str] = field(default_factory=list)  # accepted, neither delivered nor queued: released for a retry
    unqueued_cause: str | None = None
    partial_errors: dict[str, list[str]] = field(default_factory=dict)  # messageId → the objects Braze refused
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Candidate:
    """An accepted input on its way to its claim: what to deliver, and what its log lines call it."""

    event: PendingEvent
    event_type: str | None
    filtered: str | None = None  # why nothing needs sending (a fully de-duplicated identify), if so


def _too_large(result: EventResult) -> str | None:
    """Why an event could never wait in a queue (refused now, not when it must wait), or ``None``."""
    size = len(json.dumps([[r.path, r.body] for r in result.requests or ()]).encode())
    if size <= MAX_QUEUED_EVENT_BYTES:
        return None
    return (f"the event's Braze requests are {size} bytes; an event that may have to wait in the retry queue can be "
            f"at most {MAX_QUEUED_EVENT_BYTES}")  # fmt: skip


class IngestService(OrderedSending):
    """Validate, map and deliver a body of events; queue what Braze could not take now; never lose an event."""

    def __init__(
        self,
        settings: BrazeSettings,
        ports: BrazePorts,
        idempotency: IdempotencyStore,
        *,
        delivery_queue: DeliveryQueuePort | None = None,
        timing: Timing = REAL_TIME,
    ) -> None:
        super().__init__(settings, ports, timing)
        self.idempotency = idempotency
        self.delivery_queue = delivery_queue  # buffered mode: accepted events go to the delivery queue instead of Braze

    def handle(
        self, events: list[Any], remaining_ms: Callable[[], int], *, sender_keeps_order: bool = False
    ) -> IngestResult:
        """``sender_keeps_order``: the sender sends each user's events one at a time, the next after the answer to
        the one before, and sends an event again only after its first call ended (RudderStack's Webhook destination
        with event ordering on: its timeout outlasts the function's). No other call can then be handling this body's
        events or sending its users' events: each event's record is read instead of claimed (and written once the
        event is handled, as always), and direct mode reads the users' turns instead of taking and giving them
        back."""
        result = IngestResult(len(events), counts=Counter(EventsReceived=len(events)))
        return self.accept(self._candidates(events, result), result, remaining_ms, sender_keeps_order)

    def accept(
        self,
        candidates: dict[str, Candidate],
        result: IngestResult,
        remaining_ms: Callable[[], int],
        sender_keeps_order: bool = False,
    ) -> IngestResult:
        """Claim the candidates, then deliver now or queue them; release what could be neither."""
        claims_started = time.monotonic()
        fresh = self._claim(candidates, result, remaining_ms, sender_keeps_order)
        claims_ms = (time.monotonic() - claims_started) * 1000
        if self.delivery_queue is not None:
            self._queue_for_delivery(fresh, self.delivery_queue, result)
        else:
            self._send_now(fresh, result, remaining_ms, claims_ms, sender_keeps_order)
        if result.unqueued:
            self._release(fresh, result, claimed=not sender_keeps_order)
        return result

    def _candidates(self, events: list[Any], result: IngestResult) -> dict[str, Candidate]:
        """The body's valid events by messageId. Invalid ones, and ones too large to ever wait in a queue, are
        rejected; a second copy of an event in the body is a duplicate."""
        transformed = transform_events(events, self.settings)
        result.rejected = [
            {"index": r.index, "messageId": r.message_id, "path": r.error.path, "reason": r.error.reason}
            for r in transformed
            if r.error is not None
        ]
        now = self.clock()
        candidates: dict[str, Candidate] = {}
        for event_result in transformed:
            if event_result.requests is None:
                continue
            key = event_result.message_id
            if key is None:  # the caller gives every event one (the webhook: fill_server_fields); none is made up here
                result.rejected.append({"index": event_result.index, "messageId": None, "path": "$.messageId",
                                        "reason": "the event has no messageId"})  # fmt: skip
                continue
            if key in candidates:
                result.outcomes[key] = "duplicate"
                continue
            reason = _too_large(event_result)
            if reason is not None:
                result.rejected.append({"index": event_result.index, "messageId": event_result.message_id,
                                        "path": "$", "reason": reason})  # fmt: skip
                continue
            event = events[event_result.index]
            pending = PendingEvent(key, user_of(event, key), event_result.requests, now, seq=event_result.index,
                                   happened_at=happened_at(event, now))  # fmt: skip
            candidates[key] = Candidate(pending, event_result.event_type, event_result.filtered)
        result.counts["EventsRejected"] = len(result.rejected)
        return candidates

    def _claim(
        self,
        candidates: dict[str, Candidate],
        result: IngestResult,
        remaining_ms: Callable[[], int],
        look_up: bool,
    ) -> list[PendingEvent]:
        """Claim each candidate (or only look its record up, ``look_up``): the events this request is the first to
        handle; the others are duplicates, in progress elsewhere, or filtered (recorded as such at once)."""
        keys = list(candidates)
        if look_up:
            found = self.idempotency.look_up(keys)
            claims = [found[key] for key in keys]
        else:
            claims = in_parallel(lambda key: self.idempotency.claim(key, remaining_ms()), keys)
        fresh: list[PendingEvent] = []
        for (key, candidate), claim in zip(candidates.items(), claims, strict=True):
            if claim is ClaimOutcome.DONE:
                result.outcomes[key] = "duplicate"
            elif claim is ClaimOutcome.BUSY:
                result.in_progress.append(key)
            elif candidate.filtered is not None or not candidate.event.requests:
                result.outcomes[key] = "filtered"
                reason = candidate.filtered or "nothing to send"
                log.info(
                    "event filtered", extra={"messageId": key, "eventType": candidate.event_type, "reason": reason}
                )
                continue
            else:
                fresh.append(candidate.event)
            log.info("event accepted", extra={"messageId": key, "eventType": candidate.event_type})
        tally = Counter(result.outcomes.values())
        result.counts["EventsDuplicate"] = tally["duplicate"]
        result.counts["EventsFiltered"] = tally["filtered"]
        filtered = {key: candidates[key].event for key, outcome in result.outcomes.items() if outcome == "filtered"}
        self._record(filtered, result)
        return fresh

    def _queue_for_delivery(
        self, fresh: list[PendingEvent], delivery_queue: DeliveryQueuePort, result: IngestResult
    ) -> None:
        """Buffered mode: the accepted events go to the delivery queue."""
        unqueued, cause = self._put(fresh, delivery_queue.enqueue)
        queued = [event for event in fresh if event.key not in unqueued]
        result.counts["EventsBuffered"] = len(queued)
        result.outcomes.update((event.key, "queued") for event in queued)
        self._record({event.key: event for event in queued}, result)
        result.unqueued, result.unqueued_cause = sorted(unqueued), cause

    def _send_now(
        self,
        fresh: list[PendingEvent],
        result: IngestResult,
        remaining_ms: Callable[[], int],
        claims_ms: float,
        sender_keeps_order: bool,
    ) -> None:
        """Direct mode: send what the users' turns allow (taken, or only read when the sender keeps each user's
        order); queue what Braze does not take now, and what waits."""
        counts = result.counts
        # Sending needs the users' turns taken and given back, the unsent queued and every outcome recorded, and a
        # Braze call's time: with less of the invocation left, everything goes to the retry queue at once.
        after_braze_ms = int(claims_ms * (TURNS_PER_CLAIM + QUEUE_AND_RECORD_PER_CLAIM))
        if remaining_ms() > self.reserve_ms + claims_ms * TURNS_PER_CLAIM + after_braze_ms:
            if sender_keeps_order:
                owner, turns = "", self._read_turns(fresh)
            else:
                owner, turns = self._take_turns(fresh, remaining_ms)
            held, sendable = self._hold_back(fresh, turns, counts)
        else:
            owner, turns, held, sendable = "", {}, fresh, []
            for event in held:
                event.last_error = "queued: too little of the invocation was left to send it"
            counts["EventsQueuedUntried"] += len(held)
        report = self._deliver(sendable, remaining_ms, counts, result.latencies_ms, bookkeeping_ms=after_braze_ms)
        log_partial_errors(report, counts)
        to_queue = held + report.retry
        unqueued, cause = self._put(to_queue, self.queue.enqueue)
        queued = [event for event in to_queue if event.key not in unqueued]
        undead, dead_cause = self._put(report.dead, self.queue.dead_letter)
        unqueued, cause = unqueued | undead, cause or dead_cause
        self._end_turns(owner, turns, sendable, [*report.retry, *report.dead], Counter(e.user for e in queued))
        outcomes = result.outcomes
        outcomes.update((key, "delivered") for key in report.delivered)
        outcomes.update((event.key, "queued") for event in queued)
        for event in report.dead:
            if event.key not in unqueued:
                outcomes[event.key] = "dead_lettered"
                log.error("Braze refused an event for good", extra={"messageId": event.key, "reason": event.last_error})
        # What was delivered or queued is recorded now, whatever else failed: the sender's retry of this body must
        # find it done and send none of it again.
        latest = {event.key: event for event in [*fresh, *to_queue, *report.dead]}  # with their attempts and errors
        self._record({key: event for key, event in latest.items() if key in outcomes}, result)
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsQueued"] = len(queued)
        counts["EventsDeadLettered"] = len(report.dead) - len(undead)
        result.partial_errors = report.item_errors
        result.unqueued, result.unqueued_cause = sorted(unqueued), cause

    def _record(self, events: dict[str, PendingEvent], result: IngestResult) -> None:
        """Store the events' outcomes, so the sender's retry of the body finds them done, with what ``rudder-braze
        trace`` reports of them (when received, the Braze paths, attempts, the last error: no payload values; well
        under the 1 KB of one write unit). Never raises: what happened stands and the answer says so (a 5xx would
        have the sender send the whole body again at once). The events stay claimed until their claims expire; only
        a retry after that would run them again: counted (``OutcomesNotSaved``) and logged."""
        if not events:
            return
        try:
            self.idempotency.complete({key: {"outcome": result.outcomes[key], **trace_fields(event)}
                                       for key, event in events.items()})  # fmt: skip
        except Exception as exc:
            result.counts["OutcomesNotSaved"] += len(events)
            log.error("could not record %d events' outcomes (%s); a retry of the body after their claims expire "
                      "would run them again", len(events), type(exc).__name__)  # fmt: skip

    def _release(self, fresh: list[PendingEvent], result: IngestResult, *, claimed: bool) -> None:
        """Nothing is lost: the events that could be neither delivered nor queued are released (when they were
        claimed: a looked-up event has no record yet), so that the sender's retry of this body runs them again (and
        only them: the others are recorded as done)."""
        unqueued = set(result.unqueued)
        cause = RuntimeError(result.unqueued_cause)
        if claimed:
            in_parallel(lambda event: self.idempotency.release(event.key, cause),
                        [e for e in fresh if e.key in unqueued])  # fmt: skip
        result.counts["EnqueueFailures"] += 1
        log.error("could not queue accepted events (%s); asking the sender to retry", result.unqueued_cause,
                  extra={"messageIds": result.unqueued[:20]})  # fmt: skip
