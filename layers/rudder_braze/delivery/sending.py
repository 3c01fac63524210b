"""The delivery policy: send events' requests to Braze packed, and decide for each event what happens next.

An event is *delivered* when Braze accepted all its requests (objects Braze named in ``errors[]`` count as
delivered: retrying them cannot help, so they are only reported). It is *retried* after a 429, a 5xx or a
transport failure, with only the requests (and objects) Braze did not accept. It is *dead-lettered* when Braze
refused it for good. Once a user has an update waiting for a retry, that user's later updates in the same run are
held back with it, so an old value can never overwrite a newer one in Braze.

Nothing here talks to AWS: the caller gives a ``send`` function and decides where retried and dead events go.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rudder_braze.braze.client import BrazeResponse, Classification, Outcome, classify
from rudder_braze.braze.requests import DELETE, IDENTIFY, MERGE, PARTNER, SUBSCRIPTION, TRACK, BrazeRequest
from rudder_braze.config import TrackBatchRule
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.packing import TRACK_ARRAYS, pack

# The order in which an event's requests must reach Braze: merge the anonymous profile before writing to it; a
# deletion after whatever else was due for its user.
PHASES = (IDENTIFY, TRACK, SUBSCRIPTION, MERGE, DELETE)
_SEVERITY = {Outcome.RETRYABLE: 1, Outcome.THROTTLED: 2, Outcome.PERMANENT: 3}


@dataclass(frozen=True, slots=True)
class BrazeCall:
    """One request sent to Braze, for metrics and logs (no body: it holds personal data)."""

    path: str
    events: int
    objects: int
    status: int | None
    outcome: Outcome
    elapsed_ms: float
    ambiguous: bool = False  # sent, and no answer in time: Braze may have stored it


@dataclass(slots=True)
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    item_errors: dict[str, list[str]] = field(default_factory=dict)  # messageId → objects Braze refused
    retry: list[PendingEvent] = field(default_factory=list)
    dead: list[PendingEvent] = field(default_factory=list)
    retry_after: float | None = None  # the longest rate-limit reset Braze asked for
    calls: list[BrazeCall] = field(default_factory=list)


class _LeftToSend:
    """What one event still has to send, per phase; /users/track objects are tracked one by one."""

    def __init__(self, event: PendingEvent) -> None:
        self.event = event
        self.objects: list[tuple[str, dict[str, Any]]] = []
        self.other: dict[str, list[BrazeRequest]] = {}
        for request in event.requests:
            if request.path == TRACK:
                self.objects.extend((a, obj) for a in TRACK_ARRAYS for obj in request.body.get(a, ()))
            else:
                self.other.setdefault(request.path, []).append(request)

    def requests_for(self, path: str) -> list[BrazeRequest]:
        if path != TRACK:
            return self.other.get(path, [])
        if not self.objects:
            return []
        body: dict[str, Any] = {"partner": PARTNER}
        for array, obj in self.objects:
            body.setdefault(array, []).append(obj)
        return [BrazeRequest(TRACK, body)]

    def sent(self, path: str, chunk: BrazeRequest) -> None:
        if path != TRACK:
            self.other.pop(path, None)
            return
        # A coalesced attributes object stands for several events' objects: once Braze took it, all are sent.
        taken: set[int] = set()
        for array in TRACK_ARRAYS:
            for obj in chunk.body.get(array, ()):
                taken.add(id(obj))
                taken.update(getattr(obj, "sources", ()))
        self.objects = [(a, obj) for a, obj in self.objects if id(obj) not in taken]

    def left(self) -> list[BrazeRequest]:
        return [request for path in PHASES for request in self.requests_for(path)]


def _object_count(request: BrazeRequest) -> int:
    return sum(len(v) for v in request.body.values() if isinstance(v, list))


def _chunks(
    batch: list[tuple[str, list[BrazeRequest]]], track_limit: TrackBatchRule, isolated: set[str], users: dict[str, str]
) -> list[BrazeRequest]:
    """The batch packed, except the isolated users' events: one request (or set of requests) per event, in order.
    ``users`` maps each event's key to its user."""
    packed = pack([item for item in batch if users[item[0]] not in isolated], track_limit, coalesce=True)
    for item in batch:
        if users[item[0]] in isolated:
            packed += pack([item], track_limit, coalesce=True)
    return packed


class _DeliveryRun:
    """One delivery of a set of events: what each still has to send, which failed and why, whose events wait
    behind a failure of the same user, whose go one per request, and the calls made."""

    def __init__(
        self,
        events: Sequence[PendingEvent],
        send: Callable[[BrazeRequest], BrazeResponse],
        track_limit: TrackBatchRule,
        should_stop: Callable[[], bool],
    ) -> None:
        self.send, self.track_limit, self.should_stop = send, track_limit, should_stop
        self.report = DeliveryReport()
        self.remaining = {event.key: _LeftToSend(event) for event in events}
        self.users = {event.key: event.user for event in events}
        self.failures: dict[str, Classification] = {}
        self.held_users: dict[str, Classification] = {}  # users with an update waiting: their later ones wait too
        self.tried: set[str] = set()  # events whose own request failed (held events do not use up an attempt)
        self.isolated: set[str] = set()  # users whose events go one per request (a packed request was refused)

    def fail(self, key: str, classification: Classification) -> None:
        """Record an event's failure (the most severe one counts); a user with a retryable failure holds back."""
        previous = self.failures.get(key)
        if previous is None or _SEVERITY[classification.outcome] > _SEVERITY[previous.outcome]:
            self.failures[key] = classification
        user = self.users[key]
        if classification.outcome is not Outcome.PERMANENT and user not in self.held_users:
            self.held_users[user] = classification

    def due(self, path: str) -> list[tuple[str, list[BrazeRequest]]]:
        """The events with requests of this phase still to send; those of held users fail as held."""
        batch = []
        for key, state in self.remaining.items():
            requests = state.requests_for(path)
            if not requests or key in self.failures:
                continue
            held = self.held_users.get(self.users[key])
            if held is not None:
                self.fail(key, Classification(held.outcome, f"held behind an earlier update of the same user: "
                                                            f"{held.reason}"))  # fmt: skip
                continue
            batch.append((key, requests))
        return batch

    def send_phase(self, path: str) -> None:
        """Send one phase packed. Any failure makes the packing stale (held and isolated users): what is left of
        the phase is packed again, until it is all sent or failed."""
        while (batch := self.due(path)) and not self.send_packed(path, batch):
            pass

    def send_packed(self, path: str, batch: list[tuple[str, list[BrazeRequest]]]) -> bool:
        """Whether every packed request of ``batch`` went through (``False`` at the first that did not)."""
        for chunk in _chunks(batch, self.track_limit, self.isolated, self.users):
            if self.should_stop():
                stop = Classification(Outcome.RETRYABLE, "not sent: the invocation ran out of time")
                for key, _ in batch:
                    if key not in self.failures:
                        self.fail(key, stop)
                return False
            if not self.send_chunk(path, chunk):
                return False
        return True

    def send_chunk(self, path: str, chunk: BrazeRequest) -> bool:
        """Send one request; whether Braze took it."""
        response = self.send(chunk)
        classification = classify(response)
        if path == DELETE and response.status == 404:
            # Braze knows none of these users: nothing is left to delete (RudderStack counts it a success too).
            classification = Classification(Outcome.DELIVERED, "Braze answered 404: no such user")
        self.report.calls.append(
            BrazeCall(path, len(chunk.message_ids), _object_count(chunk), response.status, classification.outcome,
                      response.elapsed_ms, response.ambiguous)
        )  # fmt: skip
        if classification.outcome in (Outcome.DELIVERED, Outcome.PARTIAL):
            self.accepted(path, chunk, classification)
            return True
        if classification.outcome is Outcome.PERMANENT and len(chunk.message_ids) > 1:
            # Braze refused the whole packed request for something in one event: send these users' events one per
            # request, so that only the event at fault is dead-lettered.
            self.isolated.update(self.users[key] for key in chunk.message_ids)
            return False
        if classification.retry_after is not None:
            self.report.retry_after = max(self.report.retry_after or 0.0, classification.retry_after)
        self.tried.update(chunk.message_ids)
        for key in chunk.message_ids:
            self.fail(key, classification)
        return False

    def accepted(self, path: str, chunk: BrazeRequest, classification: Classification) -> None:
        """Braze took the request: its events have sent it; the objects it refused are traced to their events."""
        for key in chunk.message_ids:
            self.remaining[key].sent(path, chunk)
        for error in classification.item_errors:
            items = chunk.item_owners.get(error.array, [])
            owners = items[error.index] if 0 <= error.index < len(items) else chunk.message_ids
            for key in owners:
                self.report.item_errors.setdefault(key, []).append(f"{error.array}[{error.index}]: {error.reason}")
        if classification.outcome is Outcome.PARTIAL and not classification.item_errors:
            for key in chunk.message_ids:
                self.report.item_errors.setdefault(key, []).append(classification.reason)

    def sorted_out(self) -> DeliveryReport:
        """Each event delivered, to retry (with what it has left) or dead."""
        for key, state in self.remaining.items():
            failure = self.failures.get(key)
            if failure is None:
                self.report.delivered.append(key)
                continue
            event = state.event
            attempts = event.attempts + (1 if key in self.tried else 0)
            pending = PendingEvent(event.key, event.user, state.left(), event.first_seen, attempts, failure.reason,
                                   event.seq, event.happened_at)  # fmt: skip
            (self.report.dead if failure.outcome is Outcome.PERMANENT else self.report.retry).append(pending)
        return self.report


def deliver(
    events: Sequence[PendingEvent],
    send: Callable[[BrazeRequest], BrazeResponse],
    track_limit: TrackBatchRule,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Send the events' requests packed, phase by phase, and sort the events into delivered / retry / dead.

    ``should_stop`` is asked before each call (for example "less than two seconds of the Lambda left"): once it
    says yes, whatever is unsent is returned for retry instead of being sent.
    """
    run = _DeliveryRun(events, send, track_limit, should_stop)
    for path in PHASES:
        run.send_phase(path)
    return run.sorted_out()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, at least until Braze's rate-limit window resets; then give up."""

    max_attempts: int = 10
    max_age_seconds: float = 24 * 3600
    base_delay_seconds: float = 5.0
    max_delay_seconds: float = 900.0
    # The retry queue's maxReceiveCount. SQS moves a message to the dead-letter queue, without a reason and without
    # settling the bridge's bookkeeping, when it is received once more after this; the bridge decides first.
    max_receives: int | None = None

    def delay(self, attempts: int, retry_after: float | None = None, rand: Callable[[], float] = random.random) -> int:
        """Seconds to wait before attempt ``attempts + 1``; ``attempts`` ≥ 1 is the number of failures so far."""
        growth: float = 2.0 ** max(0, attempts - 1)
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * growth)
        delay = rand() * ceiling
        if retry_after is not None:
            # Spread the retries over a little time after the reset so they do not all land in its first second.
            delay = max(delay, retry_after + rand() * self.base_delay_seconds)
        return math.ceil(min(delay, self.max_delay_seconds))

    def give_up_reason(self, event: PendingEvent, now: float) -> str | None:
        if event.attempts >= self.max_attempts:
            return f"gave up after {event.attempts} attempts; last error: {event.last_error}"
        if now - event.first_seen > self.max_age_seconds:
            age = int(now - event.first_seen)
            return f"gave up after {age} s (max {int(self.max_age_seconds)}); last error: {event.last_error}"
        return None

    def last_receive_reason(self, receive_count: int, event: PendingEvent) -> str | None:
        """Why an event going back to the queue must be dead-lettered now: SQS would take it at its next receive."""
        if self.max_receives is None or receive_count < self.max_receives:
            return None
        return (
            f"gave up after {receive_count} receives (the queue's maxReceiveCount) and {event.attempts} attempts; "
            f"last error: {event.last_error}"
        )
