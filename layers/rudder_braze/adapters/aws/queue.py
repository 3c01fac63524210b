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

from rudder_braze.adapters.aws import AwsClients
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.limits import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES, SQS_MAX_VISIBILITY_SECONDS
from rudder_braze.parallel import WORKERS, in_parallel
from rudder_braze.usecases.ports import QueueError

_REASON_LIMIT = 900


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:64]


def group_id(user: str) -> str:
    """A FIFO message group per user (hashed: group ids allow 128 characters of a limited alphabet)."""
    return _digest(user)


def message_bytes(entry: dict[str, Any]) -> int:
    """What SQS counts towards its size limits: the body and every attribute's name, type and value."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(attribute["DataType"].encode()) + len(attribute["StringValue"].encode())
    return size


def _batches(entries: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """SendMessageBatch calls: at most 10 entries and 1 MiB in all each (an entry over the limit goes alone, and
    SQS refuses it)."""
    batches: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    current_bytes = 0
    for key, entry in entries:
        size = message_bytes(entry)
        if current and (len(current) == SQS_MAX_BATCH_ENTRIES or current_bytes + size > SQS_MAX_BATCH_BYTES):
            batches.append(current)
            current, current_bytes = [], 0
        current.append((key, entry))
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def _error_code(exc: Exception) -> str:
    """The exception's name, and the AWS error code when the service answered with one."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


class _Sqs:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    @property
    def client(self) -> Any:
        return self.clients.client("sqs")

    def _send_lane(self, url: str, entries: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
        """Send one lane's entries in order, batch after batch; ``(key, cause)`` of each entry that failed."""
        failed: list[tuple[str, str]] = []
        for chunk in _batches(entries):
            batch = [{"Id": str(i), **entry} for i, (_, entry) in enumerate(chunk)]
            try:
                answer = self.client.send_message_batch(QueueUrl=url, Entries=batch)
            except Exception as exc:  # the whole call failed (network, permissions, queue missing, too large)
                failed += [(key, _error_code(exc)) for key, _ in chunk]
                continue
            failed += [(chunk[int(f["Id"])][0], str(f.get("Code", "failed"))) for f in answer.get("Failed", ())]
        return failed

    def _send(self, url: str, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Lanes side by side: a FIFO message group (a user) always stays in one lane, in order, so a user's
        messages keep their order while the lanes' batches overlap."""
        lanes: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for key, entry in entries:
            group = entry.get("MessageGroupId", key)
            lanes.setdefault(int(_digest(group)[:8], 16) % WORKERS, []).append((key, entry))
        failed = [
            f for lane in in_parallel(lambda lane: self._send_lane(url, lane), list(lanes.values())) for f in lane
        ]
        if failed:
            causes = ", ".join(sorted({cause for _, cause in failed}))
            raise QueueError(causes, [key for key, _ in failed])  # the service says how many and what it means


class DeliveryQueue(_Sqs):
    """Buffered mode's delivery queue (standard SQS, so that Lambda can gather large batches over a window)."""

    def __init__(self, queue_url: str, clients: AwsClients) -> None:
        super().__init__(clients)
        self.queue_url = queue_url

    def enqueue(self, events: Sequence[PendingEvent]) -> None:
        self._send(self.queue_url, [(event.key, {"MessageBody": event.to_message()}) for event in events])


class RetryQueue(_Sqs):
    def __init__(self, queue_url: str, dead_letter_url: str, clients: AwsClients) -> None:
        super().__init__(clients)
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

    def dead_letter(self, events: Sequence[PendingEvent]) -> None:
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
                                "StringValue": (event.last_error or "?")[:_REASON_LIMIT],
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
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, SQS_MAX_VISIBILITY_SECONDS)),
        )
