"""Who an event is about in Braze: external_id, the rudder_id alias, custom aliases, app ids."""

from __future__ import annotations

from rudder_braze.config import load_settings
from rudder_braze.mapping.transform import transform_event
from tests.unit.mapping.support import DEFAULT, event, rejection, track_body

# --- identity -------------------------------------------------------------------------------------------------


def test_known_user_is_identified_by_external_id_only() -> None:
    body = track_body(event("track", userId="u1", anonymousId="a1", event="Clicked"))
    assert body["events"][0]["external_id"] == "u1"
    assert "user_alias" not in body["events"][0]


def test_braze_external_id_wins_over_user_id() -> None:
    context = {"externalId": [{"type": "other", "id": "x"}, {"type": "brazeExternalId", "id": "b-7"}]}
    body = track_body(event("track", userId="u1", event="Clicked", context=context))
    assert body["events"][0]["external_id"] == "b-7"


def test_anonymous_user_gets_a_rudder_id_alias_that_may_create_a_profile() -> None:
    body = track_body(event("track", anonymousId="a1", event="Clicked"))
    assert body["events"][0]["user_alias"] == {"alias_name": "a1", "alias_label": "rudder_id"}
    assert body["events"][0]["_update_existing_only"] is False


def test_custom_alias_from_integrations_replaces_the_rudder_id_alias() -> None:
    alias = {"alias_name": "ann@example.com", "alias_label": "email"}
    body = track_body(event("track", anonymousId="a1", event="Clicked", integrations={"Braze": {"alias": alias}}))
    assert body["events"][0]["user_alias"] == alias


def test_identify_with_user_and_anonymous_id_merges_the_alias_first() -> None:
    requests = transform_event(event("identify", userId="u1", anonymousId="a1", traits={"plan": "pro"}), DEFAULT)
    assert [r.path for r in requests] == ["/users/identify", "/users/track"]
    assert requests[0].body == {
        "aliases_to_identify": [{"user_alias": {"alias_name": "a1", "alias_label": "rudder_id"}, "external_id": "u1"}],
        "merge_behavior": "merge",
    }


def test_d5_trait_id_alone_falls_back_to_the_anonymous_alias() -> None:
    body = track_body(event("track", userId="", anonymousId="a1", event="Clicked", context={"traits": {"id": "t9"}}))
    assert body["attributes"][0] == {
        "id": "t9",
        "_update_existing_only": False,
        "user_alias": {"alias_name": "a1", "alias_label": "rudder_id"},
    }


def test_d6_event_without_any_identifier_is_rejected() -> None:
    error = rejection(event("track", event="Clicked"))
    assert "no userId, anonymousId, brazeExternalId or Braze alias" in error.reason


def test_app_id_comes_from_the_braze_integration_options() -> None:
    body = track_body(event("track", userId="u1", event="Clicked", integrations={"Braze": {"appId": 123}}))
    assert body["events"][0]["app_id"] == "123"


def test_app_key_is_sent_as_app_id_only_when_asked() -> None:
    settings = load_settings({"appKey": "app-key-1", "appIdOnEvents": True})
    assert track_body(event("track", userId="u1", event="Clicked"), settings)["events"][0]["app_id"] == "app-key-1"
    assert "app_id" not in track_body(event("track", userId="u1", event="Clicked"))["events"][0]
