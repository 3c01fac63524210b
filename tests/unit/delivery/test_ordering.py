"""Attributes end as the newest event set them: what a newer write took out of an older event, what a delivery
records as written."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rudder_braze.braze.requests import SUBSCRIPTION, TRACK, BrazeRequest
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.ordering import MAX_WRITTEN, drop_overwritten, merged, writes
from rudder_braze.rudderstack.events import CLOCK_WINDOW_SECONDS, happened_at
from rudder_braze.usecases.queue_batch import QueueRecord


def track(key: str, at: float, *objects: dict[str, Any], events: list[dict[str, Any]] | None = None) -> PendingEvent:
    body: dict[str, Any] = {"partner": "RudderStack", "attributes": list(objects)}
    if events:
        body["events"] = events
    return PendingEvent(key, "u:a", [BrazeRequest(TRACK, body)], first_seen=at)


def test_an_attribute_a_newer_event_wrote_is_taken_out_and_the_others_stay() -> None:
    old = track("m1", 1.0, {"external_id": "a", "plan": "old", "city": "Oslo", "tags": {"$add": ["x"]}})
    assert drop_overwritten([old], {"u:a": {"plan": (2.0, 2.0, 0), "city": (0.5, 0.5, 0)}}) == 1
    assert old.requests[0].body["attributes"] == [{"external_id": "a", "city": "Oslo", "tags": {"$add": ["x"]}}]


def test_an_object_left_with_identifiers_only_goes_and_so_does_an_empty_request() -> None:
    old = track("m1", 1.0, {"external_id": "a", "plan": "old"})
    subscribe = BrazeRequest(SUBSCRIPTION, {"subscription_group_id": "g", "subscription_state": "subscribed"})
    old.requests.append(subscribe)
    drop_overwritten([old], {"u:a": {"plan": (1.0, 1.0, 1)}})  # same time, later in its body
    assert old.requests == [subscribe]


def test_the_event_that_wrote_a_value_and_other_users_events_keep_it() -> None:
    same = track("m1", 1.0, {"external_id": "a", "plan": "new"})
    other = PendingEvent("m2", "u:b", [BrazeRequest(TRACK, {"attributes": [{"external_id": "b", "plan": "x"}]})], 0.0)
    assert drop_overwritten([same, other], {"u:a": {"plan": (1.0, 1.0, 0)}}) == 0
    assert same.requests[0].body["attributes"][0]["plan"] == "new" and other.requests[0].body["attributes"]


def test_custom_events_go_through_whatever_was_written() -> None:
    old = track("m1", 1.0, {"external_id": "a", "plan": "old"}, events=[{"external_id": "a", "name": "x"}])
    drop_overwritten([old], {"u:a": {"plan": (9.0, 9.0, 0)}})
    assert old.requests[0].body == {"partner": "RudderStack", "events": [{"external_id": "a", "name": "x"}]}


def test_writes_name_only_the_values_braze_took_at_their_newest_position() -> None:
    first = track("m1", 1.0, {"external_id": "a", "plan": "one", "city": "Oslo"})
    second = track("m2", 2.0, {"external_id": "a", "plan": "two"})
    refused = track("m3", 3.0, {"external_id": "a", "country": "NO"})
    left = PendingEvent("m3", "u:a", [BrazeRequest(TRACK, {"attributes": refused.requests[0].body["attributes"]})], 3.0)
    assert writes([second, first, refused], [left]) == {"u:a": {"plan": (2.0, 2.0, 0), "city": (1.0, 1.0, 0)}}


def test_merged_keeps_the_newest_position_and_at_most_the_limit() -> None:
    assert merged({"plan": (5.0, 5.0, 0), "city": (1.0, 1.0, 0)}, {"plan": (2.0, 2.0, 0), "city": (3.0, 3.0, 0)}) == {
        "plan": (5.0, 5.0, 0),
        "city": (3.0, 3.0, 0),
    }
    many = merged(None, {f"k{i}": (float(i), float(i), 0) for i in range(MAX_WRITTEN + 5)})
    assert len(many) == MAX_WRITTEN and "k0" not in many and f"k{MAX_WRITTEN + 4}" in many


def at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_an_sdks_overlapping_flushes_get_their_calls_order_back() -> None:
    """The Node SDK sends two batches at once; the later one reaches the bridge first."""
    earlier_call = {"originalTimestamp": at(100.010), "receivedAt": at(100.300)}
    later_call = {"originalTimestamp": at(100.020), "receivedAt": at(100.299)}
    assert happened_at(earlier_call, 0.0) < happened_at(later_call, 0.0)


def test_a_wrong_clock_moves_an_event_at_most_the_window() -> None:
    arrived = 1_000.0
    assert happened_at({"originalTimestamp": at(arrived + 3600)}, arrived) == arrived  # ahead: its arrival
    assert happened_at({"timestamp": at(arrived - 86400)}, arrived) == arrived - CLOCK_WINDOW_SECONDS
    assert happened_at({"originalTimestamp": "not a time"}, arrived) == arrived


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=2, max_size=20))
def test_a_sender_whose_events_arrive_in_order_keeps_its_order(steps: list[tuple[float, float]]) -> None:
    """Clock and arrival both move forward (by any amounts, clock skew included): so do the positions."""
    clock, arrival, positions = 5_000.0, 10_000.0, []
    for clock_step, arrival_step in steps:
        clock, arrival = clock + clock_step, arrival + arrival_step
        positions.append(happened_at({"originalTimestamp": at(clock), "receivedAt": at(arrival)}, 0.0))
    assert positions == sorted(positions)


def test_a_delivery_batch_is_ordered_by_when_its_events_happened() -> None:
    from rudder_braze.usecases.queue_batch import read_records

    old = PendingEvent("m1", "u:a", [], first_seen=2.0, happened_at=1.1)  # accepted second
    new = PendingEvent("m2", "u:a", [], first_seen=1.0, happened_at=1.2)
    records = [QueueRecord(f"sqs-{e.key}", "r", e.to_message()) for e in (new, old)]
    assert list(read_records(records, queue=None, counts=Counter(), now=0.0)[0]) == ["m1", "m2"]  # type: ignore[arg-type]
