"""The SQS event source mapping, locally: poll a queue and feed a function batches of SQS records, honouring
``batchItemFailures`` (failed records stay on the queue for their visibility timeout; the rest are deleted), so the
queue's redrive policy moves a message to the DLQ as AWS would."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from local.lambda_runtime import LocalFunction

JSON = dict[str, Any]


@dataclass(frozen=True)
class EventSourceSettings:
    """The mapping's settings in the template."""

    batch_size: int = 10
    window_seconds: float = 0.0  # MaximumBatchingWindowInSeconds
    concurrency: int = 1  # ScalingConfig.MaximumConcurrency


class SqsEventSource:
    """The SQS event source mapping of a function: poll, invoke with a batch, delete what did not fail."""

    def __init__(
        self, function: LocalFunction, sqs: Any, queue: tuple[str, str], settings: EventSourceSettings
    ) -> None:
        """``queue`` is the queue's URL and ARN."""
        self.function = function
        self.sqs = sqs
        self.queue_url, self.queue_arn = queue
        self.batch_size = settings.batch_size
        self.window_seconds = settings.window_seconds  # gather up to batch_size this long
        concurrency = settings.concurrency
        self.stopping = threading.Event()
        # ScalingConfig.MaximumConcurrency: that many batches in flight at once, each gathered by its own poller.
        self.threads = [
            threading.Thread(target=self._run, name=f"sqs-event-source-{n}", daemon=True) for n in range(concurrency)
        ]
        self._counting = threading.Lock()
        self.batches = 0
        self.errors = 0

    def start(self) -> SqsEventSource:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout=10)

    def _count(self, what: str) -> None:
        with self._counting:
            setattr(self, what, getattr(self, what) + 1)

    def _receive(self, wait_seconds: int) -> list[JSON]:
        """One batch: SQS returns at most 10 messages per call; with a batching window, keep receiving until the
        batch is full or the window since the first message has passed."""
        messages: list[JSON] = []
        window_ends: float | None = None
        while len(messages) < self.batch_size:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = answer.get("Messages", [])
            messages += received
            if not messages or self.window_seconds <= 0:
                break
            if window_ends is None:
                window_ends = time.monotonic() + self.window_seconds
            if time.monotonic() >= window_ends or self.stopping.is_set():
                break
            if not received:
                time.sleep(0.1)
        return messages

    def poll_once(self, wait_seconds: int = 1) -> int:
        messages = self._receive(wait_seconds)
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        self._count("batches")
        try:
            result = self.function.invoke(event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", ())}
        except Exception:  # a crashed invocation: every message returns after its visibility timeout
            self._count("errors")
            return len(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)

    def _record(self, message: JSON) -> JSON:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                for k, v in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # moto restarting or stopping: try again shortly
                self._count("errors")
                time.sleep(0.2)

    def queue_depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
