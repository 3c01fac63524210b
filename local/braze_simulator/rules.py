"""What Braze checks in a request, object by object."""

from __future__ import annotations

import json
from typing import Any

JSON = dict[str, Any]
IDENTIFIER_REQUIRED = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
NOTHING_VALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
MAX_STRING = 255
TRACK_ARRAYS = ("attributes", "events", "purchases")
_IDENTITY_KEYS = ("external_id", "user_alias", "braze_id", "_update_existing_only", "_merge_objects")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(raw: bytes) -> Any:
    """The body as JSON, or ``None`` when it is not strictly JSON: not UTF-8, ``NaN``/``Infinity`` (Python's
    extensions), or a string escape that is not Unicode (a lone surrogate)."""
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        return None
    return body


def has_identifier(obj: JSON) -> bool:
    alias = obj.get("user_alias")
    alias_ok = (
        isinstance(alias, dict)
        and isinstance(alias.get("alias_name"), str)
        and isinstance(alias.get("alias_label"), str)
    )
    return alias_ok or any(
        isinstance(obj.get(k), str) and obj.get(k) for k in ("external_id", "braze_id", "email", "phone")
    )


def bad_keys(mapping: JSON) -> str | None:
    for key, value in mapping.items():
        if not key or len(key) > MAX_STRING or key.startswith("$"):
            return f"'{key[:40]}' is not a valid key"
        if isinstance(value, str) and len(value) > MAX_STRING:
            return f"the value of '{key[:40]}' is longer than {MAX_STRING} characters"
    return None


def check_attributes(obj: JSON) -> str | None:
    return bad_keys({k: v for k, v in obj.items() if k not in _IDENTITY_KEYS})


def check_event(obj: JSON) -> str | None:
    if not isinstance(obj.get("name"), str) or not obj["name"]:
        return "'name' is required"
    if not isinstance(obj.get("time"), str) or not obj["time"]:
        return "'time' is required"
    properties = obj.get("properties", {})
    if not isinstance(properties, dict):
        return "'properties' is not valid"
    if "time" in properties or "event_name" in properties:
        return "'time' and 'event_name' are reserved property names"
    return bad_keys(properties)


def _purchase_numbers(obj: JSON) -> str | None:
    price = obj.get("price")
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        return "'price' is not valid"
    quantity = obj.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
        return "'quantity' is not valid"
    return None


def check_purchase(obj: JSON) -> str | None:
    if not isinstance(obj.get("product_id"), str) or not obj["product_id"] or len(obj["product_id"]) > MAX_STRING:
        return "'product_id' is not valid"
    currency = obj.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        return "'currency' is not valid"
    problem = _purchase_numbers(obj)
    if problem is not None:
        return problem
    if not isinstance(obj.get("time"), str):
        return "'time' is required"
    return bad_keys(obj.get("properties") or {})


CHECKS = {"attributes": check_attributes, "events": check_event, "purchases": check_purchase}


def track_problem(arrays: dict[str, Any], track_rule: str, rejected_names: list[str]) -> str | None:
    """Why Braze refuses a /users/track request as a whole, if it does: arrays that are not arrays, too many
    objects under the workspace's rule, an event name the workspace blocks."""
    if any(not isinstance(v, list) for v in arrays.values()):
        return "'attributes', 'events' and 'purchases' must be arrays"
    sizes = [len(v) for v in arrays.values()]
    limit = 50 if track_rule == "total-50" else 75
    if (max(sizes, default=0) > 75) if track_rule == "per-array-75" else sum(sizes) > limit:
        return "Max Input Length Exceeded"
    for event in arrays.get("events", []):
        if isinstance(event, dict) and event.get("name") in rejected_names:
            return f"the event name '{event.get('name')}' is blacklisted"
    return None


def object_problem(array: str, obj: Any) -> str | None:
    if not isinstance(obj, dict) or not has_identifier(obj):
        return IDENTIFIER_REQUIRED
    return CHECKS[array](obj)
