"""The retry handler, fed by the SQS event source emulation (or a sample SQS event) with moto and the simulator."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.stack import LocalStack
from tests.integration.conftest import EVENTS, api_event, ingest, queued_messages, sample, stored


def queue_one(stack: LocalStack, event: dict[str, Any]) -> None:
    stack.simulator.set_faults({"throttle_rate": 1.0})
    assert ingest(stack, api_event(event))[0] == 202
    stack.simulator.set_faults({"throttle_rate": 0.0})


def retry_batch(stack: LocalStack) -> int:
    return stack.event_source.poll_once(wait_seconds=0)


def pending_count(stack: LocalStack, user: str) -> int:
    item = stack.aws.client("dynamodb").get_item(
        TableName=stack.template.physical["StateTable"]["Ref"], Key={"id": {"S": f"pending#{user}"}}
    )
    return int(item.get("Item", {}).get("count", {}).get("N", "0"))


def test_queued_event_is_delivered_by_the_retry_function(stack: LocalStack) -> None:
    queue_one(stack, sample("track"))
    assert pending_count(stack, "u:user-1") == 1
    assert retry_batch(stack) == 1
    assert stack.retry_queue_depth() == 0
    assert len(stored(stack, "events")) == 1
    assert pending_count(stack, "u:user-1") == 0


def test_still_throttled_event_backs_off_and_keeps_its_attempts(stack: LocalStack) -> None:
    queue_one(stack, sample("track"))
    stack.simulator.set_faults({"throttle_rate": 1.0})
    assert retry_batch(stack) == 1
    assert stack.retry_queue_depth() == 1
    assert retry_batch(stack) == 0  # hidden until the rate-limit window resets (the backoff)
    progress = stack.aws.client("dynamodb").get_item(
        TableName=stack.template.physical["StateTable"]["Ref"], Key={"id": {"S": "progress#sample-track-1"}}
    )["Item"]
    assert progress["attempts"]["N"] == "2"


def test_retry_sends_only_what_braze_has_not_accepted(stack: LocalStack) -> None:
    # The identify merge goes through, the attributes are throttled: the retry must not merge again.
    stack.simulator.set_faults({"rate_limits": {"/users/track": [0, 3]}})
    assert ingest(stack, api_event(sample("identify")))[0] == 202
    assert len(stored(stack, "aliases_identified")) == 1
    stack.simulator.set_faults({"rate_limits": {}})
    deadline = time.monotonic() + 10
    while stack.retry_queue_depth() and time.monotonic() < deadline:
        retry_batch(stack)
        time.sleep(0.2)
    assert len(stored(stack, "attributes")) == 1
    assert len(stored(stack, "aliases_identified")) == 1


def test_too_old_message_is_dead_lettered_without_another_try(stack: LocalStack) -> None:
    event = json.loads((EVENTS / "sqs" / "retry-batch.json").read_text())  # first seen in 2024
    assert stack.retry.invoke(event) == {"batchItemFailures": []}
    (dead,) = stack.dead_letters()
    assert dead["reason"].startswith("gave up after") and "max 86400" in dead["reason"]
    assert stored(stack, "events") == []


def test_gives_up_after_max_attempts_into_the_dead_letter_queue(stack: LocalStack) -> None:
    stack.cold_start({"RETRY_MAX_ATTEMPTS": "2"})
    queue_one(stack, sample("track"))
    stack.simulator.set_faults({"error_rate": 1.0})
    deadline = time.monotonic() + 15
    while stack.retry_queue_depth() and time.monotonic() < deadline:
        retry_batch(stack)
        time.sleep(0.2)
    (dead,) = stack.dead_letters()
    assert dead["reason"].startswith("gave up after 2 attempts")
    assert dead["body"]["messageId"] == "sample-track-1"
    assert pending_count(stack, "u:user-1") == 0


def test_permanent_refusal_on_retry_is_dead_lettered_at_once(stack: LocalStack) -> None:
    queue_one(stack, sample("track"))
    stack.simulator.set_faults({"reject_permanently": ["Video Played"]})
    retry_batch(stack)
    (dead,) = stack.dead_letters()
    assert "400" in dead["reason"] and stack.retry_queue_depth() == 0


def test_unreadable_message_is_dead_lettered_not_retried_forever(stack: LocalStack) -> None:
    stack.sqs.send_message(
        QueueUrl=stack.template.physical["RetryQueue"]["Ref"],
        MessageBody="not a queue message",
        MessageGroupId="g",
        MessageDeduplicationId="d",
    )
    retry_batch(stack)
    (dead,) = stack.dead_letters()
    assert "unreadable queue message" in dead["reason"]
    assert queued_messages(stack) == []


def sample_sqs_event() -> dict[str, Any]:
    """The sample batch, its message first seen just now (the sample's date is older than the retry window)."""
    event: dict[str, Any] = json.loads((EVENTS / "sqs" / "retry-batch.json").read_text())
    for record in event["Records"]:
        record["body"] = json.dumps({**json.loads(record["body"]), "firstSeen": time.time()})
    return event


def test_sample_sqs_event_made_with_sam_generate_event(stack: LocalStack) -> None:
    event = sample_sqs_event()
    answer = stack.retry.invoke(event)
    assert answer == {"batchItemFailures": []}
    (stored_event,) = stored(stack, "events")
    assert stored_event["properties"] == {"video_id": "v-42"}


def test_failed_record_is_reported_as_a_batch_item_failure(stack: LocalStack) -> None:
    event = sample_sqs_event()
    stack.simulator.set_faults({"error_rate": 1.0})
    record = event["Records"][0]
    record["receiptHandle"] = _real_receipt(stack, record["body"])
    answer = stack.retry.invoke(event)
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}


def _real_receipt(stack: LocalStack, body: str) -> str:
    url = stack.template.physical["RetryQueue"]["Ref"]
    stack.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId="x")
    (message,) = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    receipt: str = message["ReceiptHandle"]
    return receipt


def test_a_users_turn_is_one_deliverys_at_a_time_and_keeps_what_braze_took(stack: LocalStack) -> None:
    from rudder_braze.adapters.aws.state import StateTable
    from rudder_braze.delivery.ordering import Turn

    table = StateTable(stack.template.physical["StateTable"]["Ref"], stack.retry.aws)
    table.change_pending("u:a", 2)
    first = table.take_turn("u:a", "first", 30)
    assert first.mine and first.pending == 2 and first.written is None
    assert not table.take_turn("u:a", "second", 30).mine  # DynamoDB's condition refuses a second holder
    # Read, not taken (a sender that keeps each user's order): a held turn is not ours; a user never seen is free.
    read = table.read_turns(["u:a", "u:never-seen"])
    assert (read["u:a"].mine, read["u:a"].pending) == (False, 2) and read["u:never-seen"] == Turn(mine=True)
    assert table.take_turn("u:a", "first", 30).mine  # the holder may take it again
    table.end_turn("u:a", "first", {"plan": (1.5, 1.5, 3)})
    second = table.take_turn("u:a", "second", 30)
    assert second.mine and second.written == {"plan": (1.5, 1.5, 3)} and second.pending == 2
    with pytest.raises(table.client.exceptions.ConditionalCheckFailedException):
        table.end_turn("u:a", "first", None)  # a turn that is no longer yours cannot be ended
    table.end_turn("u:a", "second", None, pending_delta=-2)  # the count changes in the same write
    assert table.read_turns(["u:a"])["u:a"] == Turn(mine=True, pending=0, written={"plan": (1.5, 1.5, 3)})
    third = table.take_turn("u:a", "third", 0.0)
    assert third.mine and third.pending == 0  # free again; a turn of 0 s lapses at once
    time.sleep(0.01)
    assert table.take_turn("u:a", "fourth", 30).mine and table.take_turn("u:a", "fourth", 30).written == {
        "plan": (1.5, 1.5, 3)
    }
