"""Ingest Lambda: API Gateway (REST) → webhook → Braze now, or the retry queue."""

from __future__ import annotations

import base64
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from rudder_braze.adapters.aws.tracing import traced
from rudder_braze.app import container
from rudder_braze.app.metrics import publish
from rudder_braze.app.webhook import HttpAnswer

logger = Logger(service="rudder-braze-ingest")
# The domain logs through the standard "rudder_braze" logger: give it this logger's JSON format and level.
copy_config_to_registered_loggers(source_logger=logger, include={"rudder_braze"})
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RudderBraze"), service="ingest")
app = APIGatewayRestResolver()


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8", "surrogatepass")


def _respond(answer: HttpAnswer) -> Response[Any]:
    if answer.result is not None:
        publish(metrics, answer.result.counts, answer.result.latencies_ms)
    logger.info(
        "answered", extra={"status": answer.status, "counts": dict(answer.result.counts) if answer.result else {}}
    )
    return Response(
        status_code=answer.status, content_type="application/json", body=answer.body, headers=answer.headers
    )


def _received_at() -> float | None:
    """When API Gateway received the request (epoch seconds): the events' ``receivedAt``, as RudderStack's gateway
    stamps it, however long the request then waited for this function."""
    epoch_ms = app.current_event.request_context.request_time_epoch
    return epoch_ms / 1000 if epoch_ms else None


def _ingest(route: str) -> Response[Any]:
    headers = dict(app.current_event.headers or {})
    remaining_ms = app.lambda_context.get_remaining_time_in_millis
    return _respond(container.current().webhook.handle(route, headers, _raw_body(), remaining_ms, _received_at()))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/webhook")
def webhook() -> Response[Any]:
    return _ingest("webhook")


@app.post("/v1/batch")
def batch() -> Response[Any]:
    return _ingest("batch")


@app.post("/v1/<kind>")
def single(kind: str) -> Response[Any]:
    return _ingest(kind.lower())


@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
