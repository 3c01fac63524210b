from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.config import TrackBatchRule
from rudder_braze.delivery.packing import pack


def attributes(user: str, n: int = 0) -> BrazeRequest:
    return BrazeRequest("/users/track", {"attributes": [{"n": n, "external_id": user}]})


def custom_event(user: str, n: int = 0) -> BrazeRequest:
    return BrazeRequest("/users/track", {"partner": "RudderStack", "events": [{"name": f"e{n}", "external_id": user}]})


def track_sizes(packed: list[BrazeRequest]) -> list[int]:
    return [sum(len(v) for k, v in r.body.items() if k != "partner") for r in packed if r.path == "/users/track"]


def test_per_array_rule_allows_75_of_each_array_and_75_users() -> None:
    events = [(f"m{i}", [attributes(f"u{i:03}"), custom_event(f"u{i:03}")]) for i in range(100)]
    packed = pack(events, TrackBatchRule.PER_ARRAY_75)
    assert track_sizes(packed) == [150, 50]
    first = packed[0].body
    assert len(first["attributes"]) == len(first["events"]) == 75


@pytest.mark.parametrize(
    ("rule", "sizes"), [(TrackBatchRule.TOTAL_75, [75, 75, 50]), (TrackBatchRule.TOTAL_50, [50] * 4)]
)
def test_total_rules_cap_objects_across_arrays(rule: TrackBatchRule, sizes: list[int]) -> None:
    events = [(f"m{i}", [attributes(f"u{i:03}"), custom_event(f"u{i:03}")]) for i in range(100)]
    assert track_sizes(pack(events, rule)) == sizes


def test_each_users_objects_keep_their_order_across_requests() -> None:
    events = [(f"m{i}", [attributes(f"u{i % 7}", i)]) for i in range(200)]
    packed = pack(events, TrackBatchRule.TOTAL_50)
    seen: dict[str, list[int]] = {}
    for request in packed:
        for obj in request.body["attributes"]:
            seen.setdefault(obj["external_id"], []).append(obj["n"])
    assert all(values == sorted(values) for values in seen.values())
    assert sum(len(v) for v in seen.values()) == 200


def test_each_item_is_traced_to_its_event() -> None:
    packed = pack([("m1", [attributes("a"), custom_event("a")]), ("m2", [custom_event("b")])], TrackBatchRule.TOTAL_50)
    (request,) = packed
    assert request.message_ids == ["m1", "m2"]
    assert request.item_owners == {"attributes": [("m1",)], "events": [("m1",), ("m2",)]}


def test_requests_stay_under_the_byte_limit() -> None:
    big = "x" * 1000
    events = [
        (f"m{i}", [BrazeRequest("/users/track", {"attributes": [{"v": big, "external_id": f"u{i}"}]})])
        for i in range(20)
    ]
    packed = pack(events, TrackBatchRule.TOTAL_50, max_bytes=5000)
    assert len(packed) > 1
    assert all(len(str(r.body)) < 6000 for r in packed)


def subscription(group: str, state: str, **ids: Any) -> BrazeRequest:
    entry = {"subscription_group_id": group, "subscription_state": state, **ids}
    return BrazeRequest("/v2/subscription/status/set", {"subscription_groups": [entry]})


def test_subscription_updates_are_combined_per_group_and_state_25_per_request() -> None:
    events = [
        ("m1", [subscription("g", "subscribed", external_ids=["u1"], phones=["+1"])]),
        ("m2", [subscription("g", "subscribed", external_ids=["u2"], phones=["+1"])]),
        ("m3", [subscription("g", "unsubscribed", emails=["a@b"])]),
    ]
    (request,) = pack(events, TrackBatchRule.TOTAL_50)
    assert request.body["subscription_groups"] == [
        {
            "subscription_group_id": "g",
            "subscription_state": "subscribed",
            "phones": ["+1"],
            "external_ids": ["u1", "u2"],
        },
        {"subscription_group_id": "g", "subscription_state": "unsubscribed", "emails": ["a@b"]},
    ]
    many = [(f"m{i}", [subscription(f"g{i}", "subscribed", emails=[f"{i}@x"])]) for i in range(60)]
    assert [len(r.body["subscription_groups"]) for r in pack(many, TrackBatchRule.TOTAL_50)] == [25, 25, 10]


def test_merges_and_identifies_go_fifty_per_request_identifies_first() -> None:
    merge = BrazeRequest("/users/merge", {"merge_updates": [{"identifier_to_merge": {}, "identifier_to_keep": {}}]})
    identify = BrazeRequest(
        "/users/identify", {"aliases_to_identify": [{"external_id": "u"}], "merge_behavior": "merge"}
    )
    packed = pack([(f"m{i}", [merge, identify]) for i in range(60)], TrackBatchRule.TOTAL_50)
    assert [(r.path, len(next(iter(r.body.values())))) for r in packed] == [
        ("/users/identify", 50),
        ("/users/identify", 10),
        ("/users/merge", 50),
        ("/users/merge", 10),
    ]


def test_an_events_objects_stay_in_one_request() -> None:
    order = BrazeRequest("/users/track", {"purchases": [{"p": i, "external_id": "u9"} for i in range(10)]})
    events = [(f"m{i}", [attributes(f"u{i}")]) for i in range(45)] + [("order", [order])]
    packed = pack(events, TrackBatchRule.TOTAL_50)
    holding = [r for r in packed if "order" in r.message_ids]
    assert len(holding) == 1 and len(holding[0].body["purchases"]) == 10


def test_an_event_larger_than_a_request_is_cut_into_pieces() -> None:
    order = BrazeRequest("/users/track", {"purchases": [{"p": i, "external_id": "u"} for i in range(120)]})
    assert track_sizes(pack([("order", [order])], TrackBatchRule.TOTAL_50)) == [50, 50, 20]


def test_coalescing_folds_a_users_attributes_later_values_winning() -> None:
    first = BrazeRequest("/users/track", {"attributes": [{"email": "old@x", "plan": "free", "external_id": "u"}]})
    second = BrazeRequest(
        "/users/track",
        {"attributes": [{"email": "new@x", "external_id": "u"}], "events": [{"name": "e", "external_id": "u"}]},
    )
    other = BrazeRequest("/users/track", {"attributes": [{"email": "b@x", "external_id": "b"}]})
    (request,) = pack([("m1", [first]), ("m2", [second]), ("m3", [other])], TrackBatchRule.TOTAL_50, coalesce=True)
    assert request.body["attributes"] == [
        {"email": "b@x", "external_id": "b"},
        {"email": "new@x", "plan": "free", "external_id": "u"},
    ]
    assert request.item_owners["attributes"] == [("m3",), ("m1", "m2")]
    assert request.item_owners["events"] == [("m2",)]
    assert first.body["attributes"][0]["email"] == "old@x"  # the events' own objects are left as they were


@pytest.mark.parametrize(
    "later",
    [
        {"pets": {"$add": [1]}, "external_id": "u"},  # a nested operation
        {"tags": {"add": ["x"]}, "external_id": "u"},  # an array operation
        {"email": "n@x", "user_alias": {"alias_name": "a", "alias_label": "rudder_id"}, "_update_existing_only": False},
        {"email": "n@x", "_merge_objects": True, "external_id": "u"},
    ],
)
def test_objects_that_would_change_brazes_end_state_are_not_folded(later: dict[str, Any]) -> None:
    first = BrazeRequest("/users/track", {"attributes": [{"email": "o@x", "external_id": "u"}]})
    packed = pack(
        [("m1", [first]), ("m2", [BrazeRequest("/users/track", {"attributes": [later]})])],
        TrackBatchRule.TOTAL_50,
        coalesce=True,
    )
    assert sum(len(r.body["attributes"]) for r in packed) == 2


def test_identical_identify_merges_are_sent_once() -> None:
    merge = {"user_alias": {"alias_name": "a1", "alias_label": "rudder_id"}, "external_id": "u"}
    requests = [
        (f"m{i}", [BrazeRequest("/users/identify", {"aliases_to_identify": [merge], "merge_behavior": "merge"})])
        for i in range(3)
    ]
    (request,) = pack(requests, TrackBatchRule.TOTAL_50, coalesce=True)
    assert request.body["aliases_to_identify"] == [merge] and request.message_ids == ["m0", "m1", "m2"]
    assert len(pack(requests, TrackBatchRule.TOTAL_50)[0].body["aliases_to_identify"]) == 3  # RudderStack keeps all
