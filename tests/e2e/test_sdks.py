"""RudderStack's and Segment's own SDKs, at their default settings (gzip on where it is the default), pointed at
the local stack as a user points them: data plane URL = the webhook's URL, write key = the webhook token.

Each SDK sends a user journey (anonymous page and track, identify with traits, custom track, Order Completed,
screen, group, alias, a trait set to null), then 150 events (more than one SDK batch) and a burst of 500. The
check is call by call: every event arrived as the SDK sent it, the Braze simulator stored each of its objects once,
on the right endpoint, equal to what the mapping (RudderStack's, by the conformance suite) says.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.ledger import profiles
from local.stack import LocalStack
from local.workload import Sent
from tests.conftest import ROOT
from tests.e2e.conftest import API_TYPES, StartPipeline

JSON = dict[str, Any]
NODE_SENDER = ROOT / "tests" / "e2e" / "sdk_node" / "send.js"
T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def journey(tag: str) -> list[tuple[str, JSON]]:
    """Ten calls in a neutral form: (method, fields in the Node SDK's camelCase)."""
    anon, user = f"anon-{tag}", f"user-{tag}"
    calls: list[tuple[str, JSON]] = [
        ("page", {"anonymousId": anon, "name": "Home", "properties": {"path": "/"}}),
        ("track", {"anonymousId": anon, "event": "Product Viewed", "properties": {"sku": "p-1"}}),
        ("identify", {"userId": user, "anonymousId": anon,
                      "traits": {"email": "Ada@Example.com", "firstName": "Ada", "plan": "pro"}}),
        ("track", {"userId": user, "event": "Signed Up", "properties": {"method": "email"}}),
        ("track", {"userId": user, "event": "Order Completed", "properties": {
            "order_id": "o-1", "currency": "EUR",
            "products": [{"product_id": "p-1", "price": 10, "quantity": 2},
                         {"product_id": "p-2", "price": 5.5, "quantity": 1}]}}),
        ("screen", {"userId": user, "name": "Settings", "properties": {"tab": "privacy"}}),
        ("group", {"userId": user, "groupId": "g-1", "traits": {"name": "Acme"}}),
        ("alias", {"userId": user, "previousId": f"old-{tag}"}),
        ("identify", {"userId": user, "traits": {"plan": None}}),
        ("track", {"userId": user, "event": "Logged Out"}),
    ]  # fmt: skip
    return calls


def many(tag: str, count: int, offset: int) -> list[tuple[str, JSON]]:
    """Tracks for 25 users, an identify every tenth call."""
    calls: list[tuple[str, JSON]] = []
    for n in range(offset, offset + count):
        user = f"user-{tag}-{n % 25:02d}"
        if n % 10 == 0:
            calls.append(("identify", {"userId": user, "traits": {"visits": n}}))
        else:
            calls.append(("track", {"userId": user, "event": "Item Added", "properties": {"n": n}}))
    return calls


def stamped(tag: str, calls: list[tuple[str, JSON]], first: int) -> list[tuple[str, JSON]]:
    """Each call with its own messageId and a timestamp, as an application passing them would set them."""
    return [
        (method, {**fields, "messageId": f"{tag}-{first + n:04d}", "timestamp": T0 + timedelta(seconds=first + n)})
        for n, (method, fields) in enumerate(calls)
    ]


_SNAKE = {"userId": "user_id", "anonymousId": "anonymous_id", "previousId": "previous_id", "groupId": "group_id",
          "messageId": "message_id"}  # fmt: skip


SDK_FLUSH_SECONDS = 240
# A sender: (data plane URL, write key, calls) → the errors the SDK reported.
Sender = Callable[[str, str, list[tuple[str, JSON]]], list[str]]


def send_python(client_class: type[Any]) -> Sender:
    def send(url: str, write_key: str, calls: list[tuple[str, JSON]]) -> list[str]:
        errors: list[str] = []
        client = client_class(write_key=write_key, host=url, on_error=lambda exc, batch: errors.append(repr(exc)))
        for method, fields in calls:
            getattr(client, method)(**{_SNAKE.get(key, key): value for key, value in fields.items()})
        # The SDK's flush waits as long as its retries last: a bound turns a stuck sender into a failure that says so.
        flushing = threading.Thread(target=client.flush, daemon=True)
        flushing.start()
        flushing.join(timeout=SDK_FLUSH_SECONDS)
        if flushing.is_alive():
            return [*errors, f"the SDK was still sending after {SDK_FLUSH_SECONDS} s"]
        client.join()
        return errors

    return send


def send_node(url: str, write_key: str, calls: list[tuple[str, JSON]]) -> list[str]:
    node = shutil.which("node")
    home = os.environ.get("RUDDER_SDK_NODE_HOME", str(ROOT / ".node-sdk"))
    assert node, "node is needed to run RudderStack's Node SDK"
    assert (Path(home) / "node_modules" / "@rudderstack" / "rudder-sdk-node").is_dir(), "run `make sdks` first"
    lines = "".join(
        json.dumps({"method": method, "message": {**fields, "timestamp": fields["timestamp"].isoformat()}}) + "\n"
        for method, fields in calls
    )
    done = subprocess.run(  # noqa: S603
        [node, str(NODE_SENDER), url, write_key],
        input=lines, capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, "RUDDER_SDK_NODE_HOME": home},
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["calls"] == len(calls)
    return list(report["errors"])


def _python_clients() -> dict[str, Sender]:
    from rudderstack.analytics import Client as RudderClient
    from segment.analytics import Client as SegmentClient

    return {"rudder-sdk-python": send_python(RudderClient), "segment-analytics-python": send_python(SegmentClient)}


SENDERS = {**_python_clients(), "rudder-sdk-node": send_node}


def _message_ids(request: tuple[str, dict[str, str], bytes]) -> list[str]:
    _path, headers, body = request
    encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "identity")
    return [event["messageId"] for event in json.loads(gzip.decompress(body) if encoding == "gzip" else body)["batch"]]


def received_events(stack: LocalStack) -> tuple[list[JSON], list[str]]:
    """The events of every request the local API Gateway received, undone as the webhook undoes them, and each
    request's Content-Encoding."""
    events: list[JSON] = []
    encodings: list[str] = []
    for _path, headers, body in stack.api.received:
        encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "identity")
        encodings.append(encoding)
        events += json.loads(gzip.decompress(body) if encoding == "gzip" else body)["batch"]
    return events, encodings


# Each SDK behind each API type (their gzip bodies reach the function base64-encoded by either), and in buffered mode.
SDK_DEPLOYMENTS = [("direct", api) for api in API_TYPES] + [("buffered", "http")]


@pytest.fixture(params=[(sdk, *deployment) for sdk in SENDERS for deployment in SDK_DEPLOYMENTS], ids="-".join)
def sdk_stack(request: pytest.FixtureRequest, start: StartPipeline) -> tuple[str, LocalStack]:
    sdk, mode, api = request.param
    return sdk, start(mode, api, record_requests=True)


def test_sdk_at_its_defaults_delivers_journey_batches_and_bursts_once_each(sdk_stack: tuple[str, LocalStack]) -> None:
    sdk, stack = sdk_stack
    tag = sdk.split("-")[0] + sdk.split("-")[-1]
    calls = (
        stamped(tag, journey(tag), 0) + stamped(tag, many(tag, 150, 10), 10) + stamped(tag, many(tag, 500, 160), 160)
    )
    errors = SENDERS[sdk](stack.api.url, stack.token, calls)
    assert errors == [], f"{sdk} reported failed uploads: {errors[:3]}"

    events, encodings = received_events(stack)
    if sdk != "segment-analytics-python":  # Segment's SDK does not compress by default; RudderStack's do
        assert set(encodings) == {"gzip"}
    assert sorted(event["messageId"] for event in events) == sorted(fields["messageId"] for _, fields in calls)

    assert stack.wait_until_drained(timeout=180), "the retry queue did not drain"
    # What Braze must end with is what the calls wrote, in the order they were made (their messageIds' order), however
    # the SDK's flushes overlapped on the way.
    in_call_order = sorted(events, key=lambda event: event["messageId"])
    summary = stack.ledger(in_call_order, [Sent(events=in_call_order, first_sent=0.0)])
    assert (summary.lost, summary.duplicates, summary.rejected, summary.dead_lettered) == (0, 0, 0, 0), summary.problems
    assert summary.delivered == len(calls) == 660

    # The journey, as RudderStack's Braze destination sends it.
    objects = [(item.kind, item.obj) for item in stack.simulator.stored]
    user, anon = f"user-{tag}", {"alias_name": f"anon-{tag}", "alias_label": "rudder_id"}
    assert ("aliases_identified", {"user_alias": anon, "external_id": user}) in objects
    # Attribute writes of one user may be coalesced into one object: what Braze ends up showing is what counts.
    profile = profiles(obj for kind, obj in objects if kind == "attributes")[user]
    assert profile == {"email": "ada@example.com", "first_name": "Ada", "plan": None, "ab_rudder_group_g-1": True}
    # Custom events carry their time; two delivery batches may store them in either order (docs/decisions.md).
    anonymous = sorted(
        (obj["time"], obj["name"]) for kind, obj in objects if kind == "events" and obj.get("user_alias") == anon
    )
    assert [name for _, name in anonymous] == ["Home", "Product Viewed"]
    purchases = sorted(obj["product_id"] for kind, obj in objects if kind == "purchases")
    assert purchases == ["p-1", "p-2"]
    merges = [obj for kind, obj in objects if kind == "merges"]
    assert merges == [
        {"identifier_to_merge": {"external_id": f"old-{tag}"}, "identifier_to_keep": {"external_id": user}}
    ]


@pytest.mark.parametrize("sdk", list(SENDERS))
def test_sdk_treats_a_4xx_as_final_and_retries_a_5xx_until_it_is_accepted(sdk: str, start: StartPipeline) -> None:
    """A wrong write key (401) is not sent again; an answer 503 (SQS out of reach while Braze throttles, so
    nothing could be delivered or queued) is sent again, with the same messageIds, and then stored once."""
    stack = start("direct", record_requests=True, cuttable=("sqs",))
    refused = SENDERS[sdk](stack.api.url, "wrong-key", stamped("k", journey("k")[:1], 0))
    assert len(refused) == 1, refused  # the SDK reported the batch as failed
    assert len(stack.api.received) == 1  # and did not send it again
    stack.api.received.clear()

    stack.simulator.set_faults({"throttle_rate": 1.0})
    stack.proxies["sqs"].cut()

    def heal_when_sent_again() -> None:  # the first attempt fails (503 or, past the deadline, 502); then heal
        deadline = time.monotonic() + 120
        while len(stack.api.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stack.proxies["sqs"].restore()
        stack.simulator.set_faults({"throttle_rate": 0.0})

    healed = threading.Thread(target=heal_when_sent_again, daemon=True)
    healed.start()
    calls = stamped("r", journey("r")[:3], 0)
    assert SENDERS[sdk](stack.api.url, stack.token, calls) == []  # retried until accepted
    healed.join()
    assert len(stack.api.received) >= 2  # the 5xx and at least one retry of the same body
    first, again = (_message_ids(request) for request in stack.api.received[:2])
    assert first == again and first  # the same batch, sent again (the Node SDK sends its first call alone)
    assert stack.wait_until_drained(timeout=60)
    events, _ = received_events(stack)
    summary = stack.ledger(events, [Sent(events=events, first_sent=0.0)])
    assert (summary.delivered, summary.duplicates, summary.lost) == (3, 0, 0), summary.problems


@pytest.mark.parametrize("sdk", list(SENDERS))
def test_sdk_and_the_stages_throttling(sdk: str, start: StartPipeline) -> None:
    """The API stage throttled to one request per 5 s (burst 1): every SDK sends a 429'd batch again. The Python
    SDKs keep at it (with backoff) until it is accepted; RudderStack's Node SDK tries 3 more times within about a
    second and then fails the batch's calls (the README's advice: a burst limit above what the senders burst)."""
    throttled = {"ApiRateLimit": "0.2", "ApiBurstLimit": "1"}
    stack = start("direct", record_requests=True, parameters=throttled)
    calls = stamped("t", many("t", 150, 0), 0)  # more than one SDK batch, sent back to back
    errors = SENDERS[sdk](stack.api.url, stack.token, calls)
    events, _ = received_events(stack)
    summary = stack.ledger(events, [Sent(events=events, first_sent=0.0)])
    assert (summary.duplicates, summary.lost) == (0, 0), summary.problems
    if sdk == "rudder-sdk-node":
        assert stack.api.throttled >= 4  # a batch tried 4 times before its calls failed
        assert errors and set(errors) == {"Too Many Requests"}
        assert summary.delivered + len(errors) == 150  # what it gave up on is reported, the rest stored once
    else:
        assert stack.api.throttled >= 1 and errors == []
        assert summary.delivered == 150
