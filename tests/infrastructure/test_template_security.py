"""The SAM template, expanded offline: the state table, least privilege, secrets, the API stage, alarms and outputs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from local.template import Template as LocalTemplate
from tests.conftest import ROOT
from tests.infrastructure.expanded import Template, expand, resources, statements


def test_state_table_is_on_demand_with_ttl_encryption_and_point_in_time_recovery(template: Template) -> None:
    table = template["Resources"]["StateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


@pytest.mark.parametrize("role", ["IngestRole", "RetryRole"])
def test_iam_names_a_resource_wherever_aws_allows_one(template: Template, role: str) -> None:
    for statement in statements(template, role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Resource"] == "*":
            assert all(a.startswith("xray:") for a in actions), statement


def _ssm_parameters(template: Template, role: str) -> list[str]:
    for statement in statements(template, role):
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
    ingest = {json.dumps(s["Resource"]) for s in statements(template, "IngestRole") if "sqs:SendMessage" in str(s)}
    assert ingest == {
        json.dumps([{"Fn::GetAtt": ["RetryQueue", "Arn"]}, {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]),
        json.dumps({"Fn::GetAtt": ["DeliveryQueue", "Arn"]}),  # buffered mode only
    }
    for role in ("IngestRole", "RetryRole"):
        tables = [s["Resource"] for s in statements(template, role) if "dynamodb:" in str(s["Action"])]
        assert tables and all(table == {"Fn::GetAtt": ["StateTable", "Arn"]} for table in tables)


def test_no_secret_value_is_in_the_template() -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    default_config = json.loads(yaml_parse(text)["Parameters"]["BrazeDestinationConfig"]["Default"])
    assert "restApiKey" not in default_config
    assert "resolve:ssm-secure" not in text  # SecureStrings are read at run time, never put in the environment
    expanded = expand({"Environment": "prod"})
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


def test_the_api_has_no_second_stage_without_throttling_or_logs(template: Template) -> None:
    """SAM's implicit deployment stage ("Stage") would serve the same routes with neither."""
    (deployment,) = resources(template, "AWS::ApiGateway::Deployment").values()
    assert "StageName" not in deployment["Properties"]
    assert len(resources(template, "AWS::ApiGateway::Stage")) == 1


def test_the_accounts_cloudwatch_role_is_set_before_the_stage_logs_and_outlives_the_stack(template: Template) -> None:
    account = template["Resources"]["ApiGatewayAccount"]
    role = template["Resources"]["ApiGatewayCloudWatchRole"]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    assert {account["DeletionPolicy"], role["DeletionPolicy"]} == {"Retain"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    assert account["Condition"] == role["Condition"] == "CreateApiGatewayLoggingRole"
    ready = template["Resources"]["ApiGatewayAccountReady"]
    assert ready["Metadata"]["Account"] == {"Fn::If": ["CreateApiGatewayLoggingRole", {"Ref": "ApiGatewayAccount"}, ""]}
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    api_resources = [r for r in template["Resources"].values() if r["Type"].startswith("AWS::ApiGateway::")]
    assert any("ApiGatewayAccountReady" in r.get("DependsOn", []) for r in api_resources)
    assert stage["Properties"]["AccessLogSetting"]


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
    statements = _resource_policy(expand({"Environment": "prod", "AllowedSourceCidrs": "3.216.35.97/32"}))
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
