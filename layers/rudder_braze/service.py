"""The two use cases, free of Lambda: accept a body of RudderStack events (ingest) and work off the retry queue.

Both take their collaborators as arguments (Braze sender, queue, idempotency gate, state table), so the handlers
only wire AWS and Powertools to them, and tests can run them against moto and the Braze simulator.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from rudder_braze.braze_client import Outcome
from rudder_braze.config import BrazeSettings
from rudder_braze.delivery import DeliveryReport, PendingEvent, QueueFormatError, RetryPolicy, deliver, user_of
from rudder_braze.inputs import content_key
from rudder_braze.pipeline import EventResult, transform_events
from rudder_braze.ports import Claim, Gate, Queue, Send, State

log = logging.getLogger("rudder_braze")


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="rudder-braze")


def _in_parallel[T, R](work: Callable[[T], R], items: list[T]) -> list[R]:
    """Run per-event DynamoDB calls side by side: a body of 100 events is 200 round trips, ~1 s one by one.
    The pool lives as long as the container; boto3 clients are thread-safe."""
    if len(items) < 2:
        return [work(item) for item in items]
    return list(_pool().map(work, items))


@dataclass
class IngestResult:
    """What the webhook answers, and the counts its metrics report."""

    status: int
    body: dict[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


def _count_calls(report: DeliveryReport, counts: Counter[str], latencies: list[float]) -> None:
    for call in report.calls:
        counts["BrazeRequests"] += 1
        if call.outcome is Outcome.THROTTLED:
            counts["BrazeThrottled"] += 1
        latencies.append(call.elapsed_ms)


class IngestService:
    """Validate, map and deliver a body of events; queue what Braze could not take now; never lose an event."""

    def __init__(
        self,
        settings: BrazeSettings,
        *,
        send: Send,
        queue: Queue,
        gate: Gate,
        state: State,
        clock: Callable[[], float] = time.time,
        reserve_ms: int = 5000,
    ) -> None:
        self.settings, self.send, self.queue, self.gate, self.state = settings, send, queue, gate, state
        self.clock = clock
        self.reserve_ms = reserve_ms

    def handle(self, events: list[Any], remaining_ms: Callable[[], int]) -> IngestResult:
        counts: Counter[str] = Counter(EventsReceived=len(events))
        latencies: list[float] = []
        results = transform_events(events, self.settings)
        rejected = [
            {"index": r.index, "messageId": r.message_id, "path": r.error.path, "reason": r.error.reason}
            for r in results
            if r.error is not None
        ]
        counts["EventsRejected"] = len(rejected)
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
            candidates[key] = result
        claims = _in_parallel(lambda key: self.gate.claim(key, remaining_ms()), list(candidates))
        for (key, result), claim in zip(candidates.items(), claims, strict=True):
            if claim.claim is Claim.DONE:
                outcomes[key] = "duplicate"
            elif claim.claim is Claim.BUSY:
                busy.append(key)
            elif result.filtered is not None or not result.requests:
                outcomes[key] = "filtered"
                self.gate.complete(key, {"outcome": "filtered"})
            else:
                fresh.append(PendingEvent(key, user_of(events[result.index], key), result.requests, now))
            log.info("event accepted", extra={"messageId": key, "eventType": result.event_type})
        counts["EventsDuplicate"] = sum(1 for o in outcomes.values() if o == "duplicate")

        try:
            waiting = self.state.users_with_pending(sorted({e.user for e in fresh}))
        except Exception as exc:  # cannot tell: queue them all behind whatever may be waiting; never drop
            log.warning("pending-user lookup failed (%s); queueing this body", type(exc).__name__)
            waiting = {e.user for e in fresh}
        held = [e for e in fresh if e.user in waiting]
        for event in held:
            event.last_error = "held behind this user's updates already waiting in the retry queue"
        report = deliver(
            [e for e in fresh if e.user not in waiting],
            self.send,
            self.settings.track_batch_rule,
            should_stop=lambda: remaining_ms() < self.reserve_ms,
        )
        _count_calls(report, counts, latencies)
        for key, errors in report.item_errors.items():
            counts["PartialErrors"] += len(errors)
            log.warning("Braze refused part of an event", extra={"messageId": key, "errors": errors})
        to_queue = held + report.retry
        try:
            if to_queue:
                self.queue.enqueue(to_queue)
            if report.dead:
                self.queue.dead_letter(report.dead)
        except Exception as exc:
            # Nothing was lost: the undelivered events are released so RudderStack's retry runs them again.
            for event in [*to_queue, *report.dead]:
                self.gate.release(event.key, exc)
            for key in report.delivered:
                self.gate.complete(key, {"outcome": "delivered"})
            counts["EnqueueFailures"] += 1
            log.error("could not queue undelivered events (%s); asking the sender to retry", type(exc).__name__)
            return IngestResult(
                503,
                {"error": "Braze is unavailable and the retry queue could not be reached; retry later",
                 "rejected": rejected},
                counts,
                latencies,
            )  # fmt: skip
        for user, count in Counter(event.user for event in to_queue).items():
            self._note_pending(user, count)
        for key in report.delivered:
            outcomes[key] = "delivered"
        for event in to_queue:
            outcomes[event.key] = "queued"
        for event in report.dead:
            outcomes[event.key] = "dead_lettered"
            log.error("Braze refused an event for good", extra={"messageId": event.key, "reason": event.last_error})
        _in_parallel(lambda event: self.gate.complete(event.key, {"outcome": outcomes[event.key]}), fresh)
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsQueued"] = len(to_queue)
        counts["EventsDeadLettered"] = len(report.dead)
        tally = Counter(outcomes.values())
        body: dict[str, Any] = {
            "received": len(events),
            "delivered": tally["delivered"],
            "queued": tally["queued"],
            "dead_lettered": tally["dead_lettered"],
            "duplicates": tally["duplicate"],
            "filtered": tally["filtered"],
            "rejected": rejected,
        }
        if report.item_errors:
            body["partial_errors"] = report.item_errors
        if busy:
            body["in_progress"] = busy
            return IngestResult(503, {**body, "error": "some events are being processed by another request"},
                                counts, latencies)  # fmt: skip
        if rejected:
            status = 400
        elif tally["queued"]:
            status = 202
        else:
            status = 200
        return IngestResult(status, body, counts, latencies)

    def _note_pending(self, user: str, delta: int) -> None:
        try:
            self.state.change_pending(user, delta)
        except Exception as exc:  # ordering help only: the event itself is safe in the queue
            log.warning("could not record a pending user (%s)", type(exc).__name__)


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """The part of an SQS record the retry path needs."""

    message_id: str
    receipt_handle: str
    body: str


@dataclass
class RetryResult:
    failed: list[str]  # SQS message ids to report as batch item failures
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


class RetryService:
    """Deliver the events of a retry-queue batch; back off, or dead-letter what can never succeed."""

    def __init__(
        self,
        settings: BrazeSettings,
        *,
        send: Send,
        queue: Queue,
        state: State,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.time,
        reserve_ms: int = 5000,
    ) -> None:
        self.settings, self.send, self.queue, self.state, self.policy = settings, send, queue, state, policy
        self.clock = clock
        self.reserve_ms = reserve_ms

    def handle(self, records: Sequence[QueueRecord], remaining_ms: Callable[[], int]) -> RetryResult:
        counts: Counter[str] = Counter()
        latencies: list[float] = []
        now = self.clock()
        events: dict[str, PendingEvent] = {}
        record_of: dict[str, QueueRecord] = {}
        for record in records:
            try:
                event = PendingEvent.from_message(record.body)
            except QueueFormatError as exc:
                # Not ours, or a future format: keep it, with the reason, rather than retrying it forever.
                unreadable = PendingEvent(f"sqs:{record.message_id}", "unreadable", [], now, last_error=str(exc))
                self.queue.dead_letter([unreadable])
                counts["EventsDeadLettered"] += 1
                continue
            if event.key in events:
                continue  # a copy of a message already in this batch
            events[event.key] = event
            record_of[event.key] = record
        progress = self.state.progress(list(events))
        for key, (requests, attempts, last_error) in progress.items():
            if key in events:
                event = events[key]
                event.requests, event.attempts, event.last_error = requests, attempts, last_error or event.last_error
        counts["EventsRetried"] = len(events)
        attempts_before = {key: event.attempts for key, event in events.items()}
        give_up: list[PendingEvent] = []
        sendable: list[PendingEvent] = []
        for event in events.values():
            reason = self.policy.give_up_reason(event, now)
            if reason is None:
                sendable.append(event)
            else:
                event.last_error = reason
                give_up.append(event)
        report = deliver(
            sendable, self.send, self.settings.track_batch_rule, should_stop=lambda: remaining_ms() < self.reserve_ms
        )
        _count_calls(report, counts, latencies)
        for key, errors in report.item_errors.items():
            counts["PartialErrors"] += len(errors)
            log.warning("Braze refused part of an event", extra={"messageId": key, "errors": errors})
        failed: list[str] = []
        backing_off: set[str] = set()
        for event in report.retry:
            reason = self.policy.give_up_reason(event, now)
            if reason is not None:
                event.last_error = reason
                give_up.append(event)
                continue
            # Only the first of a user's messages backs off: the FIFO group keeps the others behind it, and they
            # become visible at once so they follow it without waiting out a backoff of their own.
            delay = 0 if event.user in backing_off else self.policy.delay(max(event.attempts, 1), report.retry_after)
            backing_off.add(event.user)
            if event.attempts != attempts_before[event.key]:  # held events made no attempt: nothing to record
                self.state.save_progress(event)
            self.queue.retry_later(record_of[event.key].receipt_handle, delay)
            failed.append(record_of[event.key].message_id)
            log.info("retry later", extra={"messageId": event.key, "delaySeconds": delay, "attempts": event.attempts})
        dead = [*report.dead, *give_up]
        if dead:
            self.queue.dead_letter(dead)
            for event in dead:
                log.error("dead-lettered", extra={"messageId": event.key, "reason": event.last_error})
        for key in report.delivered:
            log.info("delivered on retry", extra={"messageId": key, "attempts": events[key].attempts})
        self._finish([events[key] for key in [*report.delivered, *(e.key for e in dead)] if key in events], progress)
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsDeadLettered"] += len(dead)
        return RetryResult(failed, counts, latencies)

    def _finish(self, finished: list[PendingEvent], progress: dict[str, Any]) -> None:
        """These events left the retry queue (delivered or dead-lettered): their users no longer wait on them."""
        try:
            for user, count in Counter(event.user for event in finished).items():
                self.state.change_pending(user, -count)
            for event in finished:
                if event.key in progress:
                    self.state.clear_progress(event.key)
        except Exception as exc:  # bookkeeping only; the pending marker also expires by TTL
            log.warning("could not clear retry state (%s)", type(exc).__name__)
