"""The delivery policy, driven by a scripted Braze (a function standing in for the HTTP client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.config import TrackBatchRule
from rudder_braze.delivery.message import PendingEvent, QueueFormatError
from rudder_braze.delivery.sending import RetryPolicy, deliver
from rudder_braze.rudderstack.identity import user_of

OK = BrazeResponse(201, {"message": "success"})


def track(user: str, value: Any, key: str) -> PendingEvent:
    body = {"partner": "RudderStack", "attributes": [{"email": value, "external_id": user}]}
    return PendingEvent(key, f"u:{user}", [BrazeRequest("/users/track", body)], first_seen=0.0)


class ScriptedBraze:
    def __init__(self, answer: Callable[[BrazeRequest], BrazeResponse]) -> None:
        self.answer = answer
        self.received: list[BrazeRequest] = []

    def __call__(self, request: BrazeRequest) -> BrazeResponse:
        self.received.append(request)
        return self.answer(request)


def test_everything_accepted_is_delivered_in_one_request() -> None:
    braze = ScriptedBraze(lambda r: OK)
    report = deliver([track("a", 1, "m1"), track("b", 2, "m2")], braze, TrackBatchRule.TOTAL_50)
    assert report.delivered == ["m1", "m2"] and not report.retry and not report.dead
    assert len(braze.received) == 1


def test_throttled_events_are_retried_with_only_what_was_not_accepted() -> None:
    identify = BrazeRequest(
        "/users/identify", {"aliases_to_identify": [{"external_id": "a"}], "merge_behavior": "merge"}
    )
    event = PendingEvent("m1", "u:a", [identify, track("a", 1, "m1").requests[0]], first_seen=0.0)
    braze = ScriptedBraze(
        lambda r: OK if r.path == "/users/identify" else BrazeResponse(429, "", {"X-RateLimit-Reset": "0"})
    )
    report = deliver([event], braze, TrackBatchRule.TOTAL_50)
    (pending,) = report.retry
    assert [r.path for r in pending.requests] == ["/users/track"]
    assert pending.attempts == 1 and "429" in (pending.last_error or "")


def test_a_packed_request_refused_for_one_event_dead_letters_only_that_event() -> None:
    def braze_answer(request: BrazeRequest) -> BrazeResponse:
        values = [a["email"] for a in request.body.get("attributes", ())]
        return BrazeResponse(400, {"message": "bad email"}) if "bad" in values else OK

    braze = ScriptedBraze(braze_answer)
    events = [track("a", "a@x", "m1"), track("b", "bad", "m2"), track("c", "c@x", "m3"), custom_event("b", 4)]
    report = deliver(events, braze, TrackBatchRule.TOTAL_50)
    assert [e.key for e in report.dead] == ["m2"] and "bad email" in (report.dead[0].last_error or "")
    assert sorted(report.delivered) == ["m1", "m3", "m4"] and not report.retry
    # One packed try, then one request per event of the users in the refused request, in their order.
    assert [sorted(k for k in r.body if k != "partner") for r in braze.received] == [
        ["attributes", "events"],
        ["attributes"],
        ["attributes"],
        ["attributes"],
        ["events"],
    ]


def custom_event(user: str, n: int) -> PendingEvent:
    body = {"partner": "RudderStack", "events": [{"name": f"e{n}", "external_id": user}]}
    return PendingEvent(f"m{n}", f"u:{user}", [BrazeRequest("/users/track", body)], first_seen=0.0)


def test_a_users_later_update_is_held_behind_a_failed_one() -> None:
    # 60 events of one user do not fit one request (50 objects): the first 50 fail, the last 10 must wait.
    events = [custom_event("b", n) for n in range(60)] + [custom_event("c", 99)]
    answers = iter([BrazeResponse(503, "")])
    braze = ScriptedBraze(lambda r: next(answers, OK))
    report = deliver(events, braze, TrackBatchRule.TOTAL_50)
    sent_after_failure = [e["name"] for r in braze.received[1:] for e in r.body["events"]]
    assert sent_after_failure == ["e99"]
    retried = {p.key: p for p in report.retry}
    assert set(retried) == {f"m{n}" for n in range(60)}
    assert (retried["m55"].last_error or "").startswith("held behind an earlier update of the same user")
    assert retried["m55"].attempts == 0 and retried["m5"].attempts == 1  # waiting is not an attempt
    assert report.delivered == ["m99"]


def test_coalesced_attributes_count_as_sent_for_every_event_folded_in() -> None:
    braze = ScriptedBraze(lambda r: OK)
    report = deliver([track("a", "old@x", "m1"), track("a", "new@x", "m2")], braze, TrackBatchRule.TOTAL_50)
    (request,) = braze.received
    assert request.body["attributes"] == [{"email": "new@x", "external_id": "a"}]
    assert report.delivered == ["m1", "m2"]


def test_track_is_sent_before_a_merge_and_a_failed_merge_holds_nothing_sent_before_it() -> None:
    answers = iter([OK, BrazeResponse(503, "")])
    braze = ScriptedBraze(lambda r: next(answers, OK))
    merge = PendingEvent("m1", "u:a", [BrazeRequest("/users/merge", {"merge_updates": [{"x": 1}]})], first_seen=0.0)
    report = deliver([merge, track("a", "new@x", "m2")], braze, TrackBatchRule.TOTAL_50)
    assert [r.path for r in braze.received] == ["/users/track", "/users/merge"]
    assert [p.key for p in report.retry] == ["m1"] and report.delivered == ["m2"]


def test_permanent_refusal_dead_letters_with_the_reason() -> None:
    braze = ScriptedBraze(lambda r: BrazeResponse(400, {"message": "Max Input Length Exceeded"}))
    report = deliver([track("a", 1, "m1")], braze, TrackBatchRule.TOTAL_50)
    (dead,) = report.dead
    assert "Max Input Length Exceeded" in (dead.last_error or "")


def test_partial_errors_are_traced_to_their_event_and_not_retried() -> None:
    body = {"message": "success", "errors": [{"type": "bad email", "input_array": "attributes", "index": 1}]}
    braze = ScriptedBraze(lambda r: BrazeResponse(201, body))
    report = deliver([track("a", 1, "m1"), track("b", 2, "m2")], braze, TrackBatchRule.TOTAL_50)
    assert report.delivered == ["m1", "m2"]
    assert report.item_errors == {"m2": ["attributes[1]: bad email"]}


def test_out_of_time_leaves_the_rest_for_the_retry_queue() -> None:
    braze = ScriptedBraze(lambda r: OK)
    report = deliver([track("a", 1, "m1")], braze, TrackBatchRule.TOTAL_50, should_stop=lambda: True)
    assert not braze.received and [p.key for p in report.retry] == ["m1"]


def test_queue_message_round_trip_and_version_check() -> None:
    event = track("a", 1, "m1")
    again = PendingEvent.from_message(event.to_message())
    assert (again.key, again.user, again.requests[0].body) == (event.key, event.user, event.requests[0].body)
    with pytest.raises(QueueFormatError):
        PendingEvent.from_message('{"v": 99}')


def test_backoff_grows_with_full_jitter_and_respects_the_rate_limit_reset() -> None:
    policy = RetryPolicy(base_delay_seconds=5, max_delay_seconds=900)
    assert policy.delay(1, rand=lambda: 1.0) == 5
    assert policy.delay(4, rand=lambda: 1.0) == 40
    assert policy.delay(20, rand=lambda: 1.0) == 900
    assert policy.delay(3, rand=lambda: 0.0) == 0
    assert policy.delay(1, retry_after=30, rand=lambda: 0.0) == 30


def test_give_up_after_max_attempts_or_age() -> None:
    policy = RetryPolicy(max_attempts=3, max_age_seconds=100)
    event = track("a", 1, "m1")
    assert policy.give_up_reason(event, now=50) is None
    event.attempts = 3
    assert "3 attempts" in (policy.give_up_reason(event, now=50) or "")
    event.attempts = 0
    assert "gave up after 101 s" in (policy.give_up_reason(event, now=101) or "")


def test_user_ordering_key() -> None:
    assert user_of({"userId": "u1", "anonymousId": "a1"}, "m") == "u:u1"
    assert user_of({"anonymousId": "a1"}, "m") == "a:a1"
    assert user_of({}, "m9") == "m:m9"


def test_an_event_on_its_last_receive_is_given_up_by_the_bridge_with_a_reason() -> None:
    policy = RetryPolicy(max_attempts=10, max_receives=1000)
    event = PendingEvent("m-1", "u:1", [], first_seen=0.0, attempts=2, last_error="Braze answered 503")
    assert policy.last_receive_reason(999, event) is None
    reason = policy.last_receive_reason(1000, event) or ""
    assert "1000 receives" in reason and "2 attempts" in reason and "503" in reason
    assert RetryPolicy().last_receive_reason(10**6, event) is None  # no queue limit known: attempts and age decide
