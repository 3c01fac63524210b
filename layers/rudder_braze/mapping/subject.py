"""Who a RudderStack event is about, in Braze's terms: its ``external_id``, else a ``user_alias``, and its app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rudder_braze.config import BrazeSettings
from rudder_braze.errors import EventError
from rudder_braze.mapping.jsvalues import js_string, truthy

JSON = dict[str, Any]

ALIAS_LABEL = "rudder_id"


@dataclass(slots=True)
class Subject:
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


def subject_of(event: JSON, context: JSON, user_id: Any, settings: BrazeSettings) -> Subject:
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
    return Subject(js_string(external) if truthy(external) else None, alias, app_id)
