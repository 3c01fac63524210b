"""The local stack counts the AWS calls the functions make, and only theirs."""

from __future__ import annotations

import threading

import boto3
from botocore.stub import Stubber

from local.aws_calls import install


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
    assert calls.take() == {"sqs.GetQueueUrl": 2}
    assert calls.take() == {}
