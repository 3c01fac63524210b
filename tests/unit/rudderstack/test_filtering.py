"""RudderStack's rules for events a destination never sees: the event's ``integrations`` and the destination
config's event filtering."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.config import ConfigError, load_settings
from rudder_braze.rudderstack.filtering import filtered_reason
from rudder_braze.usecases.transform import process_event

DEFAULT = load_settings({})


def track(name: Any = "Order Completed", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "userId": "u-1", "messageId": "m-1", **extra}


@pytest.mark.parametrize(
    ("integrations", "sent"),
    [
        (None, True),
        ({}, True),
        ({"All": True}, True),
        ({"All": False}, False),
        ({"All": False, "Braze": True}, True),
        ({"All": False, "Braze": {"appId": "x"}}, True),  # an options object enables it
        ({"Braze": False}, False),
        ({"All": True, "Braze": False}, False),
        ({"All": False, "braze": True}, False),  # the display name, case-sensitive
        ({"All": False, "Braze": "yes"}, False),
        ({"All": "false"}, False),  # not a boolean: RudderStack sends it nowhere
        ("Braze", False),
        ({"Amplitude": False}, True),
    ],
)
def test_integrations_decide_as_rudderstack_does(integrations: Any, sent: bool) -> None:
    event = track() if integrations is None else track(integrations=integrations)
    assert (filtered_reason(event, DEFAULT) is None) is sent


def test_a_filtered_event_is_not_validated_and_sends_nothing() -> None:
    result = process_event(0, {"type": "track", "messageId": "m-9", "integrations": {"All": False}}, DEFAULT)
    assert result.error is None and result.requests == []
    assert result.filtered == "integrations.All is false and integrations.Braze is not true"
    assert (result.message_id, result.event_type) == ("m-9", "track")


def allow(*names: str) -> dict[str, Any]:
    return {"eventFilteringOption": "whitelistedEvents", "whitelistedEvents": [{"eventName": n} for n in names]}


def test_an_allowlist_passes_only_the_track_events_it_names() -> None:
    settings = load_settings({**allow("Order Completed", ""), "blacklistedEvents": [{"eventName": "Order Completed"}]})
    assert filtered_reason(track("Order Completed"), settings) is None
    assert (
        filtered_reason(track("order completed"), settings) == "the event is not in the destination's whitelistedEvents"
    )
    assert filtered_reason(track(None), settings) is not None  # no name, never allowlisted
    assert filtered_reason(track(""), settings) is not None  # the dashboard's blank row allows nothing
    assert filtered_reason({"type": "identify", "userId": "u"}, settings) is None  # track events only


def test_a_denylist_drops_the_track_events_it_names() -> None:
    settings = load_settings({"eventFilteringOption": "blacklistedEvents", "blacklistedEvents": [{"eventName": "A"}]})
    assert filtered_reason(track("A"), settings) == "the event is in the destination's blacklistedEvents"
    assert filtered_reason(track("B"), settings) is None
    assert filtered_reason({"type": "page", "name": "A", "userId": "u"}, settings) is None


def test_disabled_filtering_ignores_the_lists() -> None:
    settings = load_settings(
        {"eventFilteringOption": "disable", **{k: v for k, v in allow("X").items() if k != "eventFilteringOption"}}
    )
    assert filtered_reason(track("Y"), settings) is None


@pytest.mark.parametrize(
    "config",
    [
        {"eventFilteringOption": "allowlist"},
        {"eventFilteringOption": "whitelistedEvents", "whitelistedEvents": "A"},
        {"eventFilteringOption": "whitelistedEvents", "whitelistedEvents": [{"eventName": 5}]},
    ],
)
def test_a_bad_filtering_config_is_refused_when_loaded(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        load_settings(config)
