"""Builds the use cases from a function's settings (:class:`rudder_braze.app.settings.AppSettings`), once per
container (a Lambda execution environment keeps it between invocations).

Secrets are read from SSM when first needed and cached (their ``max_age``). The settings, the Braze destination
config among them, are checked at cold start, so a bad value fails the deploy's first invocation loudly instead of
every event quietly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from functools import cache, cached_property
from typing import TYPE_CHECKING

from rudder_braze.adapters.aws import AwsClients
from rudder_braze.app.settings import AppSettings
from rudder_braze.braze.client import BrazeClient, ClientTiming
from rudder_braze.config import BrazeSettings, load_settings
from rudder_braze.usecases.attribute_dedup import AttributeDedup
from rudder_braze.usecases.ports import Send
from rudder_braze.usecases.sending import BrazePorts, Timing

# Imported where first used: the AWS adapters import boto3, deletions are rare, and each function builds only its
# own use cases (the retry function never needs the webhook's, nor the ingest function the queues' consumers).
if TYPE_CHECKING:
    from rudder_braze.adapters.aws.queue import DeliveryQueue, RetryQueue
    from rudder_braze.adapters.aws.secrets import SecretStore
    from rudder_braze.adapters.aws.state import StateTable
    from rudder_braze.app.deletions import DeletionsRoute
    from rudder_braze.app.webhook import Webhook
    from rudder_braze.usecases.buffered_delivery import BufferedDeliveryService
    from rudder_braze.usecases.deletion import DeletionService
    from rudder_braze.usecases.ingest import IngestService
    from rudder_braze.usecases.retry import RetryService


class Container:
    """Every object a function needs, each built on first use from ``settings``; AWS clients from ``aws`` (on Lambda
    the default: boto3 finds region and credentials in the runtime's environment)."""

    def __init__(self, settings: AppSettings, aws: AwsClients | None = None) -> None:
        self.settings = settings
        self.aws = aws or AwsClients()
        self.destination: BrazeSettings = load_settings(settings.braze_config)

    @cached_property
    def secrets(self) -> SecretStore:
        from rudder_braze.adapters.aws.secrets import SecretStore

        names = self.settings.secret_names
        return SecretStore(
            {"rest_api_key": names.rest_api_key, "app_key": names.app_key, "webhook_token": names.webhook_token,
             "webhook_previous_token": names.webhook_previous_token},
            self.aws,
            max_age=self.settings.secrets_max_age,
        )  # fmt: skip

    def _destination_with_app_key(self) -> BrazeSettings:
        if self.destination.app_id_on_events:
            return replace(self.destination, app_key=self.secrets.optional("app_key"))
        return self.destination

    def _braze(self, read_timeout: float) -> BrazeClient:
        return BrazeClient(
            self.destination.rest_endpoint,
            lambda: self.secrets.get("rest_api_key") or "",
            timing=ClientTiming(self.settings.connect_timeout, read_timeout),
        )

    @cached_property
    def braze(self) -> BrazeClient:
        return self._braze(self.settings.read_timeout)

    @cached_property
    def patient_braze(self) -> BrazeClient:
        """The FIFO retry path's client: a longer read timeout (``BRAZE_RETRY_READ_TIMEOUT``), so a slow Braze
        answer is waited for rather than taken for lost and the request sent again, which could store it twice."""
        return self._braze(self.settings.retry_read_timeout)

    @cached_property
    def retry_queue(self) -> RetryQueue:
        from rudder_braze.adapters.aws.queue import RetryQueue

        return RetryQueue(self.settings.retry_queue_url, self.settings.dead_letter_queue_url, self.aws)

    @cached_property
    def delivery_queue(self) -> DeliveryQueue:
        from rudder_braze.adapters.aws.queue import DeliveryQueue

        return DeliveryQueue(self.settings.delivery_queue_url, self.aws)

    @cached_property
    def state(self) -> StateTable:
        from rudder_braze.adapters.aws.state import StateTable

        return StateTable(self.settings.state_table_name, self.aws, ttl_seconds=self.settings.state_ttl_seconds)

    def _dedup(self) -> AttributeDedup | None:
        if not self.destination.support_dedup:
            return None
        from rudder_braze.adapters.aws.state import FingerprintTable

        return AttributeDedup(FingerprintTable(self.state, ttl_seconds=self.settings.dedup_ttl_seconds))

    def _ports(self, send: Send, *, dedup: bool = False) -> BrazePorts:
        """What every use case gets: the Braze sender, the retry queue, the state table (and the fingerprints)."""
        return BrazePorts(send, self.retry_queue, self.state, self._dedup() if dedup else None)

    def _timing(self, use_case: str) -> Timing:
        return Timing(reserve_ms=self.settings.reserve_ms[use_case])

    @cached_property
    def ingest_service(self) -> IngestService:
        from rudder_braze.adapters.aws.idempotency import IdempotencyTable
        from rudder_braze.usecases.ingest import IngestService

        return IngestService(
            self._destination_with_app_key(),
            self._ports(self.braze.send, dedup=True),
            IdempotencyTable(self.settings.state_table_name, self.settings.idempotency_ttl_seconds, self.aws),
            delivery_queue=self.delivery_queue if self.settings.buffered else None,
            timing=self._timing("ingest"),
        )

    @cached_property
    def deletion_service(self) -> DeletionService:
        from rudder_braze.usecases.deletion import DeletionService

        fingerprints = self._dedup()
        return DeletionService(self.ingest_service, fingerprints.store if fingerprints else None)

    def _deletions_route(self) -> DeletionsRoute:
        from rudder_braze.app.deletions import DeletionsRoute

        return DeletionsRoute(lambda: self.deletion_service)

    @cached_property
    def webhook(self) -> Webhook:
        from rudder_braze.app.auth import Access
        from rudder_braze.app.webhook import BodyLimits, Routes, Webhook

        return Webhook(
            lambda: self.ingest_service,
            Access(
                lambda: [self.secrets.get("webhook_token"), self.secrets.optional("webhook_previous_token")],
                self.settings.allowed_sources,
            ),
            Routes(self._deletions_route(), self.settings.senders_keep_order),
            limits=BodyLimits(self.settings.max_body_bytes, self.settings.max_events),
        )

    @cached_property
    def retry_service(self) -> RetryService:
        from rudder_braze.usecases.retry import RetryService

        return RetryService(
            self._destination_with_app_key(),
            self._ports(self.patient_braze.send),
            self.settings.retry_policy,
            self._timing("retry"),
            second_copies=self.settings.buffered,
        )

    @cached_property
    def delivery_service(self) -> BufferedDeliveryService:
        from rudder_braze.usecases.buffered_delivery import BufferedDeliveryService

        return BufferedDeliveryService(
            self._destination_with_app_key(),
            self._ports(self.braze.send, dedup=True),
            self._timing("delivery"),
            rounds=self.settings.delivery_rounds,
        )

    def is_delivery_queue(self, event_source_arn: str) -> bool:
        return self.settings.buffered and event_source_arn == self.settings.delivery_queue_arn


_provided: ContextVar[Container | None] = ContextVar("rudder_braze_container", default=None)


def current() -> Container:
    """The container of this invocation: the one its host provides (:func:`provided`), else this execution
    environment's, read from its environment at the first call (the cold start)."""
    return _provided.get() or _from_environ()


@cache
def _from_environ() -> Container:
    return Container(AppSettings.from_environ(os.environ))


@contextmanager
def provided(container: Container) -> Iterator[None]:
    """Run a handler with ``container``: how the local stack runs each function with its own settings and AWS
    endpoints, side by side in one process, without touching the process's environment."""
    token = _provided.set(container)
    try:
        yield
    finally:
        _provided.reset(token)
