"""What the use cases need from the outside world (implemented for AWS in ``rudder_braze.adapters.aws``)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.delivery.dedup import Fingerprints
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.ordering import Turn, Written

Send = Callable[[BrazeRequest], BrazeResponse]


class ClaimOutcome(enum.Enum):
    """What claiming a messageId found."""

    NEW = "new"  # first time seen: go ahead
    DONE = "done"  # handled before
    BUSY = "busy"  # another invocation is handling it right now


class QueueError(RuntimeError):
    """Some events could not be put on a queue; ``keys`` names them."""

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


class RetryQueuePort(Protocol):
    """The FIFO retry queue (one message group per user) and its dead-letter queue: what Braze could not take now
    waits there, in each user's order."""

    def enqueue(self, events: Sequence[PendingEvent]) -> None: ...
    def dead_letter(self, events: Sequence[PendingEvent]) -> None: ...
    def retry_later(self, receipt_handle: str, seconds: int) -> None: ...


class DeliveryQueuePort(Protocol):
    """The delivery queue of buffered mode: accepted events wait there to be packed into few Braze requests."""

    def enqueue(self, events: Sequence[PendingEvent]) -> None: ...


class IdempotencyStore(Protocol):
    """One record per messageId: the first invocation to claim an event handles it; a later copy is a duplicate."""

    def claim(self, message_id: str, remaining_ms: int | None) -> ClaimOutcome: ...
    def look_up(self, message_ids: list[str]) -> dict[str, ClaimOutcome]: ...  # what claiming would find, read
    def complete(self, outcomes: dict[str, dict[str, Any]]) -> None: ...
    def release(self, message_id: str, reason: Exception) -> None: ...


class StateStore(Protocol):
    """Per user (queued events, whose turn it is to send, what Braze last took) and per retried event (the requests
    left, whether a delivery-queue copy was handled)."""

    def change_pending(self, user: str, delta: int) -> None: ...
    def take_turn(self, user: str, owner: str, seconds: float) -> Turn: ...
    def read_turns(self, users: Sequence[str]) -> dict[str, Turn]: ...  # as they stand, none taken
    def end_turn(self, user: str, owner: str, written: Written | None, pending_delta: int = 0) -> None: ...
    def progress(self, keys: Sequence[str]) -> dict[str, tuple[list[BrazeRequest], int, str | None]]: ...
    def save_progress(self, event: PendingEvent) -> None: ...
    def clear_progress(self, key: str) -> None: ...
    def delivery_marks(self, keys: Sequence[str]) -> dict[str, bool]: ...  # messageId → sent (else moved on)
    def mark_finished(self, sent: Sequence[str], moved: Sequence[str]) -> None: ...
    def record_outcomes(self, outcomes: dict[str, dict[str, Any]]) -> None: ...  # how queued events ended


class FingerprintStore(Protocol):
    """``supportDedup``: per user, fingerprints of the attribute values Braze last accepted from the bridge."""

    def load(self, users: Sequence[str]) -> dict[str, Fingerprints]: ...
    def save(self, fingerprints: dict[str, Fingerprints]) -> None: ...
