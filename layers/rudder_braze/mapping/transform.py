"""One RudderStack event → the Braze REST requests RudderStack's cloud-mode Braze destination would send.

The rules follow RudderStack's destination (identity, trait table, purchases, group, alias); the places where this
module deliberately does better are listed in ``docs/deviations.md``. Everything here is pure: no I/O, no clock.
Events are expected to have passed :mod:`rudder_braze.rudderstack.validation` (types of the top-level fields are
checked there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rudder_braze.braze.requests import IDENTIFY, MERGE, PARTNER, SUBSCRIPTION, TRACK, BrazeRequest
from rudder_braze.config import BrazeSettings
from rudder_braze.errors import EventError
from rudder_braze.mapping import ecommerce
from rudder_braze.mapping.data import load_json
from rudder_braze.mapping.jsvalues import js_string, parse_float, parse_int, truthy

JSON = dict[str, Any]

ALIAS_LABEL = "rudder_id"
SUPPORTED_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
_EVENT_RESERVED_PROPERTIES = ("time", "event_name")
_PURCHASE_FIELDS = frozenset({"product_id", "sku", "price", "quantity", "currency"})
_SUBSCRIPTION_STATES = frozenset({"subscribed", "unsubscribed"})


def _load_trait_table() -> tuple[tuple[tuple[str, str, str | None, str, bool], ...], frozenset[str], dict[str, str]]:
    table = load_json("standard_attributes.json")
    rows = []
    for row in table["attributes"]:
        head, _, tail = row["trait"].partition(".")
        rows.append((row["attribute"], head, tail or None, row.get("convert", ""), bool(row.get("keep_null"))))
    genders = {alias: code for code, aliases in table["gender"].items() for alias in aliases}
    return tuple(rows), frozenset(table["not_copied"]), genders


_STANDARD_ATTRIBUTES, _NOT_COPIED_TRAITS, _GENDERS = _load_trait_table()


@dataclass(slots=True)
class _Subject:
    """Who an event is about, resolved once per event."""

    external_id: str | None
    alias: JSON | None
    app_id: str | None

    def identify(self, obj: JSON) -> JSON:
        """Add the identifier Braze needs: ``external_id``, or else a ``user_alias`` that may create a profile."""
        if self.external_id is not None:
            obj["external_id"] = self.external_id
        elif self.alias is not None:
            obj["_update_existing_only"] = False
            obj["user_alias"] = self.alias
        else:
            raise EventError(
                "the event has no userId, anonymousId, brazeExternalId or Braze alias to identify the user"
            )
        return obj


def _braze_integration(event: JSON) -> JSON | None:
    integrations = event.get("integrations")
    if isinstance(integrations, dict):
        for key in ("BRAZE", "Braze", "braze"):
            options = integrations.get(key)
            if isinstance(options, dict):
                return options
    return None


def _braze_external_id(context: JSON) -> Any:
    external_ids = context.get("externalId")
    if isinstance(external_ids, list):
        for entry in external_ids:
            if isinstance(entry, dict) and entry.get("type") == "brazeExternalId":
                return entry.get("id")
    return None


def _subject(event: JSON, context: JSON, user_id: Any, settings: BrazeSettings) -> _Subject:
    options = _braze_integration(event)
    alias: JSON | None = None
    app_id: str | None = None
    if options is not None:
        custom = options.get("alias")
        if isinstance(custom, dict) and custom.get("alias_name") is not None and custom.get("alias_label") is not None:
            alias = {"alias_name": custom["alias_name"], "alias_label": custom["alias_label"]}
        if truthy(options.get("appId")):
            app_id = js_string(options["appId"])
    if alias is None:
        anonymous_id = event.get("anonymousId")
        if truthy(anonymous_id):
            alias = {"alias_name": js_string(anonymous_id), "alias_label": ALIAS_LABEL}
    if app_id is None and settings.app_id_on_events and settings.app_key:
        app_id = settings.app_key
    braze_id = _braze_external_id(context)
    external = braze_id if truthy(braze_id) else user_id
    return _Subject(js_string(external) if truthy(external) else None, alias, app_id)


def _traits(event: JSON, context: JSON) -> tuple[JSON, str]:
    traits = event.get("traits")
    if truthy(traits) and isinstance(traits, dict):
        return traits, "$.traits"
    traits = context.get("traits")
    if isinstance(traits, dict):
        return traits, "$.context.traits"
    return {}, "$.context.traits"


def _standard_value(convert: str, value: Any, where: str) -> Any:
    if convert == "email":
        if not isinstance(value, str):
            raise EventError("Invalid email, email must be a valid string", where)
        return value.lower()
    if convert == "gender":
        return _GENDERS.get(value.lower()) if isinstance(value, str) else None
    return value


def _nested_operations(value: JSON, attributes: JSON, properties: JSON, where: str) -> JSON:
    """Trait objects holding ``update`` / ``remove`` / ``add`` → Braze ``$update`` / ``$remove`` / ``$add``."""
    update, remove, add = value.get("update"), value.get("remove"), value.get("add")
    result = {} if update is not None else dict(value)
    if update is not None:
        result["$update"] = [
            {
                "$identifier_key": key,
                "$identifier_value": item.get(key),
                "$new_object": {k: v for k, v in item.items() if k not in ("identifier", key)},
            }
            for key, item in _identified_items(update, f"{where}.update")
        ]
        merge = properties.get("mergeObjectsUpdateOperation")
        attributes["_merge_objects"] = merge if merge is not None else False
    if remove is not None:
        result["$remove"] = [
            {"$identifier_key": key, "$identifier_value": item.get(key)}
            for key, item in _identified_items(remove, f"{where}.remove")
        ]
    if add is not None:
        result["$add"] = add
    return result


def _identified_items(items: Any, where: str) -> list[tuple[str, JSON]]:
    if not isinstance(items, list):
        raise EventError("must be an array of objects", where)
    pairs = []
    for index, item in enumerate(items):
        key = item.get("identifier") if isinstance(item, dict) else None
        if not isinstance(key, str):
            raise EventError("must be an object with an 'identifier' naming its key field", f"{where}[{index}]")
        pairs.append((key, item))
    return pairs


def build_attributes(traits: JSON, where: str, settings: BrazeSettings, properties: JSON) -> JSON:
    """Traits → a Braze attributes object (without identifiers): the standard table, then every other trait."""
    attributes: JSON = {}
    for attribute, head, tail, convert, keep_null in _STANDARD_ATTRIBUTES:
        value = traits.get(head)
        if tail is not None:
            value = value.get(tail) if isinstance(value, dict) else None
        if value is None:
            if keep_null and head in traits:
                attributes[attribute] = None
        elif truthy(value):
            attributes[attribute] = _standard_value(convert, value, f"{where}.{head}")
    nested = settings.nested_array_operations
    for key, value in traits.items():
        if key in _NOT_COPIED_TRAITS:
            continue
        check_braze_field(key, value, where)
        if nested and isinstance(value, dict):
            attributes[key] = _nested_operations(value, attributes, properties, f"{where}.{key}")
        else:
            attributes[key] = value
    return attributes


BRAZE_MAX_STRING = 255


def check_braze_field(key: str, value: Any, where: str) -> None:
    """What Braze refuses in a custom attribute or a property, refused here with its path (docs/deviations.md D20):
    an empty key, a key over 255 characters or starting with ``$``, a string value over 255 characters."""
    if not key or len(key) > BRAZE_MAX_STRING or key[0] == "$":
        shown = key[:40] + ("…" if len(key) > 40 else "")
        raise EventError(f"Braze does not accept the key {shown!r} (empty, over 255 characters or starting with $)",
                         f"{where}.{shown}")  # fmt: skip
    if isinstance(value, str) and len(value) > BRAZE_MAX_STRING:
        raise EventError(f"Braze does not accept strings over 255 characters (got {len(value)})", f"{where}.{key}")
    if isinstance(value, dict):
        _check_nested_keys(value, f"{where}.{key}")


def _check_nested_keys(value: JSON, where: str) -> None:
    """Keys inside a nested object may hold neither ``.`` nor ``$``: one such key makes Braze drop every nested
    update of the whole request."""
    for key, inner in value.items():
        if "." in key or "$" in key:
            raise EventError(f"Braze does not accept '.' or '$' in the keys of a nested object ({key[:40]!r})",
                             f"{where}.{key[:40]}")  # fmt: skip
        if isinstance(inner, dict):
            _check_nested_keys(inner, f"{where}.{key}")


def _properties(event: JSON) -> JSON:
    properties = event.get("properties")
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise EventError("Invalid event properties", "$.properties")
    return properties


def _event_time(event: JSON, kind: str) -> Any:
    time = event.get("timestamp") or event.get("originalTimestamp")
    if not truthy(time):
        raise EventError(f"{kind}: Braze needs the event time; the event has no timestamp", "$.timestamp")
    return time


def _track_body(attributes: JSON, subject: _Subject) -> JSON:
    body: JSON = {"partner": PARTNER}
    if attributes:
        body["attributes"] = [subject.identify(attributes)]
    return body


def _identify(event: JSON, context: JSON, settings: BrazeSettings) -> list[BrazeRequest]:
    user_id = event.get("userId")
    traits, where = _traits(event, context)
    if context.get("mappedToDestination"):
        # Reverse-ETL events carry Braze attribute names already; the first externalId names the user.
        external_ids = context.get("externalId")
        if isinstance(external_ids, list) and external_ids and isinstance(external_ids[0], dict):
            user_id = external_ids[0].get("id", user_id)
        attributes = dict(traits)
    else:
        attributes = build_attributes(traits, where, settings, _properties(event))
    if not attributes:
        raise EventError("No attributes found to update the user profile", where)
    subject = _subject(event, context, user_id, settings)
    requests = []
    if subject.external_id is not None and subject.alias is not None:
        merge = {"user_alias": subject.alias, "external_id": subject.external_id}
        requests.append(BrazeRequest(IDENTIFY, {"aliases_to_identify": [merge], "merge_behavior": "merge"}))
    requests.append(BrazeRequest(TRACK, {"attributes": [subject.identify(attributes)]}))
    return requests


def _custom_event(event: JSON, context: JSON, settings: BrazeSettings, kind: str) -> list[BrazeRequest]:
    properties = _properties(event)
    traits, where = _traits(event, context)
    subject = _subject(event, context, event.get("userId"), settings)
    attributes = build_attributes(traits, where, settings, properties)
    if kind == "track":
        name = event.get("event")
        if not isinstance(name, str) or not name:
            raise EventError("track: $.event is required", "$.event")
        lowered = name.lower()
        if settings.ecommerce_recommended_events:
            recommended = ecommerce.recommended_event(lowered.strip(), event, context, properties)
            if recommended is not None:
                body = _track_body(attributes, subject)
                recommended["time"] = _event_time(event, kind)
                body["events"] = [_with_app_id(subject.identify(recommended), subject)]
                return [BrazeRequest(TRACK, body)]
        if lowered == "order completed":
            purchases = _purchases(event, properties, settings)
            body = _track_body(attributes, subject)
            body["purchases"] = [subject.identify(purchase) for purchase in purchases]
            return [BrazeRequest(TRACK, body)]
    else:
        name = event.get("name") or properties.get("name") or ("Page Viewed" if kind == "page" else "Screen Viewed")
    custom = {
        "name": name,
        "time": _event_time(event, kind),
        "properties": _event_properties(properties),
    }
    body = _track_body(attributes, subject)
    body["events"] = [_with_app_id(subject.identify(custom), subject)]
    return [BrazeRequest(TRACK, body)]


def _event_properties(properties: JSON) -> JSON:
    kept = {}
    for key, value in properties.items():
        if key not in _EVENT_RESERVED_PROPERTIES:
            check_braze_field(key, value, "$.properties")
            kept[key] = value
    return kept


def _with_app_id(obj: JSON, subject: _Subject) -> JSON:
    if subject.app_id is not None:
        obj["app_id"] = subject.app_id
    return obj


def _order_error(reason: str, path: str) -> EventError:
    return EventError(f"Invalid Order Completed event: {reason}", path)


def _purchases(event: JSON, properties: JSON, settings: BrazeSettings) -> list[JSON]:
    """``Order Completed`` → one Braze purchase per product, validated in RudderStack's order."""
    if "products" not in properties:
        raise _order_error("Products array is missing in the message", "$.properties.products")
    products = properties["products"]
    if not isinstance(products, list):
        raise _order_error("Products is not an array", "$.properties.products")
    products = [product for product in products if product is not None]
    if not products:
        raise _order_error("Products array is empty", "$.properties.products")
    time = event.get("timestamp") or event.get("originalTimestamp")
    if not truthy(time):
        raise _order_error("Timestamp is missing in the message", "$.timestamp")
    order_currency = properties.get("currency")
    purchases = []
    for index, product in enumerate(products):
        where = f"$.properties.products[{index}]"
        if not isinstance(product, dict):
            raise _order_error(f"product at index: {index} is not an object", where)
        product_id = product.get("product_id") or product.get("sku")
        if product_id is None:
            raise _order_error(f"Product Id is missing for product at index: {index}", where)
        price = product.get("price")
        if price is None:
            raise _order_error(f"Price is missing for product at index: {index}", f"{where}.price")
        price = parse_float(price)
        if price is None:
            raise _order_error(f"Price is not a number for product at index: {index}", f"{where}.price")
        quantity = product.get("quantity")
        if quantity is None:
            raise _order_error(f"Quantity is missing for product at index: {index}", f"{where}.quantity")
        quantity = parse_int(quantity)
        if quantity is None:
            raise _order_error(f"Quantity is not a number for product at index: {index}", f"{where}.quantity")
        currency = order_currency if truthy(order_currency) else product.get("currency")
        if not truthy(currency):
            raise _order_error(f"Message properties and product at index: {index} is missing currency", where)
        purchase: JSON = {
            "product_id": js_string(product_id),
            "price": price,
            "currency": js_string(currency),
            "quantity": quantity,
            "time": time,
        }
        if settings.purchase_extra_properties:
            extra = {k: v for k, v in product.items() if k not in _PURCHASE_FIELDS}
            for key, value in extra.items():
                check_braze_field(key, value, where)
            if extra:
                purchase["properties"] = extra
        if settings.app_id_on_events and settings.app_key:
            purchase["app_id"] = settings.app_key
        purchases.append(purchase)
    return purchases


def _group(event: JSON, context: JSON, settings: BrazeSettings) -> list[BrazeRequest]:
    traits = _object(event.get("traits"))
    context_traits = _object(context.get("traits"))
    group_id = event.get("groupId") or traits.get("groupId") or context_traits.get("groupId")
    if not truthy(group_id):
        raise EventError("Invalid groupId", "$.groupId")
    group_id = js_string(group_id)
    if not settings.subscription_groups_in_group_call:
        subject = _subject(event, context, event.get("userId"), settings)
        attributes = subject.identify({f"ab_rudder_group_{group_id}": True})
        return [BrazeRequest(TRACK, {"attributes": [attributes], "partner": PARTNER})]
    if not (truthy(traits.get("phone")) or truthy(traits.get("email"))):
        raise EventError("Message should have traits with subscriptionState, email or phone", "$.traits")
    state = traits.get("subscriptionState")
    if state not in _SUBSCRIPTION_STATES:
        raise EventError(
            "you must provide a subscription state in traits and possible values are subscribed and unsubscribed.",
            "$.traits.subscriptionState",
        )
    entry: JSON = {"subscription_group_id": group_id, "subscription_state": state}
    user_id = event.get("userId")
    if truthy(user_id):
        entry["external_ids"] = [js_string(user_id)]
    properties = _object(event.get("properties"))
    phone = _first_truthy(traits.get("phone"), context_traits.get("phone"), properties.get("phone"))
    if phone is not None:
        entry["phones"] = [phone]
    else:
        external_ids = context.get("externalId")
        first_external = external_ids[0].get("id") if isinstance(external_ids, list) and external_ids else None
        entry["emails"] = [
            _first_truthy(traits.get("email"), context_traits.get("email"), properties.get("email"), first_external)
        ]
    return [BrazeRequest(SUBSCRIPTION, {"subscription_groups": [entry]})]


def _object(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _first_truthy(*values: Any) -> Any:
    for value in values:
        if truthy(value):
            return value
    return None


def _alias(event: JSON) -> list[BrazeRequest]:
    user_id, previous_id = event.get("userId"), event.get("previousId")
    if not truthy(user_id):
        raise EventError("[BRAZE]: userId is required for alias call", "$.userId")
    if not truthy(previous_id):
        raise EventError("[BRAZE]: previousId is required for alias call", "$.previousId")
    update = {
        "identifier_to_merge": {"external_id": js_string(previous_id)},
        "identifier_to_keep": {"external_id": js_string(user_id)},
    }
    return [BrazeRequest(MERGE, {"merge_updates": [update]})]


def transform_event(event: JSON, settings: BrazeSettings) -> list[BrazeRequest]:
    """Map one (validated) RudderStack event to Braze requests, in the order they must be sent.

    Raises :class:`EventError` for an event Braze could never accept, with RudderStack's error text where it has one.
    """
    kind = event.get("type")
    kind = kind.lower() if isinstance(kind, str) else kind
    if kind not in SUPPORTED_TYPES:
        raise EventError(f"Message type {event.get('type')} is not supported", "$.type")
    context = event.get("context")
    if not isinstance(context, dict):
        context = {}
    if kind == "identify":
        return _identify(event, context, settings)
    if kind == "group":
        return _group(event, context, settings)
    if kind == "alias":
        return _alias(event)
    return _custom_event(event, context, settings, kind)
