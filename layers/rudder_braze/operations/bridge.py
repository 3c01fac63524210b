"""Where a bridge is: its webhook, its token, and the table and queues its state lives in.

A deployed environment (``--env ENV``) is found by its CloudFormation stack's outputs (``rudder-braze-<env>``), its
token in SSM (``/<prefix>/<env>/webhook-token``, the parameter ``make secrets`` writes). Without ``--env`` it is the
stack ``make local`` runs: the webhook on ``127.0.0.1:$PORT`` (3000), ``$WEBHOOK_TOKEN``, and the moto endpoint and
resource names it writes to ``.local-run/stack-$PORT.json`` when it starts (``local/run.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rudder_braze.adapters.aws import AwsClients

LOCAL_STATE = Path(".local-run")


class BridgeNotFound(RuntimeError):
    """The bridge named cannot be found (no stack, no local stack on that port)."""


@dataclass(frozen=True)
class Bridge:
    api_url: str  # the stage's base: routes are {api_url}/v1/...
    token: str
    outputs: Mapping[str, str]  # the template's Outputs (StateTableName, RetryQueueUrl, DeadLetterQueueUrl, ...)
    aws: AwsClients

    @property
    def buffered(self) -> bool:
        return bool(self.outputs.get("DeliveryQueueUrl"))

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise BridgeNotFound(f"the stack has no output {name}") from None


def local_description_path(port: int) -> Path:
    return LOCAL_STATE / f"stack-{port}.json"


def local_bridge(environ: Mapping[str, str] = os.environ) -> Bridge:
    """The stack ``make local`` runs, by the variables it reads."""
    port = int(environ.get("PORT", "3000"))
    path = local_description_path(port)
    try:
        description: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BridgeNotFound(f"no local stack on port {port} ({path} not found): start one with make local, or "
                             "name an environment with ENV=") from None  # fmt: skip
    services = ("dynamodb", "sqs", "ssm", "s3")  # moto serves them all on one endpoint
    aws = AwsClients(dict.fromkeys(services, description["awsEndpoint"]), description["awsOptions"])
    token = environ.get("WEBHOOK_TOKEN") or description["token"]
    return Bridge(description["apiUrl"], token, description["outputs"], aws)


def stack_outputs(aws: AwsClients, name: str) -> dict[str, str]:
    """A deployed stack's outputs (the template's: WebhookUrl, StateTableName, RetryQueueUrl, ...)."""
    try:
        described = aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except Exception as exc:
        raise BridgeNotFound(f"cannot read stack {name}: {exc}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def deployed_bridge(
    env: str, stack: str | None = None, prefix: str = "rudder-braze", token: str | None = None
) -> Bridge:
    """A deployed environment, by its stack's outputs; the token from SSM unless given."""
    aws = AwsClients()
    outputs = stack_outputs(aws, stack or f"rudder-braze-{env}")
    if token is None:
        parameter = f"/{prefix}/{env}/webhook-token"
        token = aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    api_url = outputs.get("WebhookUrl", "").removesuffix("/v1/webhook")
    return Bridge(api_url, str(token), outputs, aws)


def find_bridge(env: str | None, environ: Mapping[str, str] = os.environ, token: str | None = None) -> Bridge:
    if env:
        return deployed_bridge(env, token=token or environ.get("WEBHOOK_TOKEN"))
    bridge = local_bridge(environ)
    return bridge if token is None else replace(bridge, token=token)
