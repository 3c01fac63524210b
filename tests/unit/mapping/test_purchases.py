"""Order Completed → purchases, and the e-commerce recommended events."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.config import load_settings
from tests.unit.mapping.support import TS, event, rejection, track_body

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
