"""BufferedDeliveryService and AttributeDedup with in-memory stand-ins for the queue, the state table and Braze."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.config import load_settings
from rudder_braze.delivery.sending import RetryPolicy
from rudder_braze.usecases.buffered_delivery import BufferedDeliveryService
from rudder_braze.usecases.sending import BrazePorts, Timing
from tests.fakes.events import OK, THROTTLED, event, records
from tests.fakes.stores import MemoryQueue, MemoryState, RetryQueueDouble


def service(
    answer: BrazeResponse | list[BrazeResponse],
    queue: MemoryQueue,
    state: MemoryState,
    waits: list[float] | None = None,
) -> tuple[BufferedDeliveryService, list[Any]]:
    """A delivery service whose Braze answers ``answer`` (or each of a list in turn, then the last one again)."""
    sent: list[Any] = []
    answers = answer if isinstance(answer, list) else [answer]

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.append(request.body)
        return answers[min(len(sent), len(answers)) - 1]

    sleep = (waits if waits is not None else []).append
    return BufferedDeliveryService(load_settings({}), BrazePorts(send, queue, state), Timing(sleep=sleep)), sent


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
    assert state.done == {"m1": False}  # moved, not sent; m2 comes back from SQS and must be sent then


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


def profile(sent: list[Any]) -> dict[str, Any]:
    """What Braze ends with for user ``a``: the attribute writes applied in the order they arrived."""
    values: dict[str, Any] = {}
    for body in sent:
        for attributes in body.get("attributes", ()):
            values.update(attributes)
    return values


def test_two_deliveries_splitting_a_users_events_leave_the_newest_value_in_braze() -> None:
    from rudder_braze.usecases.retry import RetryService

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

    first = BufferedDeliveryService(load_settings({}), BrazePorts(send_first, queue, state))
    oldest, newest = event("m1", "a", first_seen=now + 1, visits=1), event("m4", "a", first_seen=now + 4, visits=4)
    result = first.handle(records(oldest, newest), lambda: 30000)
    assert result.counts["EventsDelivered"] == 2 and state.pending == Counter({"u:a": 2})

    def send_retry(request: BrazeRequest) -> BrazeResponse:
        sent.append(request.body)
        return OK

    retry = RetryService(load_settings({}), BrazePorts(send_retry, queue, state), RetryPolicy())
    retried = retry.handle(records(*queue.queued), lambda: 30000)
    assert retried.failed == [] and retried.counts["ValuesOverwritten"] == 2  # visits from m2 and m3
    assert profile(sent) == {"external_id": "a", "visits": 4, "city": "Oslo"}  # m2's city was not overwritten
    assert state.pending == Counter({"u:a": 0}) and state.turns == {}


@pytest.mark.parametrize("second_copies", [True, False])
def test_two_copies_of_a_message_handled_at_once_reach_braze_once(second_copies: bool) -> None:
    """SQS hands one delivery-queue message to two deliveries at once (a standard queue delivers at least once):
    the first sends it; the second finds the user's turn taken and moves its copy to the retry queue. The retry
    function, which can take the turn only after the first delivery gave it back, finds the event sent."""
    from rudder_braze.usecases.retry import RetryService

    queue, state = RetryQueueDouble(), MemoryState()
    copy = event("m1", "a", first_seen=time.time(), visits=1)
    sent: list[Any] = []
    concurrent = service(OK, queue, state)[0]

    def send_first(request: BrazeRequest) -> BrazeResponse:
        if not sent:  # while the first delivery sends, the second handles its copy
            assert concurrent.handle(records(copy), lambda: 30000).counts["EventsQueued"] == 1
        sent.append(request.body)
        return OK

    first = BufferedDeliveryService(load_settings({}), BrazePorts(send_first, queue, state))
    assert first.handle(records(copy), lambda: 30000).counts["EventsDelivered"] == 1
    assert [e.key for e in queue.queued] == ["m1"] and state.done == {"m1": True}  # sent, not merely moved

    def send_retry(request: BrazeRequest) -> BrazeResponse:
        sent.append(request.body)
        return OK

    ports = BrazePorts(send_retry, queue, state)
    retry = RetryService(load_settings({}), ports, RetryPolicy(), second_copies=second_copies)
    retried = retry.handle(records(*queue.queued), lambda: 30000)
    assert retried.failed == []
    assert len(sent) == (1 if second_copies else 2)  # only buffered mode's retry function reads the marks
    if second_copies:
        assert retried.counts["EventsDuplicate"] == 1 and retried.counts["EventsDelivered"] == 0
        assert state.pending == Counter({"u:a": 0}) and state.turns == {}


def test_a_user_whose_turn_cannot_be_taken_is_held_not_sent() -> None:
    class NoTurns(MemoryState):
        def take_turn(self, user: str, owner: str, seconds: float) -> Any:
            raise ConnectionError("DynamoDB is unreachable")

    queue, state = MemoryQueue(), NoTurns()
    deliveries, sent = service(OK, queue, state)
    result = deliveries.handle(records(event("m1", "a", x=1)), lambda: 30000)
    assert sent == [] and [e.key for e in queue.queued] == ["m1"] and result.counts["EventsQueued"] == 1
