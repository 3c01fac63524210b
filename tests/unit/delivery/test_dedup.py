from __future__ import annotations

from rudder_braze.config import load_settings
from rudder_braze.delivery.dedup import DUPLICATE_USER, deduplicate, fingerprint, profile_fingerprints, user_key
from rudder_braze.usecases.transform import transform_events


def test_fingerprints_ignore_key_order_and_tell_values_apart() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint([1, 2]) != fingerprint([2, 1])
    assert fingerprint("1") != fingerprint(1)


def test_unchanged_attributes_are_dropped_and_changed_ones_kept() -> None:
    known = profile_fingerprints({"external_id": "u1", "first_name": "Ann", "custom_attributes": {"plan": "pro"}})
    kept, updated = deduplicate({"first_name": "Ann", "plan": "team", "external_id": "u1"}, known)
    assert kept == {"plan": "team", "external_id": "u1"}
    assert updated["plan"] == fingerprint("team")


def test_non_billable_attributes_are_always_sent_and_nulls_only_over_values() -> None:
    known = profile_fingerprints({"country": "FR", "email": "a@b"})
    kept, _ = deduplicate({"country": "FR", "email": None, "phone": None, "external_id": "u1"}, known)
    assert kept == {"country": "FR", "email": None, "external_id": "u1"}


def test_an_object_left_with_only_identifiers_is_a_duplicate() -> None:
    known = profile_fingerprints({"first_name": "Ann"})
    assert deduplicate({"first_name": "Ann", "external_id": "u1"}, known)[0] is None


def test_nested_operations_always_go_through() -> None:
    kept, _ = deduplicate({"pets": {"$add": [1]}, "_merge_objects": False, "external_id": "u1"}, {})
    assert kept == {"pets": {"$add": [1]}, "_merge_objects": False, "external_id": "u1"}


def test_user_keys() -> None:
    assert user_key({"external_id": "u1"}) == "ext:u1"
    assert user_key({"user_alias": {"alias_name": "a1", "alias_label": "rudder_id"}}) == "alias:a1"
    assert user_key({"user_alias": {"alias_name": "a1", "alias_label": "email"}}) is None


def test_batch_dedup_drops_a_repeated_identify_and_strips_a_tracks_attributes() -> None:
    settings = load_settings({"supportDedup": True})
    base = {"userId": "u1", "timestamp": "t", "traits": {"plan": "pro"}}
    events = [
        {"type": "identify", "messageId": "m1", **base},
        {"type": "identify", "messageId": "m2", **base},
        {
            "type": "track",
            "messageId": "m3",
            "event": "E",
            "userId": "u1",
            "timestamp": "t",
            "context": {"traits": {"plan": "pro"}},
        },
    ]
    first, second, third = transform_events(events, settings, fingerprints={})
    assert first.filtered is None and first.requests
    assert second.filtered == DUPLICATE_USER and second.requests == []
    assert third.requests and "attributes" not in third.requests[0].body and third.requests[0].body["events"]


def test_a_null_is_sent_unless_the_store_knows_it_was_null() -> None:
    # The bridge's store only knows what it sent: a key it never wrote may hold a value in Braze.
    assert deduplicate({"external_id": "a", "coupon": None}, {}, known_is_profile=False)[0] == {
        "external_id": "a",
        "coupon": None,
    }
    known = {"coupon": fingerprint(None)}
    assert deduplicate({"external_id": "a", "coupon": None}, known, known_is_profile=False)[0] is None
    # RudderStack's lookup returns the whole profile: a key it lacks has no value to clear.
    assert deduplicate({"external_id": "a", "coupon": None}, {})[0] is None
