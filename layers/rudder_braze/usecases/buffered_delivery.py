"""Buffered mode: deliver a batch of the delivery queue, packed."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from rudder_braze.config import BrazeSettings
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.usecases.queue_batch import BatchResult, QueueRecord, read_records, resume
from rudder_braze.usecases.sending import REAL_TIME, BrazePorts, OrderedSending, Timing, log_partial_errors

log = logging.getLogger("rudder_braze")


class BufferedDeliveryService(OrderedSending):
    """Buffered mode: deliver a batch of the delivery queue, packed into as few Braze requests as Braze's limits
    allow, each user's attribute objects coalesced.

    A standard queue cannot hold a user's updates back while one of them waits out a backoff, so what Braze cannot
    take now moves to the FIFO retry queue (and the user's later events follow it there while it waits). A record is
    reported as a batch item failure only when its event could not be moved: SQS then hands it out again, and the
    progress saved for it keeps what Braze already accepted from being sent twice. A record seen before (SQS
    delivers at least once) is acknowledged without being sent again.
    """

    def __init__(
        self, settings: BrazeSettings, ports: BrazePorts, timing: Timing = REAL_TIME, *, rounds: int = 3
    ) -> None:
        super().__init__(settings, ports, timing)
        # Sends of a batch before what Braze still throttles or fails moves to the retry queue: a 5xx on a packed
        # request would otherwise send its whole share of the batch through the FIFO queue, ten events per batch.
        self.rounds = rounds

    def handle(self, records: Sequence[QueueRecord], remaining_ms: Callable[[], int]) -> BatchResult:
        counts: Counter[str] = Counter()
        latencies: list[float] = []
        events, record_of = read_records(records, self.queue, counts, self.clock())
        # No state, no way to tell a second copy from a first: raising leaves the whole batch on the queue.
        seen = self.state.delivery_marks(list(events))
        counts["EventsDuplicate"] = len(seen)
        events = {key: event for key, event in events.items() if key not in seen}
        resume(events, self.state)
        attempts_before = {key: event.attempts for key, event in events.items()}
        owner, turns = self._take_turns(list(events.values()), remaining_ms)
        held, sendable = self._hold_back(list(events.values()), turns, counts)
        report = self._deliver(sendable, remaining_ms, counts, latencies)
        log_partial_errors(report, counts, record_of)
        unmoved, _ = self._put([*held, *report.retry], self.queue.enqueue)
        unmoved |= self._put(report.dead, self.queue.dead_letter)[0]
        moved = [event for event in [*held, *report.retry] if event.key not in unmoved]
        self._mark_handled(events, report.delivered, unmoved)
        self._end_turns(owner, turns, sendable, [*report.retry, *report.dead], Counter(e.user for e in moved))
        try:
            # What is left of the events SQS hands out again.
            for event in [*report.retry, *report.dead]:
                if event.key in unmoved and event.attempts != attempts_before[event.key]:
                    self.state.save_progress(event)
        except Exception as exc:  # bookkeeping: only a second copy of a message or a rare reordering could follow
            log.warning("could not record delivery state (%s)", type(exc).__name__)
        for event in report.dead:
            log.error("dead-lettered", extra={"messageId": event.key, "reason": event.last_error})
        self._record_outcomes({e.key: ("dead_lettered", e) for e in report.dead if e.key not in unmoved})
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsQueued"] = len(moved)
        counts["EventsDeadLettered"] += len([e for e in report.dead if e.key not in unmoved])
        return BatchResult([record_of[key].message_id for key in unmoved], counts, latencies)

    def _mark_handled(self, events: Mapping[str, PendingEvent], delivered: Sequence[str], unmoved: set[str]) -> None:
        """Mark what this batch sent and what it moved on, so a second copy of a message is not handled again. The
        marks are written before the users' turns are given back: SQS may hand a copy to a concurrent delivery,
        which finds the user's turn taken and moves its copy to the retry queue; the retry function can only take
        the turn after this, and then finds the event sent (RetryService)."""
        sent = [key for key in delivered if key in events]
        not_moved = unmoved | set(sent)
        moved = [key for key in events if key not in not_moved]
        try:
            self.state.mark_finished(sent, moved)
        except Exception as exc:  # bookkeeping: only a second copy of a message could follow
            log.warning("could not mark delivered messages (%s)", type(exc).__name__)
