"""ApiType: an HTTP API or a REST API in front of the same ingest function, with the same routes, throttling,
access logs, source allowlist and alarm; the local stack serves the one the template selects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from local.template import Template as LocalTemplate
from tests.conftest import ROOT
from tests.infrastructure.expanded import Template, resources

# logical id of the API, its CloudFormation type, its stage's type and the condition that creates them
APIS = {
    "http": ("WebhookHttpApi", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "HttpApi"),
    "rest": ("WebhookApi", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage", "RestApi"),
}


def _of(template: Template, kind: str, condition: str) -> dict[str, Any]:
    return {name: r for name, r in resources(template, kind).items() if r.get("Condition") == condition}


def test_the_default_is_the_http_api() -> None:
    parameter = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))["Parameters"]["ApiType"]
    assert parameter["Default"] == "http" and parameter["AllowedValues"] == ["http", "rest"]


@pytest.mark.parametrize("api_type", list(APIS))
def test_each_api_type_routes_the_same_two_paths_to_the_one_ingest_function(template: Template, api_type: str) -> None:
    logical, kind, _, condition = APIS[api_type]
    api = template["Resources"][logical]
    assert (api["Type"], api["Condition"]) == (kind, condition)
    paths = api["Properties"]["Body"]["paths"]
    assert {path: sorted(methods) for path, methods in paths.items()} == {"/v1/{kind}": ["post"], "/health": ["get"]}
    for methods in paths.values():
        (integration,) = (operation["x-amazon-apigateway-integration"] for operation in methods.values())
        uri = json.dumps(integration["uri"])
        assert integration["type"] == "aws_proxy" and (
            "IngestFunction.Arn" in uri or '["IngestFunction", "Arn"]' in uri
        )
        assert integration.get("payloadFormatVersion") == ("2.0" if api_type == "http" else None)
    (permission,) = _of(template, "AWS::Lambda::Permission", condition).values()
    assert permission["Properties"]["FunctionName"] == {"Ref": "IngestFunction"}
    assert f"${{{logical}}}/*" in json.dumps(permission["Properties"])
    assert "Condition" not in template["Resources"]["IngestFunction"]
    assert "Events" not in template["Resources"]["IngestFunction"]["Properties"]


@pytest.mark.parametrize("api_type", list(APIS))
def test_each_api_type_has_one_stage_throttled_by_the_parameters_with_access_logs(
    template: Template, api_type: str
) -> None:
    _, _, stage_kind, condition = APIS[api_type]
    (stage,) = _of(template, stage_kind, condition).values()
    properties: Any = stage["Properties"]
    assert properties["StageName"] == {"Ref": "Environment"}
    if api_type == "http":
        throttling, logs = properties["DefaultRouteSettings"], properties["AccessLogSettings"]
    else:
        (throttling,), logs = properties["MethodSettings"], properties["AccessLogSetting"]
    assert throttling["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert throttling["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert len(resources(template, stage_kind)) == 1


def test_only_a_rest_api_needs_the_accounts_cloudwatch_role() -> None:
    conditions = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))["Conditions"]
    assert {"Condition": "RestApi"} in conditions["CreateApiGatewayLoggingRole"]["Fn::And"]


def test_the_source_allowlist_reaches_the_function_whichever_the_api_type(template: Template) -> None:
    """An HTTP API has no resource policy: the function refuses other sources (a REST API's policy refuses first)."""
    variables = template["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ALLOWED_SOURCE_CIDRS"] == {"Fn::Join": [",", {"Ref": "AllowedSourceCidrs"}]}


def test_the_5xx_alarm_watches_the_selected_apis_metric(template: Template) -> None:
    metrics = json.dumps(template["Resources"]["IngestErrorsAlarm"]["Properties"]["Metrics"])
    assert '"Fn::If": ["HttpApi", "5xx", "5XXError"]' in metrics
    assert '"Ref": "WebhookHttpApi"' in metrics


@pytest.mark.parametrize("api_type", list(APIS))
def test_the_local_stack_reads_the_api_the_template_selects(api_type: str) -> None:
    local = LocalTemplate("dev", {"ApiType": api_type})
    assert local.condition("HttpApi") is (api_type == "http")
    assert local.exists(APIS[api_type][0]) and not local.exists(APIS["rest" if api_type == "http" else "http"][0])
