"""The webhook's HTTP contract on a fake use case: what refuses a whole request, how a body's outcome becomes a
status and a body, and each route's dialect (the SDK routes answer 200 for queued events)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from rudder_braze.app.auth import Access, networks
from rudder_braze.app.webhook import BodyLimits, Routes, Webhook, WebhookRequest, answer_for
from rudder_braze.usecases.ingest import IngestResult

TOKEN = "token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


class FakeIngest:
    """Answers every body with ``result`` (built from the events it was given) and keeps what it received."""

    def __init__(self, result: Callable[[list[Any]], IngestResult]) -> None:
        self.result = result
        self.received: list[list[Any]] = []
        self.in_order: list[bool] = []

    def handle(
        self, events: list[Any], remaining_ms: Callable[[], int], *, sender_keeps_order: bool = False
    ) -> IngestResult:
        self.received.append(events)
        self.in_order.append(sender_keeps_order)
        return self.result(events)


def delivered(events: list[Any]) -> IngestResult:
    return IngestResult(len(events), outcomes={e["messageId"]: "delivered" for e in events})


def queued(events: list[Any]) -> IngestResult:
    return IngestResult(len(events), outcomes={e["messageId"]: "queued" for e in events})


def webhook(
    result: Callable[[list[Any]], IngestResult] = delivered, max_body_bytes: int = 4_000_000, max_events: int = 1000
) -> tuple[Webhook, FakeIngest]:
    service = FakeIngest(result)
    access = Access(lambda: [TOKEN, None])
    hook = Webhook(
        lambda: service, access, limits=BodyLimits(max_body_bytes, max_events), clock=lambda: 1_764_000_000.0
    )
    return hook, service


def track(n: int = 1) -> dict[str, Any]:
    return {"type": "track", "event": "E", "userId": "u", "messageId": f"m-{n}"}


def post(hook: Webhook, route: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = hook.handle(WebhookRequest(route, AUTH if headers is None else headers, raw), lambda: 8000)
    return answer.status, answer.body


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Content-Type": "application/json"}, [track()], 401, "unauthorized"),
        ({**AUTH, "Authorization": "Bearer wrong"}, [track()], 401, "unauthorized"),
        ({**AUTH, "Content-Type": "text/html"}, [track()], 415, "unsupported_media_type"),
        ({**AUTH, "Content-Encoding": "br"}, [track()], 415, None),
        (AUTH, b"  ", 400, "empty_body"),
        (AUTH, b"{not json", 415, "invalid_json"),
        (AUTH, b'"a string"', 400, "invalid_body"),
    ],
)
def test_a_request_refused_as_a_whole_names_its_cause_and_reaches_no_use_case(
    headers: dict[str, str], body: Any, status: int, code: str | None
) -> None:
    hook, service = webhook()
    answer_status, answer = post(hook, "webhook", body, headers)
    assert answer_status == status and answer["message"] and service.received == []
    assert code is None or answer["code"] == code


def test_limits_of_size_and_count_are_413s() -> None:
    hook, service = webhook(max_body_bytes=500, max_events=2)
    assert post(hook, "webhook", [track(n) for n in range(20)])[1]["code"] == "payload_too_large"
    assert post(hook, "webhook", [track(n) for n in range(3)])[1]["code"] == "too_many_events"
    assert service.received == []


def test_a_gzipped_body_is_read_and_the_events_get_the_server_fields() -> None:
    hook, service = webhook()
    raw = gzip.compress(json.dumps([track()]).encode())
    status, body = post(hook, "webhook", raw, {**AUTH, "Content-Encoding": "gzip"})
    assert (status, body["delivered"]) == (200, 1)
    (event,) = service.received[0]
    assert event["receivedAt"].startswith("2025-11-24") and event["messageId"] == "m-1"


@pytest.mark.parametrize(("route", "status"), [("webhook", 202), ("batch", 200), ("track", 200)])
def test_queued_events_are_202_on_the_webhook_and_200_on_the_sdk_routes(route: str, status: int) -> None:
    hook, _ = webhook(queued)
    body = {"batch": [track()]} if route == "batch" else track() if route == "track" else [track()]
    answer_status, answer = post(hook, route, body)
    assert (answer_status, answer["queued"]) == (status, 1)


@pytest.mark.parametrize("keep", [False, True])
def test_only_the_webhook_routes_senders_are_trusted_to_keep_each_users_order(keep: bool) -> None:
    """SendersKeepUserOrder is about RudderStack's Webhook destination; SDK flushes can overlap whatever it says."""
    service = FakeIngest(delivered)
    hook = Webhook(lambda: service, Access(lambda: [TOKEN, None]), Routes(senders_keep_order=keep))
    for route, body in (("webhook", [track(1)]), ("batch", {"batch": [track(2)]}), ("track", track(3))):
        assert post(hook, route, body)[0] == 200
    assert service.in_order == [keep, False, False]


def test_the_sdk_routes_read_json_whatever_the_content_type_says() -> None:
    hook, service = webhook()
    status, _ = post(hook, "batch", {"batch": [track()]}, {**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and len(service.received) == 1


def test_an_event_posted_to_another_types_route_is_refused() -> None:
    hook, service = webhook()
    status, body = post(hook, "identify", track())
    assert (status, body["code"]) == (400, "invalid_body") and "$.type" in body["message"] and service.received == []


@pytest.mark.parametrize(
    ("result", "status", "keys"),
    [
        (IngestResult(2, outcomes={"a": "delivered", "b": "duplicate"}), 200, set()),
        (IngestResult(1, rejected=[{"index": 0, "messageId": "a", "path": "$.event", "reason": "x"}]), 400, set()),
        (IngestResult(1, in_progress=["a"]), 503, {"in_progress", "error"}),
        (
            IngestResult(2, outcomes={"a": "queued"}, unqueued=["b"], unqueued_cause="SQS refused"),
            503,
            {"unqueued", "error"},
        ),
        (
            IngestResult(1, outcomes={"a": "delivered"}, partial_errors={"a": ["events[0]: bad"]}),
            200,
            {"partial_errors"},
        ),
    ],
)
def test_a_bodys_outcome_becomes_its_status_and_tally(result: IngestResult, status: int, keys: set[str]) -> None:
    answer_status, body = answer_for(result)
    tally = {"received", "delivered", "queued", "dead_lettered", "duplicates", "filtered", "rejected"}
    assert answer_status == status and set(body) == tally | keys
    assert body["received"] == result.received


def test_a_refused_event_is_a_400_with_code_and_message_and_its_neighbours_go_on() -> None:
    def half(events: list[Any]) -> IngestResult:
        rejected = [{"index": 1, "messageId": "m-2", "path": "$.event", "reason": "track: $.event is required"}]
        return IngestResult(2, outcomes={"m-1": "delivered"}, rejected=rejected)

    hook, _ = webhook(half)
    status, body = post(hook, "webhook", [track(1), track(2)])
    assert (status, body["code"], body["delivered"]) == (400, "invalid_events", 1)
    assert body["message"] == "1 of 2 events were refused; see rejected"


def test_a_source_outside_the_allowlist_is_refused_before_its_token_is_read() -> None:
    service = FakeIngest(delivered)
    tokens_read: list[bool] = []

    def tokens() -> list[str | None]:
        tokens_read.append(True)
        return [TOKEN, None]

    hook = Webhook(lambda: service, Access(tokens, networks("3.216.35.97/32, 10.0.0.0/8")))
    body = json.dumps(track()).encode()
    inside = hook.handle(WebhookRequest("webhook", AUTH, body, source_ip="10.1.2.3"), lambda: 8000)
    outside = hook.handle(WebhookRequest("webhook", AUTH, body, source_ip="3.216.35.98"), lambda: 8000)
    unknown = hook.handle(WebhookRequest("webhook", AUTH, body), lambda: 8000)
    assert (inside.status, outside.status, unknown.status) == (200, 403, 403)
    assert outside.body["code"] == "forbidden" and len(tokens_read) == 1
    anyone = Webhook(lambda: service, Access(lambda: [TOKEN, None]))  # no allowlist: any source
    assert anyone.handle(WebhookRequest("webhook", AUTH, body, source_ip="192.0.2.1"), lambda: 8000).status == 200
