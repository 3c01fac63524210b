"""Hostile and malformed input at the ingest handler: always a 4xx with a clear JSON error (or a documented
normalisation), never a 5xx, and never a secret in an answer, a log line, a queue message or a metric."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stack import LocalStack
from tests import strategies
from tests.conftest import StartStack
from tests.integration.conftest import api_event, ingest, queued_messages, sample

TRACK = sample("track")


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b'{"type": "track", ', 415, "not valid JSON"),
        (b"<xml/>", 415, "not valid JSON"),
        (b"", 400, "empty"),
        (b"   ", 400, "empty"),
        (b'{"a": "\xc3\x28"}', 415, "UTF-8"),
        (b'{"type": "track", "userId": "u", "event": "E", "properties": {"x": NaN}}', 415, "NaN"),
        (b'{"type": "track", "userId": "u", "event": "E", "properties": {"x": Infinity}}', 415, "Infinity"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        (b'"just a string"', 400, "must be an event object"),
        (b"42", 400, "must be an event object"),
        (b'{"batch": "nope"}', 400, "$.batch must be an array"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(stack: LocalStack, raw: bytes, status: int, says: str) -> None:
    answer_status, body = ingest(stack, api_event(raw=raw))
    assert answer_status == status
    assert says in body["error"]


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({"type": "track", "userId": "u", "event": 42}, "$.event"),
        ({"type": "identify", "userId": ["u"], "traits": {"a": 1}}, "$.userId"),
        ({"type": "identify", "userId": "u", "traits": "text"}, "$.traits"),
        ({"type": "track", "userId": "u", "event": "E", "context": []}, "$.context"),
        ({"type": None}, "$.type"),
        ({"type": "identify", "userId": None, "anonymousId": None, "traits": {"a": None}}, "$"),
        ({"type": "track", "userId": "u", "event": "E", "properties": "text"}, "$.properties"),
    ],
)
def test_fields_of_the_wrong_type_are_rejected_with_their_path(
    stack: LocalStack, event: dict[str, Any], path: str
) -> None:
    status, body = ingest(stack, api_event({**event, "messageId": "bad-1", "timestamp": "2024-01-01T00:00:00Z"}))
    assert status == 400
    (rejected,) = body["rejected"]
    assert rejected["path"] == path and rejected["messageId"] == "bad-1"


def test_huge_numbers_and_duplicate_keys_are_read_as_json_reads_them(stack: LocalStack) -> None:
    # Duplicate keys: the last one wins (the usual JSON reading); a 400-digit integer stays a number.
    raw = (
        b'{"type": "track", "messageId": "h-1", "userId": "u", "userId": "v", "event": "E",'
        b' "timestamp": "2024-01-01T00:00:00Z", "properties": {"big": 1' + b"0" * 400 + b"}}"
    )
    status, body = ingest(stack, api_event(raw=raw))
    assert (status, body["delivered"]) == (200, 1)
    (event,) = [s.obj for s in stack.simulator.stored if s.kind == "events"]
    assert event["external_id"] == "v" and event["properties"]["big"] == 10**400


def test_nulls_everywhere_do_not_break_the_handler(stack: LocalStack) -> None:
    event = dict.fromkeys(("messageId", "userId", "anonymousId", "context", "traits", "properties", "integrations"))
    status, body = ingest(
        stack, api_event([{**event, "type": t} for t in ("identify", "track", "page", "group", "alias")])
    )
    assert status == 400 and len(body["rejected"]) == 5


json_values = strategies.json_values(text_size=20, max_leaves=15, finite=False)
fields = st.sampled_from(["userId", "event", "traits", "properties", "context", "groupId"])
kinds = st.sampled_from(["identify", "track", "page", "screen", "group", "alias", "x"])
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda kind, rest: json.dumps({**rest, "type": kind}).encode(), kinds, st.dictionaries(fields, json_values)
    ),
)
headers = st.dictionaries(
    st.sampled_from(["Content-Type", "Authorization", "X-Forwarded-For", "Accept"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    max_size=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=bodies, extra=headers, authorized=st.booleans())
def test_no_body_or_header_gets_a_5xx(stack: LocalStack, body: bytes, extra: dict[str, str], authorized: bool) -> None:
    chosen = {"Content-Type": "application/json", **extra}
    if authorized:
        chosen["Authorization"] = "Bearer local-dev-token"
    status, answer = ingest(stack, api_event(raw=body, headers=chosen))
    assert status < 500, answer
    assert isinstance(answer, dict)


def test_no_secret_leaks_on_any_path(tmp_path: Path, start_stack: StartStack) -> None:
    secrets = ("recognisable-braze-key-4242", "recognisable-token-4242")
    # Logs at INFO and metrics on, written where Lambda would send them (CloudWatch Logs): files here.
    stack = start_stack(
        token=secrets[1], braze_key=secrets[0], poll=False, env_overrides={"RETRY_BASE_DELAY_SECONDS": "0"},
        log_dir=tmp_path,
    )  # fmt: skip
    # Every log record, whole (message and every extra field), wherever its handlers write in this process.
    records = _RecordCapture()
    loggers = [logging.getLogger(name) for name in ("rudder_braze", "rudder-braze-ingest", "rudder-braze-retry")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        everything = _every_path(stack, secrets[1])
    finally:
        for logger in loggers:
            logger.removeHandler(records)
        stack.stop()  # the logs are read whole: after the functions have flushed them
    everything += "".join(path.read_text() for path in tmp_path.glob("*.log")) + "\n".join(records.lines)
    assert '"EventsReceived"' in everything and "Braze refused an event for good" in everything  # all was read
    for secret in secrets:
        assert secret not in everything


class _RecordCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.dumps(record.__dict__, default=str))


def _every_path(stack: LocalStack, token: str) -> str:
    bearer = {"Authorization": f"Bearer {token}"}
    answers = []
    answers.append(ingest(stack, api_event(sample("track"), headers=bearer)))  # delivered
    answers.append(ingest(stack, api_event(sample("invalid-track"), headers=bearer)))  # rejected
    answers.append(ingest(stack, api_event(sample("page"), headers={"Authorization": f"Bearer {token}X"})))  # 401
    stack.simulator.set_faults({"throttle_rate": 1.0})
    answers.append(ingest(stack, api_event(sample("identify"), headers=bearer)))  # queued
    messages = queued_messages(stack)
    stack.event_source.poll_once(wait_seconds=0)  # retried, throttled again
    stack.simulator.set_faults({"throttle_rate": 0.0, "reject_permanently": ["Signed Up"]})
    answers.append(ingest(stack, api_event(sample("batch"), headers=bearer)))  # dead-lettered
    dead = stack.dead_letters()
    assert [status for status, _ in answers] == [200, 400, 401, 202, 200] and messages and dead
    return json.dumps([answers, messages, dead])


# Values JSON can spell but nothing downstream can write: lone surrogate escapes, numbers past a float's range.
hostile_values = st.sampled_from(['"a\\ud800b"', '"\\udfff"', "1e999", "-1e400", '"ok"', "12", '{"\\ud83d": 1}'])
valid_event = {"type": "track", "userId": "u-1", "event": "E", "timestamp": "2026-12-04T10:00:00Z"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(values=st.lists(hostile_values, min_size=1, max_size=4), depth=st.integers(0, 30))
def test_unwritable_values_are_their_events_400_and_braze_only_ever_gets_json(
    stack: LocalStack, values: list[str], depth: int
) -> None:
    stack.simulator.reset()
    nested = ",".join(f'"p{i}": ' + "[" * depth + value + "]" * depth for i, value in enumerate(values))
    hostile = '{"type": "track", "userId": "u-2", "event": "H", "messageId": "h-%d", "properties": {%s}}'
    body = f"[{json.dumps({**valid_event, 'messageId': f'ok-{depth}'})}, {hostile % (depth, nested)}]"
    status, answer = ingest(stack, api_event(raw=body.encode()))
    assert status < 500, answer
    assert answer["delivered"] + answer["duplicates"] >= 1  # the neighbour is delivered, whatever its neighbour holds
    writable = all(v in ('"ok"', "12") for v in values)
    assert (status == 200) is writable
    if not writable:
        (refused,) = answer["rejected"]
        assert refused["index"] == 1 and refused["path"].startswith("$.properties")
    for request in stack.simulator.requests:  # every request Braze received was strict JSON
        assert request["status"] != 400 and isinstance(request["body"], dict)
