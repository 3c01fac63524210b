"""Handlers invoked in-process with API Gateway and SQS events, AWS on moto's server, Braze on the simulator."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from local.stack import LocalStack
from tests.conftest import ROOT, StartStack

QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
EVENTS = ROOT / "events"


@pytest.fixture
def stack(start_stack: StartStack) -> LocalStack:
    # No background poller: each test drives the retry queue itself, one batch at a time.
    return start_stack(poll=False, env_overrides={**QUIET, "RETRY_BASE_DELAY_SECONDS": "0"})


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / "rudderstack" / f"{name}.json").read_text())
    return loaded


def api_event(
    body: Any = None,
    *,
    path: str = "/v1/webhook",
    headers: Mapping[str, str | None] | None = None,
    raw: bytes | None = None,
    method: str = "POST",
) -> dict[str, Any]:
    """An API Gateway REST proxy event, from the sample made with ``sam local generate-event``."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "apigateway" / "webhook-track.json").read_text()))
    resource = path if path in ("/v1/webhook", "/v1/batch", "/health") else "/v1/{kind}"
    event.update(path=path, resource=resource, httpMethod=method)
    event["pathParameters"] = {"kind": path.rsplit("/", 1)[1]} if resource == "/v1/{kind}" else None
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/dev{path}")
    if headers is not None:
        event["headers"] = {**event["headers"], **headers}
        event["headers"] = {k: v for k, v in event["headers"].items() if v is not None}
    if raw is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    elif body is not None:
        event["body"] = json.dumps(body)
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def ingest(stack: LocalStack, event: dict[str, Any]) -> tuple[int, Any]:
    result = stack.ingest.invoke(event)
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def stored(stack: LocalStack, kind: str) -> list[dict[str, Any]]:
    with stack.simulator.lock:
        return [item.obj for item in stack.simulator.stored if item.kind == kind]


def queued_messages(stack: LocalStack) -> list[dict[str, Any]]:
    """Peek at the retry queue (messages come back visible at once)."""
    url = stack.template.physical["RetryQueue"]["Ref"]
    answer = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def domain_logs(stack: LocalStack) -> Iterator[list[logging.LogRecord]]:
    """Every record of the domain's logger at INFO and above (it does not propagate: Powertools formats it)."""
    stack.ingest.invoke(api_event(path="/health", method="GET"))  # a cold start sets the logger's level: first
    logger = logging.getLogger("rudder_braze")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
