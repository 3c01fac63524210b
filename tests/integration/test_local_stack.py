"""The local stack itself, where a test relies on it behaving as AWS does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from local.aws import free_port, signed_as, wait_until_serving
from tests.conftest import ROOT, StartStack
from tests.integration.conftest import api_event, ingest, sample


def test_every_stack_of_a_process_logs_to_its_own_files(tmp_path: Path, start_stack: StartStack) -> None:
    """Powertools sets a service's logger up once per process: a second stack's functions must still log to the
    second stack's files (as each deployment has its own CloudWatch log groups), not to the first one's console."""
    for name in ("first", "second"):
        stack = start_stack(poll=False, log_dir=tmp_path / name)
        event = {**sample("track"), "messageId": f"{name}-stack-event"}
        assert ingest(stack, api_event(event))[0] == 200
        stack.stop()  # the files are read whole: after the functions have flushed them
    for name, other in (("first", "second"), ("second", "first")):
        logged = (tmp_path / name / "ingest.log").read_text()
        assert f'"messageId":"{name}-stack-event"' in logged and f"{other}-stack-event" not in logged


def test_local_sqs_runs_each_call_alone_as_sqs_does() -> None:
    """Consumers receive, delete and hide messages of a FIFO queue while a producer sends, on moto's server as the
    local stack runs it, with the interpreter switching threads as often as it can (so that calls interleave
    wherever they can): every message not deleted is visible at the end, and no deleted message comes back."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    switching_often = (
        "import runpy, sys; sys.setswitchinterval(1e-6); runpy.run_module('local.moto_server', run_name='__main__')"
    )
    server = subprocess.Popen(  # noqa: S603 - our own moto server, as MotoAWS starts it
        [sys.executable, "-c", switching_often, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers")])},
    )  # fmt: skip
    try:
        wait_until_serving(endpoint, server)
        sqs = _client(endpoint)
        url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "180"})
        queue = Queue(sqs, url["QueueUrl"])
        queue.send(300)
        workers = [threading.Thread(target=queue.consume) for _ in range(6)]
        workers.append(threading.Thread(target=queue.produce))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        counts = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
        assert len(queue.deleted) >= queue.enough and not queue.errors  # they interleaved long enough, no call failed
        assert int(counts["ApproximateNumberOfMessagesNotVisible"]) == 0
        assert int(counts["ApproximateNumberOfMessages"]) == queue.sent - len(queue.deleted)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    no_retries = Config(retries={"max_attempts": 1, "mode": "standard"})  # a call that fails must show
    factory: Any = boto3.client
    return factory("sqs", endpoint_url=endpoint, config=no_retries, **signed_as(None))


class Queue:
    """A FIFO queue's producer and consumers: a consumer deletes every third message it receives and makes the
    others visible again at once (as the retry function does with a user's held events)."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url
        self.sent = 0
        self.deleted: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.enough = 200  # deletes, each racing the other calls (a run without the lock left messages within 200)
        self._until = time.monotonic() + 60  # or a minute, on a machine too busy to get there

    def _going(self) -> bool:
        return len(self.deleted) < self.enough and time.monotonic() < self._until

    def send(self, count: int) -> None:
        for _ in range(0, count, 10):
            with self._lock:
                first, self.sent = self.sent, self.sent + 10
            entries = [{"Id": str(i), "MessageBody": "x" * 2000, "MessageGroupId": f"g{(first + i) % 40}",
                        "MessageDeduplicationId": str(first + i)} for i in range(10)]  # fmt: skip
            self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)

    def produce(self) -> None:
        while self._going():
            self.send(10)

    def consume(self) -> None:
        received = 0
        while self._going():
            try:
                for message in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
                    received += 1
                    self._handle(message, delete=received % 3 == 0)
            except Exception as exc:  # counted, and the test fails on it
                self.errors.append(type(exc).__name__)

    def _handle(self, message: dict[str, Any], *, delete: bool) -> None:
        if delete:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            with self._lock:
                self.deleted.add(message["MessageId"])
        else:
            self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=0)  # fmt: skip
