"""DeliveryService and AttributeDedup with in-memory stand-ins for the queue, the state table and Braze."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rudder_braze.braze_client import BrazeResponse
from rudder_braze.config import load_settings
from rudder_braze.dedup import Fingerprints, deduplicate, fingerprint
from rudder_braze.delivery import PendingEvent
from rudder_braze.mapping import BrazeRequest
from rudder_braze.ordering import Turn, Written
from rudder_braze.ports import QueueError
from rudder_braze.service import AttributeDedup, DeliveryService, QueueRecord

OK = BrazeResponse(201, {"message": "success"})
THROTTLED = BrazeResponse(429, "", {"X-RateLimit-Reset": "0"})


class MemoryQueue:
    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.queued: list[PendingEvent] = []
        self.dead: list[PendingEvent] = []

    def enqueue(self, events: Sequence[PendingEvent]) -> None:
        refused = [e.key for e in events if e.key in self.refuse]
        self.queued += [e for e in events if e.key not in self.refuse]
        if refused:
            raise QueueError("refused", refused)

    def dead_letter(self, events: Sequence[PendingEvent], reason: str | None = None) -> None:
        self.dead += events

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        raise AssertionError("the delivery queue never backs off in place")


class MemoryState:
    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()
        self.saved: dict[str, PendingEvent] = {}
        self.done: set[str] = set()
        self.turns: dict[str, str] = {}  # user → the delivery holding the user's turn
        self.written: dict[str, Written] = {}

    def take_turn(self, user: str, owner: str, seconds: float) -> Turn:
        if self.turns.setdefault(user, owner) != owner:
            return Turn(mine=False)
        return Turn(mine=True, pending=self.pending[user], written=self.written.get(user))

    def end_turn(self, user: str, owner: str, written: Written | None, pending_delta: int = 0) -> None:
        assert self.turns.pop(user) == owner
        if written is not None:
            self.written[user] = written
        self.pending[user] += pending_delta

    def change_pending(self, user: str, delta: int) -> None:
        self.pending[user] += delta

    def progress(self, keys: Sequence[str]) -> dict[str, tuple[list[BrazeRequest], int, str | None]]:
        return {k: (self.saved[k].requests, self.saved[k].attempts, None) for k in keys if k in self.saved}

    def save_progress(self, event: PendingEvent) -> None:
        self.saved[event.key] = event

    def clear_progress(self, key: str) -> None:
        self.saved.pop(key, None)

    def finished(self, keys: Sequence[str]) -> set[str]:
        return set(keys) & self.done

    def mark_finished(self, keys: Sequence[str]) -> None:
        self.done.update(keys)


class MemoryFingerprints:
    def __init__(self) -> None:
        self.items: dict[str, Fingerprints] = {}

    def load(self, users: Sequence[str]) -> dict[str, Fingerprints]:
        return {u: dict(self.items[u]) for u in users if u in self.items}

    def save(self, fingerprints: dict[str, Fingerprints]) -> None:
        self.items.update(fingerprints)


def event(key: str, user: str, *, first_seen: float = 0.0, seq: int = 0, **attributes: Any) -> PendingEvent:
    body = {"partner": "RudderStack", "attributes": [{"external_id": user, **attributes}]}
    return PendingEvent(key, f"u:{user}", [BrazeRequest("/users/track", body)], first_seen, seq=seq)


def records(*events: PendingEvent) -> list[QueueRecord]:
    return [QueueRecord(f"sqs-{e.key}", f"receipt-{e.key}", e.to_message()) for e in events]


def service(
    answer: BrazeResponse | list[BrazeResponse],
    queue: MemoryQueue,
    state: MemoryState,
    waits: list[float] | None = None,
) -> tuple[DeliveryService, list[Any]]:
    """A delivery service whose Braze answers ``answer`` (or each of a list in turn, then the last one again)."""
    sent: list[Any] = []
    answers = answer if isinstance(answer, list) else [answer]

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.append(request.body)
        return answers[min(len(sent), len(answers)) - 1]

    sleep = (waits if waits is not None else []).append
    return DeliveryService(load_settings({}), send=send, queue=queue, state=state, sleep=sleep), sent


def test_a_batch_is_sorted_into_the_order_the_bridge_received_it() -> None:
    queue, state = MemoryQueue(), MemoryState()
    deliveries, sent = service(OK, queue, state)
    later, earlier = event("m2", "a", first_seen=2.0, plan="new"), event("m1", "a", first_seen=1.0, plan="old")
    result = deliveries.handle(records(later, earlier), lambda: 30000)
    assert result.failed == [] and sent[0]["attributes"] == [{"external_id": "a", "plan": "new"}]


def test_an_event_the_retry_queue_refuses_stays_on_the_delivery_queue_and_nothing_else_does() -> None:
    queue, state = MemoryQueue(refuse={"m2"}), MemoryState()
    deliveries, _ = service(THROTTLED, queue, state)
    result = deliveries.handle(records(event("m1", "a", x=1), event("m2", "b", x=2)), lambda: 30000)
    assert result.failed == ["sqs-m2"]
    assert [e.key for e in queue.queued] == ["m1"] and state.pending == Counter({"u:a": 1})
    assert state.done == {"m1"}  # m2 comes back from SQS and must be sent then


def test_a_failed_send_is_sent_again_packed_before_anything_moves_to_the_retry_queue() -> None:
    queue, state = MemoryQueue(), MemoryState()
    waits: list[float] = []
    deliveries, sent = service([BrazeResponse(503, "busy"), OK], queue, state, waits)
    result = deliveries.handle(records(event("m1", "a", x=1), event("m2", "b", x=2)), lambda: 30000)
    assert result.failed == [] and queue.queued == [] and result.counts["EventsDelivered"] == 2
    assert len(sent) == 2 and len(sent[1]["attributes"]) == 2  # the same packed request, once more
    assert waits == [1.0]


def test_what_still_fails_after_the_rounds_moves_with_its_attempts_counted() -> None:
    queue, state = MemoryQueue(), MemoryState()
    waits: list[float] = []
    deliveries, sent = service(THROTTLED, queue, state, waits)
    deliveries.handle(records(event("m1", "a", x=1)), lambda: 30000)
    assert len(sent) == 3 and waits == [1.0, 2.0]  # the reset Braze gave has passed: 1 s, then 2 s
    (moved,) = queue.queued
    assert moved.attempts == 3 and state.pending == Counter({"u:a": 1})


def test_no_second_round_without_the_time_for_it() -> None:
    queue, state = MemoryQueue(), MemoryState()
    waits: list[float] = []
    deliveries, sent = service(BrazeResponse(500, "down"), queue, state, waits)
    deliveries.handle(records(event("m1", "a", x=1)), lambda: 9000)  # less than twice the 5 s reserve left
    assert len(sent) == 1 and waits == [] and [e.key for e in queue.queued] == ["m1"]


def test_a_second_copy_is_acknowledged_without_sending() -> None:
    queue, state = MemoryQueue(), MemoryState()
    deliveries, sent = service(OK, queue, state)
    deliveries.handle(records(event("m1", "a", x=1)), lambda: 30000)
    result = deliveries.handle(records(event("m1", "a", x=1)), lambda: 30000)
    assert len(sent) == 1 and result.counts["EventsDuplicate"] == 1 and result.failed == []


def test_dedup_remembers_only_what_braze_accepted() -> None:
    store = MemoryFingerprints()
    dedup = AttributeDedup(store)
    first = [event("m1", "a", plan="pro"), event("m2", "b", plan="pro")]
    round_ = dedup.strip(first)
    dedup.remember(round_, ["m1"])  # b's write failed: b stays unknown
    assert set(store.items) == {"ext:a"} and store.items["ext:a"]["plan"] == fingerprint("pro")
    again = [event("m3", "a", plan="pro", seats=2), event("m4", "b", plan="pro")]
    dedup.strip(again)
    assert again[0].requests[0].body["attributes"] == [{"external_id": "a", "seats": 2}]
    assert again[1].requests[0].body["attributes"] == [{"external_id": "b", "plan": "pro"}]


def test_a_null_is_sent_unless_the_store_knows_it_was_null() -> None:
    # The bridge's store only knows what it sent: a key it never wrote may hold a value in Braze.
    assert deduplicate({"external_id": "a", "coupon": None}, {}, known_is_profile=False)[0] == {
        "external_id": "a",
        "coupon": None,
    }
    known = {"coupon": fingerprint(None)}
    assert deduplicate({"external_id": "a", "coupon": None}, known, known_is_profile=False)[0] is None
    # RudderStack's lookup returns the whole profile: a key it lacks has no value to clear.
    assert deduplicate({"external_id": "a", "coupon": None}, {})[0] is None


def profile(sent: list[Any]) -> dict[str, Any]:
    """What Braze ends with for user ``a``: the attribute writes applied in the order they arrived."""
    values: dict[str, Any] = {}
    for body in sent:
        for attributes in body.get("attributes", ()):
            values.update(attributes)
    return values


def test_two_deliveries_splitting_a_users_events_leave_the_newest_value_in_braze() -> None:
    from rudder_braze.delivery import RetryPolicy
    from rudder_braze.service import RetryService
    from tests.unit.test_retry_service import RetryQueueDouble

    queue, state = RetryQueueDouble(), MemoryState()
    now = time.time()  # recent events: the retry policy gives up on day-old ones
    sent: list[Any] = []
    held = service(OK, queue, state)[0]  # the second delivery: it gets the user's middle events

    def send_first(request: BrazeRequest) -> BrazeResponse:
        if not sent:  # while the first delivery sends, the second handles its batch
            second = held.handle(records(event("m2", "a", first_seen=now + 2, visits=2, city="Oslo"),
                                         event("m3", "a", first_seen=now + 3, visits=3)), lambda: 30000)  # fmt: skip
            assert second.failed == [] and second.counts["EventsQueued"] == 2
        sent.append(request.body)
        return OK

    first = DeliveryService(load_settings({}), send=send_first, queue=queue, state=state)
    oldest, newest = event("m1", "a", first_seen=now + 1, visits=1), event("m4", "a", first_seen=now + 4, visits=4)
    result = first.handle(records(oldest, newest), lambda: 30000)
    assert result.counts["EventsDelivered"] == 2 and state.pending == Counter({"u:a": 2})

    def send_retry(request: BrazeRequest) -> BrazeResponse:
        sent.append(request.body)
        return OK

    retry = RetryService(load_settings({}), policy=RetryPolicy(), send=send_retry, queue=queue, state=state)
    retried = retry.handle(records(*queue.queued), lambda: 30000)
    assert retried.failed == [] and retried.counts["ValuesOverwritten"] == 2  # visits from m2 and m3
    assert profile(sent) == {"external_id": "a", "visits": 4, "city": "Oslo"}  # m2's city was not overwritten
    assert state.pending == Counter({"u:a": 0}) and state.turns == {}


def test_a_user_whose_turn_cannot_be_taken_is_held_not_sent() -> None:
    class NoTurns(MemoryState):
        def take_turn(self, user: str, owner: str, seconds: float) -> Any:
            raise ConnectionError("DynamoDB is unreachable")

    queue, state = MemoryQueue(), NoTurns()
    deliveries, sent = service(OK, queue, state)
    result = deliveries.handle(records(event("m1", "a", x=1)), lambda: 30000)
    assert sent == [] and [e.key for e in queue.queued] == ["m1"] and result.counts["EventsQueued"] == 1
