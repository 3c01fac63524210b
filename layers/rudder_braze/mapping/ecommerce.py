"""RudderStack e-commerce events → Braze eCommerce recommended events (``useEcommerceRecommendedEvents``).

The field tables are data (``data/ecommerce_events.json``); this module holds the logic around them: source
precedence, safe type coercion, the single-product wrap of cart updates, ``source`` and ``metadata``.
"""

from __future__ import annotations

import math
from typing import Any

from rudder_braze.mapping.data import load_json

JSON = dict[str, Any]
Field = tuple[str, tuple[str, ...], str | None]

_SOURCES = frozenset({"web", "ios", "android"})
_NOT_METADATA = frozenset({"source", "products", "action", "time", "event_name"})


def _fields(rows: list[list[Any]]) -> tuple[Field, ...]:
    return tuple((row[0], tuple(row[1]), row[2] if len(row) > 2 else None) for row in rows)


def _load() -> tuple[dict[str, JSON], tuple[Field, ...]]:
    table = load_json("ecommerce_events.json")
    events: dict[str, JSON] = {}
    for rudder_name, spec in table["events"].items():
        source = table["events"][spec["same_fields_as"]] if "same_fields_as" in spec else spec
        events[rudder_name] = {**spec, "fields": _fields(source["fields"])}
    return events, _fields(table["product_fields"])


_EVENTS, _PRODUCT_FIELDS = _load()
_PRODUCT_SOURCE_KEYS = frozenset(key for _, keys, _ in _PRODUCT_FIELDS for key in keys)


def _is_empty(value: Any) -> bool:
    return value is None or value in ("", {}, [])


def _number_of(text: str) -> Any:
    """A numeric string as a number (an int when written as one); anything else unchanged."""
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _string_of(number: float) -> Any:
    """A finite number as a string (``3.0`` as ``"3"``); infinities and NaN unchanged."""
    if isinstance(number, float) and not math.isfinite(number):
        return number
    return str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)


def _coerce(value: Any, kind: str | None) -> Any:
    """Convert only where it is safe: numeric strings to numbers, finite numbers to strings."""
    if kind == "float" and isinstance(value, str):
        return _number_of(value)
    if kind == "int" and isinstance(value, str):
        stripped = value.strip()
        return int(stripped) if stripped.lstrip("+-").isdigit() else value
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _string_of(value)
    return value


def _map_fields(source: JSON, fields: tuple[Field, ...]) -> tuple[JSON, set[str]]:
    mapped: JSON = {}
    consumed: set[str] = set()
    for target, keys, kind in fields:
        consumed.update(keys)
        for key in keys:
            value = source.get(key)
            if not _is_empty(value):
                mapped[target] = _coerce(value, kind)
                break
    return mapped, consumed


def _product(product: JSON) -> JSON:
    mapped, consumed = _map_fields(product, _PRODUCT_FIELDS)
    metadata = {k: v for k, v in product.items() if k not in consumed}
    if metadata:
        mapped["metadata"] = metadata
    return mapped


def _source(event: JSON, context: JSON, properties: JSON) -> str:
    declared = properties.get("source")
    if declared in _SOURCES:
        return str(declared)
    channel = context.get("channel") or event.get("channel")
    if channel == "mobile":
        os_info = context.get("os")
        os_name = os_info.get("name") if isinstance(os_info, dict) else None
        lowered = os_name.lower() if isinstance(os_name, str) else ""
        if "ios" in lowered:
            return "ios"
        if "android" in lowered:
            return "android"
    return "web"


def _scrub(value: Any) -> Any:
    """Drop nulls, empty strings and empty containers, recursively (numbers and booleans stay)."""
    if isinstance(value, dict):
        cleaned = {k: _scrub(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if not _is_empty(v)}
    if isinstance(value, list):
        cleaned_items = [_scrub(v) for v in value]
        return [v for v in cleaned_items if not _is_empty(v)]
    return value


def recommended_event(name: str, event: JSON, context: JSON, properties: JSON) -> JSON | None:
    """Return the Braze event object (name and properties, no identity or time) or ``None`` if not e-commerce."""
    spec = _EVENTS.get(name)
    if spec is None:
        return None
    mapped, consumed = _map_fields(properties, spec["fields"])
    if "action" in spec:
        mapped["action"] = spec["action"]
    mapped["source"] = _source(event, context, properties)
    products = properties.get("products")
    # A viewed product is described by the event's own fields; other events carry a product list.
    if not spec.get("flat_product"):
        if isinstance(products, list):
            mapped["products"] = [_product(p) for p in products if isinstance(p, dict)]
        elif spec.get("wrap_product"):
            wrapped = {k: v for k, v in properties.items() if k in _PRODUCT_SOURCE_KEYS}
            consumed.update(wrapped)
            mapped["products"] = [_product(wrapped)]
    metadata = {k: v for k, v in properties.items() if k not in consumed and k not in _NOT_METADATA}
    if metadata:
        mapped["metadata"] = metadata
    return {"name": spec["name"], "properties": _scrub(mapped)}
