"""AWS on moto's server, on loopback: the queues, the table and the SSM parameters of ``template.yaml``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import boto3
import urllib3

from local.template import ROOT, Template
from rudder_braze.adapters.aws import AwsClients

# What boto3 needs to sign a call that moto accepts (moto checks nothing); the region is the template's.
CLIENT_OPTIONS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
SERVICES = ("dynamodb", "sqs", "ssm")
# A function signs its calls with its role's credentials, as on Lambda: the access key names the role, so the calls
# can be told apart by role (local/aws_calls.py) and checked against what the role grants.
ROLE_KEY_PREFIX = "role-"


def signed_as(role: str | None) -> dict[str, str]:
    return CLIENT_OPTIONS if role is None else {**CLIENT_OPTIONS, "aws_access_key_id": f"{ROLE_KEY_PREFIX}{role}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_serving(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    """Wait for a moto server just started at ``endpoint`` to answer (and start it afresh)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib3.request("POST", f"{endpoint}/moto-api/reset", timeout=1, retries=False)
            return
        except urllib3.exceptions.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


class MotoAWS:
    """``moto_server`` in its own process on loopback (its own core, as AWS would be)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoAWS:
        self.process = subprocess.Popen(  # noqa: S603 - our own venv's moto server (local/moto_server.py)
            [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
        )
        wait_until_serving(self.endpoint, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self, service: str, role: str | None = None) -> Any:
        """A client for the harness's own calls (creating resources, reading queues), or for what AWS does with a
        function's ``role`` (an event source's polling)."""
        factory: Any = boto3.client  # one factory for every service name (the stubs type each name apart)
        return factory(service, endpoint_url=self.endpoint, **signed_as(role))

    def clients(self, endpoints: dict[str, str] | None = None, role: str | None = None) -> AwsClients:
        """The clients a function uses: moto's endpoint, or the one ``endpoints`` names for a service; signed as
        its ``role``."""
        return AwsClients(dict.fromkeys(SERVICES, self.endpoint) | (endpoints or {}), signed_as(role))


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "MaximumMessageSize",
    "DelaySeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "ContentBasedDeduplication",
    "ReceiveMessageWaitTimeSeconds",
)


def create_resources(aws: MotoAWS, template: Template, secrets: dict[str, str]) -> None:
    """Create every queue and table of the template (as resolved for this deployment) and the SSM parameters.

    ``secrets`` maps the last part of a parameter name (``braze-rest-api-key``…) to its value.
    """
    sqs, dynamodb, ssm = aws.client("sqs"), aws.client("dynamodb"), aws.client("ssm")
    queues = template.of_type("AWS::SQS::Queue")
    # Dead-letter queues first: a redrive policy names its target's ARN.
    order = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name]["Properties"])
    for logical in order:
        properties = template.resolve(queues[logical]["Properties"])
        attributes = {k: str(properties[k]).lower() if isinstance(properties[k], bool) else str(properties[k])
                      for k in _QUEUE_ATTRIBUTES if k in properties}  # fmt: skip
        if properties.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        url = sqs.create_queue(QueueName=properties["QueueName"], Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        template.physical[logical] = {"Ref": url, "Arn": arn, "QueueName": properties["QueueName"]}
    for logical, resource in template.of_type("AWS::DynamoDB::Table").items():
        properties = template.resolve(resource["Properties"])
        name = properties["TableName"]
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=properties["BillingMode"],
        )
        if "TimeToLiveSpecification" in properties:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])
        template.physical[logical] = {"Ref": name, "Arn": f"arn:aws:dynamodb:us-east-1:{template.account}:table/{name}"}
    for logical in list(template.of_type("AWS::Serverless::Function")) + list(template.of_type("AWS::SNS::Topic")):
        template.physical.setdefault(logical, {"Ref": logical, "Arn": f"arn:aws:local:{logical}"})
    names = set()
    for logical in template.of_type("AWS::Serverless::Function"):
        names |= {v for k, v in template.function(logical).environment.items() if k.endswith("_PARAMETER")}
    for name in sorted(names):
        value = secrets.get(name.rsplit("/", 1)[1], "-")
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
