"""RetryService when the stores it records in fail after Braze has taken part of a batch: nothing escapes, what
Braze accepted is acknowledged (never sent again by SQS handing the batch out anew), and the one re-send left is
counted."""

from __future__ import annotations

import time

from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import IDENTIFY, BrazeRequest
from rudder_braze.config import load_settings
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.sending import RetryPolicy
from rudder_braze.usecases.retry import RetryService
from rudder_braze.usecases.sending import BrazePorts, Timing
from tests.fakes.events import OK, THROTTLED, event, records
from tests.fakes.stores import MemoryQueue, MemoryState, RetryQueueDouble


class BrokenProgressState(MemoryState):
    def save_progress(self, event: PendingEvent) -> None:
        raise ConnectionError("DynamoDB is unreachable")


def retry_service(queue: MemoryQueue, state: MemoryState) -> RetryService:
    """Braze takes identify merges and throttles attribute writes."""

    def send(request: BrazeRequest) -> BrazeResponse:
        return OK if request.path == IDENTIFY else THROTTLED

    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0)
    return RetryService(load_settings({}), BrazePorts(send, queue, state), policy, Timing(sleep=lambda _: None))


def merge(key: str, user: str, *, attempts: int = 0) -> PendingEvent:
    body = {"aliases_to_identify": [{"external_id": user, "user_alias": {"alias_name": f"anon-{user}",
                                                                        "alias_label": "rudder_id"}}]}  # fmt: skip
    return PendingEvent(key, f"u:{user}", [BrazeRequest(IDENTIFY, body)], time.time(), attempts=attempts)


def test_a_failing_progress_write_neither_raises_nor_resends_what_braze_took() -> None:
    queue, state = RetryQueueDouble(), BrokenProgressState()
    taken = merge("m-ok", "a")
    part = merge("m-part", "b")
    part.requests += event("x", "b", plan="pro").requests  # its merge goes through, its attributes are throttled
    result = retry_service(queue, state).handle(records(taken, part), lambda: 30000)
    assert result.failed == ["sqs-m-part"]  # m-ok is acknowledged: SQS will not hand it out again
    assert result.counts["EventsDelivered"] == 1
    assert result.counts["ProgressNotSaved"] == 1  # m-part's merge may be sent again: counted, and logged
    assert queue.backed_off == ["receipt-m-part"]


def test_a_failing_dead_letter_write_keeps_the_message_on_the_queue_and_acknowledges_the_rest() -> None:
    queue, state = RetryQueueDouble(dead_letter_fails=True), MemoryState()
    doomed = merge("m-doomed", "c", attempts=5)  # out of attempts
    result = retry_service(queue, state).handle(records(merge("m-ok", "a"), doomed), lambda: 30000)
    assert result.failed == ["sqs-m-doomed"]
    assert result.counts["EventsDelivered"] == 1 and result.counts["EventsDeadLettered"] == 0


def test_a_read_timeout_is_counted_as_ambiguous_and_the_event_sent_again_later() -> None:
    queue, state = RetryQueueDouble(), MemoryState()

    def send(request: BrazeRequest) -> BrazeResponse:
        return BrazeResponse(None, error="ReadTimeoutError: read timed out", ambiguous=True)

    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0)
    service = RetryService(load_settings({}), BrazePorts(send, queue, state), policy)
    result = service.handle(records(merge("m-slow", "a")), lambda: 30000)
    assert result.counts["BrazeAmbiguousTimeouts"] == 1
    assert result.failed == ["sqs-m-slow"]  # sent again after its backoff: nothing lost, the duplicate risk counted


def test_a_user_whose_turn_another_delivery_holds_backs_off_without_an_attempt() -> None:
    queue, state = RetryQueueDouble(), MemoryState()
    state.turns["u:a"] = "a delivery still sending"
    waiting = merge("m1", "a", attempts=3)
    result = retry_service(queue, state).handle(records(waiting, merge("m2", "b")), lambda: 30000)
    assert result.failed == ["sqs-m1"] and queue.backed_off == ["receipt-m1"]
    assert result.counts["EventsDelivered"] == 1 and "m1" not in state.saved  # no attempt spent, nothing to record
    assert state.turns == {"u:a": "a delivery still sending"}
