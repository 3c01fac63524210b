"""IngestService with a queue write that fails for part of a body: what was queued is recorded, the sender's retry
of the same body sends none of it again, and only the rest runs again."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from rudder_braze.app.webhook import answer_for
from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.config import load_settings
from rudder_braze.usecases.ingest import IngestService
from rudder_braze.usecases.ports import ClaimOutcome
from rudder_braze.usecases.sending import BrazePorts, Timing
from tests.fakes.events import THROTTLED
from tests.fakes.stores import MemoryIdempotency, MemoryQueue, MemoryState


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    counts: Counter[str]


def ingest(service: IngestService, body: list[Any], remaining_ms: int, *, in_order: bool = False) -> Answer:
    """The use case's result as the webhook answers it."""
    result = service.handle(body, lambda: remaining_ms, sender_keeps_order=in_order)
    status, answer = answer_for(result)
    return Answer(status, answer, result.counts)


def track(n: int) -> dict[str, Any]:
    return {"type": "track", "userId": f"u-{n}", "event": "E", "messageId": f"m-{n}",
            "timestamp": "2026-12-04T10:00:00Z"}  # fmt: skip


def test_a_half_failed_queue_write_records_what_was_queued_and_the_retry_runs_only_the_rest() -> None:
    sent: list[BrazeRequest] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.append(request)
        return THROTTLED  # Braze takes nothing now: every event must be queued

    queue, state, gate = MemoryQueue(refuse={"m-3", "m-4"}), MemoryState(), MemoryIdempotency()
    service = IngestService(load_settings({}), BrazePorts(send, queue, state), gate)
    body = [track(n) for n in range(6)]
    first = ingest(service, body, 8000)
    assert first.status == 503 and first.body["queued"] == 4 and first.body["unqueued"] == ["m-3", "m-4"]
    assert "could not queue 2 accepted event(s) (refused)" in first.body["error"]
    assert sorted(gate.done) == ["m-0", "m-1", "m-2", "m-5"]
    assert state.pending == {"u:u-0": 1, "u:u-1": 1, "u:u-2": 1, "u:u-3": 0, "u:u-4": 0, "u:u-5": 1}

    queue.refuse = set()  # the sender retries the same body once SQS is back
    again = ingest(service, body, 8000)
    assert (again.status, again.body["queued"], again.body["duplicates"]) == (202, 2, 4)
    assert sorted(e.key for e in queue.queued) == ["m-0", "m-1", "m-2", "m-3", "m-4", "m-5"]  # each once


def test_an_event_without_a_messageid_is_refused_with_its_place_not_given_one_here() -> None:
    sent: list[BrazeRequest] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.append(request)
        return THROTTLED

    service = IngestService(load_settings({}), BrazePorts(send, MemoryQueue(), MemoryState()), MemoryIdempotency())
    unnamed = {k: v for k, v in track(1).items() if k != "messageId"}
    answer = ingest(service, [unnamed], 8000)
    assert answer.status == 400 and sent == []
    assert answer.body["rejected"] == [
        {"index": 0, "messageId": None, "path": "$.messageId", "reason": "the event has no messageId"}
    ]


class SlowIdempotency(MemoryIdempotency):
    def claim(self, message_id: str, remaining_ms: int | None) -> ClaimOutcome:
        time.sleep(0.05)  # a store as slow as moto under load
        return super().claim(message_id, remaining_ms)


@pytest.mark.parametrize(("remaining", "sends"), [(150, False), (20_000, True)])
def test_a_body_whose_bookkeeping_leaves_no_time_to_send_is_queued_at_once(remaining: int, sends: bool) -> None:
    """Claiming took long: taking the users' turns, a Braze call and giving them back would pass the deadline, so
    the events go to the retry queue untried (no turn taken), their users' pending counts raised."""
    sent: list[BrazeRequest] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.append(request)
        return BrazeResponse(201, {"message": "success"})

    queue, state, gate = MemoryQueue(), MemoryState(), SlowIdempotency()
    service = IngestService(load_settings({}), BrazePorts(send, queue, state), gate, timing=Timing(reserve_ms=100))
    result = ingest(service, [track(n) for n in range(3)], remaining)
    if sends:
        assert (result.status, result.body["delivered"], len(sent), queue.queued) == (200, 3, 1, [])
        assert state.pending == Counter({"u:u-0": 0, "u:u-1": 0, "u:u-2": 0})
        return
    assert (result.status, result.body["queued"], sent, result.counts["EventsQueuedUntried"]) == (202, 3, [], 3)
    assert [e.key for e in queue.queued] == ["m-0", "m-1", "m-2"] and state.turns == {}
    assert state.pending == Counter({"u:u-0": 1, "u:u-1": 1, "u:u-2": 1}) and sorted(gate.done) == ["m-0", "m-1", "m-2"]
    assert queue.queued[0].last_error == "queued: too little of the invocation was left to send it"


def identify(n: int, visits: int) -> dict[str, Any]:
    return {"type": "identify", "userId": "u-1", "messageId": f"m-{n}", "traits": {"visits": visits},
            "timestamp": "2026-12-04T10:00:00Z"}  # fmt: skip


def test_a_webhook_call_meeting_another_sending_the_same_user_queues_its_events_behind() -> None:
    """An SDK's two flushes at once (the Node SDK overlaps them): the second call must not race the first to
    Braze, or the older value could land last."""
    queue, state, gate = MemoryQueue(), MemoryState(), MemoryIdempotency()
    sent: list[BrazeRequest] = []
    answers: list[int] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        if not sent:  # the second call arrives while the first one is at Braze
            answers.append(ingest(second, [identify(2, 20)], 8000).status)
        sent.append(request)
        return BrazeResponse(201, {"message": "success"})

    first = IngestService(load_settings({}), BrazePorts(send, queue, state), gate)
    second = IngestService(load_settings({}), BrazePorts(send, queue, state), gate)
    assert ingest(first, [identify(1, 10)], 8000).status == 200
    assert answers == [202] and [e.key for e in queue.queued] == ["m-2"] and len(sent) == 1
    assert state.pending == {"u:u-1": 1} and state.turns == {}
    assert queue.queued[0].last_error == "held: another delivery is sending this user's events"


def send_until_accepted(
    service: IngestService, body: list[dict[str, Any]], gate: MemoryIdempotency, *, in_order: bool = False
) -> None:
    """The sender: the same body again after any answer but 2xx (a 5xx included), its claims expired meanwhile."""
    for _ in range(4):
        try:
            if ingest(service, body, 8000, in_order=in_order).status in (200, 202):
                return
        except ConnectionError:
            pass  # the handler's error: API Gateway answers 502
        gate.claimed.clear()
    raise AssertionError("the body was never accepted")


# (store, step, in_order): every step that writes, or reads what decides an event's fate, with events claimed and
# users' turns taken, and for a sender that keeps each user's order (records and turns only read).
STEPS = [("gate", "claim", False), ("state", "take_turn", False), ("queue", "enqueue", False),
         ("queue", "dead_letter", False), ("state", "end_turn", False), ("gate", "complete", False),
         ("gate", "look_up", True), ("state", "read_turns", True), ("queue", "enqueue", True),
         ("queue", "dead_letter", True), ("state", "change_pending", True), ("gate", "complete", True)]  # fmt: skip


def fails_once(method: Any, user: str) -> Any:
    """``method``, failing the first time it has something to do (per-user steps: for ``user`` only, so that the
    outcome does not depend on which thread runs first)."""
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        per_user = args and isinstance(args[0], str) and args[0].startswith("u:")
        if (args and not args[0]) or (per_user and args[0] != user):  # nothing to write cannot half-fail
            return method(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the store did not answer")
        return method(*args, **kwargs)

    failing.calls = calls  # type: ignore[attr-defined]
    return failing


@pytest.mark.parametrize(
    ("store", "step", "in_order"), STEPS, ids=[f"{store}.{step}{'-read' * o}" for store, step, o in STEPS]
)
def test_a_fault_at_any_write_step_neither_loses_nor_repeats_an_event(store: str, step: str, in_order: bool) -> None:
    """80 new users in one body (two packed requests): Braze throttles the first request, refuses u-70's event for
    good and takes the rest. One step fails once; the sender sends the body again until it is answered 2xx (claims
    left by a failed call count as expired). Every event ends delivered, queued or dead-lettered, once."""
    taken: list[str] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        users = [obj["external_id"] for obj in request.body.get("events", ())]
        if "u-0" in users:
            return THROTTLED
        if "u-70" in users:
            return BrazeResponse(400, {"message": "Invalid event"})
        taken.extend(users)
        return BrazeResponse(201, {"message": "success"})

    queue, state, gate = MemoryQueue(), MemoryState(), MemoryIdempotency()
    stores = {"queue": queue, "state": state, "gate": gate}
    # change_pending runs only for the users whose events were queued (the throttled first request's)
    failing = fails_once(getattr(stores[store], step), "u:u-10" if step == "change_pending" else "u:u-60")
    setattr(stores[store], step, failing)
    service = IngestService(load_settings({}), BrazePorts(send, queue, state), gate)
    body = [track(n) for n in range(80)]
    send_until_accepted(service, body, gate, in_order=in_order)
    assert failing.calls, "the fault was injected"
    outcomes = Counter(taken) + Counter(e.key.replace("m-", "u-") for e in queue.queued + queue.dead)
    assert outcomes == Counter(f"u-{n}" for n in range(80))  # each event once: delivered, queued or dead-lettered
    if step == "read_turns":  # no turn could be read: the whole body waits in the retry queue, untried
        assert (len(queue.queued), queue.dead, taken) == (80, [], [])
        return
    # The first request's 50 are queued; a user whose turn could not be taken has the event queued too.
    assert [e.key for e in queue.dead] == ["m-70"] and len(queue.queued) == 50 + (step == "take_turn")
    assert state.turns == {} or step == "end_turn"  # a turn not given back ends by itself
    assert (state.turn_reads > 0, gate.looked_up > 0) == (in_order, in_order)


def test_a_sender_keeping_order_has_its_users_turns_read_not_taken() -> None:
    """Direct mode behind a sender that keeps each user's order: one read of the body's users' turns, no turn taken
    or given back; an event whose user has updates waiting in the retry queue, or whose turn the retry function
    holds, is queued behind them (and counted pending); the others go to Braze."""
    sent: list[str] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.extend(obj["external_id"] for obj in request.body.get("events", ()))
        return BrazeResponse(201, {"message": "success"})

    queue, state, gate = MemoryQueue(), MemoryState(), MemoryIdempotency()
    state.pending["u:u-1"] = 2  # u-1's earlier events wait in the retry queue
    state.turns["u:u-2"] = "the retry function"  # sending u-2's queued events right now

    def no_turn_taken(*args: Any) -> Any:
        raise AssertionError("a turn was taken or given back")

    state.take_turn = state.end_turn = no_turn_taken  # type: ignore[method-assign,assignment]
    service = IngestService(load_settings({}), BrazePorts(send, queue, state), gate)
    body = [track(n) for n in range(4)]
    answer = ingest(service, body, 8000, in_order=True)
    assert (answer.status, answer.body["delivered"], answer.body["queued"]) == (202, 2, 2)
    assert sorted(sent) == ["u-0", "u-3"] and [e.key for e in queue.queued] == ["m-1", "m-2"]
    assert state.turn_reads == 1 and state.pending == Counter({"u:u-1": 3, "u:u-2": 1})
    assert queue.queued[0].last_error == "held behind this user's updates already waiting in the retry queue"
    # The events' records were read, not claimed, and written once handled: the body sent again is all duplicates.
    assert (gate.looked_up, gate.claimed, sorted(gate.done)) == (4, set(), ["m-0", "m-1", "m-2", "m-3"])
    assert ingest(service, body, 8000, in_order=True).body["duplicates"] == 4 and len(sent) == 2


BUFFERED_STEPS = [("claim", False), ("enqueue", False), ("complete", False), ("look_up", True), ("enqueue", True),
                  ("complete", True)]  # fmt: skip


@pytest.mark.parametrize(("step", "in_order"), BUFFERED_STEPS)
def test_buffered_a_fault_at_any_write_step_neither_loses_nor_repeats_an_event(step: str, in_order: bool) -> None:
    queue, buffer, state, gate = MemoryQueue(), MemoryQueue(), MemoryState(), MemoryIdempotency()
    target = buffer if step == "enqueue" else gate
    failing = fails_once(getattr(target, step), "u:u-60")
    setattr(target, step, failing)
    service = IngestService(load_settings({}), BrazePorts(send_nothing, queue, state), gate, delivery_queue=buffer)
    body = [track(n) for n in range(30)]
    send_until_accepted(service, body, gate, in_order=in_order)
    assert failing.calls and Counter(e.key for e in buffer.queued) == Counter(f"m-{n}" for n in range(30))
    assert (gate.looked_up > 0) is in_order


def send_nothing(request: BrazeRequest) -> BrazeResponse:
    raise AssertionError("buffered mode sends nothing from the webhook")
