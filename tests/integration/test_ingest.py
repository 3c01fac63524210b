"""The ingest handler: every status code of the webhook contract, and every class of Braze answer."""

from __future__ import annotations

import base64
import json
import time

from local.stack import LocalStack
from tests.conftest import StartStack
from tests.integration.conftest import EVENTS, QUIET, api_event, ingest, queued_messages, sample, stored


def test_accepted_event_is_delivered_and_answered_200(stack: LocalStack) -> None:
    status, body = ingest(stack, api_event(sample("track")))
    assert status == 200
    assert body["delivered"] == 1
    (event,) = stored(stack, "events")
    assert event["name"] == "Video Played" and event["external_id"] == "user-1"


def test_sample_api_gateway_events_work_as_they_are(stack: LocalStack) -> None:
    for name, delivered in (("webhook-track", 1), ("http-api-track", 1)):
        event = json.loads((EVENTS / "apigateway" / f"{name}.json").read_text())
        status, body = ingest(stack, event)
        assert (status, body["delivered"]) == (200, delivered)


def test_rudderstack_retry_of_a_delivered_event_reaches_braze_once(stack: LocalStack) -> None:
    first = ingest(stack, api_event(sample("order-completed")))
    again = ingest(stack, api_event(sample("order-completed")))
    assert first[0] == again[0] == 200
    assert again[1]["duplicates"] == 1
    assert len(stored(stack, "purchases")) == 2  # two products, stored once each


def test_mixed_batch_delivers_the_valid_and_lists_the_invalid(stack: LocalStack) -> None:
    events = [sample("track"), sample("invalid-track"), {"type": "spam", "messageId": "x-1"}]
    status, body = ingest(stack, api_event(events))
    assert status == 400
    assert body["delivered"] == 1
    assert body["rejected"] == [
        {"index": 1, "messageId": "sample-invalid-1", "path": "$.event", "reason": "track: $.event is required"},
        {"index": 2, "messageId": "x-1", "path": "$.type", "reason": "Message type spam is not supported"},
    ]
    assert len(stored(stack, "events")) == 1


def test_throttled_event_is_queued_and_answered_202_without_credentials(stack: LocalStack) -> None:
    stack.simulator.set_faults({"throttle_rate": 1.0})
    status, body = ingest(stack, api_event(sample("track")))
    assert (status, body["queued"]) == (202, 1)
    (message,) = queued_messages(stack)
    assert message["messageId"] == "sample-track-1" and message["attempts"] == 1
    assert "local-braze-key" not in json.dumps(message) and "local-dev-token" not in json.dumps(message)


def test_braze_5xx_and_timeouts_are_queued(stack: LocalStack) -> None:
    stack.simulator.set_faults({"error_rate": 1.0})
    assert ingest(stack, api_event(sample("track")))[0] == 202
    stack.simulator.set_faults({"error_rate": 0.0, "timeout_rate": 1.0, "timeout_seconds": 3.5})
    started = time.monotonic()
    assert ingest(stack, api_event(sample("page")))[0] == 202
    assert time.monotonic() - started < 6  # the read timeout (3 s), not the simulator's delay, decides
    assert {m["messageId"] for m in queued_messages(stack)} == {"sample-track-1", "sample-page-1"}


def test_partial_success_is_delivered_and_reported(stack: LocalStack) -> None:
    order = sample("order-completed")
    order["properties"]["products"][0]["quantity"] = 150  # Braze takes at most 100 of a product per purchase
    event = {**order, "context": {"traits": {"plan": "pro"}}}
    status, body = ingest(stack, api_event(event))
    assert status == 200 and body["delivered"] == 1
    assert body["partial_errors"]["sample-order-1"] == ["purchases[0]: 'quantity' is not valid"]
    assert queued_messages(stack) == []


def test_permanent_refusal_is_dead_lettered_with_its_reason(stack: LocalStack) -> None:
    stack.simulator.set_faults({"reject_permanently": ["Video Played"]})
    status, body = ingest(stack, api_event(sample("track")))
    assert (status, body["dead_lettered"]) == (200, 1)
    (dead,) = stack.dead_letters()
    assert "blacklisted" in dead["reason"] and dead["body"]["messageId"] == "sample-track-1"


def test_enqueue_failure_answers_503_and_a_later_retry_delivers(stack: LocalStack) -> None:
    stack.simulator.set_faults({"throttle_rate": 1.0})
    retry_url = stack.template.physical["RetryQueue"]["Ref"]
    stack.sqs.delete_queue(QueueUrl=retry_url)
    status, body = ingest(stack, api_event(sample("track")))
    assert status == 503 and "retry" in body["error"]
    # RudderStack retries; by then Braze takes it. The idempotency record was released, so it is not a duplicate.
    stack.simulator.set_faults({"throttle_rate": 0.0})
    status, body = ingest(stack, api_event(sample("track")))
    assert (status, body["delivered"]) == (200, 1)


def test_authentication(stack: LocalStack) -> None:
    track = sample("track")
    assert ingest(stack, api_event(track, headers={"Authorization": None}))[0] == 401
    assert ingest(stack, api_event(track, headers={"Authorization": "Bearer wrong"}))[0] == 401
    assert ingest(stack, api_event(track, headers={"Authorization": "Token local-dev-token"}))[0] == 401
    basic = "Basic " + base64.b64encode(b"local-dev-token:").decode()
    assert ingest(stack, api_event(track, headers={"Authorization": basic}))[0] == 200


def test_previous_token_is_accepted_during_rotation(stack: LocalStack) -> None:
    ssm = stack.aws.client("ssm")
    ssm.put_parameter(
        Name="/rudder-braze/local/webhook-previous-token", Value="old-token", Type="SecureString", Overwrite=True
    )
    stack.cold_start()  # a new execution environment reads the rotated parameters
    assert ingest(stack, api_event(sample("track"), headers={"Authorization": "Bearer old-token"}))[0] == 200
    # The rotation window ends: the previous token is set to "-" and is refused, with the same answer as any other.
    ssm.put_parameter(Name="/rudder-braze/local/webhook-previous-token", Value="-", Type="SecureString", Overwrite=True)
    stack.cold_start()
    status, body = ingest(stack, api_event(sample("page"), headers={"Authorization": "Bearer old-token"}))
    assert (status, body) == (401, {"code": "unauthorized", "message": "unauthorized", "error": "unauthorized"})


def test_size_limits_answer_413(stack: LocalStack) -> None:
    big = {**sample("track"), "properties": {"blob": "x" * (4 * 1024 * 1024)}}
    status, body = ingest(stack, api_event(big))
    assert status == 413 and "limit" in body["error"]
    many = [{**sample("track"), "messageId": f"m-{i}"} for i in range(1001)]
    assert ingest(stack, api_event(many))[0] == 413


def test_body_that_is_not_json_answers_415(stack: LocalStack) -> None:
    assert ingest(stack, api_event(raw=b"event=track&user=1"))[0] == 415
    assert ingest(stack, api_event(raw=b"\xff\xfe\x00"))[0] == 415
    status, body = ingest(
        stack, api_event(sample("track"), headers={"Content-Type": "application/x-www-form-urlencoded"})
    )
    assert status == 415 and "application/json" in body["error"]


def test_http_api_shapes(stack: LocalStack) -> None:
    status, body = ingest(stack, api_event({"userId": "u-5", "event": "Signed Up"}, path="/v1/track"))
    assert (status, body["delivered"]) == (200, 1)
    status, body = ingest(stack, api_event(sample("batch"), path="/v1/batch"))
    assert (status, body["delivered"]) == (200, 2)
    assert ingest(stack, api_event({"type": "identify", "userId": "u"}, path="/v1/track"))[0] == 400
    (signed_up,) = [e for e in stored(stack, "events") if e["external_id"] == "u-5"]
    assert signed_up["time"]  # the bridge filled the timestamp, as RudderStack's gateway would


def test_health_reveals_nothing(stack: LocalStack) -> None:
    status, body = ingest(stack, api_event(path="/health", method="GET", headers={"Authorization": None}))
    assert (status, body) == (200, {"status": "ok"})


def test_a_users_new_update_waits_behind_their_queued_one(stack: LocalStack) -> None:
    old = {**sample("identify"), "messageId": "email-old", "context": {"traits": {"email": "old@example.com"}}}
    new = {**sample("identify"), "messageId": "email-new", "context": {"traits": {"email": "new@example.com"}}}
    stack.simulator.set_faults({"throttle_rate": 1.0})
    assert ingest(stack, api_event(old))[0] == 202
    stack.simulator.set_faults({"throttle_rate": 0.0})  # Braze is fine again, but the old update still waits
    status, body = ingest(stack, api_event(new))
    assert (status, body["queued"]) == (202, 1)  # held behind the old one, not sent ahead of it
    assert stack.wait_until_drained(timeout=30)
    emails = [a["email"] for a in stored(stack, "attributes") if "email" in a]
    # Braze ends with the new address and never got the old one after it (the retry batch may coalesce the two).
    assert emails[-1] == "new@example.com"
    assert "old@example.com" not in emails[emails.index("new@example.com") :]


def test_a_sender_keeping_each_users_order_has_records_and_turns_read_not_claimed(start_stack: StartStack) -> None:
    """SendersKeepUserOrder on: over loopback HTTP, a delivered event costs two reads (its record, its user's turn)
    and one write (its record once handled), nothing claimed or taken; a copy sent again is still a duplicate, and a
    user's new update still waits behind their queued one."""
    from local.aws_calls import install

    calls = install()
    stack = start_stack(parameters={"SendersKeepUserOrder": "true"},
                        env_overrides={**QUIET, "RETRY_BASE_DELAY_SECONDS": "0"})  # fmt: skip
    calls.take()
    event = {**sample("track"), "messageId": "kept-order-1"}
    first, again = stack.post("/v1/webhook", [event]), stack.post("/v1/webhook", [event])
    assert (first[0], first[1]["delivered"], again[0], again[1]["duplicates"]) == (200, 1, 200, 1)
    counted = calls.take()
    assert {k: v for k, v in counted.items() if k.startswith("dynamodb.")} == {
        "dynamodb.BatchGetItem": 3,  # the event's record and its user's turn; the copy's record
        "dynamodb.BatchWriteItem": 1,  # the record once delivered; the copy writes nothing
    }
    assert len([e for e in stored(stack, "events") if e["name"] == event["event"]]) == 1

    old = {**sample("identify"), "messageId": "kept-old", "context": {"traits": {"email": "old@example.com"}}}
    new = {**sample("identify"), "messageId": "kept-new", "context": {"traits": {"email": "new@example.com"}}}
    stack.simulator.set_faults({"throttle_rate": 1.0})
    assert stack.post("/v1/webhook", [old])[0] == 202
    stack.simulator.set_faults({"throttle_rate": 0.0})
    status, answer = stack.post("/v1/webhook", [new])
    assert (status, answer["queued"]) == (202, 1)  # the user's count of queued events, read: held behind
    assert stack.wait_until_drained(timeout=30)
    emails = [a["email"] for a in stored(stack, "attributes") if "email" in a]
    assert emails[-1] == "new@example.com"
    assert "old@example.com" not in emails[emails.index("new@example.com") :]


def test_an_events_record_read_finds_what_claiming_it_would(stack: LocalStack) -> None:
    """``look_up`` (the webhook's read for a sender keeping each user's order) against ``claim`` on the same
    records in moto's DynamoDB: none, completed, in progress, in progress past its deadline, expired."""
    from rudder_braze.adapters.aws.idempotency import IdempotencyTable
    from rudder_braze.usecases.ports import ClaimOutcome

    name, clients = stack.template.physical["StateTable"]["Ref"], stack.aws.clients()
    records = IdempotencyTable(name, 3600, clients)
    records.claim("m-busy", 30_000)
    records.claim("m-lapsed", 0)  # its invocation had no time left: the claim lapses at once
    records.claim("m-done", 30_000)
    records.complete({"m-done": {"delivered": 1}})
    IdempotencyTable(name, -5, clients).complete({"m-expired": {"delivered": 1}})  # stored 5 s past its expiry
    time.sleep(0.01)
    read = records.look_up(["m-new", "m-busy", "m-lapsed", "m-done", "m-expired"])
    assert read == {"m-new": ClaimOutcome.NEW, "m-busy": ClaimOutcome.BUSY, "m-lapsed": ClaimOutcome.NEW,
                    "m-done": ClaimOutcome.DONE, "m-expired": ClaimOutcome.NEW}  # fmt: skip
    assert records.read("m-expired") == ("EXPIRED", {"delivered": 1})  # trace still shows it until its TTL deletes it
    assert {message: records.claim(message, 30_000) for message in read} == read
