"""The stores the use cases write to, in memory: queues, the state table, the fingerprint store, the claims."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.delivery.dedup import Fingerprints
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.ordering import Turn, Written
from rudder_braze.usecases.ports import ClaimOutcome, QueueError


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

    def dead_letter(self, events: Sequence[PendingEvent]) -> None:
        self.dead += events

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        raise AssertionError("the delivery queue never backs off in place")


class MemoryState:
    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()
        self.saved: dict[str, PendingEvent] = {}
        self.done: dict[str, bool] = {}  # done# marks: messageId → sent by a delivery
        self.turns: dict[str, str] = {}  # user → the delivery holding the user's turn
        self.written: dict[str, Written] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}  # outcome# records: how queued events ended
        self.turn_reads = 0

    def take_turn(self, user: str, owner: str, seconds: float) -> Turn:
        if self.turns.setdefault(user, owner) != owner:
            return Turn(mine=False)
        return Turn(mine=True, pending=self.pending[user], written=self.written.get(user))

    def read_turns(self, users: Sequence[str]) -> dict[str, Turn]:
        self.turn_reads += 1
        return {u: Turn(mine=u not in self.turns, pending=self.pending[u], written=self.written.get(u)) for u in users}

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

    def delivery_marks(self, keys: Sequence[str]) -> dict[str, bool]:
        return {key: self.done[key] for key in keys if key in self.done}

    def mark_finished(self, sent: Sequence[str], moved: Sequence[str]) -> None:
        self.done.update(dict.fromkeys(sent, True))
        for key in moved:
            self.done.setdefault(key, False)

    def record_outcomes(self, outcomes: dict[str, dict[str, Any]]) -> None:
        self.outcomes.update(outcomes)


class MemoryFingerprints:
    def __init__(self) -> None:
        self.items: dict[str, Fingerprints] = {}

    def load(self, users: Sequence[str]) -> dict[str, Fingerprints]:
        return {u: dict(self.items[u]) for u in users if u in self.items}

    def save(self, fingerprints: dict[str, Fingerprints]) -> None:
        self.items.update(fingerprints)


class RetryQueueDouble(MemoryQueue):
    def __init__(self, *, dead_letter_fails: bool = False) -> None:
        super().__init__()
        self.backed_off: list[str] = []
        self.dead_letter_fails = dead_letter_fails

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        self.backed_off.append(receipt_handle)

    def dead_letter(self, events: Sequence[PendingEvent]) -> None:
        if self.dead_letter_fails:
            raise ConnectionError("SQS is unreachable")
        super().dead_letter(events)


class MemoryIdempotency:
    def __init__(self) -> None:
        self.done: dict[str, dict[str, Any]] = {}
        self.claimed: set[str] = set()
        self.looked_up = 0

    def claim(self, message_id: str, remaining_ms: int | None) -> ClaimOutcome:
        if message_id in self.done:
            return ClaimOutcome.DONE
        if message_id in self.claimed:
            return ClaimOutcome.BUSY
        self.claimed.add(message_id)
        return ClaimOutcome.NEW

    def look_up(self, message_ids: list[str]) -> dict[str, ClaimOutcome]:
        self.looked_up += len(message_ids)
        return {m: ClaimOutcome.DONE if m in self.done else ClaimOutcome.BUSY if m in self.claimed else ClaimOutcome.NEW
                for m in message_ids}  # fmt: skip

    def complete(self, outcomes: dict[str, dict[str, Any]]) -> None:
        self.done.update(outcomes)
        self.claimed -= set(outcomes)

    def release(self, message_id: str, reason: Exception) -> None:
        self.claimed.discard(message_id)
