"""The ingest handler as RudderStack's SDKs and servers call it: compressed bodies, their content types, the
answers they understand, ``integrations`` and event filtering, and the time fields RudderStack's gateway sets."""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from typing import Any

import pytest

from local.stack import LocalStack
from tests.conftest import StartStack
from tests.integration.conftest import EVENTS, QUIET, api_event, ingest, sample, stored

FORM = "application/x-www-form-urlencoded"  # what the Node SDK's HTTP library labels its gzip body


def compressed(body: Any, coding: str = "gzip") -> bytes:
    raw = json.dumps(body).encode()
    return gzip.compress(raw) if coding == "gzip" else zlib.compress(raw)


def test_a_gzip_batch_labelled_as_a_form_is_delivered_on_the_sdk_routes(stack: LocalStack) -> None:
    batch = {"batch": [sample("track"), sample("page")], "sentAt": "2026-12-04T10:00:00.000Z"}
    event = api_event(
        raw=compressed(batch), path="/v1/batch", headers={"Content-Type": FORM, "Content-Encoding": "gzip"}
    )
    status, body = ingest(stack, event)
    assert (status, body["delivered"]) == (200, 2)
    deflated = api_event(raw=compressed({**sample("track"), "messageId": "d-1"}, "deflate"), path="/v1/track",
                         headers={"Content-Type": "text/plain", "Content-Encoding": "deflate"})  # fmt: skip
    assert ingest(stack, deflated)[0] == 200
    assert len(stored(stack, "events")) == 3


def test_the_webhook_route_still_wants_json(stack: LocalStack) -> None:
    event = api_event(raw=compressed(sample("track")), headers={"Content-Type": FORM, "Content-Encoding": "gzip"})
    status, body = ingest(stack, event)
    assert status == 415 and body["code"] == "unsupported_media_type"
    gzipped = api_event(raw=compressed(sample("track")), headers={"Content-Encoding": "gzip"})
    assert ingest(stack, gzipped)[0] == 200  # application/json, gzip: fine on every route


BAD_BODIES = {
    "gzip bomb": (gzip.compress(b" " * (5 * 1024 * 1024)), "gzip", (413, "payload_too_large", "limit")),
    "corrupt": (b"\x1f\x8b\x08\x00 not gzip", "gzip", (400, "invalid_compressed_body", "not a valid gzip stream")),
    "unknown": (b"{}", "br", (415, "unsupported_content_encoding", "'br'")),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bombs_corrupt_streams_and_unknown_encodings_get_clean_4xx(stack: LocalStack, case: str) -> None:
    raw, coding, (status, code, words) = BAD_BODIES[case]
    answer = ingest(stack, api_event(raw=raw, path="/v1/batch", headers={"Content-Encoding": coding}))
    assert answer[0] == status
    assert answer[1]["code"] == code and words in answer[1]["message"]


def test_every_answer_but_a_200_carries_code_and_message(stack: LocalStack) -> None:
    answers = [
        ingest(stack, api_event(sample("track"), headers={"Authorization": "Bearer wrong"})),
        ingest(stack, api_event(raw=b"{nope", path="/v1/batch")),
        ingest(stack, api_event({"batch": "nope"}, path="/v1/batch")),
        ingest(stack, api_event({"batch": [sample("invalid-track")]}, path="/v1/batch")),
        ingest(stack, api_event(raw=b"", path="/v1/batch")),
    ]
    assert [status for status, _ in answers] == [401, 415, 400, 400, 400]
    for _, body in answers:
        assert isinstance(body["code"], str) and isinstance(body["message"], str) and body["message"]


def test_queued_events_are_a_200_on_the_sdk_routes_and_a_202_on_the_webhook(stack: LocalStack) -> None:
    stack.simulator.set_faults({"throttle_rate": 1.0})
    sdk = ingest(stack, api_event({"batch": [sample("track")]}, path="/v1/batch"))
    webhook = ingest(stack, api_event({**sample("track"), "messageId": "w-1"}))
    assert (sdk[0], sdk[1]["queued"]) == (200, 1)  # the Python SDK sends again anything but a 200
    assert (webhook[0], webhook[1]["queued"]) == (202, 1)


def test_integrations_drop_events_rudderstack_would_not_send_to_braze(
    stack: LocalStack, domain_logs: list[logging.LogRecord]
) -> None:
    events = [
        {**sample("track"), "messageId": "f-1", "integrations": {"All": False}},
        {**sample("track"), "messageId": "f-2", "integrations": {"Braze": False}},
        {**sample("track"), "messageId": "f-3", "integrations": {"All": False, "Braze": True}},
        {"type": "track", "messageId": "f-4", "integrations": {"All": False}},  # invalid, but never validated
    ]
    status, body = ingest(stack, api_event(events))
    assert (status, body["delivered"], body["filtered"], body["rejected"]) == (200, 1, 3, [])
    assert len(stored(stack, "events")) == 1
    filtered = {r.messageId: r.reason for r in domain_logs if r.getMessage() == "event filtered"}  # type: ignore[attr-defined]
    assert set(filtered) == {"f-1", "f-2", "f-4"} and "integrations.Braze is false" in filtered["f-2"]


@pytest.fixture
def filtering_stack(start_stack: StartStack) -> LocalStack:
    config = {"eventFilteringOption": "blacklistedEvents", "blacklistedEvents": [{"eventName": "Video Played"}]}
    return start_stack(poll=False, braze_config=config, env_overrides=QUIET)


def test_the_destination_configs_event_filtering_applies(filtering_stack: LocalStack) -> None:
    status, body = ingest(filtering_stack, api_event([sample("track"), sample("page")]))
    assert (status, body["filtered"], body["delivered"]) == (200, 1, 1)
    assert [e["name"] for e in stored(filtering_stack, "events")] != ["Video Played"]


def test_received_at_is_when_api_gateway_received_the_request_and_corrects_the_clients_clock(
    stack: LocalStack,
) -> None:
    event = {"type": "track", "userId": "u-7", "event": "Skewed", "messageId": "t-1",
             "originalTimestamp": "2026-12-04T09:59:00.000Z", "sentAt": "2026-12-04T10:00:00.000Z"}  # fmt: skip
    request = api_event(event, path="/v1/track")
    # API Gateway received it at 11:00; the client's clock said 10:00 when it sent it (an hour behind).
    request["requestContext"]["requestTimeEpoch"] = 1_796_378_400_000 + 3_600_000
    assert ingest(stack, request)[0] == 200
    (stored_event,) = stored(stack, "events")
    # receivedAt - (sentAt - originalTimestamp): one minute before API Gateway received it
    assert stored_event["time"] == "2026-12-04T10:59:00.000Z"


def test_every_refused_event_is_logged_with_where_and_why_never_its_value(
    stack: LocalStack, domain_logs: list[logging.LogRecord]
) -> None:
    secret_value = "do-not-log-this-value"
    bad = {"type": "track", "userId": "u-1", "messageId": "r-1", "event": {"nested": secret_value}}
    status, _ = ingest(stack, api_event({"batch": [bad]}, path="/v1/batch"))
    assert status == 400
    (line,) = [r for r in domain_logs if r.getMessage() == "event refused"]
    assert (line.messageId, line.route, line.path) == ("r-1", "batch", "$.event")  # type: ignore[attr-defined]
    assert secret_value not in json.dumps(line.__dict__, default=str)


def test_events_as_rudderstacks_webhook_destination_sends_them_reach_braze(stack: LocalStack) -> None:
    """One event per request, header names lower-cased, the event's ``header`` entries as extra headers."""
    headers = {"Authorization": None, "Content-Type": None, "content-type": "application/json",
               "authorization": f"Bearer {stack.token}", "x-tenant": "acme"}  # fmt: skip
    for name in ("identify", "order-completed"):
        event = json.loads((EVENTS / "rudderstack-webhook" / f"{name}.json").read_text())
        status, body = ingest(stack, api_event(event, headers=headers))
        assert (status, body["delivered"]) == (200, 1)
    (profile,) = [a for a in stored(stack, "attributes") if a.get("external_id") == "user-webhook-1"]
    assert profile["email"] == "grace@example.com" and profile["score"] == 1e21
    assert sorted(p["product_id"] for p in stored(stack, "purchases")) == ["sku-1", "sku-2"]
    assert {p["time"] for p in stored(stack, "purchases")} == {"2026-12-04T10:05:00.300Z"}  # RudderStack's timestamp
