"""The SQS adapter's batching and failure reporting, on a stand-in client."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.adapters.aws import AwsClients
from rudder_braze.adapters.aws.queue import DeliveryQueue, message_bytes
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.limits import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES
from rudder_braze.usecases.ports import QueueError


class RecordingSqs:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_with = fail_with

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def event(key: str, size: int) -> PendingEvent:
    body = {"attributes": [{"external_id": key, "blob": "x" * size}]}
    return PendingEvent(key, f"u:{key}", [BrazeRequest("/users/track", body)], 0.0)


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    sqs = RecordingSqs()
    queue = DeliveryQueue("url", AwsClients(built={"sqs": sqs}))
    queue.enqueue([event(f"small-{n}", 100) for n in range(10)] + [event(f"big-{n}", 120_000) for n in range(10)])
    assert sum(len(call) for call in sqs.calls) == 20
    for call in sqs.calls:
        assert len(call) <= SQS_MAX_BATCH_ENTRIES
        assert sum(message_bytes(entry) for entry in call) <= SQS_MAX_BATCH_BYTES


class ConnectionClosed(Exception):
    response = None  # botocore's connection errors carry no service answer


@pytest.mark.parametrize("error", [ConnectionClosed(), RuntimeError("boom")])
def test_a_failed_call_names_its_cause_and_every_event_it_carried(error: Exception) -> None:
    queue = DeliveryQueue("url", AwsClients(built={"sqs": RecordingSqs(fail_with=error)}))
    with pytest.raises(QueueError) as failed:
        queue.enqueue([event("a", 10), event("b", 10)])
    assert sorted(failed.value.keys) == ["a", "b"]
    assert str(failed.value) == type(error).__name__


def test_in_parallel_raises_only_once_every_call_has_ended() -> None:
    import threading
    import time

    from rudder_braze.parallel import in_parallel

    finished: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        if n == 0:
            raise RuntimeError("the first one fails at once")
        time.sleep(0.2)
        with lock:
            finished.append(n)
        return n

    with pytest.raises(RuntimeError):
        in_parallel(work, [0, 1, 2, 3])
    assert sorted(finished) == [1, 2, 3]  # nothing still running that could write after the caller gave up
