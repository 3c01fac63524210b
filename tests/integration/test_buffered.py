"""Buffered delivery mode: the ingest queues, the retry function works off the delivery queue in packed batches.
Handlers run in-process against moto's server and the Braze simulator; each test drives the queues itself."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from local.stack import LocalStack
from rudder_braze.usecases.queue_batch import QueueRecord
from tests.conftest import StartStack
from tests.integration.conftest import QUIET, api_event, ingest, stored

BUFFERED = {"DeliveryMode": "buffered", "DeliveryBatchWindowSeconds": "1", "DeliveryBatchSize": "500"}


@pytest.fixture
def stack(start_stack: StartStack) -> LocalStack:
    return start_stack(poll=False, parameters=BUFFERED, env_overrides={**QUIET, "RETRY_BASE_DELAY_SECONDS": "0"})


def delivery_batch(stack: LocalStack) -> int:
    """One delivery-queue batch through the retry function, as the event source mapping would hand it over."""
    return stack.event_sources[1].poll_once(wait_seconds=0)


def retry_batch(stack: LocalStack) -> int:
    return stack.event_source.poll_once(wait_seconds=0)


def depth(stack: LocalStack, logical: str) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.template.physical[logical]["Ref"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def identify(user: str, n: int, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": f"{user}-{n}", "userId": user, "anonymousId": f"anon-{user}",
            "traits": traits}  # fmt: skip


def track(user: str, n: int, name: str = "Viewed", **properties: Any) -> dict[str, Any]:
    return {"type": "track", "messageId": f"{user}-t{n}", "userId": user, "event": name, "properties": properties}


def braze_calls(stack: LocalStack) -> list[str]:
    with stack.simulator.lock:
        return [request["path"] for request in stack.simulator.requests]


def test_the_webhook_queues_and_answers_202_without_calling_braze(stack: LocalStack) -> None:
    status, body = ingest(stack, api_event([identify("u1", 1, plan="pro"), track("u1", 1)]))
    assert (status, body["queued"], body["delivered"]) == (202, 2, 0)
    assert braze_calls(stack) == []
    assert depth(stack, "DeliveryQueue") == 2
    assert delivery_batch(stack) == 2
    assert depth(stack, "DeliveryQueue") == 0
    assert [e["name"] for e in stored(stack, "events")] == ["Viewed"]
    assert stored(stack, "attributes")[0]["plan"] == "pro"


def test_a_batch_is_packed_into_few_requests_and_each_users_attributes_coalesced(stack: LocalStack) -> None:
    events = [identify(f"u{u}", n, step=n, **{f"k{n}": n}) for n in range(5) for u in range(12)]
    events += [track(f"u{u}", n) for n in range(5) for u in range(12)]
    for start_at in range(0, len(events), 20):  # as RudderStack sends them: several requests
        assert ingest(stack, api_event(events[start_at : start_at + 20]))[0] == 202
    assert delivery_batch(stack) == 120
    calls = braze_calls(stack)
    # 12 users' attributes (coalesced) + 60 events = 72 objects: one /users/track request under the default rule
    # (total-50 gives two); each user's five identical identify merges sent once, all twelve in one call.
    assert calls.count("/users/track") <= 2 and calls.count("/users/identify") == 1, calls
    attributes = {a["external_id"]: a for a in stored(stack, "attributes")}
    assert len(stored(stack, "attributes")) == 12
    assert all(a["step"] == 4 and all(a[f"k{n}"] == n for n in range(5)) for a in attributes.values())
    assert len(stored(stack, "events")) == 60


def test_partial_errors_are_traced_to_their_records_and_not_retried(
    stack: LocalStack, domain_logs: list[logging.LogRecord]
) -> None:
    products = [{"product_id": "p1", "price": 3, "quantity": 500}]
    bad = track("u2", 2, "Order Completed", currency="USD", products=products)
    good = track("u1", 1)  # Braze refuses the purchase (quantity 1..100), not the request
    assert ingest(stack, api_event([good, bad]))[0] == 202
    url = stack.template.physical["DeliveryQueue"]["Ref"]
    messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs_id = {json.loads(m["Body"])["messageId"]: m["MessageId"] for m in messages}
    records = [QueueRecord(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in messages]
    result = stack.retry.container.delivery_service.handle(records, lambda: 30000)
    assert result.failed == []  # nothing to retry: Braze will refuse that purchase whenever it is sent
    refused = [r.__dict__ for r in domain_logs if r.getMessage() == "Braze refused part of an event"]
    assert [(r["messageId"], r["sqsMessageId"], r["errors"]) for r in refused] == [
        ("u2-t2", sqs_id["u2-t2"], ["purchases[0]: 'quantity' is not valid"])
    ]
    assert result.counts["PartialErrors"] == 1
    assert [e["name"] for e in stored(stack, "events")] == ["Viewed"]
    assert depth(stack, "RetryQueue") == 0


def test_what_braze_cannot_take_now_moves_to_the_retry_queue_and_keeps_each_users_order(stack: LocalStack) -> None:
    events = [identify("u1", n, email=f"v{n}@example.com") for n in range(3)] + [track("u2", 1)]
    assert ingest(stack, api_event(events))[0] == 202
    stack.simulator.set_faults({"throttle_rate": 1.0})
    assert delivery_batch(stack) == 4
    assert (depth(stack, "DeliveryQueue"), depth(stack, "RetryQueue")) == (0, 4)
    stack.simulator.set_faults({"throttle_rate": 0.0})
    # A later event of u1 must not overtake the three waiting in the retry queue: it follows them there.
    assert ingest(stack, api_event([identify("u1", 3, email="latest@example.com")]))[0] == 202
    assert delivery_batch(stack) == 1
    assert depth(stack, "RetryQueue") == 5
    assert stack.wait_until_drained(timeout=30)
    emails = [a["email"] for a in stored(stack, "attributes") if a.get("external_id") == "u1"]
    assert emails[-1] == "latest@example.com"
    assert len(stored(stack, "events")) == 1


def test_a_second_copy_of_a_delivery_message_is_not_sent_again(stack: LocalStack) -> None:
    assert ingest(stack, api_event([track("u1", 1)]))[0] == 202
    url = stack.template.physical["DeliveryQueue"]["Ref"]
    (message,) = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"]
    stack.sqs.send_message(QueueUrl=url, MessageBody=message["Body"])  # SQS delivers at least once
    assert delivery_batch(stack) == 2
    assert delivery_batch(stack) == 0
    stack.sqs.send_message(QueueUrl=url, MessageBody=message["Body"])  # and possibly again, later
    assert delivery_batch(stack) == 1
    assert len(stored(stack, "events")) == 1


def test_a_permanently_refused_event_is_dead_lettered_with_its_reason(stack: LocalStack) -> None:
    stack.simulator.set_faults({"reject_permanently": ["Doomed"]})
    assert ingest(stack, api_event([track("u1", 1, "Doomed"), track("u2", 2)]))[0] == 202
    assert delivery_batch(stack) == 2
    (dead,) = stack.dead_letters()
    assert dead["body"]["messageId"] == "u1-t1" and "blacklisted" in dead["reason"]
    assert [e["name"] for e in stored(stack, "events")] == ["Viewed"]


def fingerprint_items(stack: LocalStack) -> list[dict[str, Any]]:
    table = stack.template.physical["StateTable"]["Ref"]
    items: list[dict[str, Any]] = stack.aws.client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in items if item["id"]["S"].startswith("fp#")]


@pytest.mark.parametrize("mode", ["direct", "buffered"])
def test_support_dedup_sends_only_changed_attributes_across_invocations(mode: str, start_stack: StartStack) -> None:
    stack = start_stack(
        poll=False,
        parameters={**BUFFERED, "DeliveryMode": mode},
        braze_config={"supportDedup": True},
        env_overrides=QUIET,
    )
    bodies = [
        [identify("u1", 1, plan="pro", seats=3)],
        [identify("u1", 2, plan="pro", seats=3)],  # nothing changed: no attribute write
        [identify("u1", 3, plan="team", seats=3, coupon=None)],  # plan changed; a null the bridge never sent
    ]
    for body in bodies:
        assert ingest(stack, api_event(body))[0] in (200, 202)
        if mode == "buffered":
            delivery_batch(stack)
    writes = [{k: v for k, v in a.items() if k != "external_id"} for a in stored(stack, "attributes")]
    assert writes == [{"plan": "pro", "seats": 3}, {"plan": "team", "coupon": None}]
    (item,) = fingerprint_items(stack)
    assert item["id"]["S"] == "fp#ext:u1" and int(item["expiration"]["N"]) > 0
