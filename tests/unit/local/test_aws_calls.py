"""The local stack counts the AWS calls the functions make, and only theirs."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.stub import Stubber

from local.aws_calls import billed_units, install


def test_calls_from_function_threads_are_counted_and_the_harnesss_are_not() -> None:
    calls = install()
    assert install() is calls  # installing twice does not count twice
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    calls.take()
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("get_queue_url", {"QueueUrl": "https://queue"})
        client.get_queue_url(QueueName="q")  # the harness's own call
        for name in ("lambda-rudder-braze-ingest", "rudder-braze-pool_0"):
            thread = threading.Thread(target=client.get_queue_url, kwargs={"QueueName": "q"}, name=name)
            thread.start()
            thread.join()
    assert calls.take() == {"sqs.GetQueueUrl": 2, "units.sqs_request": 2}
    assert calls.take() == {}


def test_dynamodb_is_billed_per_item_written_or_read_not_per_call() -> None:
    batch: dict[str, Any] = {"RequestItems": {"t": [{"PutRequest": {"Item": {}}}] * 25}}
    assert billed_units("dynamodb", "BatchWriteItem", batch) == {"units.dynamodb_write": 25}
    assert billed_units("dynamodb", "UpdateItem", {}) == {"units.dynamodb_write": 1}
    assert billed_units("dynamodb", "TransactWriteItems", {"TransactItems": [{}, {}]}) == {"units.dynamodb_write": 4}
    keys = {"RequestItems": {"t": {"Keys": [{}] * 100, "ConsistentRead": True}}}
    assert billed_units("dynamodb", "BatchGetItem", keys) == {"units.dynamodb_read": 100}
    assert billed_units("sqs", "SendMessageBatch", {"Entries": [{}] * 10}) == {"units.sqs_request": 1}
