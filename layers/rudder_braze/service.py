"""The two use cases, free of Lambda: accept a body of RudderStack events (ingest) and work off the retry queue.

Both take their collaborators as arguments (Braze sender, queue, idempotency gate, state table), so the handlers
only wire AWS and Powertools to them, and tests can run them against moto and the Braze simulator.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rudder_braze.braze_client import Outcome
from rudder_braze.config import BrazeSettings
from rudder_braze.dedup import Fingerprints, deduplicate_requests, user_keys
from rudder_braze.delivery import DeliveryReport, PendingEvent, QueueFormatError, RetryPolicy, deliver, user_of
from rudder_braze.inputs import content_key, happened_at
from rudder_braze.limits import MAX_QUEUED_EVENT_BYTES
from rudder_braze.ordering import Turn, drop_overwritten, merged, position, writes
from rudder_braze.parallel import in_parallel
from rudder_braze.pipeline import EventResult, transform_events
from rudder_braze.ports import Buffer, Claim, FingerprintStore, Gate, Queue, QueueError, Send, State

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


def _count_calls(report: DeliveryReport, counts: Counter[str], latencies: list[float]) -> None:
    for call in report.calls:
        counts["BrazeRequests"] += 1
        if call.outcome is Outcome.THROTTLED:
            counts["BrazeThrottled"] += 1
        if call.ambiguous:
            counts["BrazeAmbiguousTimeouts"] += 1
            log.warning("Braze's answer did not come in time; the request may have been stored and is sent again",
                        extra={"path": call.path, "events": call.events})  # fmt: skip
        latencies.append(call.elapsed_ms)


def _log_partial_errors(
    report: DeliveryReport, counts: Counter[str], records: dict[str, QueueRecord] | None = None
) -> dict[str, list[str]]:
    """Log and count the objects Braze refused, per event; returns them by the SQS record they came from."""
    by_record: dict[str, list[str]] = {}
    for key, errors in report.item_errors.items():
        counts["PartialErrors"] += len(errors)
        where = {}
        if records and key in records:
            where["sqsMessageId"] = records[key].message_id
            by_record[records[key].message_id] = errors
        log.warning("Braze refused part of an event", extra={"messageId": key, "errors": errors, **where})
    return by_record


@dataclass
class _DedupRound:
    known: dict[str, Fingerprints]
    proposed: dict[str, Fingerprints]
    writers: dict[str, set[str]]  # user key → the events that write that user's attributes


class AttributeDedup:
    """``supportDedup`` against the fingerprint store: strip unchanged attributes before sending, and remember what
    Braze accepted afterwards. A user's fingerprints are saved only when every event writing to that user in the
    round was delivered, so a value Braze never took is never taken for known."""

    def __init__(self, store: FingerprintStore) -> None:
        self.store = store

    def strip(self, events: Sequence[PendingEvent]) -> _DedupRound | None:
        writes = {event.key: user_keys(event.requests) for event in events}
        users = sorted(set().union(*writes.values())) if writes else []
        if not users:
            return None
        try:
            known = self.store.load(users)
        except Exception as exc:  # unknown means send everything: more data points, never a missed change
            log.warning("fingerprint lookup failed (%s); sending every attribute", type(exc).__name__)
            return None
        proposed = dict(known)
        writers: dict[str, set[str]] = {}
        for event in events:
            event.requests = deduplicate_requests(event.requests, proposed, known_is_profile=False)
            for user in writes[event.key]:
                writers.setdefault(user, set()).add(event.key)
        return _DedupRound(known, proposed, writers)

    def remember(self, round_: _DedupRound | None, delivered: Sequence[str]) -> None:
        if round_ is None:
            return
        done = set(delivered)
        changed = {
            user: round_.proposed[user]
            for user, keys in round_.writers.items()
            if keys <= done and round_.proposed.get(user) != round_.known.get(user)
        }
        if not changed:
            return
        try:
            self.store.save(changed)
        except Exception as exc:  # the next event simply sends its attributes again
            log.warning("could not save fingerprints (%s)", type(exc).__name__)


class _Delivering:
    """What the three ways to Braze share: their collaborators (the subclasses pass them on by keyword), the users'
    turns (one delivery at a time sends a user's events, :mod:`rudder_braze.ordering`), holding the events of users
    whose updates wait in the retry queue, and sending the rest packed (without unchanged attributes under
    ``supportDedup``), counted and logged."""

    def __init__(
        self,
        settings: BrazeSettings,
        *,
        send: Send,
        queue: Queue,
        state: State,
        dedup: AttributeDedup | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        reserve_ms: int = 5000,
    ) -> None:
        self.settings, self.send, self.queue, self.state, self.dedup = settings, send, queue, state, dedup
        self.clock, self.sleep = clock, sleep
        self.reserve_ms = reserve_ms  # no Braze call starts with less of the invocation left

    @staticmethod
    def _put(events: list[PendingEvent], put: Callable[[Sequence[PendingEvent]], None]) -> tuple[set[str], str | None]:
        """Put events on a queue: the keys of those that could not be put there, and why."""
        if not events:
            return set(), None
        try:
            put(events)
        except QueueError as exc:
            log.error("could not put events on a queue (%s)", exc)
            return set(exc.keys) & {event.key for event in events}, str(exc)
        except Exception as exc:
            log.error("could not put events on a queue (%s)", type(exc).__name__)
            return {event.key for event in events}, type(exc).__name__
        return set(), None

    def _take_turns(
        self, events: Sequence[PendingEvent], remaining_ms: Callable[[], int]
    ) -> tuple[str, dict[str, Turn]]:
        """Take the turn of each user of ``events`` for the rest of the invocation: their events are this delivery's
        to send (``mine``) or wait for the delivery that holds it. A turn that cannot be read is not ours."""
        owner, seconds = uuid.uuid4().hex, remaining_ms() / 1000 + 1

        def take(user: str) -> Turn:
            try:
                return self.state.take_turn(user, owner, seconds)
            except Exception as exc:
                log.warning("could not take a user's turn (%s); their events wait", type(exc).__name__)
                return Turn(mine=False)

        users = sorted({event.user for event in events})
        return owner, dict(zip(users, in_parallel(take, users), strict=True))

    def _end_turns(
        self,
        owner: str,
        turns: dict[str, Turn],
        sent: Sequence[PendingEvent],
        unsent: Sequence[PendingEvent],
        pending: Counter[str],
    ) -> None:
        """Give the turns back with the positions of what Braze took, each with the change of the user's pending
        count (``pending``: events this delivery queued, or took off the retry queue) in the same write; a user whose
        turn another delivery holds has the count changed alone. One write per user, side by side. Never raises: a
        turn also ends by itself, and a count left unchanged only affects whether the user's next events wait in the
        queue behind these (until the count's TTL)."""
        taken = writes(sent, unsent)

        def end(user: str) -> None:
            turn = turns.get(user)
            try:
                if turn is not None and turn.mine:
                    written = merged(turn.written, taken[user]) if user in taken else None
                    self.state.end_turn(user, owner, written, pending[user])
                else:
                    self.state.change_pending(user, pending[user])
            except Exception as exc:
                log.warning("could not give a user's turn back or count their queued events (%s)",
                            type(exc).__name__)  # fmt: skip

        mine = {user for user, turn in turns.items() if turn.mine}
        in_parallel(end, sorted(mine | {user for user, delta in pending.items() if delta}))

    @staticmethod
    def _hold_back(
        events: list[PendingEvent], turns: dict[str, Turn], counts: Counter[str]
    ) -> tuple[list[PendingEvent], list[PendingEvent]]:
        """``(held, sendable)``: a user whose turn another delivery holds, or with updates waiting in the retry
        queue, has these events queued behind them. What newer events already wrote to Braze is taken out of the
        sendable ones (counted ``ValuesOverwritten``)."""
        held, sendable = [], []
        for event in events:
            turn = turns[event.user]
            if turn.mine and not turn.pending:
                sendable.append(event)
                continue
            event.last_error = ("held behind this user's updates already waiting in the retry queue" if turn.mine
                                else "held: another delivery is sending this user's events")  # fmt: skip
            held.append(event)
        written = {user: turn.written for user, turn in turns.items() if turn.written}
        counts["ValuesOverwritten"] += drop_overwritten(sendable, written)
        return held, sendable

    def _deliver(
        self,
        events: list[PendingEvent],
        remaining_ms: Callable[[], int],
        counts: Counter[str],
        latencies: list[float],
        *,
        records: dict[str, QueueRecord] | None = None,
        rounds: int = 1,
        bookkeeping_ms: int = 0,
    ) -> tuple[DeliveryReport, dict[str, list[str]]]:
        """Send now; the report, and the objects Braze refused by SQS record (when ``records`` are given).

        No Braze call starts with less than the reserve (the longest call) plus ``bookkeeping_ms`` (the time the
        caller needs afterwards to queue and record what is left) of the invocation left. With ``rounds`` > 1,
        what Braze throttled or failed is sent again, still packed and in order, after its rate-limit reset or
        1, 2, 4… s, while the invocation has time for it."""
        dedup_round = self.dedup.strip(events) if self.dedup else None
        total = DeliveryReport()
        reserve_ms = self.reserve_ms + bookkeeping_ms
        for round_ in range(max(1, rounds)):
            report = deliver(
                events, self.send, self.settings.track_batch_rule, should_stop=lambda: remaining_ms() < reserve_ms
            )
            total.delivered += report.delivered
            total.dead += report.dead
            total.item_errors.update(report.item_errors)
            total.calls += report.calls
            total.retry, total.retry_after = report.retry, report.retry_after
            events = report.retry
            wait = report.retry_after if report.retry_after is not None else float(2**round_)
            if not events or round_ >= rounds - 1 or remaining_ms() - wait * 1000 < 2 * reserve_ms:
                break
            log.info("sending again after a wait", extra={"events": len(events), "waitSeconds": wait})
            self.sleep(wait)
        _count_calls(total, counts, latencies)
        partial_errors = _log_partial_errors(total, counts, records)
        if self.dedup:
            self.dedup.remember(dedup_round, total.delivered)
        return total, partial_errors


class IngestService(_Delivering):
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
            if claim.claim is Claim.DONE:
                outcomes[key] = "duplicate"
            elif claim.claim is Claim.BUSY:
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


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """The part of an SQS record the retry path needs."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1  # SQS's ApproximateReceiveCount: this receive included


@dataclass
class RetryResult:
    failed: list[str]  # SQS message ids to report as batch item failures
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    partial_errors: dict[str, list[str]] = field(default_factory=dict)  # SQS message id → objects Braze refused


def _read_records(
    records: Sequence[QueueRecord], queue: Queue, counts: Counter[str], now: float
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


def _resume(events: dict[str, PendingEvent], state: State) -> dict[str, Any]:
    """Apply what earlier attempts recorded: only the requests Braze has not accepted yet are sent again."""
    progress = state.progress(list(events))
    for key, (requests, attempts, last_error) in progress.items():
        if key in events:
            event = events[key]
            event.requests, event.attempts, event.last_error = requests, attempts, last_error or event.last_error
    return progress


class RetryService(_Delivering):
    """Deliver the events of a retry-queue batch; back off, or dead-letter what can never succeed."""

    def __init__(self, settings: BrazeSettings, *, policy: RetryPolicy, **collaborators: Any) -> None:
        # No dedup: a retried event was stripped when it was first sent, if at all.
        super().__init__(settings, **collaborators)
        self.policy = policy

    def handle(self, records: Sequence[QueueRecord], remaining_ms: Callable[[], int]) -> RetryResult:
        counts: Counter[str] = Counter()
        latencies: list[float] = []
        now = self.clock()
        events, record_of = _read_records(records, self.queue, counts, now)
        progress = _resume(events, self.state)
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
        waiting_keys = {event.key for event in waiting}
        report, partial_errors = self._deliver(sendable, remaining_ms, counts, latencies, records=record_of)
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
        finished = [events[key] for key in [*report.delivered, *(e.key for e in dead)] if key in events]
        self._clear_progress(finished, progress)
        left = Counter({user: -count for user, count in Counter(event.user for event in finished).items()})
        self._end_turns(owner, turns, sendable, [*report.retry, *report.dead], left)
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsDeadLettered"] += len(dead)
        return RetryResult(failed, counts, latencies, partial_errors)

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


class DeliveryService(_Delivering):
    """Buffered mode: deliver a batch of the delivery queue, packed into as few Braze requests as Braze's limits
    allow, each user's attribute objects coalesced.

    A standard queue cannot hold a user's updates back while one of them waits out a backoff, so what Braze cannot
    take now moves to the FIFO retry queue (and the user's later events follow it there while it waits). A record is
    reported as a batch item failure only when its event could not be moved: SQS then hands it out again, and the
    progress saved for it keeps what Braze already accepted from being sent twice. A record seen before (SQS
    delivers at least once) is acknowledged without being sent again.
    """

    def __init__(self, settings: BrazeSettings, *, rounds: int = 3, **collaborators: Any) -> None:
        super().__init__(settings, **collaborators)
        # Sends of a batch before what Braze still throttles or fails moves to the retry queue: a 5xx on a packed
        # request would otherwise send its whole share of the batch through the FIFO queue, ten events per batch.
        self.rounds = rounds

    def handle(self, records: Sequence[QueueRecord], remaining_ms: Callable[[], int]) -> RetryResult:
        counts: Counter[str] = Counter()
        latencies: list[float] = []
        events, record_of = _read_records(records, self.queue, counts, self.clock())
        # No state, no way to tell a second copy from a first: raising leaves the whole batch on the queue.
        seen = self.state.finished(list(events))
        counts["EventsDuplicate"] = len(seen)
        events = {key: event for key, event in events.items() if key not in seen}
        _resume(events, self.state)
        attempts_before = {key: event.attempts for key, event in events.items()}
        owner, turns = self._take_turns(list(events.values()), remaining_ms)
        held, sendable = self._hold_back(list(events.values()), turns, counts)
        report, partial_errors = self._deliver(
            sendable, remaining_ms, counts, latencies, records=record_of, rounds=self.rounds
        )
        unmoved, _ = self._put([*held, *report.retry], self.queue.enqueue)
        unmoved |= self._put(report.dead, self.queue.dead_letter)[0]
        moved = [event for event in [*held, *report.retry] if event.key not in unmoved]
        self._end_turns(owner, turns, sendable, [*report.retry, *report.dead], Counter(e.user for e in moved))
        try:
            # The copies' marks first, then what is left of the events SQS hands out again.
            self.state.mark_finished([key for key in events if key not in unmoved])
            for event in [*report.retry, *report.dead]:
                if event.key in unmoved and event.attempts != attempts_before[event.key]:
                    self.state.save_progress(event)
        except Exception as exc:  # bookkeeping: only a second copy of a message or a rare reordering could follow
            log.warning("could not record delivery state (%s)", type(exc).__name__)
        for event in report.dead:
            log.error("dead-lettered", extra={"messageId": event.key, "reason": event.last_error})
        counts["EventsDelivered"] = len(report.delivered)
        counts["EventsQueued"] = len(moved)
        counts["EventsDeadLettered"] += len([e for e in report.dead if e.key not in unmoved])
        return RetryResult([record_of[key].message_id for key in unmoved], counts, latencies, partial_errors)
