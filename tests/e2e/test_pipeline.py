"""End to end over loopback HTTP: RudderStack-like sender → local API Gateway → ingest → Braze simulator, with the
retry queue worked off by the SQS event-source emulation. AWS is moto's server in its own process."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.stack import LocalStack
from local.workload import RudderStackSender, Sent, batches, generate
from tests.conftest import ROOT
from tests.e2e.conftest import DEPLOYMENTS, MODES, StartPipeline


@pytest.fixture(params=DEPLOYMENTS, ids="-".join)
def stack(request: pytest.FixtureRequest, start: StartPipeline) -> LocalStack:
    mode, api = request.param
    return start(mode, api)


def accepted(stack: LocalStack) -> int:
    """What the webhook answers for events it took: 200 (Braze has them) or, buffered, 202 (queued)."""
    return 202 if stack.parameters.get("DeliveryMode") == "buffered" else 200


def samples() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted((ROOT / "events" / "rudderstack").glob("*.json")):
        document = json.loads(path.read_text())
        events += document.get("batch", [document])
    return events


def run_workload(stack: LocalStack, bodies: list[list[dict[str, Any]]], repeat_share: float = 0.0) -> list[Sent]:
    return RudderStackSender(stack.api.url, stack.token, backoff=0.2).send_all(bodies, repeat_share=repeat_share)


def check(stack: LocalStack, events: list[dict[str, Any]], sent: list[Sent]) -> Any:
    drained = stack.wait_until_drained(timeout=120)
    failed_batches = sum(source.errors for source in stack.event_sources)
    assert drained, (
        f"the queues did not drain: {stack.retry_queue_depth()} messages left; retry function: "
        f"{stack.retry.invocations} invocations, {stack.retry.timeouts} timed out; failed batches: {failed_batches}"
    )
    return stack.ledger(events, sent)


def test_every_event_type_reaches_braze_as_the_mapping_says(stack: LocalStack) -> None:
    events = samples()
    sent = run_workload(stack, [[event] for event in events])
    summary = check(stack, events, sent)
    assert (summary.lost, summary.duplicates, summary.rejected) == (0, 0, 1), summary.problems
    assert summary.delivered == len(events) - 1
    kinds = {item.kind for item in stack.simulator.stored}
    assert {"attributes", "events", "purchases", "aliases_identified", "merges"} <= kinds


def test_storm_of_throttling_errors_drops_and_an_outage_stores_every_event_exactly_once(stack: LocalStack) -> None:
    weather_the_storm(stack)


@pytest.mark.parametrize("mode", MODES)
def test_a_sender_keeping_each_users_order_loses_and_doubles_nothing_in_the_storm(
    start: StartPipeline, mode: str
) -> None:
    """SendersKeepUserOrder on: the events' records (and, direct, the users' turns) are read, not written. A
    RudderStack-like sender (a user's events one after another, a body re-sent only once its call ended) meets the
    same storm: every event stored once, and the ledger finds each profile as the user's last event set it."""
    weather_the_storm(start(mode, parameters={"SendersKeepUserOrder": "true"}))


def weather_the_storm(stack: LocalStack) -> None:
    """400 events of 60 users in bodies of up to 20, 5 % sent again; Braze throttles, fails and drops, then is down
    for 20 s: nothing lost, nothing stored twice, nothing dead-lettered."""
    events = generate(400, users=60, seed=21)
    bodies = batches(events, max_size=20)
    stack.simulator.set_faults({"throttle_rate": 0.30, "error_rate": 0.05, "drop_rate": 0.02, "seed": 5})
    half = len(bodies) // 2
    sent = run_workload(stack, bodies[:half], repeat_share=0.05)
    stack.simulator.set_faults({"outage_seconds": 20})
    sent += run_workload(stack, bodies[half:], repeat_share=0.05)
    summary = check(stack, events, sent)
    assert (summary.lost, summary.duplicates) == (0, 0), summary.problems
    assert summary.dead_lettered == 0
    assert summary.delivered == sum(1 for e in events if e.get("event") or e["type"] != "track")
    assert summary.braze_statuses.get("429", 0) > 0 and summary.braze_statuses.get("503", 0) > 0


def test_rudderstack_retrying_the_same_message_three_times_is_stored_once(stack: LocalStack) -> None:
    (event,) = [e for e in samples() if e["messageId"] == "sample-order-1"]  # two purchases
    answers = [stack.post("/v1/webhook", event) for _ in range(3)]
    assert [status for status, _ in answers] == [accepted(stack), 200, 200]
    assert [body["duplicates"] for _, body in answers] == [0, 1, 1]
    assert stack.wait_until_drained(timeout=60)
    assert len([s for s in stack.simulator.stored if s.kind == "purchases"]) == 2


def test_a_request_braze_refuses_for_good_lands_in_the_dlq_with_its_reason(stack: LocalStack) -> None:
    stack.simulator.set_faults({"reject_permanently": ["Doomed"]})
    status, body = stack.post("/v1/track", {"userId": "u-1", "event": "Doomed", "messageId": "doomed-1"})
    # Direct: Braze refused it during the request. Buffered: queued now, refused when its batch is delivered.
    # Either way a 200 on an SDK route.
    assert (status, body["dead_lettered"] + body["queued"]) == (200, 1)
    assert stack.wait_until_drained(timeout=60)
    (dead,) = stack.dead_letters()
    assert dead["body"]["messageId"] == "doomed-1" and "blacklisted" in dead["reason"]


def test_ssm_unreachable_after_warm_up_does_not_stop_delivery(start: StartPipeline) -> None:
    stack = start(cuttable=("ssm",), env={"SECRETS_MAX_AGE": "1"})
    assert stack.post("/v1/track", {"userId": "u-1", "event": "Warm", "messageId": "warm-1"})[0] == 200
    stack.proxies["ssm"].cut()
    time.sleep(1.5)  # the cached secrets are now older than their max age: a refresh is attempted and fails
    status, body = stack.post("/v1/track", {"userId": "u-2", "event": "Cold", "messageId": "cold-1"})
    assert (status, body["delivered"]) == (200, 1)
    assert {s.obj["name"] for s in stack.simulator.stored if s.kind == "events"} == {"Warm", "Cold"}


@pytest.mark.parametrize("mode", MODES)
def test_sqs_refusing_the_enqueue_answers_5xx_and_the_retry_loses_nothing(start: StartPipeline, mode: str) -> None:
    stack = start(mode, cuttable=("sqs",))
    stack.simulator.set_faults({"throttle_rate": 1.0})
    stack.proxies["sqs"].cut()
    event = {"userId": "u-1", "event": "Queued", "messageId": "q-1"}
    status, _ = stack.post("/v1/track", event)
    assert status == 503  # RudderStack will retry: nothing was accepted that could be lost
    stack.proxies["sqs"].restore()
    status, body = stack.post("/v1/track", event)  # RudderStack's retry, same messageId
    assert (status, body["queued"]) == (200, 1)  # queued, and a 200 on an SDK route
    stack.simulator.set_faults({"throttle_rate": 0.0})
    assert stack.wait_until_drained(timeout=60)
    assert [s.obj["name"] for s in stack.simulator.stored if s.kind == "events"] == ["Queued"]


@pytest.mark.parametrize(("api", "too_large"), [("http", "Request Entity Too Large"), ("rest", "Request Too Long")])
def test_a_body_over_api_gateways_limit_is_answered_413_not_dropped(
    start: StartPipeline, api: str, too_large: str
) -> None:
    stack = start(api=api)
    body = b'{"batch": ["' + b"x" * (11 * 1024 * 1024) + b'"]}'
    status, answer = stack.post("/v1/batch", body)
    assert status == 413 and answer == {"message": too_large}  # API Gateway's own answer
    chunked = stack.http.request(
        "POST", stack.api.url + "/v1/batch", body=iter([body[:1024], body[1024:]]), chunked=True,
        headers={"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert chunked.status == 413
    small = json.dumps({"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "c-1"}]}).encode()
    chunked_ok = stack.http.request(
        "POST", stack.api.url + "/v1/batch", body=iter([small[:10], small[10:]]), chunked=True,
        headers={"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert chunked_ok.status == 200 and json.loads(chunked_ok.data)["delivered"] == 1
