"""Attributes end as the newest event set them: what a newer write took out of an older event, what a delivery
records as written."""

from __future__ import annotations

from typing import Any

from rudder_braze.delivery import PendingEvent
from rudder_braze.mapping import SUBSCRIPTION, TRACK, BrazeRequest
from rudder_braze.ordering import MAX_WRITTEN, drop_overwritten, merged, writes


def track(key: str, at: float, *objects: dict[str, Any], events: list[dict[str, Any]] | None = None) -> PendingEvent:
    body: dict[str, Any] = {"partner": "RudderStack", "attributes": list(objects)}
    if events:
        body["events"] = events
    return PendingEvent(key, "u:a", [BrazeRequest(TRACK, body)], first_seen=at)


def test_an_attribute_a_newer_event_wrote_is_taken_out_and_the_others_stay() -> None:
    old = track("m1", 1.0, {"external_id": "a", "plan": "old", "city": "Oslo", "tags": {"$add": ["x"]}})
    assert drop_overwritten([old], {"u:a": {"plan": (2.0, 0), "city": (0.5, 0)}}) == 1
    assert old.requests[0].body["attributes"] == [{"external_id": "a", "city": "Oslo", "tags": {"$add": ["x"]}}]


def test_an_object_left_with_identifiers_only_goes_and_so_does_an_empty_request() -> None:
    old = track("m1", 1.0, {"external_id": "a", "plan": "old"})
    subscribe = BrazeRequest(SUBSCRIPTION, {"subscription_group_id": "g", "subscription_state": "subscribed"})
    old.requests.append(subscribe)
    drop_overwritten([old], {"u:a": {"plan": (1.0, 1)}})  # same time, later in its body
    assert old.requests == [subscribe]


def test_the_event_that_wrote_a_value_and_other_users_events_keep_it() -> None:
    same = track("m1", 1.0, {"external_id": "a", "plan": "new"})
    other = PendingEvent("m2", "u:b", [BrazeRequest(TRACK, {"attributes": [{"external_id": "b", "plan": "x"}]})], 0.0)
    assert drop_overwritten([same, other], {"u:a": {"plan": (1.0, 0)}}) == 0
    assert same.requests[0].body["attributes"][0]["plan"] == "new" and other.requests[0].body["attributes"]


def test_custom_events_go_through_whatever_was_written() -> None:
    old = track("m1", 1.0, {"external_id": "a", "plan": "old"}, events=[{"external_id": "a", "name": "x"}])
    drop_overwritten([old], {"u:a": {"plan": (9.0, 0)}})
    assert old.requests[0].body == {"partner": "RudderStack", "events": [{"external_id": "a", "name": "x"}]}


def test_writes_name_only_the_values_braze_took_at_their_newest_position() -> None:
    first = track("m1", 1.0, {"external_id": "a", "plan": "one", "city": "Oslo"})
    second = track("m2", 2.0, {"external_id": "a", "plan": "two"})
    refused = track("m3", 3.0, {"external_id": "a", "country": "NO"})
    left = PendingEvent("m3", "u:a", [BrazeRequest(TRACK, {"attributes": refused.requests[0].body["attributes"]})], 3.0)
    assert writes([second, first, refused], [left]) == {"u:a": {"plan": (2.0, 0), "city": (1.0, 0)}}


def test_merged_keeps_the_newest_position_and_at_most_the_limit() -> None:
    assert merged({"plan": (5.0, 0), "city": (1.0, 0)}, {"plan": (2.0, 0), "city": (3.0, 0)}) == {
        "plan": (5.0, 0),
        "city": (3.0, 0),
    }
    many = merged(None, {f"k{i}": (float(i), 0) for i in range(MAX_WRITTEN + 5)})
    assert len(many) == MAX_WRITTEN and "k0" not in many and f"k{MAX_WRITTEN + 4}" in many
