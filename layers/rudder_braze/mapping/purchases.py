"""``Order Completed`` → Braze purchases, one per product, validated in RudderStack's order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rudder_braze.config import BrazeSettings
from rudder_braze.errors import EventError
from rudder_braze.mapping.attributes import check_braze_field
from rudder_braze.mapping.jsvalues import js_string, parse_float, parse_int, truthy

JSON = dict[str, Any]

PURCHASE_FIELDS = frozenset({"product_id", "sku", "price", "quantity", "currency"})


def _order_error(reason: str, path: str) -> EventError:
    return EventError(f"Invalid Order Completed event: {reason}", path)


def _products(properties: JSON) -> list[Any]:
    if "products" not in properties:
        raise _order_error("Products array is missing in the message", "$.properties.products")
    products = properties["products"]
    if not isinstance(products, list):
        raise _order_error("Products is not an array", "$.properties.products")
    products = [product for product in products if product is not None]
    if not products:
        raise _order_error("Products array is empty", "$.properties.products")
    return products


def _number(product: JSON, key: str, parse: Callable[[Any], Any], index: int) -> Any:
    """The product's price or quantity, parsed; missing or not a number is the event's error."""
    where, name = f"$.properties.products[{index}].{key}", key.capitalize()
    if product.get(key) is None:
        raise _order_error(f"{name} is missing for product at index: {index}", where)
    value = parse(product[key])
    if value is None:
        raise _order_error(f"{name} is not a number for product at index: {index}", where)
    return value


def _purchase(product: Any, index: int, order_currency: Any, time: Any, settings: BrazeSettings) -> JSON:
    where = f"$.properties.products[{index}]"
    if not isinstance(product, dict):
        raise _order_error(f"product at index: {index} is not an object", where)
    product_id = product.get("product_id") or product.get("sku")
    if product_id is None:
        raise _order_error(f"Product Id is missing for product at index: {index}", where)
    price = _number(product, "price", parse_float, index)
    quantity = _number(product, "quantity", parse_int, index)
    currency = order_currency if truthy(order_currency) else product.get("currency")
    if not truthy(currency):
        raise _order_error(f"Message properties and product at index: {index} is missing currency", where)
    purchase: JSON = {"product_id": js_string(product_id), "price": price, "currency": js_string(currency),
                      "quantity": quantity, "time": time}  # fmt: skip
    if settings.purchase_extra_properties:
        extra = {k: v for k, v in product.items() if k not in PURCHASE_FIELDS}
        for key, value in extra.items():
            check_braze_field(key, value, where)
        if extra:
            purchase["properties"] = extra
    if settings.app_id_on_events and settings.app_key:
        purchase["app_id"] = settings.app_key
    return purchase


def purchases_of(event: JSON, properties: JSON, settings: BrazeSettings) -> list[JSON]:
    """``Order Completed`` → one Braze purchase per product, validated in RudderStack's order."""
    products = _products(properties)
    time = event.get("timestamp") or event.get("originalTimestamp")
    if not truthy(time):
        raise _order_error("Timestamp is missing in the message", "$.timestamp")
    order_currency = properties.get("currency")
    return [_purchase(product, index, order_currency, time, settings) for index, product in enumerate(products)]
