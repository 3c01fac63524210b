"""One test per mapping rule of RudderStack's Braze destination, and per deliberate difference (docs/deviations.md):
track, page, screen, group, subscriptions, alias, and what Braze would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.config import load_settings
from rudder_braze.mapping.transform import transform_event
from tests.unit.mapping.support import DEFAULT, TS, attributes_of, event, rejection, track_body

# --- track, page, screen ----------------------------------------------------------------------------------------


def test_track_strips_reserved_properties_and_carries_context_traits_as_attributes() -> None:
    body = track_body(
        event(
            "track",
            userId="u1",
            event="Clicked",
            properties={"time": "x", "event_name": "y", "label": "a", "nested": {"k": [1]}},
            context={"traits": {"plan": "pro"}},
        )
    )
    assert body == {
        "partner": "RudderStack",
        "attributes": [{"plan": "pro", "external_id": "u1"}],
        "events": [
            {"name": "Clicked", "time": TS, "properties": {"label": "a", "nested": {"k": [1]}}, "external_id": "u1"}
        ],
    }


def test_track_without_traits_sends_no_attributes() -> None:
    assert "attributes" not in track_body(event("track", userId="u1", event="Clicked", context={"traits": {}}))


@pytest.mark.parametrize(
    ("kind", "fields", "name"),
    [
        ("page", {"name": "Home"}, "Home"),
        ("page", {"properties": {"name": "From props"}}, "From props"),
        ("page", {}, "Page Viewed"),
        ("screen", {}, "Screen Viewed"),
        ("screen", {"name": "Settings"}, "Settings"),
    ],
)
def test_page_and_screen_names(kind: str, fields: dict[str, Any], name: str) -> None:
    assert track_body(event(kind, userId="u1", **fields))["events"][0]["name"] == name


def test_non_object_properties_are_rejected() -> None:
    assert rejection(event("track", userId="u1", event="E", properties=[1])).reason == "Invalid event properties"


def test_d8_event_without_time_is_rejected() -> None:
    message = {"type": "track", "userId": "u1", "event": "E"}
    assert rejection(message).path == "$.timestamp"


# --- group --------------------------------------------------------------------------------------------------------


def test_group_sets_a_group_attribute_on_the_user() -> None:
    body = track_body(event("group", userId="u1", groupId="g1", traits={"name": "Acme"}))
    assert body == {"attributes": [{"ab_rudder_group_g1": True, "external_id": "u1"}], "partner": "RudderStack"}


def test_d7_anonymous_group_attribute_goes_on_the_alias_profile() -> None:
    attributes = track_body(event("group", anonymousId="a1", groupId="g1"))["attributes"][0]
    assert attributes["user_alias"] == {"alias_name": "a1", "alias_label": "rudder_id"}


def test_group_without_group_id_is_rejected() -> None:
    assert rejection(event("group", userId="u1")).reason == "Invalid groupId"


SUBSCRIPTIONS = load_settings({"enableSubscriptionGroupInGroupCall": True})


def test_subscription_group_call_prefers_phone_over_email() -> None:
    message = event(
        "group", userId="u1", groupId="sg", traits={"phone": "+1", "email": "a@b", "subscriptionState": "subscribed"}
    )
    (request,) = transform_event(message, SUBSCRIPTIONS)
    assert request.path == "/v2/subscription/status/set"
    assert request.body == {
        "subscription_groups": [
            {
                "subscription_group_id": "sg",
                "subscription_state": "subscribed",
                "external_ids": ["u1"],
                "phones": ["+1"],
            }
        ]
    }


@pytest.mark.parametrize(
    ("traits", "reason"),
    [
        ({"subscriptionState": "subscribed"}, "Message should have traits with subscriptionState, email or phone"),
        ({"email": "a@b", "subscriptionState": "maybe"}, "you must provide a subscription state in traits"),
    ],
)
def test_subscription_group_call_needs_contact_and_state(traits: dict[str, Any], reason: str) -> None:
    assert rejection(event("group", userId="u1", groupId="sg", traits=traits), SUBSCRIPTIONS).reason.startswith(reason)


# --- alias, unsupported, deletion ----------------------------------------------------------------------------------


def test_alias_merges_the_previous_id_into_the_user_id() -> None:
    (request,) = transform_event(event("alias", userId="new", previousId="old"), DEFAULT)
    assert (request.path, request.body) == (
        "/users/merge",
        {
            "merge_updates": [
                {"identifier_to_merge": {"external_id": "old"}, "identifier_to_keep": {"external_id": "new"}}
            ]
        },
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"previousId": "old"}, "[BRAZE]: userId is required for alias call"),
        ({"userId": "new"}, "[BRAZE]: previousId is required for alias call"),
    ],
)
def test_alias_needs_both_ids(fields: dict[str, Any], reason: str) -> None:
    assert rejection(event("alias", **fields)).reason == reason


def test_d10_unsupported_type_is_named() -> None:
    assert rejection(event("merge")).reason == "Message type merge is not supported"


@pytest.mark.parametrize(
    ("message", "path"),
    [
        (event("identify", userId="u1", traits={"$plan": "pro"}), "$.traits.$plan"),
        (event("identify", userId="u1", traits={"bio": "x" * 256}), "$.traits.bio"),
        (event("track", userId="u1", event="E", properties={"note": "x" * 300}), "$.properties.note"),
        (event("track", userId="u1", event="E", properties={"": 1}), "$.properties."),
        (event("track", userId="u1", event="E", properties={"k" * 300: 1}), "$.properties." + "k" * 40 + "…"),
        (event("identify", userId="u1", traits={"car": {"a.b": 1}}), "$.traits.car.a.b"),
        (event("identify", userId="u1", traits={"car": {"x": {"$y": 1}}}), "$.traits.car.x.$y"),
    ],
)
def test_d20_what_braze_would_refuse_is_rejected_with_its_path(message: dict[str, Any], path: str) -> None:
    error = rejection(message)
    assert error.path == path and "Braze does not accept" in error.reason


def test_d20_values_of_exactly_255_characters_pass() -> None:
    assert attributes_of({"bio": "x" * 255})["bio"] == "x" * 255
