from __future__ import annotations

import pytest

from rudder_braze.config import ConfigError, TrackBatchRule, load_settings, rest_endpoint_for


@pytest.mark.parametrize(
    ("data_center", "instance", "host"),
    [
        ("US-01", "US-01", "https://rest.iad-01.braze.com"),
        ("us-03", "US-03", "https://rest.iad-03.braze.com"),
        (" US-08 ", "US-08", "https://rest.iad-08.braze.com"),
        ("US-10", "US-10", "https://rest.us-10.braze.com"),
        ("eu-01", "EU-01", "https://rest.fra-01.braze.eu"),
        ("EU-02", "EU-02", "https://rest.fra-02.braze.eu"),
        ("AU-01", "AU-01", "https://rest.au-01.braze.com"),
        ("ID-01", "ID-01", "https://rest.id-01.braze.com"),
    ],
)
def test_data_center_gives_the_instance_rest_host(data_center: str, instance: str, host: str) -> None:
    assert rest_endpoint_for(data_center) == (instance, host)


@pytest.mark.parametrize("data_center", ["US", "EU", "XX-01", "US-99", "", 3, None])
def test_data_center_without_a_known_instance_is_a_config_error(data_center: object) -> None:
    with pytest.raises(ConfigError, match="Invalid Data Center"):
        rest_endpoint_for(data_center)


def test_rudderstack_config_is_accepted_as_pasted_and_unknown_keys_are_ignored() -> None:
    settings = load_settings(
        {
            "restApiKey": "key-1",
            "dataCenter": "eu-01",
            "prefixProperties": True,
            "useNativeSDK": False,
            "enableNestedArrayOperations": True,
            "supportDedup": True,
            "whitelistedEvents": [{"eventName": ""}],
        }
    )
    assert settings.rest_endpoint == "https://rest.fra-01.braze.eu"
    assert settings.nested_array_operations and settings.support_dedup
    assert not settings.purchase_extra_properties


def test_rest_key_never_appears_in_the_settings_repr() -> None:
    assert "secret-key-xyz" not in repr(load_settings({"restApiKey": "secret-key-xyz"}))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"enableNestedArrayOperations": "yes"}, "enableNestedArrayOperations must be true or false"),
        ({"supportDedup": 1}, "supportDedup must be true or false"),
        ({"restApiKey": ""}, "restApiKey must be a non-empty string"),
        ({"trackBatchRule": "100"}, "trackBatchRule must be one of"),
        ({"restEndpoint": "not a url"}, "restEndpoint must be a URL"),
    ],
)
def test_invalid_values_fail_when_the_config_is_loaded(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_default_track_rule_is_the_one_every_account_accepts() -> None:
    assert load_settings({}).track_batch_rule is TrackBatchRule.TOTAL_50
    assert TrackBatchRule.TOTAL_50.total_limit == 50


def test_rest_endpoint_overrides_the_data_center_host() -> None:
    assert load_settings({"restEndpoint": "http://127.0.0.1:4000/"}).rest_endpoint == "http://127.0.0.1:4000"
