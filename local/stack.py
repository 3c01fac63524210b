"""The whole pipeline on one machine: moto (SSM, SQS, DynamoDB) + Braze simulator + API Gateway + both Lambdas.

    with LocalStack().start() as stack:
        stack.post("/v1/webhook", event)           # through the local API Gateway, over loopback HTTP
        stack.wait_until_drained()                 # the retry queue is empty

Everything the deployed stack is made of is read from ``template.yaml``; only the Braze host is swapped for
the simulator (``restEndpoint``) and, where a caller asks for it, a few tuning variables (retry delays).

Each function gets its own settings and AWS endpoints (:class:`local.lambda_runtime.LocalFunction`); the process's
environment is touched only for Powertools' own variables (log level, metrics namespace, tracing), which Powertools
reads from the environment, on Lambda as here, and which the template sets alike for both functions. When the logs
go to files, ``sys.stdout`` is routed per invocation thread, as Lambda hands a function's output to CloudWatch Logs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import urllib3

from local.api_gateway import ApiGateway, GatewayOptions, TokenBucket
from local.aws import CLIENT_OPTIONS, MotoAWS, create_resources
from local.braze_simulator import BrazeSimulator, SimulatorServer
from local.lambda_runtime import LambdaOutput, LocalFunction, route_output
from local.ledger import Observed, Summary, reconcile
from local.proxy_events import HTTP, REST
from local.sqs_event_source import EventSourceSettings, SqsEventSource
from local.tcp_proxy import TcpProxy
from local.template import ROOT, Template
from local.workload import Sent
from rudder_braze.config import load_settings

# Local-only credentials: the simulator and the local webhook accept these, nothing else does.
DEFAULT_TOKEN = "local-dev-token"  # noqa: S105
DEFAULT_BRAZE_KEY = "local-braze-key"
# Where `make demo`, `make local` and `make loadtest` put the functions' logs and metrics (CloudWatch's stand-in).
RUN_LOGS = ROOT / ".local-run" / "logs"
# The template's outputs the operator tools read (the rest name AWS consoles and hosts the local stack has not).
OPERATOR_OUTPUTS = ("RetryQueueUrl", "DeadLetterQueueUrl", "DeliveryQueueUrl", "StateTableName")
# Retry timing for runs meant to drain within minutes, attempts scaled to span about what the template's do.
COMPRESSED_RETRY_TIMING = {"RETRY_BASE_DELAY_SECONDS": "1", "RETRY_MAX_DELAY_SECONDS": "8", "RETRY_MAX_ATTEMPTS": "40"}


@dataclass(kw_only=True, eq=False)
class LocalStack:
    braze_config: dict[str, Any] = field(default_factory=dict)  # the destination's config (dataCenter US-01 added)
    token: str = DEFAULT_TOKEN
    braze_key: str = DEFAULT_BRAZE_KEY
    api_port: int = 0
    braze_port: int = 0
    env_overrides: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters, e.g. {"DeliveryMode": "buffered"}
    poll: bool = True
    cuttable: tuple[str, ...] = ()  # AWS services the Lambdas reach through a proxy that a test can cut
    log_dir: Path | None = None  # where the functions' logs go (as CloudWatch Logs); None: the console
    record_requests: bool = False  # keep every webhook request as it arrived (self.api.received)

    def __post_init__(self) -> None:
        self.simulator_server = SimulatorServer(BrazeSimulator(self.braze_key), port=self.braze_port)
        self.aws = MotoAWS()
        self.braze_config = {"dataCenter": "US-01", **self.braze_config}
        self.http = urllib3.PoolManager(maxsize=16, retries=False)
        self.powertools_environ_before: dict[str, str | None] = {}
        self.proxies: dict[str, TcpProxy] = {}
        self.output: LambdaOutput | None = None
        self.logs: list[TextIO] = []
        self.event_sources: list[SqsEventSource] = []

    @property
    def simulator(self) -> BrazeSimulator:
        return self.simulator_server.simulator

    def start(self) -> LocalStack:
        try:
            return self._start()
        except BaseException:
            self.stop()  # what had started (moto's server is a process of its own: it must not outlive the stack)
            raise

    def _start(self) -> LocalStack:
        self.simulator_server.start()
        self.aws.start()
        config = {**self.braze_config, "restEndpoint": self.simulator_server.url}
        self.template = Template("local", {**self.parameters, "BrazeDestinationConfig": json.dumps(config)})
        create_resources(
            self.aws,
            self.template,
            {"braze-rest-api-key": self.braze_key, "webhook-token": self.token, "braze-app-key": "local-app-key"},
        )
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.output = route_output()
            self.logs = [(self.log_dir / f"{name}.log").open("a", encoding="utf-8") for name in ("ingest", "retry")]
        self.proxies = {service: TcpProxy(self.aws.port) for service in self.cuttable}
        endpoints = {service: proxy.url for service, proxy in self.proxies.items()}
        logs = dict(zip(("ingest", "retry"), self.logs, strict=False))
        functions = {}
        for name, logical in (("ingest", "IngestFunction"), ("retry", "RetryFunction")):
            spec = self.template.function(logical)
            aws = self.aws.clients(endpoints, spec.role)  # one set per function, as each runs in its own sandbox
            functions[name] = LocalFunction(spec, aws, self.env_overrides, self.output, logs.get(name))
        self.ingest, self.retry = functions["ingest"], functions["retry"]
        self._set_powertools_environ()
        options = self._gateway_options()
        self.api = ApiGateway(self.ingest, "local", options).start()
        self.sqs = self.aws.client("sqs")
        poller = self.aws.client("sqs", self.retry.spec.role)  # Lambda's pollers call SQS as the function's role
        queue = self.template.physical["RetryQueue"]
        (retry_events,) = self.template.resolve(list(self.template.resources["RetryFunction"]["Properties"]["Events"]
                                                     .values()))  # fmt: skip
        self.event_source = SqsEventSource(
            self.retry,
            poller,
            (queue["Ref"], queue["Arn"]),
            EventSourceSettings(
                batch_size=int(retry_events["Properties"]["BatchSize"]),
                concurrency=int(retry_events["Properties"]["ScalingConfig"]["MaximumConcurrency"]),
            ),
        )
        self.event_sources = [self.event_source]
        for mapping in self.template.of_type("AWS::Lambda::EventSourceMapping").values():
            properties = self.template.resolve(mapping["Properties"])
            source = next(q for q in self.template.physical.values() if q.get("Arn") == properties["EventSourceArn"])
            self.event_sources.append(
                SqsEventSource(
                    self.retry,
                    poller,
                    (source["Ref"], source["Arn"]),
                    EventSourceSettings(
                        batch_size=int(properties["BatchSize"]),
                        window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                        concurrency=int(properties["ScalingConfig"]["MaximumConcurrency"]),
                    ),
                )
            )
        if self.poll:
            for event_source in self.event_sources:
                event_source.start()
        return self

    def stop(self) -> None:
        for event_source in self.event_sources:
            event_source.stop()
        if hasattr(self, "api"):  # a stack whose start failed early has none
            self.api.stop()
        for proxy in self.proxies.values():
            proxy.close()
        self.aws.stop()
        self.simulator_server.stop()
        if self.output is not None:
            sys.stdout = self.output.console
        for log in self.logs:
            log.close()
        for name, value in self.powertools_environ_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _gateway_options(self) -> GatewayOptions:
        """The API the template's ApiType selects: its routes, its stage's throttling and, for a REST API, the
        binary media types."""
        http = self.template.condition("HttpApi")
        api = self.template.resources["WebhookHttpApi" if http else "WebhookApi"]["Properties"]
        routes = [(method, path) for path, item in api["DefinitionBody"]["paths"].items() for method in item]
        if http:
            limits = self.template.resolve(api["DefaultRouteSettings"])
            binary_media_types = []
        else:
            (limits,) = self.template.resolve(api["MethodSettings"])
            binary_media_types = [kind.replace("~1", "/") for kind in api.get("BinaryMediaTypes", [])]
        throttle = TokenBucket(float(limits["ThrottlingRateLimit"]), int(limits["ThrottlingBurstLimit"]))
        return GatewayOptions(
            api_type=HTTP if http else REST,
            routes=routes,
            port=self.api_port,
            binary_media_types=binary_media_types,
            throttle=throttle,
            record=self.record_requests,
        )

    def _set_powertools_environ(self) -> None:
        """Powertools' variables of the functions' environments into this process's (see the module's doc)."""
        # The service name differs, but each handler names its own service in code: it is not needed here.
        ingest, retry = ({k: v for k, v in f.environment.items()
                          if k.startswith("POWERTOOLS_") and k != "POWERTOOLS_SERVICE_NAME"}
                         for f in (self.ingest, self.retry))  # fmt: skip
        if ingest != retry:
            raise RuntimeError(f"the functions' Powertools settings differ: {ingest} and {retry}")
        self.powertools_environ_before = {name: os.environ.get(name) for name in ingest}
        os.environ.update(ingest)

    def cold_start(self, overrides: dict[str, str] | None = None) -> None:
        """Both functions start new execution environments at their next invocation (settings and secrets read
        again), with ``overrides`` added to their environments."""
        for function in (self.ingest, self.retry):
            function.cold_start(overrides)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- using it ---------------------------------------------------------------------------------------------

    def description(self) -> dict[str, Any]:
        """What the operator tools need to find this stack (:mod:`rudder_braze.operations.bridge`): the API, the
        token, moto's endpoint, and the template's outputs naming the table and queues, as a deployed stack has."""
        outputs = {name: self.template.resolve(output["Value"])
                   for name, output in self.template.doc["Outputs"].items()
                   if name in OPERATOR_OUTPUTS and ("Condition" not in output
                                                    or self.template.condition(output["Condition"]))}  # fmt: skip
        return {"apiUrl": self.api.url, "token": self.token, "awsEndpoint": self.aws.endpoint,
                "awsOptions": CLIENT_OPTIONS, "outputs": outputs}  # fmt: skip

    @property
    def webhook_url(self) -> str:
        return f"{self.api.url}/v1/webhook"

    def post(
        self, path: str, document: Any, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        answer = self.http.request(
            "POST",
            self.api.url + path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token or self.token}",
                **(headers or {}),
            },
            timeout=urllib3.Timeout(connect=2, read=30),
        )
        try:
            return answer.status, json.loads(answer.data or b"null")
        except ValueError:
            return answer.status, answer.data.decode(errors="replace")

    def retry_queue_depth(self) -> int:
        """Messages in the retry queue and, in buffered mode, the delivery queue."""
        return sum(event_source.queue_depth() for event_source in self.event_sources)

    def wait_until_drained(self, timeout: float = 120.0) -> bool:
        """Wait until the queues are empty (every message delivered or dead-lettered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.retry_queue_depth() == 0:
                return True
            if not self.poll:
                for event_source in self.event_sources:
                    event_source.poll_once(wait_seconds=0)
            time.sleep(1.0)  # moto counts a queue's messages one by one: do not ask too often
        return False

    def ledger(self, events: list[dict[str, Any]], sent: list[Sent]) -> Summary:
        """Event by event, what the simulator stored against what the mapping says (see local.workload)."""
        objects = json.loads(self.http.request("GET", self.simulator_server.url + "/_sim/objects").data)["objects"]
        observed = Observed(objects, self.dead_letters(), self.simulator.stats())
        return reconcile(events, load_settings(self.braze_config), sent, observed)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the dead-letter queue, with its reason (read, then made visible again)."""
        url = self.template.physical["DeadLetterQueue"]["Ref"]
        found: dict[str, dict[str, Any]] = {}
        for _ in range(20):
            answer = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
                found[message["MessageId"]] = {"body": json.loads(message["Body"]), "reason": reason}
        return list(found.values())
