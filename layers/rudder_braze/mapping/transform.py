"""One RudderStack event → the Braze REST requests RudderStack's cloud-mode Braze destination would send.

The rules follow RudderStack's destination (identity, trait table, purchases, group, alias); the places where this
module deliberately does better are listed in ``docs/deviations.md``. Everything here is pure: no I/O, no clock.
Events are expected to have passed :mod:`rudder_braze.rudderstack.validation` (types of the top-level fields are
checked there).
"""

from __future__ import annotations

from typing import Any

from rudder_braze.braze.requests import IDENTIFY, MERGE, PARTNER, SUBSCRIPTION, TRACK, BrazeRequest
from rudder_braze.config import BrazeSettings
from rudder_braze.errors import EventError
from rudder_braze.mapping import ecommerce
from rudder_braze.mapping.attributes import build_attributes, check_braze_field, traits_of
from rudder_braze.mapping.jsvalues import js_string, truthy
from rudder_braze.mapping.purchases import purchases_of
from rudder_braze.mapping.subject import Subject, subject_of

JSON = dict[str, Any]

SUPPORTED_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
_EVENT_RESERVED_PROPERTIES = ("time", "event_name")
_SUBSCRIPTION_STATES = frozenset({"subscribed", "unsubscribed"})


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


def _track_body(attributes: JSON, subject: Subject) -> JSON:
    body: JSON = {"partner": PARTNER}
    if attributes:
        body["attributes"] = [subject.identify(attributes)]
    return body


def _identify(event: JSON, context: JSON, settings: BrazeSettings) -> list[BrazeRequest]:
    user_id = event.get("userId")
    traits, where = traits_of(event, context)
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
    subject = subject_of(event, context, user_id, settings)
    requests = []
    if subject.external_id is not None and subject.alias is not None:
        merge = {"user_alias": subject.alias, "external_id": subject.external_id}
        requests.append(BrazeRequest(IDENTIFY, {"aliases_to_identify": [merge], "merge_behavior": "merge"}))
    requests.append(BrazeRequest(TRACK, {"attributes": [subject.identify(attributes)]}))
    return requests


def _custom_event(event: JSON, context: JSON, settings: BrazeSettings, kind: str) -> list[BrazeRequest]:
    properties = _properties(event)
    traits, where = traits_of(event, context)
    subject = subject_of(event, context, event.get("userId"), settings)
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
            body = _track_body(attributes, subject)
            body["purchases"] = [subject.identify(purchase) for purchase in purchases_of(event, properties, settings)]
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


def _with_app_id(obj: JSON, subject: Subject) -> JSON:
    if subject.app_id is not None:
        obj["app_id"] = subject.app_id
    return obj


def _group(event: JSON, context: JSON, settings: BrazeSettings) -> list[BrazeRequest]:
    traits = _object(event.get("traits"))
    context_traits = _object(context.get("traits"))
    group_id = event.get("groupId") or traits.get("groupId") or context_traits.get("groupId")
    if not truthy(group_id):
        raise EventError("Invalid groupId", "$.groupId")
    group_id = js_string(group_id)
    if not settings.subscription_groups_in_group_call:
        subject = subject_of(event, context, event.get("userId"), settings)
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
