"""A function's settings: read once from its environment, typed, and refused at cold start when wrong."""

from __future__ import annotations

import json

import pytest

from rudder_braze.app.settings import AppSettings

REQUIRED = {"BRAZE_REST_KEY_PARAMETER": "/rb/dev/key", "RETRY_QUEUE_URL": "q", "DEAD_LETTER_QUEUE_URL": "dlq",
            "STATE_TABLE_NAME": "state"}  # fmt: skip


def test_defaults_are_the_templates_and_the_retry_read_timeout_follows_the_read_timeout() -> None:
    settings = AppSettings.from_environ({**REQUIRED, "BRAZE_READ_TIMEOUT": "2.5"})
    assert (settings.delivery_mode, settings.buffered, settings.max_events) == ("direct", False, 1000)
    assert (settings.read_timeout, settings.retry_read_timeout) == (2.5, 2.5)
    assert settings.reserve_ms == {"ingest": 5000, "retry": 5000, "delivery": 5000}
    assert settings.retry_policy.max_receives == 1000 and settings.secret_names.app_key == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BRAZE_CONFIG": json.dumps({"restApiKey": "k"})}, "BRAZE_CONFIG must not hold restApiKey"),
        ({"DELIVERY_MODE": "later"}, "DELIVERY_MODE is 'later'"),
        ({"STATE_TABLE_NAME": None}, "environment variable STATE_TABLE_NAME is not set"),
    ],
)
def test_a_wrong_environment_is_refused_with_its_cause(overrides: dict[str, str | None], message: str) -> None:
    environ = {k: v for k, v in {**REQUIRED, **overrides}.items() if v is not None}
    with pytest.raises(RuntimeError, match=message):
        AppSettings.from_environ(environ)
