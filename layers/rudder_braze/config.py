"""RudderStack's Braze destination config, checked once when it is loaded.

The keys are RudderStack's own (``dataCenter``, ``enableNestedArrayOperations``, …) so a user migrates by pasting
the destination's config. Unknown keys are ignored; a known key with a bad value is a :class:`ConfigError`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """The destination config cannot be used (raised at load time, never per event)."""


class TrackBatchRule(enum.StrEnum):
    """How many objects one ``/users/track`` request may hold."""

    # RudderStack's default: ≤75 attributes, ≤75 events and ≤75 purchases, ≤75 distinct external_ids.
    PER_ARRAY_75 = "per-array-75"
    # Braze's current documentation: ≤75 objects in total across the three arrays.
    TOTAL_75 = "total-75"
    # Braze's Monthly-Active-Users (CY24-25) plans: ≤50 objects in total.
    TOTAL_50 = "total-50"

    @property
    def total_limit(self) -> int | None:
        return {TrackBatchRule.TOTAL_75: 75, TrackBatchRule.TOTAL_50: 50}.get(self)


# Instance → REST host, from Braze's list of instances. US-01…08 keep the historical iad host; US-10 does not.
_INSTANCE_HOSTS: dict[str, str] = {
    **{f"US-0{n}": f"https://rest.iad-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "https://rest.us-10.braze.com",
    "EU-01": "https://rest.fra-01.braze.eu",
    "EU-02": "https://rest.fra-02.braze.eu",
    "EU-03": "https://rest.fra-03.braze.eu",
    "AU-01": "https://rest.au-01.braze.com",
    "ID-01": "https://rest.id-01.braze.com",
}
_DATA_CENTER = re.compile(r"^\s*([A-Za-z]{2})-?(\d{1,2})\s*$")

_FLAGS: dict[str, str] = {
    "enableSubscriptionGroupInGroupCall": "subscription_groups_in_group_call",
    "enableNestedArrayOperations": "nested_array_operations",
    "sendPurchaseEventWithExtraProperties": "purchase_extra_properties",
    "useEcommerceRecommendedEvents": "ecommerce_recommended_events",
    "supportDedup": "support_dedup",
    "appIdOnEvents": "app_id_on_events",
}


_FILTERING_OPTIONS = ("disable", "whitelistedEvents", "blacklistedEvents")


@dataclass(frozen=True, slots=True)
class EventFiltering:
    """RudderStack's event filtering of a destination: ``disable``, or an allow- or denylist of track event names."""

    option: str = "disable"
    events: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BrazeSettings:
    """Typed, checked destination settings. The REST key is kept out of ``repr`` so it never reaches a log."""

    data_center: str = "US-01"
    rest_endpoint: str = _INSTANCE_HOSTS["US-01"]
    rest_api_key: str | None = field(default=None, repr=False)
    app_key: str | None = field(default=None, repr=False)
    subscription_groups_in_group_call: bool = False
    nested_array_operations: bool = False
    purchase_extra_properties: bool = False
    ecommerce_recommended_events: bool = False
    support_dedup: bool = False
    app_id_on_events: bool = False
    track_batch_rule: TrackBatchRule = TrackBatchRule.TOTAL_50
    event_filtering: EventFiltering = EventFiltering()


def rest_endpoint_for(data_center: object) -> tuple[str, str]:
    """Return ``(instance, host)`` for a ``dataCenter`` value such as ``"US-03"`` or ``"eu-01"``."""
    if not isinstance(data_center, str):
        raise ConfigError("Invalid Data Center: valid values are US-01…US-08, US-10, EU-01…EU-03, AU-01, ID-01")
    match = _DATA_CENTER.match(data_center)
    instance = f"{match.group(1).upper()}-{int(match.group(2)):02d}" if match else data_center.strip().upper()
    host = _INSTANCE_HOSTS.get(instance)
    if host is None:
        known = ", ".join(_INSTANCE_HOSTS)
        raise ConfigError(f"Invalid Data Center: {data_center!r}; expected an instance with its number, one of {known}")
    return instance, host


def _event_filtering(config: Mapping[str, Any]) -> EventFiltering:
    """``eventFilteringOption`` and its list, as RudderStack's dashboard stores them (``[{"eventName": …}]``, with
    empty rows for blank fields); the list of the other option is ignored, as RudderStack ignores it."""
    option = config.get("eventFilteringOption") or "disable"
    if option not in _FILTERING_OPTIONS:
        raise ConfigError(f"eventFilteringOption must be one of {', '.join(_FILTERING_OPTIONS)}, got {option!r}")
    if option == "disable":
        return EventFiltering()
    rows = config.get(option) or []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ConfigError(f'{option} must be a list of {{"eventName": "..."}} objects')
    names = [row.get("eventName") for row in rows]
    if not all(name is None or isinstance(name, str) for name in names):
        raise ConfigError(f"every eventName of {option} must be a string")
    return EventFiltering(option, frozenset(name for name in names if name))


def load_settings(config: Mapping[str, Any]) -> BrazeSettings:
    """Check a RudderStack Braze destination config (``destination.Config``) and return typed settings."""
    if not isinstance(config, Mapping):
        raise ConfigError("the destination config must be a JSON object")
    instance, host = rest_endpoint_for(config.get("dataCenter", "US-01"))
    endpoint = config.get("restEndpoint")
    if endpoint is not None:
        if not isinstance(endpoint, str) or not re.match(r"^https?://[^/\s]+$", endpoint.rstrip("/")):
            raise ConfigError(f"restEndpoint must be a URL such as https://rest.iad-01.braze.com, got {endpoint!r}")
        host = endpoint.rstrip("/")
    values: dict[str, Any] = {"data_center": instance, "rest_endpoint": host}
    for key in ("restApiKey", "appKey"):
        value = config.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{key} must be a non-empty string")
    values["rest_api_key"] = config.get("restApiKey")
    values["app_key"] = config.get("appKey")
    for key, attr in _FLAGS.items():
        value = config.get(key, False)
        if value is None:
            value = False
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        values[attr] = value
    rule = config.get("trackBatchRule", TrackBatchRule.TOTAL_50.value)
    try:
        values["track_batch_rule"] = TrackBatchRule(rule)
    except ValueError:
        choices = ", ".join(r.value for r in TrackBatchRule)
        raise ConfigError(f"trackBatchRule must be one of {choices}, got {rule!r}") from None
    values["event_filtering"] = _event_filtering(config)
    return BrazeSettings(**values)
