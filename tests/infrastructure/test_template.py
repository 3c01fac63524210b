"""The SAM template, expanded offline by the SAM translator, checked for the rules the deployment depends on."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from local.template import Template as LocalTemplate
from tests.conftest import ROOT

Template = dict[str, Any]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def _expand(parameters: dict[str, str]) -> Template:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:  # the translator accepts only S3 locations
                properties[key] = "s3://bucket/artifact.zip"
    expanded: Template = transform(template, parameters, _NoManagedPolicies())
    return expanded


@pytest.fixture(scope="module")
def template() -> Template:
    return _expand({"Environment": "dev"})


def resources(template: Template, kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_functions_run_python313_on_arm64_with_the_shared_layer(template: Template) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    assert set(functions) == {"IngestFunction", "RetryFunction"}
    for function in functions.values():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert len(properties["Layers"]) == 1


def test_ingest_answers_within_rudderstacks_webhook_timeout(template: Template) -> None:
    ingest = template["Resources"]["IngestFunction"]["Properties"]
    env = ingest["Environment"]["Variables"]
    assert ingest["Timeout"] < 10  # RudderStack's webhook gives up after 10 s
    braze_call_seconds = float(env["BRAZE_CONNECT_TIMEOUT"]) + float(env["BRAZE_READ_TIMEOUT"])
    # The last Braze call may start only while the reserve remains, and must end before the function does.
    assert braze_call_seconds * 1000 < int(env["INGEST_RESERVE_MS"]) < ingest["Timeout"] * 1000


def test_the_retry_paths_last_braze_call_ends_before_the_function_does(template: Template) -> None:
    retry = template["Resources"]["RetryFunction"]["Properties"]
    env = retry["Environment"]["Variables"]  # the Globals merged in by SAM
    connect = float(env["BRAZE_CONNECT_TIMEOUT"])
    for read, reserve in (
        ("BRAZE_READ_TIMEOUT", "RETRY_RESERVE_MS"),
        ("BRAZE_RETRY_READ_TIMEOUT", "RETRY_QUEUE_RESERVE_MS"),
    ):
        assert (connect + float(env[read])) * 1000 < int(env[reserve]) < retry["Timeout"] * 1000
    # The FIFO retry path waits longer for an answer than the webhook can: fewer ambiguous re-sends.
    assert float(env["BRAZE_RETRY_READ_TIMEOUT"]) > float(env["BRAZE_READ_TIMEOUT"])


def test_retry_queue_visibility_is_six_times_the_retry_timeout(template: Template) -> None:
    queue = template["Resources"]["RetryQueue"]["Properties"]
    retry = template["Resources"]["RetryFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * retry["Timeout"]


def test_retry_queue_is_fifo_encrypted_and_redrives_to_a_fourteen_day_dead_letter_queue(template: Template) -> None:
    queue = template["Resources"]["RetryQueue"]["Properties"]
    dlq = template["Resources"]["DeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["KmsMasterKeyId"] and dlq["KmsMasterKeyId"]


def test_sqs_never_dead_letters_before_the_bridge_does(template: Template) -> None:
    """An event is received with each event ahead of it in its user's FIFO group (a batch holds up to BatchSize of
    them), each receive counting towards maxReceiveCount: the bridge's attempt limit, at its highest, must end an
    event's life before SQS's count does, for the deployed timing and for the local runs' compressed ones."""
    from local.stack import COMPRESSED_RETRY_TIMING
    from tests.e2e.test_pipeline import FAST

    max_receives = template["Resources"]["RetryQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    retry = template["Resources"]["RetryFunction"]["Properties"]
    assert int(retry["Environment"]["Variables"]["RETRY_QUEUE_MAX_RECEIVE_COUNT"]) == max_receives
    batch_size = _mapping_of(template, "RetryQueue")["BatchSize"]
    highest_attempts = int(LocalTemplate("dev").doc["Parameters"]["RetryMaxAttempts"]["MaxValue"])
    for attempts in (
        highest_attempts,
        int(FAST["RETRY_MAX_ATTEMPTS"]),
        int(COMPRESSED_RETRY_TIMING["RETRY_MAX_ATTEMPTS"]),
    ):
        assert attempts <= highest_attempts
        assert batch_size * attempts < max_receives


def _mapping_of(template: Template, queue: str) -> dict[str, Any]:
    mappings: list[dict[str, Any]] = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    ]
    (mapping,) = mappings
    return mapping


def test_sqs_event_source_reports_batch_failures_and_caps_concurrency(template: Template) -> None:
    properties = _mapping_of(template, "RetryQueue")
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "RetryMaxConcurrency"}
    retry = template["Resources"]["RetryFunction"]["Properties"]
    # Reserved concurrency below the ESM's maximum would throttle invocations and burn receive attempts; buffered
    # mode has two sources, so none is reserved there.
    assert retry["ReservedConcurrentExecutions"] == {
        "Fn::If": ["BufferedDelivery", {"Ref": "AWS::NoValue"}, {"Ref": "RetryMaxConcurrency"}]
    }


def test_delivery_mode_defaults_to_direct_and_buffered_adds_its_queue_and_event_source() -> None:
    direct, buffered = LocalTemplate("dev"), LocalTemplate("dev", {"DeliveryMode": "buffered"})
    assert direct.parameters["DeliveryMode"] == "direct"
    parts = ("DeliveryQueue", "DeliveryDeadLetterQueue", "DeliveryEventSource", "DeliveryDeadLetterAlarm")
    assert not any(direct.exists(name) for name in parts)
    assert all(buffered.exists(name) for name in parts)


def test_delivery_queue_gathers_large_batches_for_the_retry_function(template: Template) -> None:
    queue = template["Resources"]["DeliveryQueue"]["Properties"]
    # Lambda gathers batches over a window only from standard queues: a FIFO queue would cap a batch at 10.
    assert "FifoQueue" not in queue and queue["KmsMasterKeyId"] == "alias/aws/sqs"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * template["Resources"]["RetryFunction"]["Properties"]["Timeout"]
    mapping = _mapping_of(template, "DeliveryQueue")
    assert mapping["FunctionName"] == {"Ref": "RetryFunction"}
    assert mapping["BatchSize"] == {"Ref": "DeliveryBatchSize"}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "DeliveryBatchWindowSeconds"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for function in ("IngestFunction", "RetryFunction"):
        env = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["DELIVERY_MODE"] == {"Ref": "DeliveryMode"}
        assert env["DELIVERY_QUEUE_ARN"] == {
            "Fn::If": ["BufferedDelivery", {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}, {"Ref": "AWS::NoValue"}]
        }


def test_buffered_mode_grants_exactly_what_each_function_does_with_the_delivery_queue(template: Template) -> None:
    def granted(role: str) -> list[str]:
        return sorted(
            action
            for s in _statements(template, role)
            if s["Resource"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
            for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )

    assert granted("IngestRole") == ["sqs:SendMessage"]
    assert granted("RetryRole") == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]


def test_state_table_is_on_demand_with_ttl_encryption_and_point_in_time_recovery(template: Template) -> None:
    table = template["Resources"]["StateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def _statements(template: Template, role: str) -> list[dict[str, Any]]:
    properties = template["Resources"][role]["Properties"]
    assert not properties.get("ManagedPolicyArns"), "managed policies grant actions on '*'"
    statements = []
    for policy in properties["Policies"]:
        for entry in policy["PolicyDocument"]["Statement"]:
            # the tracing statement is an Fn::If, present only when tracing is enabled
            statements.append(entry["Fn::If"][1] if "Fn::If" in entry else entry)
    return statements


@pytest.mark.parametrize("role", ["IngestRole", "RetryRole"])
def test_iam_names_a_resource_wherever_aws_allows_one(template: Template, role: str) -> None:
    for statement in _statements(template, role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Resource"] == "*":
            assert all(a.startswith("xray:") for a in actions), statement


def _ssm_parameters(template: Template, role: str) -> list[str]:
    for statement in _statements(template, role):
        if "ssm:GetParameters" in statement["Action"]:
            return [entry["Fn::Sub"].rsplit("/", 1)[1] for entry in statement["Resource"]]
    return []


def test_each_function_reads_exactly_its_own_parameters(template: Template) -> None:
    assert _ssm_parameters(template, "IngestRole") == [
        "braze-rest-api-key",
        "braze-app-key",
        "webhook-token",
        "webhook-previous-token",
    ]
    assert _ssm_parameters(template, "RetryRole") == ["braze-rest-api-key", "braze-app-key"]


def test_queues_and_table_are_the_only_data_resources_granted(template: Template) -> None:
    ingest = {json.dumps(s["Resource"]) for s in _statements(template, "IngestRole") if "sqs:SendMessage" in str(s)}
    assert ingest == {
        json.dumps([{"Fn::GetAtt": ["RetryQueue", "Arn"]}, {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]),
        json.dumps({"Fn::GetAtt": ["DeliveryQueue", "Arn"]}),  # buffered mode only
    }
    for role in ("IngestRole", "RetryRole"):
        tables = [s["Resource"] for s in _statements(template, role) if "dynamodb:" in str(s["Action"])]
        assert tables == [{"Fn::GetAtt": ["StateTable", "Arn"]}]


def test_no_secret_value_is_in_the_template() -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    default_config = json.loads(yaml_parse(text)["Parameters"]["BrazeDestinationConfig"]["Default"])
    assert "restApiKey" not in default_config
    assert "resolve:ssm-secure" not in text  # SecureStrings are read at run time, never put in the environment
    expanded = _expand({"Environment": "prod"})
    for function in resources(expanded, "AWS::Lambda::Function").values():
        for name, value in function["Properties"]["Environment"]["Variables"].items():
            if re.search(r"KEY|TOKEN", name):
                assert name.endswith("_PARAMETER"), name  # only the names of SSM parameters
                assert value["Fn::Sub"].startswith("/${ParameterPrefix}/${Environment}/")


def test_api_stage_is_the_environment_with_throttling_and_access_logs(template: Template) -> None:
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == {"Ref": "Environment"}
    (method,) = properties["MethodSettings"]
    assert method["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert method["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    assert properties["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}


def test_alarms_watch_dead_letters_retry_age_and_ingest_errors(template: Template) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert alarms["DeadLetterAlarm"]["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarms["DeadLetterAlarm"]["Properties"]["Threshold"] == 0
    assert alarms["OldestRetryAlarm"]["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert "Errors" in json.dumps(alarms["IngestErrorsAlarm"]["Properties"]["Metrics"])
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert template["Resources"]["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


def test_dashboard_plots_the_pipeline(template: Template) -> None:
    body = json.dumps(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    for metric in ("EventsReceived", "EventsDelivered", "BrazeThrottled", "EventsQueued", "EventsRetried",
                   "EventsDeadLettered", "BrazeLatency"):  # fmt: skip
        assert metric in body


def test_outputs_give_the_webhook_url_queues_and_dashboard(template: Template) -> None:
    assert {"WebhookUrl", "RetryQueueUrl", "DeadLetterQueueUrl", "DashboardUrl"} <= set(template["Outputs"])


def _resource_policy(template: Template) -> Any:
    return template["Resources"]["WebhookApi"]["Properties"]["Body"]["x-amazon-apigateway-policy"]["Statement"]


def test_source_ip_allowlist_is_a_resource_policy_when_given() -> None:
    statements = _resource_policy(_expand({"Environment": "prod", "AllowedSourceCidrs": "3.216.35.97/32"}))
    condition, with_list, without_list = statements["Fn::If"]
    assert condition == "HasSourceAllowlist"
    deny = next(s for s in with_list if s["Effect"] == "Deny")
    assert deny["Condition"]["NotIpAddress"]["aws:SourceIp"] == "3.216.35.97/32"
    assert [s["Effect"] for s in without_list] == ["Allow"]


def test_the_rest_api_passes_every_body_to_the_function_as_bytes(template: Template) -> None:
    """RudderStack's SDKs gzip their bodies: as text, API Gateway would mangle them. Binary for every media type
    means the function gets the bytes base64-encoded, intact; the local API Gateway reads the same setting."""
    (api,) = resources(template, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == ["*~1*"]  # "*/*", escaped as API Gateway's PATCH path wants
    assert "MinimumCompressionSize" not in api["Properties"]  # request decompression is the function's, not a mapping's
    local = LocalTemplate("dev").resources["WebhookApi"]["Properties"]
    assert [kind.replace("~1", "/") for kind in local["BinaryMediaTypes"]] == ["*/*"]


def test_every_queue_takes_the_largest_message_the_bridge_may_send(template: Template) -> None:
    from rudder_braze.limits import SQS_MAX_MESSAGE_BYTES

    for queue in resources(template, "AWS::SQS::Queue").values():
        assert queue["Properties"]["MaximumMessageSize"] == SQS_MAX_MESSAGE_BYTES
