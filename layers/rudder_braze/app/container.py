"""Builds the use cases from a Lambda's environment: parameter names, queue URLs, table name, tuning.

Secrets are read from SSM when first needed and cached (``SECRETS_MAX_AGE`` seconds). The Braze destination
config (``BRAZE_CONFIG``, JSON, no secrets) is checked at cold start, so a bad value fails the deploy's first
invocation loudly instead of every event quietly.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from rudder_braze.app.webhook import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS, Webhook
from rudder_braze.braze.client import BrazeClient, ClientTiming
from rudder_braze.config import BrazeSettings, load_settings
from rudder_braze.delivery.sending import RetryPolicy
from rudder_braze.usecases.attribute_dedup import AttributeDedup
from rudder_braze.usecases.buffered_delivery import BufferedDeliveryService
from rudder_braze.usecases.ingest import IngestService
from rudder_braze.usecases.ports import Send
from rudder_braze.usecases.retry import RetryService
from rudder_braze.usecases.sending import BrazePorts, Timing

if TYPE_CHECKING:  # the AWS adapters import boto3: only on the paths that use them
    from rudder_braze.adapters.aws.queue import DeliveryQueue, RetryQueue
    from rudder_braze.adapters.aws.secrets import SecretStore
    from rudder_braze.adapters.aws.state import StateTable


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


@cache
def secrets() -> SecretStore:
    from rudder_braze.adapters.aws.secrets import SecretStore

    return SecretStore(
        {
            "rest_api_key": _env("BRAZE_REST_KEY_PARAMETER"),
            "app_key": os.environ.get("BRAZE_APP_KEY_PARAMETER", ""),
            "webhook_token": os.environ.get("WEBHOOK_TOKEN_PARAMETER", ""),
            "webhook_previous_token": os.environ.get("WEBHOOK_PREVIOUS_TOKEN_PARAMETER", ""),
        },
        max_age=int(_env("SECRETS_MAX_AGE", "300")),
    )


@cache
def settings() -> BrazeSettings:
    config = json.loads(_env("BRAZE_CONFIG", "{}"))
    if isinstance(config, dict) and config.get("restApiKey"):
        # A key in BrazeDestinationConfig would sit in the function's environment in clear text.
        raise RuntimeError("BRAZE_CONFIG must not hold restApiKey: store it in SSM (make secrets)")
    return load_settings(config)


def _settings_with_app_key() -> BrazeSettings:
    base = settings()
    if base.app_id_on_events:
        return replace(base, app_key=secrets().optional("app_key"))
    return base


@cache
def braze() -> BrazeClient:
    return BrazeClient(
        settings().rest_endpoint,
        lambda: secrets().get("rest_api_key") or "",
        timing=ClientTiming(float(_env("BRAZE_CONNECT_TIMEOUT", "1.0")), float(_env("BRAZE_READ_TIMEOUT", "3.0"))),
    )


@cache
def patient_braze() -> BrazeClient:
    """The FIFO retry path's client: a longer read timeout (``BRAZE_RETRY_READ_TIMEOUT``), so a slow Braze answer
    is waited for rather than taken for lost and the request sent again, which could store it twice."""
    return BrazeClient(
        settings().rest_endpoint,
        lambda: secrets().get("rest_api_key") or "",
        timing=ClientTiming(
            float(_env("BRAZE_CONNECT_TIMEOUT", "1.0")),
            float(_env("BRAZE_RETRY_READ_TIMEOUT", _env("BRAZE_READ_TIMEOUT", "3.0"))),
        ),
    )


@cache
def _queue() -> RetryQueue:
    from rudder_braze.adapters.aws.queue import RetryQueue

    return RetryQueue(_env("RETRY_QUEUE_URL"), _env("DEAD_LETTER_QUEUE_URL"))


@cache
def _state() -> StateTable:
    from rudder_braze.adapters.aws.state import StateTable

    return StateTable(_env("STATE_TABLE_NAME"), ttl_seconds=int(_env("STATE_TTL_SECONDS", str(3 * 24 * 3600))))


def buffered() -> bool:
    """``DeliveryMode`` of the template: ``direct`` (the ingest calls Braze) or ``buffered`` (a delivery queue)."""
    mode = _env("DELIVERY_MODE", "direct")
    if mode not in ("direct", "buffered"):
        raise RuntimeError(f"DELIVERY_MODE is {mode!r}; use direct or buffered")
    return mode == "buffered"


def is_delivery_queue(event_source_arn: str) -> bool:
    return buffered() and event_source_arn == _env("DELIVERY_QUEUE_ARN")


@cache
def _delivery_queue() -> DeliveryQueue:
    from rudder_braze.adapters.aws.queue import DeliveryQueue

    return DeliveryQueue(_env("DELIVERY_QUEUE_URL"))


def _dedup() -> AttributeDedup | None:
    if not settings().support_dedup:
        return None
    from rudder_braze.adapters.aws.state import FingerprintTable

    return AttributeDedup(FingerprintTable(_state(), ttl_seconds=int(_env("DEDUP_TTL_SECONDS", str(7 * 24 * 3600)))))


def _ports(send: Send, *, dedup: bool = False) -> BrazePorts:
    """What every use case gets: the Braze sender, the retry queue, the state table (and the fingerprints)."""
    return BrazePorts(send, _queue(), _state(), _dedup() if dedup else None)


def _timing(reserve_variable: str) -> Timing:
    return Timing(reserve_ms=int(_env(reserve_variable, "5000")))


@cache
def ingest_service() -> IngestService:
    from rudder_braze.adapters.aws.idempotency import EventGate

    return IngestService(
        _settings_with_app_key(),
        _ports(braze().send, dedup=True),
        EventGate(_env("STATE_TABLE_NAME"), int(_env("IDEMPOTENCY_TTL_SECONDS", str(48 * 3600)))),
        buffer=_delivery_queue() if buffered() else None,
        timing=_timing("INGEST_RESERVE_MS"),
    )


@cache
def webhook() -> Webhook:
    return Webhook(
        ingest_service,
        lambda: [secrets().get("webhook_token"), secrets().optional("webhook_previous_token")],
        max_body_bytes=int(_env("MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))),
        max_events=int(_env("MAX_EVENTS", str(DEFAULT_MAX_EVENTS))),
    )


@cache
def retry_service() -> RetryService:
    return RetryService(
        _settings_with_app_key(),
        _ports(patient_braze().send),
        RetryPolicy(
            max_attempts=int(_env("RETRY_MAX_ATTEMPTS", "10")),
            max_age_seconds=float(_env("RETRY_MAX_AGE_SECONDS", str(24 * 3600))),
            base_delay_seconds=float(_env("RETRY_BASE_DELAY_SECONDS", "5")),
            max_delay_seconds=float(_env("RETRY_MAX_DELAY_SECONDS", "900")),
            max_receives=int(_env("RETRY_QUEUE_MAX_RECEIVE_COUNT", "1000")),
        ),
        _timing("RETRY_QUEUE_RESERVE_MS"),
    )


@cache
def delivery_service() -> BufferedDeliveryService:
    return BufferedDeliveryService(
        _settings_with_app_key(),
        _ports(braze().send, dedup=True),
        _timing("RETRY_RESERVE_MS"),
        rounds=int(_env("DELIVERY_ROUNDS", "3")),
    )


def reset() -> None:
    """Forget every cached object (tests start each scenario from a cold start)."""
    built_objects = (secrets, settings, braze, patient_braze, _queue, _delivery_queue, _state, ingest_service, webhook,
                     retry_service, delivery_service)  # fmt: skip
    for built in built_objects:
        built.cache_clear()
