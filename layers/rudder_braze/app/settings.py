"""Everything a function reads from its environment (set by ``template.yaml``), read once, typed and checked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rudder_braze.app.auth import Network, networks
from rudder_braze.delivery.sending import RetryPolicy
from rudder_braze.limits import MAX_BODY_BYTES, MAX_EVENTS


class _Environ:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str | None = None) -> str:
        value = self.environ.get(name, default)
        if value is None:
            raise RuntimeError(f"environment variable {name} is not set")
        return value

    def number(self, name: str, default: float) -> float:
        return float(self.text(name, str(default)))

    def count(self, name: str, default: int) -> int:
        return int(self.text(name, str(default)))


@dataclass(frozen=True, slots=True)
class SecretNames:
    """The SSM parameter names of the secrets (an empty name: not configured)."""

    rest_api_key: str
    app_key: str = ""
    webhook_token: str = ""
    webhook_previous_token: str = ""


@dataclass(frozen=True, slots=True)
class AppSettings:
    braze_config: dict[str, Any]  # the destination's config (BRAZE_CONFIG, JSON, never a secret)
    secret_names: SecretNames
    secrets_max_age: int
    delivery_mode: str  # direct | buffered
    retry_queue_url: str
    dead_letter_queue_url: str
    delivery_queue_url: str  # buffered mode only
    delivery_queue_arn: str
    state_table_name: str
    state_ttl_seconds: int
    idempotency_ttl_seconds: int
    dedup_ttl_seconds: int
    connect_timeout: float
    read_timeout: float
    retry_read_timeout: float  # the FIFO retry path waits longer for an answer (fewer ambiguous re-sends)
    reserve_ms: dict[str, int]  # per use case (ingest, retry, delivery): no Braze call starts with less time left
    retry_policy: RetryPolicy
    delivery_rounds: int
    max_body_bytes: int
    max_events: int
    allowed_sources: tuple[Network, ...] = ()  # the webhook's source allowlist (empty: any source)
    # /v1/webhook's senders keep each user's order (SendersKeepUserOrder): records and turns read, not written
    senders_keep_order: bool = False

    @property
    def buffered(self) -> bool:
        return self.delivery_mode == "buffered"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AppSettings:
        env = _Environ(environ)
        config = json.loads(env.text("BRAZE_CONFIG", "{}"))
        if isinstance(config, dict) and config.get("restApiKey"):
            # A key in BrazeDestinationConfig would sit in the function's environment in clear text.
            raise RuntimeError("BRAZE_CONFIG must not hold restApiKey: store it in SSM (make secrets)")
        mode = env.text("DELIVERY_MODE", "direct")
        if mode not in ("direct", "buffered"):
            raise RuntimeError(f"DELIVERY_MODE is {mode!r}; use direct or buffered")
        read_timeout = env.number("BRAZE_READ_TIMEOUT", 3.0)
        return cls(
            braze_config=config,
            secret_names=SecretNames(
                env.text("BRAZE_REST_KEY_PARAMETER"),
                env.text("BRAZE_APP_KEY_PARAMETER", ""),
                env.text("WEBHOOK_TOKEN_PARAMETER", ""),
                env.text("WEBHOOK_PREVIOUS_TOKEN_PARAMETER", ""),
            ),
            secrets_max_age=env.count("SECRETS_MAX_AGE", 300),
            delivery_mode=mode,
            retry_queue_url=env.text("RETRY_QUEUE_URL"),
            dead_letter_queue_url=env.text("DEAD_LETTER_QUEUE_URL"),
            delivery_queue_url=env.text("DELIVERY_QUEUE_URL", ""),
            delivery_queue_arn=env.text("DELIVERY_QUEUE_ARN", ""),
            state_table_name=env.text("STATE_TABLE_NAME"),
            state_ttl_seconds=env.count("STATE_TTL_SECONDS", 3 * 24 * 3600),
            idempotency_ttl_seconds=env.count("IDEMPOTENCY_TTL_SECONDS", 48 * 3600),
            dedup_ttl_seconds=env.count("DEDUP_TTL_SECONDS", 7 * 24 * 3600),
            connect_timeout=env.number("BRAZE_CONNECT_TIMEOUT", 1.0),
            read_timeout=read_timeout,
            retry_read_timeout=env.number("BRAZE_RETRY_READ_TIMEOUT", read_timeout),
            reserve_ms={
                "ingest": env.count("INGEST_RESERVE_MS", 5000),
                "retry": env.count("RETRY_QUEUE_RESERVE_MS", 5000),
                "delivery": env.count("RETRY_RESERVE_MS", 5000),
            },
            retry_policy=RetryPolicy(
                max_attempts=env.count("RETRY_MAX_ATTEMPTS", 10),
                max_age_seconds=env.number("RETRY_MAX_AGE_SECONDS", 24 * 3600),
                base_delay_seconds=env.number("RETRY_BASE_DELAY_SECONDS", 5),
                max_delay_seconds=env.number("RETRY_MAX_DELAY_SECONDS", 900),
                max_receives=env.count("RETRY_QUEUE_MAX_RECEIVE_COUNT", 1000),
            ),
            delivery_rounds=env.count("DELIVERY_ROUNDS", 3),
            max_body_bytes=env.count("MAX_BODY_BYTES", MAX_BODY_BYTES),
            max_events=env.count("MAX_EVENTS", MAX_EVENTS),
            allowed_sources=networks(env.text("ALLOWED_SOURCE_CIDRS", "")),
            senders_keep_order=env.text("SENDERS_KEEP_USER_ORDER", "false") == "true",
        )
