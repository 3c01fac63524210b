"""IngestService with a queue write that fails for part of a body: what was queued is recorded, the sender's retry
of the same body sends none of it again, and only the rest runs again."""

from __future__ import annotations

from typing import Any

from rudder_braze.braze_client import BrazeResponse
from rudder_braze.config import load_settings
from rudder_braze.mapping import BrazeRequest
from rudder_braze.ports import Claim, ClaimResult
from rudder_braze.service import IngestService
from tests.unit.test_delivery_service import MemoryQueue, MemoryState

THROTTLED = BrazeResponse(429, "", {"X-RateLimit-Reset": "0"})


class MemoryGate:
    def __init__(self) -> None:
        self.done: dict[str, dict[str, Any]] = {}
        self.claimed: set[str] = set()

    def claim(self, message_id: str, remaining_ms: int | None) -> ClaimResult:
        if message_id in self.done:
            return ClaimResult(Claim.DONE, self.done[message_id])
        if message_id in self.claimed:
            return ClaimResult(Claim.BUSY)
        self.claimed.add(message_id)
        return ClaimResult(Claim.NEW)

    def complete(self, outcomes: dict[str, dict[str, Any]]) -> None:
        self.done.update(outcomes)
        self.claimed -= set(outcomes)

    def release(self, message_id: str, reason: Exception) -> None:
        self.claimed.discard(message_id)


def track(n: int) -> dict[str, Any]:
    return {"type": "track", "userId": f"u-{n}", "event": "E", "messageId": f"m-{n}",
            "timestamp": "2026-12-04T10:00:00Z"}  # fmt: skip


def test_a_half_failed_queue_write_records_what_was_queued_and_the_retry_runs_only_the_rest() -> None:
    sent: list[BrazeRequest] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        sent.append(request)
        return THROTTLED  # Braze takes nothing now: every event must be queued

    queue, state, gate = MemoryQueue(refuse={"m-3", "m-4"}), MemoryState(), MemoryGate()
    service = IngestService(load_settings({}), gate=gate, send=send, queue=queue, state=state)
    body = [track(n) for n in range(6)]
    first = service.handle(body, lambda: 8000)
    assert first.status == 503 and first.body["queued"] == 4 and first.body["unqueued"] == ["m-3", "m-4"]
    assert "could not queue 2 accepted event(s) (refused)" in first.body["error"]
    assert sorted(gate.done) == ["m-0", "m-1", "m-2", "m-5"]
    assert state.pending == {"u:u-0": 1, "u:u-1": 1, "u:u-2": 1, "u:u-3": 0, "u:u-4": 0, "u:u-5": 1}

    queue.refuse = set()  # the sender retries the same body once SQS is back
    again = service.handle(body, lambda: 8000)
    assert (again.status, again.body["queued"], again.body["duplicates"]) == (202, 2, 4)
    assert sorted(e.key for e in queue.queued) == ["m-0", "m-1", "m-2", "m-3", "m-4", "m-5"]  # each once


def identify(n: int, visits: int) -> dict[str, Any]:
    return {"type": "identify", "userId": "u-1", "messageId": f"m-{n}", "traits": {"visits": visits},
            "timestamp": "2026-12-04T10:00:00Z"}  # fmt: skip


def test_a_webhook_call_meeting_another_sending_the_same_user_queues_its_events_behind() -> None:
    """An SDK's two flushes at once (the Node SDK overlaps them): the second call must not race the first to
    Braze, or the older value could land last."""
    queue, state, gate = MemoryQueue(), MemoryState(), MemoryGate()
    sent: list[BrazeRequest] = []
    answers: list[int] = []

    def send(request: BrazeRequest) -> BrazeResponse:
        if not sent:  # the second call arrives while the first one is at Braze
            answers.append(second.handle([identify(2, 20)], lambda: 8000).status)
        sent.append(request)
        return BrazeResponse(201, {"message": "success"})

    first = IngestService(load_settings({}), gate=gate, send=send, queue=queue, state=state)
    second = IngestService(load_settings({}), gate=gate, send=send, queue=queue, state=state)
    assert first.handle([identify(1, 10)], lambda: 8000).status == 200
    assert answers == [202] and [e.key for e in queue.queued] == ["m-2"] and len(sent) == 1
    assert state.pending == {"u:u-1": 1} and state.turns == {}
    assert queue.queued[0].last_error == "held: another delivery is sending this user's events"
