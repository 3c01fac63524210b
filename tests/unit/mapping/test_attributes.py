"""Traits → Braze attributes: the standard trait table, custom traits, nested operations (docs/deviations.md)."""

from __future__ import annotations

import pytest

from rudder_braze.config import load_settings
from tests.unit.mapping.support import attributes_of, event, rejection, track_body

# --- identify: the standard trait table ---------------------------------------------------------------------


def test_standard_traits_map_to_braze_fields_and_email_is_lower_cased() -> None:
    attributes = attributes_of(
        {
            "email": "Ann@Example.COM",
            "firstName": "Ann",
            "lastName": "Lee",
            "phone": "+1555",
            "birthday": "01/01/1971",
            "avatar": "https://img/a.png",
            "address": {"city": "Paris", "country": "FR", "street": "1 rue"},
        }
    )
    assert attributes == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "+1555",
        "dob": "01/01/1971",
        "image_url": "https://img/a.png",
        "home_city": "Paris",
        "country": "FR",
        "external_id": "u1",
    }


@pytest.mark.parametrize(
    ("gender", "braze"),
    [("Woman", "F"), ("female", "F"), ("f", "F"), ("MALE", "M"), ("m", "M"), ("other", "O"), ("robot", None)],
)
def test_gender_maps_case_insensitively_and_unknown_values_unset_it(gender: str, braze: str | None) -> None:
    assert attributes_of({"gender": gender})["gender"] == braze


def test_nulls_unset_email_phone_gender_but_are_dropped_for_other_standard_traits() -> None:
    attributes = attributes_of({"email": None, "phone": None, "gender": None, "firstName": None, "birthday": None})
    assert attributes == {"email": None, "phone": None, "gender": None, "external_id": "u1"}


def test_falsy_standard_traits_are_left_out_but_falsy_custom_traits_are_kept() -> None:
    attributes = attributes_of({"firstName": "", "phone": 0, "orderTotal": 0, "closed_at": None, "vip": False})
    assert attributes == {"orderTotal": 0, "closed_at": None, "vip": False, "external_id": "u1"}


def test_custom_traits_are_copied_verbatim_and_override_standard_names() -> None:
    attributes = attributes_of({"firstName": "Ann", "first_name": "Anna", "city": "Lyon", "firstname": "x"})
    assert attributes["first_name"] == "Anna"
    assert attributes["city"] == "Lyon"  # a top-level city is a custom attribute, not home_city
    assert attributes["firstname"] == "x"
    assert "home_city" not in attributes


def test_non_string_email_is_rejected_with_rudderstacks_text() -> None:
    error = rejection(event("identify", userId="u1", traits={"email": 42}))
    assert (error.reason, error.path) == ("Invalid email, email must be a valid string", "$.traits.email")


def test_identify_without_attributes_is_rejected_and_sends_nothing() -> None:
    error = rejection(event("identify", userId="u1", anonymousId="a1", traits={}))
    assert error.reason == "No attributes found to update the user profile"


def test_top_level_traits_win_over_context_traits() -> None:
    message = event("identify", userId="u1", traits={"plan": "pro"}, context={"traits": {"plan": "free", "x": 1}})
    assert track_body(message)["attributes"][0] == {"plan": "pro", "external_id": "u1"}


# --- nested attribute operations -------------------------------------------------------------------------------

NESTED = load_settings({"enableNestedArrayOperations": True})


def test_nested_update_remove_add_become_braze_operations() -> None:
    traits = {
        "pets": {
            "update": [{"identifier": "id", "id": 2, "name": "Rex"}],
            "remove": [{"identifier": "id", "id": 3}],
            "add": [{"id": 4, "name": "Tom"}],
        }
    }
    attributes = attributes_of(traits, NESTED)
    assert attributes["pets"] == {
        "$update": [{"$identifier_key": "id", "$identifier_value": 2, "$new_object": {"name": "Rex"}}],
        "$remove": [{"$identifier_key": "id", "$identifier_value": 3}],
        "$add": [{"id": 4, "name": "Tom"}],
    }
    assert attributes["_merge_objects"] is False


def test_without_update_the_plain_keys_stay_beside_the_operations() -> None:
    assert attributes_of({"tags": {"add": ["a"]}}, NESTED)["tags"] == {"add": ["a"], "$add": ["a"]}


def test_nested_objects_are_sent_verbatim_when_the_option_is_off() -> None:
    assert attributes_of({"tags": {"add": ["a"]}})["tags"] == {"add": ["a"]}


def test_d14_update_item_without_identifier_is_rejected_with_its_path() -> None:
    error = rejection(event("identify", userId="u1", traits={"pets": {"update": [{"id": 1}]}}), NESTED)
    assert error.path == "$.traits.pets.update[0]"


# --- reverse ETL ------------------------------------------------------------------------------------------------


def test_mapped_events_send_traits_as_is_keyed_by_the_first_external_id() -> None:
    context = {
        "mappedToDestination": True,
        "externalId": [{"id": "x-1"}],
        "traits": {"first_name": "A", "email": "B@x"},
    }
    body = track_body(event("identify", context=context))
    assert body["attributes"] == [{"first_name": "A", "email": "B@x", "external_id": "x-1"}]
