"""Which events RudderStack would never hand to its Braze destination, and why.

Two rules, applied before validation as RudderStack applies them before any destination transformation:

* the event's ``integrations`` object (rudder-server's rule): ``All`` defaults to true; ``"Braze": true`` or an
  object under ``"Braze"`` sends the event, ``"Braze": false`` drops it, and without a ``"Braze"`` key ``All``
  decides. An ``integrations`` that is not an object, or an ``All`` that is not a boolean, sends the event nowhere.
  The key is the destination's display name, ``Braze``, matched case-sensitively.
* the destination config's event filtering (``eventFilteringOption`` with ``whitelistedEvents`` /
  ``blacklistedEvents``): track events only, event names compared exactly (case-sensitive); an allowlist lets no
  event without a name through.
"""

from __future__ import annotations

from typing import Any

from rudder_braze.config import BrazeSettings, EventFiltering

DESTINATION_NAME = "Braze"


def _integrations_reason(event: dict[str, Any]) -> str | None:
    integrations = event.get("integrations", {})
    if integrations is None:
        integrations = {}
    if not isinstance(integrations, dict):
        return "integrations is not an object: RudderStack sends such an event to no destination"
    send_to_all = integrations.get("All", True)
    if not isinstance(send_to_all, bool):
        return "integrations.All is not true or false: RudderStack sends such an event to no destination"
    braze = integrations.get(DESTINATION_NAME)
    if isinstance(braze, bool):
        return None if braze else "integrations.Braze is false"
    if isinstance(braze, dict) or send_to_all:
        return None
    return "integrations.All is false and integrations.Braze is not true"


def _event_filter_reason(event: dict[str, Any], filtering: EventFiltering) -> str | None:
    kind = event.get("type")
    if filtering.option == "disable" or not isinstance(kind, str) or kind.strip().lower() != "track":
        return None
    name = event.get("event")
    if filtering.option == "whitelistedEvents" and not (isinstance(name, str) and name in filtering.events):
        return "the event is not in the destination's whitelistedEvents"
    if filtering.option == "blacklistedEvents" and isinstance(name, str) and name in filtering.events:
        return "the event is in the destination's blacklistedEvents"
    return None


def filtered_reason(event: Any, settings: BrazeSettings) -> str | None:
    """Why RudderStack would not send this event to Braze, or ``None`` when it would."""
    if not isinstance(event, dict):
        return None
    return _integrations_reason(event) or _event_filter_reason(event, settings.event_filtering)
