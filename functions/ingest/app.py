"""Ingest Lambda: API Gateway (HTTP API, payload 2.0, or REST API, payload 1.0) → webhook → Braze now, or a queue."""

from __future__ import annotations

import base64
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from rudder_braze.adapters.aws.tracing import traced
from rudder_braze.app import container
from rudder_braze.app.metrics import publish
from rudder_braze.app.webhook import HttpAnswer, WebhookRequest

logger = Logger(service="rudder-braze-ingest")
# The domain logs through the standard "rudder_braze" logger: give it this logger's JSON format and level.
copy_config_to_registered_loggers(source_logger=logger, include={"rudder_braze"})
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RudderBraze"), service="ingest")


def _request(app: ApiGatewayResolver, route: str) -> WebhookRequest:
    event = app.current_event
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8", "surrogatepass")
    # When API Gateway received the request (the events' receivedAt, as RudderStack's gateway stamps it, however
    # long the request then waited for this function) and from where, in each payload version's place.
    if isinstance(event, APIGatewayProxyEventV2):
        epoch_ms, source_ip = event.request_context.time_epoch, event.request_context.http.source_ip
    elif isinstance(event, APIGatewayProxyEvent):
        epoch_ms, source_ip = event.request_context.request_time_epoch, event.request_context.identity.source_ip
    else:  # the two resolvers above hand over only these two kinds of event
        raise TypeError(type(event).__name__)
    received_at = epoch_ms / 1000 if epoch_ms else None
    return WebhookRequest(route, dict(event.headers or {}), raw, received_at, source_ip)


def _respond(answer: HttpAnswer) -> Response[Any]:
    if answer.result is not None:
        publish(metrics, answer.result.counts, answer.result.latencies_ms)
    logger.info(
        "answered", extra={"status": answer.status, "counts": dict(answer.result.counts) if answer.result else {}}
    )
    return Response(
        status_code=answer.status, content_type="application/json", body=answer.body, headers=answer.headers
    )


def _routes(app: ApiGatewayResolver) -> ApiGatewayResolver:
    """The same two routes for either API type (the template declares them for both)."""

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/<kind>")
    def ingest(kind: str) -> Response[Any]:  # webhook, batch, or an event type of RudderStack's HTTP API
        request = _request(app, kind.lower())
        remaining_ms = app.lambda_context.get_remaining_time_in_millis
        return _respond(container.current().webhook.handle(request, remaining_ms))

    return app


http_api = _routes(APIGatewayHttpResolver())
rest_api = _routes(APIGatewayRestResolver())


# requestContext.requestId is where both payload versions keep the request id.
@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = http_api if event.get("version") == "2.0" else rest_api
    return app.resolve(event, context)
