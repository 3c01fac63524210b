"""The e2e tests' stacks: the template's settings in each delivery mode and API type, retries compressed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.stack import LocalStack
from tests.conftest import StartStack

CONFIG = {"dataCenter": "US-01", "sendPurchaseEventWithExtraProperties": True}
# Retry timing compressed so a storm drains within the test (and attempts scaled up to cover the same span as the
# template's 10 attempts over about half an hour); everything else is the template's.
FAST = {"RETRY_BASE_DELAY_SECONDS": "0.5", "RETRY_MAX_DELAY_SECONDS": "4", "RETRY_MAX_ATTEMPTS": "60"}
MODES = ("direct", "buffered")
API_TYPES = ("http", "rest")
# Every delivery mode behind every API type (the template's parameters DeliveryMode and ApiType).
DEPLOYMENTS = [(mode, api) for mode in MODES for api in API_TYPES]


StartPipeline = Callable[..., LocalStack]


@pytest.fixture
def start(start_stack: StartStack, tmp_path: Path) -> StartPipeline:
    """Starts a stack in a delivery mode behind an API type (the template's settings, retries compressed, logs in
    files)."""

    def started(mode: str = "direct", api: str = "http", **options: Any) -> LocalStack:
        env = {**FAST, **options.pop("env", {})}
        parameters = {"DeliveryMode": mode, "ApiType": api, **options.pop("parameters", {})}
        return start_stack(
            braze_config=CONFIG, env_overrides=env, parameters=parameters, log_dir=tmp_path / "logs", **options
        )

    return started
