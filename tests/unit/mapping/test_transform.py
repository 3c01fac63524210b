"""One test per mapping rule of RudderStack's Braze destination, and per deliberate difference (docs/deviations.md)."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.config import load_settings
from rudder_braze.errors import EventError
from rudder_braze.mapping.transform import transform_event

DEFAULT = load_settings({})
TS = "2024-06-01T12:00:00.000Z"


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": "m-1", "timestamp": TS, **fields}


def track_body(message: dict[str, Any], settings: Any = DEFAULT) -> dict[str, Any]:
    requests = transform_event(message, settings)
    assert [r.path for r in requests] == ["/users/track"]
    return requests[0].body


def attributes_of(traits: dict[str, Any], settings: Any = DEFAULT) -> dict[str, Any]:
    body = track_body(event("identify", userId="u1", traits=traits), settings)
    attributes: dict[str, Any] = body["attributes"][0]
    return attributes


def rejection(message: dict[str, Any], settings: Any = DEFAULT) -> EventError:
    with pytest.raises(EventError) as caught:
        transform_event(message, settings)
    return caught.value


# --- identify: the standard trait table ---------------------------------------------------------------------


def test_standard_traits_map_to_braze_fields_and_email_is_lower_cased() -> None:
    attributes = attributes_of(
        {
            "email": "Ann@Example.COM",
            "firstName": "Ann",
            "lastName": "Lee",
            "phone": "+1555",
            "birthday": "01/01/1971",
            "avatar": "https://img/a.png",
            "address": {"city": "Paris", "country": "FR", "street": "1 rue"},
        }
    )
    assert attributes == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "+1555",
        "dob": "01/01/1971",
        "image_url": "https://img/a.png",
        "home_city": "Paris",
        "country": "FR",
        "external_id": "u1",
    }


@pytest.mark.parametrize(
    ("gender", "braze"),
    [("Woman", "F"), ("female", "F"), ("f", "F"), ("MALE", "M"), ("m", "M"), ("other", "O"), ("robot", None)],
)
def test_gender_maps_case_insensitively_and_unknown_values_unset_it(gender: str, braze: str | None) -> None:
    assert attributes_of({"gender": gender})["gender"] == braze


def test_nulls_unset_email_phone_gender_but_are_dropped_for_other_standard_traits() -> None:
    attributes = attributes_of({"email": None, "phone": None, "gender": None, "firstName": None, "birthday": None})
    assert attributes == {"email": None, "phone": None, "gender": None, "external_id": "u1"}


def test_falsy_standard_traits_are_left_out_but_falsy_custom_traits_are_kept() -> None:
    attributes = attributes_of({"firstName": "", "phone": 0, "orderTotal": 0, "closed_at": None, "vip": False})
    assert attributes == {"orderTotal": 0, "closed_at": None, "vip": False, "external_id": "u1"}


def test_custom_traits_are_copied_verbatim_and_override_standard_names() -> None:
    attributes = attributes_of({"firstName": "Ann", "first_name": "Anna", "city": "Lyon", "firstname": "x"})
    assert attributes["first_name"] == "Anna"
    assert attributes["city"] == "Lyon"  # a top-level city is a custom attribute, not home_city
    assert attributes["firstname"] == "x"
    assert "home_city" not in attributes


def test_non_string_email_is_rejected_with_rudderstacks_text() -> None:
    error = rejection(event("identify", userId="u1", traits={"email": 42}))
    assert (error.reason, error.path) == ("Invalid email, email must be a valid string", "$.traits.email")


def test_identify_without_attributes_is_rejected_and_sends_nothing() -> None:
    error = rejection(event("identify", userId="u1", anonymousId="a1", traits={}))
    assert error.reason == "No attributes found to update the user profile"


def test_top_level_traits_win_over_context_traits() -> None:
    message = event("identify", userId="u1", traits={"plan": "pro"}, context={"traits": {"plan": "free", "x": 1}})
    assert track_body(message)["attributes"][0] == {"plan": "pro", "external_id": "u1"}


# --- identity -------------------------------------------------------------------------------------------------


def test_known_user_is_identified_by_external_id_only() -> None:
    body = track_body(event("track", userId="u1", anonymousId="a1", event="Clicked"))
    assert body["events"][0]["external_id"] == "u1"
    assert "user_alias" not in body["events"][0]


def test_braze_external_id_wins_over_user_id() -> None:
    context = {"externalId": [{"type": "other", "id": "x"}, {"type": "brazeExternalId", "id": "b-7"}]}
    body = track_body(event("track", userId="u1", event="Clicked", context=context))
    assert body["events"][0]["external_id"] == "b-7"


def test_anonymous_user_gets_a_rudder_id_alias_that_may_create_a_profile() -> None:
    body = track_body(event("track", anonymousId="a1", event="Clicked"))
    assert body["events"][0]["user_alias"] == {"alias_name": "a1", "alias_label": "rudder_id"}
    assert body["events"][0]["_update_existing_only"] is False


def test_custom_alias_from_integrations_replaces_the_rudder_id_alias() -> None:
    alias = {"alias_name": "ann@example.com", "alias_label": "email"}
    body = track_body(event("track", anonymousId="a1", event="Clicked", integrations={"Braze": {"alias": alias}}))
    assert body["events"][0]["user_alias"] == alias


def test_identify_with_user_and_anonymous_id_merges_the_alias_first() -> None:
    requests = transform_event(event("identify", userId="u1", anonymousId="a1", traits={"plan": "pro"}), DEFAULT)
    assert [r.path for r in requests] == ["/users/identify", "/users/track"]
    assert requests[0].body == {
        "aliases_to_identify": [{"user_alias": {"alias_name": "a1", "alias_label": "rudder_id"}, "external_id": "u1"}],
        "merge_behavior": "merge",
    }


def test_d5_trait_id_alone_falls_back_to_the_anonymous_alias() -> None:
    body = track_body(event("track", userId="", anonymousId="a1", event="Clicked", context={"traits": {"id": "t9"}}))
    assert body["attributes"][0] == {
        "id": "t9",
        "_update_existing_only": False,
        "user_alias": {"alias_name": "a1", "alias_label": "rudder_id"},
    }


def test_d6_event_without_any_identifier_is_rejected() -> None:
    error = rejection(event("track", event="Clicked"))
    assert "no userId, anonymousId, brazeExternalId or Braze alias" in error.reason


def test_app_id_comes_from_the_braze_integration_options() -> None:
    body = track_body(event("track", userId="u1", event="Clicked", integrations={"Braze": {"appId": 123}}))
    assert body["events"][0]["app_id"] == "123"


def test_app_key_is_sent_as_app_id_only_when_asked() -> None:
    settings = load_settings({"appKey": "app-key-1", "appIdOnEvents": True})
    assert track_body(event("track", userId="u1", event="Clicked"), settings)["events"][0]["app_id"] == "app-key-1"
    assert "app_id" not in track_body(event("track", userId="u1", event="Clicked"))["events"][0]


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


# --- purchases --------------------------------------------------------------------------------------------------

ORDER = {"currency": "EUR", "products": [{"product_id": 987, "price": "12.50", "quantity": "2", "name": "Mug"}]}


def test_order_completed_becomes_one_purchase_per_product_and_no_event() -> None:
    body = track_body(event("track", userId="u1", event="Order Completed", properties=ORDER))
    assert "events" not in body
    assert body["purchases"] == [
        {"product_id": "987", "price": 12.5, "currency": "EUR", "quantity": 2, "time": TS, "external_id": "u1"}
    ]


def test_extra_product_fields_become_purchase_properties_when_enabled() -> None:
    settings = load_settings({"sendPurchaseEventWithExtraProperties": True})
    body = track_body(event("track", userId="u1", event="order completed", properties=ORDER), settings)
    assert body["purchases"][0]["properties"] == {"name": "Mug"}


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({}, "Products array is missing in the message"),
        ({"products": {}}, "Products is not an array"),
        ({"products": [None]}, "Products array is empty"),
        (
            {"currency": "EUR", "products": [None, {"price": 1, "quantity": 1}]},
            "Product Id is missing for product at index: 0",
        ),
        ({"currency": "EUR", "products": [{"sku": "s", "quantity": 1}]}, "Price is missing for product at index: 0"),
        ({"currency": "EUR", "products": [{"sku": "s", "price": 1}]}, "Quantity is missing for product at index: 0"),
        (
            {"products": [{"sku": "s", "price": 1, "quantity": 1}]},
            "Message properties and product at index: 0 is missing currency",
        ),
        (
            {"currency": "EUR", "products": [{"sku": "s", "price": "abc", "quantity": 1}]},
            "Price is not a number for product at index: 0",
        ),
        ({"currency": "EUR", "products": ["mug"]}, "product at index: 0 is not an object"),
    ],
)
def test_invalid_orders_are_rejected_in_rudderstacks_order(properties: dict[str, Any], reason: str) -> None:
    error = rejection(event("track", userId="u1", event="Order Completed", properties=properties))
    assert error.reason == f"Invalid Order Completed event: {reason}"


def test_order_without_timestamp_is_rejected() -> None:
    message = {"type": "track", "userId": "u1", "event": "Order Completed", "properties": ORDER}
    assert rejection(message).reason == "Invalid Order Completed event: Timestamp is missing in the message"


# --- e-commerce recommended events ---------------------------------------------------------------------------

ECOMMERCE = load_settings({"useEcommerceRecommendedEvents": True})


def test_order_completed_becomes_order_placed_with_products_and_metadata() -> None:
    properties = {
        "order_id": "o1",
        "revenue": "99.50",
        "currency": "USD",
        "coupon": "",
        "campaign": "spring",
        "products": [{"sku": "s1", "name": "Mug", "quantity": "2", "price": 9, "color": "blue"}],
    }
    body = track_body(event("track", userId="u1", event=" Order Completed ", properties=properties), ECOMMERCE)
    assert "purchases" not in body
    assert body["events"][0]["name"] == "ecommerce.order_placed"
    assert body["events"][0]["properties"] == {
        "order_id": "o1",
        "total_value": 99.5,
        "currency": "USD",
        "source": "web",
        "products": [
            {
                "product_id": "s1",
                "product_name": "Mug",
                "variant_id": "s1",
                "quantity": 2,
                "price": 9,
                "metadata": {"color": "blue"},
            }
        ],
        "metadata": {"campaign": "spring"},
    }


def test_product_added_wraps_the_single_product_and_reads_the_mobile_source() -> None:
    message = event(
        "track",
        userId="u1",
        event="Product Added",
        properties={"cart_id": "c1", "product_id": 42, "price": 3, "quantity": 1},
        context={"channel": "mobile", "os": {"name": "iOS"}},
    )
    properties = track_body(message, ECOMMERCE)["events"][0]["properties"]
    assert properties == {
        "cart_id": "c1",
        "action": "add",
        "source": "ios",
        "products": [{"product_id": "42", "variant_id": "42", "quantity": 1, "price": 3}],
    }


def test_other_events_keep_the_legacy_path_with_recommended_events_on() -> None:
    body = track_body(event("track", userId="u1", event="Cart Viewed"), ECOMMERCE)
    assert body["events"][0]["name"] == "Cart Viewed"


# --- nested attribute operations -------------------------------------------------------------------------------

NESTED = load_settings({"enableNestedArrayOperations": True})


def test_nested_update_remove_add_become_braze_operations() -> None:
    traits = {
        "pets": {
            "update": [{"identifier": "id", "id": 2, "name": "Rex"}],
            "remove": [{"identifier": "id", "id": 3}],
            "add": [{"id": 4, "name": "Tom"}],
        }
    }
    attributes = attributes_of(traits, NESTED)
    assert attributes["pets"] == {
        "$update": [{"$identifier_key": "id", "$identifier_value": 2, "$new_object": {"name": "Rex"}}],
        "$remove": [{"$identifier_key": "id", "$identifier_value": 3}],
        "$add": [{"id": 4, "name": "Tom"}],
    }
    assert attributes["_merge_objects"] is False


def test_without_update_the_plain_keys_stay_beside_the_operations() -> None:
    assert attributes_of({"tags": {"add": ["a"]}}, NESTED)["tags"] == {"add": ["a"], "$add": ["a"]}


def test_nested_objects_are_sent_verbatim_when_the_option_is_off() -> None:
    assert attributes_of({"tags": {"add": ["a"]}})["tags"] == {"add": ["a"]}


def test_d14_update_item_without_identifier_is_rejected_with_its_path() -> None:
    error = rejection(event("identify", userId="u1", traits={"pets": {"update": [{"id": 1}]}}), NESTED)
    assert error.path == "$.traits.pets.update[0]"


# --- reverse ETL ------------------------------------------------------------------------------------------------


def test_mapped_events_send_traits_as_is_keyed_by_the_first_external_id() -> None:
    context = {
        "mappedToDestination": True,
        "externalId": [{"id": "x-1"}],
        "traits": {"first_name": "A", "email": "B@x"},
    }
    body = track_body(event("identify", context=context))
    assert body["attributes"] == [{"first_name": "A", "email": "B@x", "external_id": "x-1"}]


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
