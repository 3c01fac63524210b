"""Work off a batch of the FIFO retry queue: resend, back off, or dead-letter with the reason."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from rudder_braze.config import BrazeSettings
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.sending import RetryPolicy
from rudder_braze.usecases.queue_batch import BatchResult, QueueRecord, read_records, resume
from rudder_braze.usecases.sending import REAL_TIME, BrazePorts, OrderedSending, Timing, log_partial_errors

log = logging.getLogger("rudder_braze")


class RetryService(OrderedSending):
    """Deliver the events of a retry-queue batch; back off, or dead-letter what can never succeed."""

    def __init__(
        self,
        settings: BrazeSettings,
        ports: BrazePorts,
        policy: RetryPolicy,
        timing: Timing = REAL_TIME,
        *,
        second_copies: bool = False,
    ) -> None:
        # No dedup: a retried event was stripped when it was first sent, if at all.
        super().__init__(settings, replace(ports, dedup=None), timing)
        self.policy = policy
        # Buffered mode: the queue may hold a copy of an event a concurrent delivery sent (see _drop_sent_copies).
        self.second_copies = second_copies

    def handle(self, records: Sequence[QueueRecord], remaining_ms: Callable[[], int]) -> BatchResult:
        counts: Counter[str] = Counter()
        latencies: list[float] = []
        now = self.clock()
        events, record_of = read_records(records, self.queue, counts, now)
        progress = resume(events, self.state)
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
        owner, turns = self._take_turns(sendable, remaining_ms)
        # The user's own events are what is pending here: only a turn another delivery holds makes them wait.
        turns = {user: replace(turn, pending=0) for user, turn in turns.items()}
        waiting, sendable = self._hold_back(sendable, turns, counts)
        sendable, copies = self._drop_sent_copies(sendable, counts)
        waiting_keys = {event.key for event in waiting}
        report = self._deliver(sendable, remaining_ms, counts, latencies)
        log_partial_errors(report, counts, record_of)
        failed: list[str] = []
        backing_off: set[str] = set()
        for event in [*waiting, *report.retry]:
            reason = self.policy.give_up_reason(event, now) or self.policy.last_receive_reason(
                record_of[event.key].receive_count, event
            )
            if reason is not None:
                event.last_error = reason
                give_up.append(event)
                continue
            # Only the first of a user's messages backs off: the FIFO group keeps the others behind it, and they
            # become visible at once so they follow it without waiting out a backoff of their own. A user whose turn
            # another delivery holds waits a first backoff: that delivery ends within its invocation.
            attempts = 1 if event.key in waiting_keys else max(event.attempts, 1)
            delay = 0 if event.user in backing_off else self.policy.delay(attempts, report.retry_after)
            backing_off.add(event.user)
            if event.attempts != attempts_before[event.key]:  # held events made no attempt: nothing to record
                self._save_progress(event, counts)
            self._back_off(record_of[event.key].receipt_handle, delay)
            failed.append(record_of[event.key].message_id)
            log.info("retry later", extra={"messageId": event.key, "delaySeconds": delay, "attempts": event.attempts})
        # From here on nothing may raise: Braze has taken what report.delivered names, and an escaping error would
        # leave the whole batch on the queue to be sent again.
        undead, _ = self._put([*report.dead, *give_up], self.queue.dead_letter)
        dead = [event for event in [*report.dead, *give_up] if event.key not in undead]
        failed += [record_of[key].message_id for key in undead if key in record_of]  # SQS hands them out again
        for event in dead:
            log.error("dead-lettered", extra={"messageId": event.key, "reason": event.last_error})
        for key in report.delivered:
            log.info("delivered on retry", extra={"messageId": key, "attempts": events[key].attempts})
        delivered = [events[key] for key in report.delivered if key in events] + copies
        finished = delivered + [events[e.key] for e in dead if e.key in events]
        self._clear_progress(finished, progress)
        self._record_outcomes(
            {**{e.key: ("delivered", e) for e in delivered}, **{e.key: ("dead_lettered", e) for e in dead}}
        )
        left = Counter({user: -count for user, count in Counter(event.user for event in finished).items()})
        self._end_turns(owner, turns, sendable, [*report.retry, *report.dead], left)
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsDeadLettered"] += len(dead)
        return BatchResult(failed, counts, latencies)

    def _drop_sent_copies(
        self, sendable: list[PendingEvent], counts: Counter[str]
    ) -> tuple[list[PendingEvent], list[PendingEvent]]:
        """The events still to send, and the copies already sent. SQS may hand a delivery-queue message to two
        deliveries at once: one sends the event, the other finds the user's turn taken and moves its copy here. The
        sender marks the event sent before it gives the turn back, and this batch holds the turn now, so the mark is
        there to find. When the marks cannot be read, the events are sent: twice is better than never."""
        if not self.second_copies or not sendable:
            return sendable, []
        try:
            marks = self.state.delivery_marks([event.key for event in sendable])
        except Exception as exc:
            log.warning("could not read delivery marks (%s); sending", type(exc).__name__)
            return sendable, []
        sent = {key for key, was_sent in marks.items() if was_sent}
        counts["EventsDuplicate"] += len(sent)
        for key in sent:
            log.info("already sent by a delivery", extra={"messageId": key})
        return [e for e in sendable if e.key not in sent], [e for e in sendable if e.key in sent]

    def _save_progress(self, event: PendingEvent, counts: Counter[str]) -> None:
        """Record what Braze has taken of an event going back to the queue. Without the record, the next attempt
        sends the taken part again: counted (``ProgressNotSaved``) and logged, never raised."""
        try:
            self.state.save_progress(event)
        except Exception as exc:
            counts["ProgressNotSaved"] += 1
            log.error("could not save an event's progress (%s); its next attempt may send again what Braze already "
                      "accepted", type(exc).__name__, extra={"messageId": event.key})  # fmt: skip

    def _back_off(self, receipt_handle: str, delay: int) -> None:
        """Hide the message for its backoff; if SQS cannot be told, it comes back after its visibility timeout."""
        try:
            self.queue.retry_later(receipt_handle, delay)
        except Exception as exc:
            log.warning("could not set a backoff (%s); the message returns after its visibility timeout",
                        type(exc).__name__)  # fmt: skip

    def _clear_progress(self, finished: list[PendingEvent], progress: dict[str, Any]) -> None:
        """These events left the retry queue (delivered or dead-lettered): what was recorded of them goes."""
        try:
            for event in finished:
                if event.key in progress:
                    self.state.clear_progress(event.key)
        except Exception as exc:  # bookkeeping only; the progress also expires by TTL
            log.warning("could not clear retry state (%s)", type(exc).__name__)
