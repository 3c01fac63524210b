"""Ingest a body of RudderStack events: validate, map, claim, then deliver now (direct mode) or put on the delivery
queue (buffered mode); queue what Braze could not take now; never lose an event."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rudder_braze.config import BrazeSettings
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.limits import MAX_QUEUED_EVENT_BYTES
from rudder_braze.parallel import in_parallel
from rudder_braze.rudderstack.identity import user_of
from rudder_braze.rudderstack.inputs import content_key, happened_at
from rudder_braze.usecases.ports import Buffer, Claim, Gate
from rudder_braze.usecases.sending import OrderedSending
from rudder_braze.usecases.transform import EventResult, transform_events

log = logging.getLogger("rudder_braze")


# The time the bookkeeping of a body takes, in units of the time claiming its events took (measured on the local
# stack, a body of new users): taking their users' turns, or giving them back, ~1.6 each; queueing the events and
# recording their outcomes ~1.
TURNS_PER_CLAIM = 1.6
QUEUE_AND_RECORD_PER_CLAIM = 1.0


@dataclass
class IngestResult:
    """What the webhook answers, and the counts its metrics report."""

    status: int
    body: dict[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


class IngestService(OrderedSending):
    """Validate, map and deliver a body of events; queue what Braze could not take now; never lose an event."""

    def __init__(
        self, settings: BrazeSettings, *, gate: Gate, buffer: Buffer | None = None, **collaborators: Any
    ) -> None:
        super().__init__(settings, **collaborators)
        self.gate = gate
        self.buffer = buffer  # buffered mode: accepted events go to the delivery queue instead of Braze

    def handle(self, events: list[Any], remaining_ms: Callable[[], int]) -> IngestResult:
        counts: Counter[str] = Counter(EventsReceived=len(events))
        latencies: list[float] = []
        results = transform_events(events, self.settings)
        rejected = [
            {"index": r.index, "messageId": r.message_id, "path": r.error.path, "reason": r.error.reason}
            for r in results
            if r.error is not None
        ]
        outcomes: dict[str, str] = {}
        fresh: list[PendingEvent] = []
        busy: list[str] = []
        now = self.clock()
        candidates: dict[str, EventResult] = {}
        for result in results:
            if result.requests is None:
                continue
            key = result.message_id or content_key(events[result.index])
            if key in candidates:
                outcomes[key] = "duplicate"  # the same event twice in one body
                continue
            size = len(json.dumps([[r.path, r.body] for r in result.requests]).encode())
            if size > MAX_QUEUED_EVENT_BYTES:  # it could never wait in a queue: refuse it now, not when it must
                reason = (f"the event's Braze requests are {size} bytes; an event that may have to wait in the "
                          f"retry queue can be at most {MAX_QUEUED_EVENT_BYTES}")  # fmt: skip
                rejected.append({"index": result.index, "messageId": result.message_id, "path": "$", "reason": reason})
                continue
            candidates[key] = result
        counts["EventsRejected"] = len(rejected)
        claims_started = time.monotonic()
        claims = in_parallel(lambda key: self.gate.claim(key, remaining_ms()), list(candidates))
        claims_ms = (time.monotonic() - claims_started) * 1000
        for (key, result), claim in zip(candidates.items(), claims, strict=True):
            if claim is Claim.DONE:
                outcomes[key] = "duplicate"
            elif claim is Claim.BUSY:
                busy.append(key)
            elif result.filtered is not None or not result.requests:
                outcomes[key] = "filtered"
                reason = result.filtered or "nothing to send"
                log.info("event filtered", extra={"messageId": key, "eventType": result.event_type, "reason": reason})
                continue
            else:
                event = events[result.index]
                fresh.append(PendingEvent(key, user_of(event, key), result.requests, now, seq=result.index,
                                          happened_at=happened_at(event, now)))  # fmt: skip
            log.info("event accepted", extra={"messageId": key, "eventType": result.event_type})
        counts["EventsDuplicate"] = sum(1 for o in outcomes.values() if o == "duplicate")
        counts["EventsFiltered"] = sum(1 for o in outcomes.values() if o == "filtered")
        self._record({key: "filtered" for key, outcome in outcomes.items() if outcome == "filtered"}, counts)
        if self.buffer is not None:
            unqueued, cause = self._put(fresh, self.buffer.enqueue)
            queued = [event for event in fresh if event.key not in unqueued]
            counts["EventsBuffered"] = len(queued)
            outcomes.update((event.key, "queued") for event in queued)
            self._record({event.key: "queued" for event in queued}, counts)
            if unqueued:
                return self._unqueueable(fresh, unqueued, cause, outcomes, received=len(events), rejected=rejected,
                                         counts=counts, latencies=latencies)  # fmt: skip
            return self._answer(len(events), outcomes, rejected, busy, counts=counts, latencies=latencies)

        # Sending needs the users' turns taken and given back, the unsent queued and every outcome recorded, and a
        # Braze call's time: with less of the invocation left, everything goes to the retry queue at once.
        after_braze_ms = int(claims_ms * (TURNS_PER_CLAIM + QUEUE_AND_RECORD_PER_CLAIM))
        if remaining_ms() > self.reserve_ms + claims_ms * TURNS_PER_CLAIM + after_braze_ms:
            owner, turns = self._take_turns(fresh, remaining_ms)
            held, sendable = self._hold_back(fresh, turns, counts)
        else:
            owner, turns, held, sendable = "", {}, fresh, []
            for event in held:
                event.last_error = "queued: too little of the invocation was left to send it"
            counts["EventsQueuedUntried"] += len(held)
        report, _ = self._deliver(sendable, remaining_ms, counts, latencies, bookkeeping_ms=after_braze_ms)
        to_queue = held + report.retry
        unqueued, cause = self._put(to_queue, self.queue.enqueue)
        queued = [event for event in to_queue if event.key not in unqueued]
        undead, dead_cause = self._put(report.dead, self.queue.dead_letter)
        unqueued, cause = unqueued | undead, cause or dead_cause
        self._end_turns(owner, turns, sendable, [*report.retry, *report.dead], Counter(e.user for e in queued))
        for key in report.delivered:
            outcomes[key] = "delivered"
        for event in queued:
            outcomes[event.key] = "queued"
        for event in report.dead:
            if event.key not in unqueued:
                outcomes[event.key] = "dead_lettered"
                log.error("Braze refused an event for good", extra={"messageId": event.key, "reason": event.last_error})
        # What was delivered or queued is recorded now, whatever else failed: the sender's retry of this body must
        # find it done and send none of it again.
        done = [event for event in fresh if event.key in outcomes]
        self._record({event.key: outcomes[event.key] for event in done}, counts)
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsQueued"] = len(queued)
        counts["EventsDeadLettered"] = len(report.dead) - len(undead)
        if unqueued:
            return self._unqueueable(fresh, unqueued, cause, outcomes, received=len(events), rejected=rejected,
                                     counts=counts, latencies=latencies)  # fmt: skip
        return self._answer(
            len(events), outcomes, rejected, busy, counts=counts, latencies=latencies, partial_errors=report.item_errors
        )

    def _record(self, outcomes: dict[str, str], counts: Counter[str]) -> None:
        """Store the events' outcomes, so the sender's retry of the body finds them done. Never raises: what
        happened stands and the answer says so (a 5xx would have the sender send the whole body again at once).
        The events stay claimed until their claims expire; only a retry after that would run them again: counted
        (``OutcomesNotSaved``) and logged."""
        if not outcomes:
            return
        try:
            self.gate.complete({key: {"outcome": outcome} for key, outcome in outcomes.items()})
        except Exception as exc:
            counts["OutcomesNotSaved"] += len(outcomes)
            log.error("could not record %d events' outcomes (%s); a retry of the body after their claims expire "
                      "would run them again", len(outcomes), type(exc).__name__)  # fmt: skip

    @staticmethod
    def _answer(
        received: int,
        outcomes: dict[str, str],
        rejected: list[dict[str, Any]],
        busy: list[str],
        *,
        counts: Counter[str],
        latencies: list[float],
        partial_errors: dict[str, list[str]] | None = None,
    ) -> IngestResult:
        """The webhook's answer: 503 if another request holds some events, 400 if some were invalid, 202 if some
        were queued, else 200; always the tally of what happened to each event."""
        tally = Counter(outcomes.values())
        body: dict[str, Any] = {
            "received": received,
            "delivered": tally["delivered"],
            "queued": tally["queued"],
            "dead_lettered": tally["dead_lettered"],
            "duplicates": tally["duplicate"],
            "filtered": tally["filtered"],
            "rejected": rejected,
        }
        if partial_errors:
            body["partial_errors"] = partial_errors
        if busy:
            body["in_progress"] = busy
            return IngestResult(503, {**body, "error": "some events are being processed by another request"},
                                counts, latencies)  # fmt: skip
        status = 400 if rejected else 202 if tally["queued"] else 200
        return IngestResult(status, body, counts, latencies)

    def _unqueueable(
        self,
        fresh: list[PendingEvent],
        unqueued: set[str],
        cause: str | None,
        outcomes: dict[str, str],
        *,
        received: int,
        rejected: list[dict[str, Any]],
        counts: Counter[str],
        latencies: list[float],
    ) -> IngestResult:
        """Nothing is lost: the events that could be neither delivered nor queued are released, so that the
        sender's retry of this body runs them again (and only them: the others are recorded as done)."""
        in_parallel(lambda event: self.gate.release(event.key, RuntimeError(cause)),
                     [event for event in fresh if event.key in unqueued])  # fmt: skip
        counts["EnqueueFailures"] += 1
        log.error("could not queue accepted events (%s); asking the sender to retry", cause,
                  extra={"messageIds": sorted(unqueued)[:20]})  # fmt: skip
        answer = self._answer(received, outcomes, rejected, [], counts=counts, latencies=latencies)
        message = f"could not queue {len(unqueued)} accepted event(s) ({cause}); retry later"
        return IngestResult(503, {**answer.body, "error": message, "unqueued": sorted(unqueued)}, counts, latencies)
