"""The retry queue (SQS FIFO, one message group per user), its dead-letter queue, and buffered mode's delivery queue.

FIFO message groups give per-user order: while one of a user's messages waits for its retry (its visibility
timeout pushed back), SQS hands out none of that user's later messages. Deduplication ids come from the event's
messageId, so the same event enqueued twice within SQS's five-minute window is stored once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from rudder_braze.aws import aws_client
from rudder_braze.delivery import PendingEvent
from rudder_braze.ports import QueueError

_BATCH = 10
_REASON_LIMIT = 900


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def group_id(user: str) -> str:
    """A FIFO message group per user (hashed: group ids allow 128 characters of a limited alphabet)."""
    return _digest(user)


class _Sqs:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("sqs")
        return self._client

    def _send(self, url: str, entries: list[tuple[str, dict[str, Any]]]) -> None:
        failed: list[str] = []
        for start in range(0, len(entries), _BATCH):
            chunk = entries[start : start + _BATCH]
            batch = [{"Id": str(i), **entry} for i, (_, entry) in enumerate(chunk)]
            try:
                answer = self.client.send_message_batch(QueueUrl=url, Entries=batch)
            except Exception as exc:  # the whole call failed (network, permissions, queue missing)
                failed.extend(key for key, _ in chunk)
                last_error = f"{type(exc).__name__}"
                continue
            for failure in answer.get("Failed", ()):
                failed.append(chunk[int(failure["Id"])][0])
                last_error = str(failure.get("Code", "failed"))
        if failed:
            raise QueueError(f"could not enqueue {len(failed)} event(s): {last_error}", failed)


class DeliveryQueue(_Sqs):
    """Buffered mode's delivery queue (standard SQS, so that Lambda can gather large batches over a window)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        super().__init__(client)
        self.queue_url = queue_url

    def enqueue(self, events: Sequence[PendingEvent]) -> None:
        self._send(self.queue_url, [(event.key, {"MessageBody": event.to_message()}) for event in events])


class RetryQueue(_Sqs):
    def __init__(self, queue_url: str, dead_letter_url: str, client: Any = None) -> None:
        super().__init__(client)
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url

    def enqueue(self, events: Sequence[PendingEvent]) -> None:
        """Put events on the retry queue, behind anything their user already has there."""
        self._send(
            self.queue_url,
            [
                (
                    event.key,
                    {
                        "MessageBody": event.to_message(),
                        "MessageGroupId": group_id(event.user),
                        "MessageDeduplicationId": _digest(f"{event.key}#{event.attempts}"),
                    },
                )
                for event in events
            ],
        )

    def dead_letter(self, events: Sequence[PendingEvent], reason: str | None = None) -> None:
        """Put events on the dead-letter queue with the reason they can never be delivered."""
        now = str(int(time.time()))
        self._send(
            self.dead_letter_url,
            [
                (
                    event.key,
                    {
                        "MessageBody": event.to_message(),
                        "MessageGroupId": group_id(event.user),
                        "MessageDeduplicationId": _digest(f"{event.key}#dead#{event.attempts}"),
                        "MessageAttributes": {
                            "reason": {
                                "DataType": "String",
                                "StringValue": (reason or event.last_error or "?")[:_REASON_LIMIT],
                            },
                            "deadLetteredAt": {"DataType": "Number", "StringValue": now},
                        },
                    },
                )
                for event in events
            ],
        )

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message (and so its user's later messages) for ``seconds``: the backoff."""
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43200))
        )
